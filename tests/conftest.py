"""Shared fixtures: a data directory per test module, and real built-in models loaded once.

Helpers (running the CLI, real-data paths, reference computations) live in the `support` package:
`from support.cli import run_cli`. Tiers are marked in the test files themselves (`pytestmark` or
`@pytest.mark.slow`); `tests/test_tiers.py` checks that a test starting a process, a server or a training run
carries the mark.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # `support` importable from every test module

from support.cli import run_cli  # noqa: E402,F401  (re-exported: some test modules import it from here)


@pytest.fixture(scope="session")
def shared_masks(tmp_path_factory) -> Path:
    """The language lock's mask cache, shared by the whole session: it depends only on the model file."""
    return tmp_path_factory.mktemp("lock-masks")


@pytest.fixture(scope="module", autouse=True)
def kollama_home(tmp_path_factory, shared_masks, request) -> Path:
    """Each test module gets its own $KOLLAMA_HOME, so logs, answer caches, indexes and uploads never leak
    from one module into another's assertions."""
    home = tmp_path_factory.mktemp(f"home-{request.module.__name__.rpartition('.')[2]}")
    (home / "cache").mkdir()
    (home / "cache" / "masks").symlink_to(shared_masks, target_is_directory=True)
    before = os.environ.get("KOLLAMA_HOME")
    os.environ["KOLLAMA_HOME"] = str(home)
    yield home
    if before is None:
        os.environ.pop("KOLLAMA_HOME", None)
    else:
        os.environ["KOLLAMA_HOME"] = before


@pytest.fixture(scope="session")
def smollm2():
    from kollama.engines import load_engine

    engine = load_engine("smollm2")
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def gemma3():
    from kollama.engines import load_engine

    engine = load_engine("gemma3")
    yield engine
    engine.close()

