"""The server's pure rules, without a server: surrogates, keep_alive durations, finite log-probabilities,
JSON schemas to grammars (and the keywords refused), tool-call parsing, the lock inside JSON values."""

from __future__ import annotations

import json
import math

import pytest

from kollama.engines import TokenLogprob
from kollama.korean.json_scope import JsonValueLock
from kollama.serve import logprobs
from kollama.serve.errors import ApiError
from kollama.serve.schemas import ChatCompletionRequest, keep_alive_seconds, without_surrogates
from kollama.serve.structured import call_schema, parse_tool_calls, plan, schema_grammar


def test_lone_surrogates_become_replacement_characters_everywhere():
    data = json.loads('{"a\\ud83d": ["\\udc00x", {"k": "\\ud83d\\ude00 ok"}]}')  # the pair stays an emoji
    assert without_surrogates(data) == {"a\ufffd": ["\ufffdx", {"k": "\U0001F600 ok"}]}
    body = ChatCompletionRequest.model_validate(json.loads(
        '{"model": "m", "messages": [{"role": "user", "content": "\\ud83d\\uc548"}], "stop": ["\\udfff"]}'))
    assert body.messages[0].content == "\ufffd안" and body.stop == ["\ufffd"]
    body.messages[0].content.encode("utf-8")  # encodable now


@pytest.mark.parametrize("value, seconds", [(0, 0.0), ("0", 0.0), ("5m", 300.0), ("1h30m", 5400.0), ("300ms", 0.3),
                                            (12, 12.0), ("-1", math.inf), (-5, math.inf), (None, None)])
def test_keep_alive_durations(value, seconds):
    assert keep_alive_seconds(value) == seconds


def test_keep_alive_rejects_what_is_not_a_duration():
    with pytest.raises(ValueError, match="not a duration"):
        keep_alive_seconds("soon")


def test_log_probabilities_are_always_finite_and_banned_tokens_left_out():
    entry = TokenLogprob(b"\xea\xb0", -math.inf, [(b"a", -0.5), (b"b", -math.inf), (b"\xea", float("nan"))])
    chat = logprobs.ollama([entry])[0]
    assert chat["logprob"] == logprobs.FLOOR and [t["token"] for t in chat["top_logprobs"]] == ["a"]
    legacy = logprobs.openai_completion([entry])
    assert legacy["tokens"] == ["bytes:\\xea\\xb0"] and legacy["top_logprobs"] == [{"a": -0.5}]
    json.dumps(legacy, allow_nan=False)


def test_schemas_become_grammars_and_unenforceable_keywords_are_named():
    schema = {"type": "object", "properties": {"도시": {"type": "string"}, "n": {"type": "integer"},
                                               "kind": {"enum": ["a", "b"]},
                                               "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3}},
              "required": ["도시", "n"], "additionalProperties": False}
    assert "root ::=" in schema_grammar(schema, "format").grammar
    for bad, keyword in [({"type": "integer", "minimum": 1}, "minimum"),
                         ({"type": "object", "properties": {"x": {"type": "array", "uniqueItems": True}}}, "uniqueItems"),
                         ({"type": "string", "format": "email"}, "format: email"),
                         ({"not": {"type": "string"}}, "not")]:
        with pytest.raises(ApiError) as refused:
            schema_grammar(bad, "response_format.json_schema.schema")
        assert refused.value.status == 400 and f"'{keyword}'" in refused.value.message
    with pytest.raises(ApiError, match="not a valid JSON schema"):
        schema_grammar({"type": "strnig"}, "format")


def test_tool_choice_rules_and_call_parsing():
    tools = [{"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                   "required": ["city"]}},
             {"name": "add", "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}}}]
    assert plan(tools, "none", None).tool_mode == "none"
    assert plan(tools, "auto", None).tool_mode == "auto" and plan(tools, "auto", None).structured is None
    forced = plan(tools, {"name": "add"}, None)
    assert forced.tool_mode == "forced" and forced.structured.schema == call_schema([tools[1]])
    assert "add" in forced.structured.grammar and "get_weather" not in forced.structured.grammar
    with pytest.raises(ApiError, match="no tool named"):
        plan(tools, {"name": "nope"}, None)
    assert call_schema(tools)["anyOf"][0]["properties"]["name"] == {"const": "get_weather"}
    import jsonschema  # a forced call may use the key the model's template taught (Llama 3.x: "parameters")
    for key in ("arguments", "parameters"):
        jsonschema.validate({"name": "get_weather", key: {"city": "서울"}}, call_schema(tools))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "get_weather", "args": {"city": "서울"}}, call_schema(tools))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "add", "parameters": {"city": "서울"}, "arguments": {}}, call_schema(tools))
    names = {"get_weather", "add"}
    assert parse_tool_calls('<tool_call>\n{"name": "add", "arguments": {"a": 1}}\n</tool_call>', names) == \
        [{"name": "add", "arguments": {"a": 1}}]
    assert parse_tool_calls('{"name": "get_weather", "parameters": {"city": "서울"}}', names) == \
        [{"name": "get_weather", "arguments": {"city": "서울"}}]
    assert parse_tool_calls('{"name": "rm_rf", "arguments": {}}', names) == []
    assert parse_tool_calls("서울은 맑습니다.", names) == []


def test_the_lock_applies_inside_json_string_values_only():
    import numpy as np

    class BanEverything:
        def __init__(self):
            self.fed = []

        def apply(self, row):
            row[:] = -np.inf

        def feed(self, token):
            self.fed.append(token)

    pieces = [b'{"', b"city", b'":', b' "', "서울".encode(), b'",', b' "', b"tags", b'":["', "한".encode(), b'"]}', b""]
    inner = BanEverything()
    lock = JsonValueLock(inner, pieces)
    banned = []
    for token in range(len(pieces) - 1):
        row = np.zeros(len(pieces))
        lock.apply(row)
        banned.append(bool((row < 0).any()))
        # inside a value a ban is a large penalty, never -inf: the grammar may allow nothing else
        assert np.isfinite(row).all() and (row == 0).all() or (row == -1e4).all()
        lock.feed(token)
    assert banned == [False, False, False, False, True, True, False, False, False, True, True]
    assert inner.fed == [4, 5, 9, 10]  # the inner lock follows the values' text only
