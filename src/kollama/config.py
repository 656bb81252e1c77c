"""Where kollama keeps its files. Everything lives under one data directory."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """`$KOLLAMA_HOME`, default `~/.local/share/kollama`; created on first use."""
    root = Path(os.environ.get("KOLLAMA_HOME") or Path.home() / ".local" / "share" / "kollama")
    root.mkdir(parents=True, exist_ok=True)
    return root


def subdir(name: str) -> Path:
    path = home() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def logs_db() -> Path:
    return home() / "logs.db"
