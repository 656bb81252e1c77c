"""Answers cached in SQLite, keyed by what determines them: the model's identity, the prompt,
the generation parameters, the seed and the lock. Re-runs only generate what is missing, and a run
cut short keeps every answer it finished (each is committed as soon as it exists)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from kollama.config import subdir


def answer_key(model_identity: str, messages: list[dict[str, str]], params: dict[str, Any]) -> str:
    """Stable hash of everything that decides an answer (params include seed, lock and language)."""
    blob = json.dumps({"model": model_identity, "messages": messages, "params": params},
                      ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class AnswerCache:
    def __init__(self, path: Path | None = None):
        self.path = path or subdir("cache") / "compare.db"
        self.db = sqlite3.connect(self.path, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, model TEXT, created REAL, "
                        "response TEXT)")
        self.db.commit()

    def get(self, key: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT response FROM answers WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, model_identity: str, response: dict[str, Any]) -> None:
        self.db.execute("INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?)",
                        (key, model_identity, time.time(), json.dumps(response, ensure_ascii=False)))
        self.db.commit()

    def close(self) -> None:
        self.db.close()
