"""JSON Lines (or one JSON array) of objects, numbered so that every error can name its line.

Task data, tuning datasets and self-instruct seeds are all written by hand or by scripts, and a
bad record deep in a file must say where it is: `data.jsonl:412: not valid JSON`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

from kollama.errors import KollamaError


class JsonRecord(NamedTuple):
    number: int  # line number in JSON Lines, position in a JSON array (1-based)
    fields: dict[str, Any]
    where: str  # "line 7" or "item 3", for messages


def read_json_records(path: str | Path) -> list[JsonRecord]:
    """Every object in `path` (blank lines skipped); [] for an empty file, so callers word that error."""
    path = Path(path)
    text = path.read_text(encoding="utf-8-sig")
    if text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise KollamaError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
        numbered = [(n, item, f"item {n}") for n, item in enumerate(items, 1)]
    else:
        numbered = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                numbered.append((n, json.loads(line), f"line {n}"))
            except json.JSONDecodeError as exc:
                raise KollamaError(f"{path}:{n}: not valid JSON ({exc.msg})",
                                   hint="each line must be one JSON object") from exc
    for n, item, _ in numbered:
        if not isinstance(item, dict):
            raise KollamaError(f"{path}:{n}: expected a JSON object, got {type(item).__name__}")
    return [JsonRecord(*entry) for entry in numbered]
