"""Shared fixtures: an isolated data directory per test session, and real built-in models loaded once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def kollama_home(tmp_path_factory) -> Path:
    """Every test run gets its own $KOLLAMA_HOME so logs, caches and indexes never leak between runs."""
    home = tmp_path_factory.mktemp("kollama-home")
    os.environ["KOLLAMA_HOME"] = str(home)
    return home


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


def run_cli(*args: str, input: str | None = None, timeout: int = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `kollama` as a user would: a separate process, real arguments, real exit code."""
    return subprocess.run(
        [sys.executable, "-m", "kollama", *args],
        input=input, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})},
    )
