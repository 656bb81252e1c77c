"""Structured outputs and tool calls: JSON schemas turned into llama.cpp grammars, checked first.

OpenAI's `response_format` (`json_object`, `json_schema`) and Ollama's `format` (`"json"` or a schema)
become a GBNF grammar (llama-cpp-python's JSON-schema converter) that the batched engine's sampler
enforces token by token, so the answer always parses and matches the schema. A forced tool call is
the same thing with the schema `{"name": <the tool>, "arguments": <its parameters>}`.

The converter silently ignores keywords it cannot express (`minimum`, `uniqueItems`, `not`, ...), which
would let an answer break the schema; those are refused up front with a 400 naming the keyword.

The language lock composes with the grammar (`kollama.korean.json_scope.JsonValueLock`): keys and JSON
syntax are free, and string values follow the request's lock, so a Korean answer in English-keyed JSON
stays Korean.

Tools reach the model by one rule (`conversation`): a chat template with its own tool format renders the
tools, the calls and the results itself (kollama.engines.llamacpp.chat_format); any other model is shown
them by kollama, in a system message and user turns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from kollama.engines.base import Chat, Messages
from kollama.engines.tool_calls import parse_tool_calls  # noqa: F401  (the routes import it from here)
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
    from kollama.engines import json_schema_grammar

    try:
        grammar = _no_control_characters(json_schema_grammar(json.dumps(schema)))
    except (ValueError, AssertionError, KeyError, RecursionError) as exc:
        raise ApiError(400, f"{where}: llama.cpp's grammar cannot express this schema ({exc})",
                       code="unsupported_schema", param=where) from None
    return Structured(grammar, schema, where)


def json_object(where: str) -> Structured:
    """Any JSON object (OpenAI's json_object, Ollama's "json")."""
    from kollama.engines import json_schema_grammar

    return Structured(_no_control_characters(json_schema_grammar(json.dumps({"type": "object"}))), None, where)


def _no_control_characters(grammar: str) -> str:
    """JSON strings cannot hold raw control characters (a newline must be written \\n), but the converter's
    `char` rule lets them through, and strict JSON parsers then reject the answer."""
    return grammar.replace('char ::= [^"\\\\]', 'char ::= [^"\\\\\\x7F\\x00-\\x1F]')


# --- tools ------------------------------------------------------------------------------------
#: the key a call's arguments go under: kollama's and Qwen/Hermes templates' "arguments", Llama 3.1/3.2's "parameters"
ARGUMENT_KEYS = ("arguments", "parameters")


def call_schema(tools: list[dict[str, Any]]) -> dict[str, Any]:
    """One call of any of `tools`: {"name": ..., "arguments": {...}} with the arguments of that tool, or
    the same under "parameters", as Llama's template teaches: the grammar lets the model write the call
    the way it was trained to, and `parse_tool_calls` reads both."""
    options = []
    for tool in tools:
        params = tool.get("parameters") or {"type": "object", "properties": {}}
        for key in ARGUMENT_KEYS:
            options.append({"type": "object", "properties": {"name": {"const": tool["name"]}, key: params},
                            "required": ["name", key], "additionalProperties": False})
    return {"anyOf": options}


def tools_prompt(tools: list[dict[str, Any]], forced: bool) -> str:
    """A system message that shows the model the tools, for models whose template has no tool format."""
    listing = "\n".join(json.dumps({"name": t["name"], "description": t.get("description", ""),
                                    "parameters": t.get("parameters") or {}}, ensure_ascii=False) for t in tools)
    how = ("Answer with one function call as JSON: {\"name\": FUNCTION, \"arguments\": {...}}." if forced else
           "To call a function, answer with only JSON {\"name\": FUNCTION, \"arguments\": {...}}; otherwise answer "
           "normally.")
    return f"You can call these functions:\n{listing}\n{how}"


# --- the conversation the model sees ------------------------------------------------------------
@dataclass
class Turn:
    """One message of a chat as both APIs send it, before it meets a template: the assistant's calls as
    (id, name, arguments), a tool result with the name of the tool that gave it."""

    role: str  # system | user | assistant | tool
    content: str = ""
    calls: list[tuple[str | None, str, Any]] = field(default_factory=list)
    tool: str | None = None  # role tool: the tool's name
    call_id: str | None = None  # role tool: the call it answers


def conversation(turns: list[Turn], the_plan: Plan, tool_format: str | None) -> Messages:
    """The messages for the model, by the one rule: a template with its own tool format (`tool_format`, see
    kollama.engines.llamacpp.chat_format) gets the tools, the calls (arguments as objects) and the
    results as its own messages; any other model gets the tools described in the system message, its
    calls as the JSON it would write, and results as user turns naming the tool."""
    offered = the_plan.tools if the_plan.tool_mode != "none" else None
    if tool_format:
        messages = []
        for turn in turns:
            if turn.role == "assistant" and turn.calls:
                calls = [{"id": ident or f"call_{i}", "type": "function",
                          "function": {"name": name, "arguments": arguments}}
                         for i, (ident, name, arguments) in enumerate(turn.calls)]
                messages.append({"role": "assistant", "content": turn.content, "tool_calls": calls})
            elif turn.role == "tool":
                message = {"role": "tool", "content": turn.content, "name": turn.tool or "tool"}
                messages.append({**message, "tool_call_id": turn.call_id} if turn.call_id else message)
            else:
                messages.append({"role": turn.role, "content": turn.content})
        shown = [{"type": "function", "function": {k: t[k] for k in ("name", "description", "parameters")
                                                   if t.get(k) is not None}} for t in offered or []]
        return Chat(messages, shown)
    messages = []
    for turn in turns:
        if turn.role == "assistant" and turn.calls:
            written = [json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
                       for _, name, arguments in turn.calls]
            messages.append({"role": "assistant", "content": "\n".join(([turn.content] if turn.content else [])
                                                                       + written)})
        elif turn.role == "tool":
            messages.append({"role": "user", "content": f"[{turn.tool or 'the tool'} returned] {turn.content}"})
        else:
            messages.append({"role": turn.role, "content": turn.content})
    return with_system(messages, the_plan.system_text())


# --- one request's plan -------------------------------------------------------------------------
@dataclass
class Plan:
    """How to answer a chat that may carry tools and a response format."""

    structured: Structured | None = None  # the grammar the answer follows
    tools: list[dict[str, Any]] | None = None  # {"name", "description", "parameters"} offered to the model
    tool_mode: str = "none"  # none | auto (parse calls if the model makes one) | forced (grammar: one call)

    @property
    def names(self) -> set[str]:
        return {t["name"] for t in self.tools or []}

    def system_text(self) -> str | None:
        return tools_prompt(self.tools, self.tool_mode == "forced") if self.tools and self.tool_mode != "none" else None


def plan(tools: list[dict[str, Any]] | None, tool_choice: Any, structured: Structured | None,
         where: str = "tools") -> Plan:
    """OpenAI's tool_choice rules: none ignores the tools, auto lets the model choose, required makes it
    call one of them, a named function makes it call that one (those two through the grammar)."""
    if not tools or tool_choice == "none":
        return Plan(structured)
    for i, tool in enumerate(tools):
        if tool.get("parameters") is not None:
            schema_grammar(tool["parameters"], f"{where}[{i}].function.parameters")  # a 400 now, not mid-answer
    if tool_choice in (None, "auto"):
        return Plan(structured, tools, "auto")
    chosen = tools
    if tool_choice != "required":
        name = tool_choice["name"]
        chosen = [t for t in tools if t["name"] == name]
        if not chosen:
            raise ApiError(400, f"tool_choice: no tool named '{name}' in tools", param="tool_choice")
    forced = schema_grammar(call_schema(chosen), "tools")
    return Plan(forced, tools, "forced")


def with_grammar(params, structured: Structured | None):
    """GenerationParams that follow the grammar, the lock applying inside JSON string values only."""
    from dataclasses import fields, replace

    if structured is None:
        return params
    names = {f.name for f in fields(params)}
    if "grammar" not in names:
        raise ApiError(400, f"{structured.where}: this kollama's engine cannot constrain answers with a grammar",
                       param=structured.where)
    extra = {"lock_scope": "json_values"} if "lock_scope" in names else {}
    return replace(params, grammar=structured.grammar, **extra)


def with_system(messages: list[dict[str, Any]], system: str | None) -> list[dict[str, Any]]:
    """The conversation with `system` text (the tools' description) joined to its system message, or put first."""
    if system:
        if messages and messages[0]["role"] == "system":
            messages[0] = {"role": "system", "content": messages[0]["content"] + "\n\n" + system}
        else:
            messages.insert(0, {"role": "system", "content": system})
    return messages
