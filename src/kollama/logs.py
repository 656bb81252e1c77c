"""Every prompt and response, in SQLite, so users can look back (like `llm logs`)."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from kollama.config import logs_db

RECENT = 3  # responses `kollama logs` shows when not told how many

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    id INTEGER PRIMARY KEY,
    created REAL NOT NULL,
    model TEXT NOT NULL,
    prompt TEXT NOT NULL,
    response TEXT NOT NULL,
    params TEXT NOT NULL,
    lock TEXT NOT NULL,
    lock_enforcement TEXT NOT NULL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    seconds REAL,
    ttft REAL
)
"""


def _connect() -> sqlite3.Connection:
    db = sqlite3.connect(logs_db(), timeout=30)
    db.execute(_SCHEMA)
    return db


def log_response(response) -> None:
    prompt = response.prompt if isinstance(response.prompt, str) else json.dumps(response.prompt, ensure_ascii=False)
    with _connect() as db:
        db.execute(
            "INSERT INTO responses (created, model, prompt, response, params, lock, lock_enforcement, "
            "prompt_tokens, completion_tokens, seconds, ttft) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (time.time(), response.model, prompt or "", response.text, json.dumps(response.params or {}),
             response.lock, response.lock_enforcement, response.prompt_tokens, response.completion_tokens,
             response.seconds, response.ttft),
        )
    db.close()


def recent(count: int = RECENT, model: str | None = None) -> list[dict[str, Any]]:
    """The newest `count` logged responses, oldest first (as a transcript reads)."""
    with _connect() as db:
        db.row_factory = sqlite3.Row
        query = "SELECT * FROM responses"
        args: list[Any] = []
        if model:
            query += " WHERE model = ?"
            args.append(model)
        rows = db.execute(query + " ORDER BY id DESC LIMIT ?", [*args, count]).fetchall()
    db.close()
    out = []
    for row in reversed(rows):
        item = dict(row)
        item["params"] = json.loads(item["params"])
        out.append(item)
    return out
