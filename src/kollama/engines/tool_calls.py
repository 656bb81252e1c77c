"""Reading tool calls back out of an answer, in the formats chat templates teach.

Backend-neutral: the server parses whatever model answered, and the llama.cpp chat format uses the same
reader to decide which format a template teaches (`tool_format`).
"""

from __future__ import annotations

import json
import re
from typing import Any

_TAGGED = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.S)
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.S)
_SEPARATORS = " \t\r\n;,"


def _json_values(text: str) -> list[Any] | None:
    """The JSON values `text` consists of (one, or several separated by spaces, newlines, ';' or ','), or
    None when anything else is in it (then it is prose, not calls)."""
    decoder = json.JSONDecoder(strict=False)  # a raw newline inside a string is still the call meant
    values, at = [], 0
    while True:
        while at < len(text) and text[at] in _SEPARATORS:
            at += 1
        if at == len(text):
            return values or None
        try:
            value, at = decoder.raw_decode(text, at)
        except ValueError:
            return None
        values.append(value)


def parse_tool_calls(text: str, names: set[str]) -> list[dict[str, Any]]:
    """Tool calls in an answer, in the formats chat templates teach: Qwen's and Hermes'
    `<tool_call>{...}</tool_call>` (one or more; the last may be cut off before its closing tag), Llama
    3.1/3.2's bare `{"name": ..., "parameters": {...}}` (after `<|python_tag|>`, several separated by `;`),
    and kollama's `{"name": ..., "arguments": {...}}`. Only calls of tools the request offered count."""
    tagged = _TAGGED.findall(text)
    if tagged:
        candidates = [v for raw in tagged for v in (_json_values(raw) or [])]
    else:
        bare = text.strip().removeprefix("<|python_tag|>").strip()
        fenced = _FENCE.match(bare)
        candidates = _json_values(fenced.group(1) if fenced else bare) or []
    calls = []
    for value in candidates:
        for call in value if isinstance(value, list) else [value]:
            if not isinstance(call, dict) or call.get("name") not in names:
                continue
            arguments = call.get("arguments", call.get("parameters", {}))
            if isinstance(arguments, str):
                try:
                    arguments = json.loads(arguments)
                except ValueError:
                    continue
            if isinstance(arguments, dict):
                calls.append({"name": call["name"], "arguments": arguments})
    return calls


