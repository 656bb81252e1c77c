"""Where the real evaluation data lives (never copied into the repository), and a clean skip when it is absent.

The folder is `../shared/realdata` beside the checkout, or `$KOLLAMA_REALDATA`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REALDATA = Path(os.environ.get("KOLLAMA_REALDATA", ROOT.parent / "shared" / "realdata"))


def realdata(*parts: str) -> Path:
    """The path of a real-data file or folder; the calling test is skipped with a clear message if it is missing."""
    path = REALDATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not found at {path} (set KOLLAMA_REALDATA to the shared realdata folder)")
    return path
