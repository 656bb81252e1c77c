"""Structured outputs and tool calls: JSON schemas turned into llama.cpp grammars, checked first.

OpenAI's `response_format` (`json_object`, `json_schema`) and Ollama's `format` (`"json"` or a schema)
become a GBNF grammar (llama-cpp-python's JSON-schema converter) that the batched engine's sampler
enforces token by token, so the answer always parses and matches the schema. A forced tool call is
the same thing with the schema `{"name": <the tool>, "arguments": <its parameters>}`.

The converter silently ignores keywords it cannot express (`minimum`, `uniqueItems`, `not`, ...), which
would let an answer break the schema; those are refused up front with a 400 naming the keyword.

The language lock composes with the grammar (see `JsonValueLock`): keys and JSON syntax are free, and
string values follow the request's lock, so a Korean answer in English-keyed JSON stays Korean.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from kollama.serve.errors import ApiError

# keywords the grammar enforces, or that say nothing about the text (annotations)
ENFORCED = {"type", "properties", "required", "additionalProperties", "items", "prefixItems", "minItems", "maxItems",
            "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "$defs", "definitions", "pattern", "format",
            "minLength", "maxLength"}
ANNOTATIONS = {"title", "description", "default", "examples", "$schema", "$id", "$comment", "strict", "deprecated",
               "readOnly", "writeOnly", "nullable", "name"}
FORMATS = {"date", "time", "date-time", "uuid", "uuid1", "uuid2", "uuid3", "uuid4", "uuid5"}
MAX_SCHEMA_CHARS = 20_000


@dataclass
class Structured:
    """What an answer must be: a grammar, and the schema to validate it against (None: any JSON object)."""

    grammar: str
    schema: dict[str, Any] | None
    where: str  # the request field, for messages

    def check(self, text: str) -> Any:
        """The parsed answer; a ValueError when it does not parse or validate (cut off by max_tokens)."""
        value = json.loads(text)
        if self.schema is not None:
            import jsonschema

            jsonschema.validate(value, self.schema)
        elif not isinstance(value, dict):
            raise ValueError("not a JSON object")
        return value


def _unsupported(schema: Any, path: str) -> tuple[str, str] | None:
    """(keyword, where) of the first keyword the grammar cannot enforce."""
    if isinstance(schema, bool) or not isinstance(schema, dict):
        return None
    for key, value in schema.items():
        if key in ANNOTATIONS:
            continue
        if key not in ENFORCED:
            return key, path
        if key == "format" and value not in FORMATS:
            return f"format: {value}", path
        if key == "additionalProperties" and isinstance(value, dict):
            found = _unsupported(value, f"{path}.additionalProperties")
            if found:
                return found
        if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            for name, sub in value.items():
                found = _unsupported(sub, f"{path}.{key}.{name}")
                if found:
                    return found
        if key in ("items",) and isinstance(value, dict):
            found = _unsupported(value, f"{path}.items")
            if found:
                return found
        if key in ("anyOf", "oneOf", "allOf", "prefixItems", "items") and isinstance(value, list):
            for i, sub in enumerate(value):
                found = _unsupported(sub, f"{path}.{key}[{i}]")
                if found:
                    return found
    return None


def schema_grammar(schema: Any, where: str) -> Structured:
    """A grammar for `schema`, or a 400 saying which keyword (or what) cannot be enforced."""
    import jsonschema

    if not isinstance(schema, dict):
        raise ApiError(400, f"{where}: a JSON schema must be an object", param=where)
    if len(json.dumps(schema)) > MAX_SCHEMA_CHARS:
        raise ApiError(400, f"{where}: the schema is larger than {MAX_SCHEMA_CHARS} characters", param=where)
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ApiError(400, f"{where}: not a valid JSON schema ({exc.message})", param=where) from None
    found = _unsupported(schema, where)
    if found:
        keyword, path = found
        raise ApiError(400, f"{path}: the keyword '{keyword}' cannot be enforced by llama.cpp's grammar; leave it out "
                            "or check it yourself after the answer", code="unsupported_schema", param=where)
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        grammar = json_schema_to_gbnf(json.dumps(schema))
    except (ValueError, AssertionError, KeyError, RecursionError) as exc:
        raise ApiError(400, f"{where}: llama.cpp's grammar cannot express this schema ({exc})",
                       code="unsupported_schema", param=where) from None
    return Structured(grammar, schema, where)


def json_object(where: str) -> Structured:
    """Any JSON object (OpenAI's json_object, Ollama's "json")."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    return Structured(json_schema_to_gbnf(json.dumps({"type": "object"})), None, where)


# --- tools ------------------------------------------------------------------------------------
def call_schema(tools: list[dict[str, Any]]) -> dict[str, Any]:
    """One call of any of `tools`: {"name": ..., "arguments": {...}} with the arguments of that tool."""
    options = []
    for tool in tools:
        params = tool.get("parameters") or {"type": "object", "properties": {}}
        options.append({"type": "object", "properties": {"name": {"const": tool["name"]}, "arguments": params},
                        "required": ["name", "arguments"], "additionalProperties": False})
    return options[0] if len(options) == 1 else {"anyOf": options}


def tools_prompt(tools: list[dict[str, Any]], forced: bool) -> str:
    """A system message that shows the model the tools, for models whose template has no tool format."""
    listing = "\n".join(json.dumps({"name": t["name"], "description": t.get("description", ""),
                                    "parameters": t.get("parameters") or {}}, ensure_ascii=False) for t in tools)
    how = ("Answer with one function call as JSON: {\"name\": FUNCTION, \"arguments\": {...}}." if forced else
           "To call a function, answer with only JSON {\"name\": FUNCTION, \"arguments\": {...}}; otherwise answer "
           "normally.")
    return f"You can call these functions:\n{listing}\n{how}"


_TAGGED = re.compile(r"<tool_call>\s*(\{.*?\})\s*</tool_call>", re.S)


def parse_tool_calls(text: str, names: set[str]) -> list[dict[str, Any]]:
    """Tool calls in an answer, in the formats chat templates teach: Qwen's `<tool_call>{...}</tool_call>`,
    Llama 3.1's bare `{"name": ..., "parameters": {...}}`, and kollama's `{"name": ..., "arguments": {...}}`.
    Only calls of tools the request offered count."""
    candidates = _TAGGED.findall(text) or [text.strip().removeprefix("<|python_tag|>")]
    calls = []
    for raw in candidates:
        try:
            value = json.loads(raw)
        except ValueError:
            continue
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


class JsonValueLock:
    """The language lock inside JSON string values only: keys, numbers and syntax are free.

    Wraps a lock hook (`apply(row)`, `feed(token)`): follows the generated JSON byte by byte to know
    whether the next token starts inside a string value, applies the inner lock only there, and feeds
    it only the tokens generated there."""

    def __init__(self, inner, pieces: list[bytes]):
        self.inner = inner
        self.pieces = pieces
        self.stack: list[str] = []  # "{" or "["
        self.expect_key = False
        self.in_string = False
        self.string_is_value = False
        self.escaped = False

    @property
    def in_value(self) -> bool:
        return self.in_string and self.string_is_value

    def apply(self, row) -> None:
        if self.in_value:
            self.inner.apply(row)

    def feed(self, token: int) -> None:
        if self.in_value:
            self.inner.feed(token)
        for byte in self.pieces[token]:
            self._step(chr(byte) if byte < 0x80 else "")

    def _step(self, ch: str) -> None:
        if self.in_string:
            if self.escaped:
                self.escaped = False
            elif ch == "\\":
                self.escaped = True
            elif ch == '"':
                self.in_string = False
            return
        if ch == '"':
            self.in_string = True
            self.string_is_value = not (self.stack and self.stack[-1] == "{" and self.expect_key)
        elif ch in "{[":
            self.stack.append(ch)
            self.expect_key = ch == "{"
        elif ch in "}]":
            if self.stack:
                self.stack.pop()
            self.expect_key = False
        elif ch == ":":
            self.expect_key = False
        elif ch == ",":
            self.expect_key = bool(self.stack) and self.stack[-1] == "{"
