"""Where the real evaluation data lives for benchmarks: `../shared/realdata` beside the checkout, or `$KOLLAMA_REALDATA`.

It is never copied into the repository; a benchmark that needs it says so and exits cleanly when it is absent.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REALDATA = Path(os.environ.get("KOLLAMA_REALDATA", ROOT.parent / "shared" / "realdata"))


def realdata_or_exit(*parts: str) -> Path:
    """The path of a real-data file or folder, or a one-line message and exit status 0 when it is absent."""
    path = REALDATA.joinpath(*parts)
    if not path.exists():
        print(f"skipped: real data not found at {path} (set KOLLAMA_REALDATA to the shared realdata folder)")
        sys.exit(0)
    return path
