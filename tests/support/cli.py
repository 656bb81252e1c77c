"""Running `kollama` as a user would: a separate process, real arguments, real exit code."""

from __future__ import annotations

import os
import subprocess
import sys


def run_cli(*args: str, input: str | None = None, timeout: int = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m kollama ARGS` with this test session's environment (its $KOLLAMA_HOME)."""
    return subprocess.run(
        [sys.executable, "-m", "kollama", *args],
        input=input, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})},
    )
