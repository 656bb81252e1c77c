"""Instruction data in the formats people have, turned into chats and preference pairs.

Alpaca (`instruction/input/output`), KoAlpaca v1.1 (`instruction/output`), ShareGPT
(`conversations` of `from/value`), ChatML (`messages` of `role/content`) and DPO pairs
(`prompt/chosen/rejected`). Every error names the file, the line and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kollama.errors import KollamaError
from kollama.json_records import read_json_records

Messages = list[dict[str, str]]
FORMATS = ("alpaca", "koalpaca", "sharegpt", "chatml", "dpo")
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "chatgpt": "assistant", "bing": "assistant", "bard": "assistant", "system": "system"}


@dataclass
class Pair:
    """One preference: the chat so far, a better answer and a worse one."""

    prompt: Messages
    chosen: str
    rejected: str


def read_records(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, record) for a JSONL file, or a JSON array (numbered by position)."""
    path = Path(path)
    if not path.is_file():
        raise KollamaError(f"dataset {path} not found", hint="pass a JSONL file with one record per line")
    records = [(record.number, record.fields) for record in read_json_records(path)]
    if not records:
        raise KollamaError(f"dataset {path} is empty")
    return records


def detect_format(record: dict[str, Any]) -> str | None:
    """The format a record's keys say it is in, or None."""
    keys = set(record)
    if {"prompt", "chosen", "rejected"} & keys and "prompt" in keys:
        return "dpo"
    if "messages" in keys:
        return "chatml"
    if "conversations" in keys:
        return "sharegpt"
    if "instruction" in keys:
        return "alpaca" if "input" in keys else "koalpaca"
    return None


def file_format(path: str | Path, records: list[tuple[int, dict[str, Any]]]) -> str:
    number, first = records[0]
    fmt = detect_format(first)
    if fmt is None:
        raise KollamaError(
            f"{path}:{number}: unknown dataset format (keys: {', '.join(sorted(first)) or 'none'})",
            hint="expected Alpaca instruction/input/output, KoAlpaca instruction/output, "
                 "messages or conversations (ShareGPT/ChatML), or DPO prompt/chosen/rejected",
        )
    return fmt


def _text(path: Path, number: int, record: dict[str, Any], field: str, allow_empty: bool = False) -> str:
    if field not in record or record[field] is None:
        raise KollamaError(f"{path}:{number}: missing field '{field}'", hint="every record needs the same fields")
    value = record[field]
    if not isinstance(value, str):
        raise KollamaError(f"{path}:{number}: field '{field}' must be text, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise KollamaError(f"{path}:{number}: field '{field}' is empty")
    return value.strip()


def alpaca_user_text(instruction: str, input_text: str) -> str:
    """Instruction and optional input as one user turn (the model's own template adds the roles)."""
    return f"{instruction}\n\n{input_text}" if input_text else instruction


def _turns(path: Path, number: int, record: dict[str, Any], fmt: str) -> Messages:
    field = "messages" if fmt == "chatml" else "conversations"
    turns = record.get(field)
    if not isinstance(turns, list) or not turns:
        raise KollamaError(f"{path}:{number}: field '{field}' must be a non-empty list of turns")
    messages: Messages = []
    for index, turn in enumerate(turns):
        where = f"{field}[{index}]"
        if not isinstance(turn, dict):
            raise KollamaError(f"{path}:{number}: {where} must be an object")
        role_key, text_key = ("role", "content") if ("role" in turn or fmt == "chatml") else ("from", "value")
        for key in (role_key, text_key):
            if not isinstance(turn.get(key), str):
                raise KollamaError(f"{path}:{number}: missing field '{where}.{key}'")
        role = SHAREGPT_ROLES.get(turn[role_key].lower())
        if role is None:
            raise KollamaError(f"{path}:{number}: {where}.{role_key} '{turn[role_key]}' is not a known role",
                               hint="use system/user/assistant (or human/gpt)")
        messages.append({"role": role, "content": turn[text_key].strip()})
    if not any(m["role"] == "assistant" for m in messages):
        raise KollamaError(f"{path}:{number}: '{field}' has no assistant turn to learn from")
    return messages


def record_to_chat(path: Path, number: int, record: dict[str, Any], fmt: str) -> Messages:
    if fmt in ("alpaca", "koalpaca"):
        instruction = _text(path, number, record, "instruction")
        input_text = _text(path, number, record, "input", allow_empty=True) if fmt == "alpaca" else ""
        output = _text(path, number, record, "output")
        return [{"role": "user", "content": alpaca_user_text(instruction, input_text)},
                {"role": "assistant", "content": output}]
    if fmt == "dpo":
        pair = record_to_pair(path, number, record)
        return pair.prompt + [{"role": "assistant", "content": pair.chosen}]
    return _turns(path, number, record, fmt)


def record_to_pair(path: Path, number: int, record: dict[str, Any]) -> Pair:
    prompt = record.get("prompt")
    if isinstance(prompt, list):
        messages = _turns(path, number, {"messages": prompt + [{"role": "assistant", "content": ""}]}, "chatml")[:-1]
    else:
        messages = [{"role": "user", "content": _text(path, number, record, "prompt")}]
    return Pair(messages, _text(path, number, record, "chosen"), _text(path, number, record, "rejected"))


def load_chats(path: str | Path) -> tuple[str, list[Messages]]:
    """(format, chats) for supervised fine-tuning; DPO files train on their chosen answers."""
    path = Path(path)
    records = read_records(path)
    fmt = file_format(path, records)
    return fmt, [record_to_chat(path, number, record, fmt) for number, record in records]


def load_pairs(path: str | Path) -> list[Pair]:
    """Preference pairs; any other format is refused with the keys a DPO file needs."""
    path = Path(path)
    records = read_records(path)
    fmt = file_format(path, records)
    if fmt != "dpo":
        raise KollamaError(f"{path} is {fmt} data, DPO needs prompt/chosen/rejected pairs",
                           hint="build pairs with `kollama tune pairs MODEL --data FILE --out PAIRS.jsonl`")
    return [record_to_pair(path, number, record) for number, record in records]


def load_alpaca(path: str | Path) -> list[tuple[str, str]]:
    """(prompt, reference answer) per record of an instruction file: the first user turn and its answer."""
    _, chats = load_chats(path)
    out = []
    for chat in chats:
        user = next(m["content"] for m in chat if m["role"] == "user")
        answer = next(m["content"] for m in chat if m["role"] == "assistant")
        out.append((user, answer))
    return out
