"""What a comparison returns: every answer's record and the summary, and where they were written. Its own module
because the runner makes it and the report and the CLI read it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class CompareResult:
    summary: dict[str, Any]
    answers: list[dict[str, Any]]
    out: Path
    generated: int = 0
    cached: int = 0
    failed: int = 0
    errors: dict[str, str] = field(default_factory=dict)
