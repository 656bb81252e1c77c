"""Agent-framework calls over real HTTP: `n` answers with derived seeds and a server cap, tool definitions,
tool results fed back, and (with the batched engine's grammar sampler) structured outputs and forced tool
calls that always parse, with the lock inside string values."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from serve_server import Server

pytestmark = pytest.mark.slow

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "현재 날씨 (current weather of a city)",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                   "additionalProperties": False}}}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("serve") / "structured.log"
    with Server("--model", "smollm2", "--max-tokens", "200", "--no-log", "--no-rag", "--max-n", "4", log=log) as s:
        yield s


@pytest.fixture(scope="module")
def oai(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0, timeout=300)


QUESTION = [{"role": "user", "content": "한국의 수도는 어디인가요?"}]


def test_n_answers_use_derived_seeds_and_the_server_cap(oai):
    many = oai.chat.completions.create(model="smollm2", messages=QUESTION, max_tokens=8, temperature=1.0, seed=11, n=3)
    assert [c.index for c in many.choices] == [0, 1, 2] and all(c.message.content for c in many.choices)
    assert 3 <= many.usage.completion_tokens <= 24  # every answer's tokens, the prompt once
    texts = [c.message.content for c in many.choices]
    assert len(set(texts)) >= 2, texts  # different seeds, different samples
    streamed = oai.chat.completions.create(model="smollm2", messages=QUESTION, max_tokens=4, temperature=0, n=2,
                                           stream=True)
    seen: dict[int, str] = {}
    for chunk in streamed:
        for c in chunk.choices:
            seen[c.index] = seen.get(c.index, "") + (c.delta.content or "")
    assert sorted(seen) == [0, 1] and seen[0] == seen[1]  # greedy: the same answer twice
    with pytest.raises(openai.BadRequestError) as refused:
        oai.chat.completions.create(model="smollm2", messages=QUESTION, n=5)
    assert "at most 4" in str(refused.value) and "--max-n" in str(refused.value)


def test_tool_results_go_back_into_the_conversation(oai, server):
    messages = [
        {"role": "user", "content": "서울 날씨 알려줘"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "서울"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "맑음, 23도"},
    ]
    answer = oai.chat.completions.create(model="smollm2", messages=messages, tools=[WEATHER], tool_choice="none",
                                         max_tokens=8, temperature=0)
    assert answer.choices[0].message.content and not answer.choices[0].message.tool_calls
    import ollama

    reply = ollama.Client(host=server.url, timeout=300).chat(
        model="smollm2", tools=[WEATHER], options={"num_predict": 8},
        messages=[{"role": "user", "content": "서울 날씨 알려줘"},
                  {"role": "assistant", "content": "", "tool_calls": [
                      {"function": {"name": "get_weather", "arguments": {"city": "서울"}}}]},
                  {"role": "tool", "tool_name": "get_weather", "content": "맑음, 23도"}])
    assert reply.done and (reply.message.content or reply.message.tool_calls)
    bad = httpx.post(server.url + "/v1/chat/completions", json={
        "model": "smollm2", "messages": QUESTION, "tools": [WEATHER],
        "tool_choice": {"type": "function", "function": {"name": "no_such_tool"}}}, timeout=60)
    assert bad.status_code == 400 and "no tool named" in bad.json()["error"]["message"]
    unenforceable = httpx.post(server.url + "/v1/chat/completions", json={
        "model": "smollm2", "messages": QUESTION, "response_format": {"type": "json_schema", "json_schema": {
            "name": "n", "schema": {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}}}}},
        timeout=60)
    assert unenforceable.status_code == 400 and "'minimum'" in unenforceable.json()["error"]["message"]


CITY = {"type": "object", "properties": {
    "city": {"type": "string", "maxLength": 8},
    "population_millions": {"type": "integer"},
    "famous_for": {"type": "array", "items": {"type": "string", "maxLength": 8}, "maxItems": 2},
    "kind": {"enum": ["capital", "port", "other"]},
    "country": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 8}}, "required": ["name"],
                "additionalProperties": False}},
    "required": ["city", "population_millions", "famous_for", "kind", "country"], "additionalProperties": False}
FOREIGN_SCRIPTS = r"[\u4e00-\u9fff\u3040-\u30ff\u0400-\u04ff\u0e00-\u0e7f]"


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


@pytest.mark.parametrize("lock", ["off", "script", "strict"])
def test_json_schema_answers_always_validate_and_the_lock_governs_only_values(oai, lock):
    import re

    import jsonschema

    response = oai.chat.completions.create(
        model="smollm2", messages=[{"role": "user", "content": "서울에 대해 JSON으로 알려 주세요."}], max_tokens=200,
        temperature=0.8, seed=3, n=2, extra_body={"lock": lock},
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": CITY, "strict": True}})
    assert response.model_extra["kollama"]["lock"] == lock
    for choice in response.choices:
        if choice.finish_reason == "length":  # cut off by max_tokens: the only way to break the schema
            continue
        value = json.loads(choice.message.content)
        jsonschema.validate(value, CITY)  # keys and structure are the schema's, whatever the lock
        if lock != "off":
            assert not any(re.search(FOREIGN_SCRIPTS, s) for s in _strings(value)), value
    assert any(c.finish_reason == "stop" for c in response.choices), [c.message.content for c in response.choices]


def test_json_object_mode_and_ollama_format(oai, server):
    answer = oai.chat.completions.create(model="smollm2", messages=QUESTION, max_tokens=60, temperature=0,
                                         response_format={"type": "json_object"})
    assert isinstance(json.loads(answer.choices[0].message.content), dict)
    for fmt in ("json", {"type": "object", "properties": {"capital": {"type": "string", "maxLength": 20}},
                         "required": ["capital"]}):
        line = httpx.post(server.url + "/api/chat", json={"model": "smollm2", "messages": QUESTION, "format": fmt,
                                                         "stream": False, "options": {"num_predict": 60, "temperature": 0}},
                          timeout=300).json()
        value = json.loads(line["message"]["content"])
        assert isinstance(value, dict) and (fmt == "json" or isinstance(value["capital"], str))


@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "get_weather"}}])
def test_a_forced_tool_call_is_always_returned_with_valid_arguments(oai, choice):
    import jsonschema

    add = {"type": "function", "function": {"name": "add", "parameters": {
        "type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]}}}
    response = oai.chat.completions.create(model="smollm2", messages=[{"role": "user", "content": "서울 날씨 알려줘"}],
                                           tools=[WEATHER, add], tool_choice=choice, max_tokens=60, temperature=0)
    message = response.choices[0]
    assert message.finish_reason == "tool_calls" and message.message.tool_calls
    call = message.message.tool_calls[0]
    if isinstance(choice, dict):
        assert call.function.name == "get_weather"
    schema = {"get_weather": WEATHER, "add": add}[call.function.name]["function"]["parameters"]
    jsonschema.validate(json.loads(call.function.arguments), schema)
    streamed = oai.chat.completions.create(model="smollm2", messages=[{"role": "user", "content": "서울 날씨 알려줘"}],
                                           tools=[WEATHER], tool_choice="required", max_tokens=60, temperature=0,
                                           stream=True)
    deltas = [c.choices[0].delta for c in streamed if c.choices]
    calls = [t for d in deltas for t in (d.tool_calls or [])]
    assert calls and calls[0].function.name == "get_weather"


# --- best_of: several answers decoded together, the likeliest returned ---------------------------------------
def _mean(choice) -> float:
    values = [t["logprob"] for t in choice["logprobs"]["content"]]
    return sum(values) / len(values) if values else float("-inf")


def test_best_of_returns_the_answers_with_the_highest_mean_logprob(server):
    body = {"model": "smollm2", "messages": QUESTION, "max_tokens": 8, "temperature": 1.0, "seed": 5}
    every = httpx.post(server.url + "/v1/chat/completions", timeout=300,
                       json={**body, "n": 4, "best_of": 4, "logprobs": True}).json()
    ranked = sorted(every["choices"], key=_mean, reverse=True)
    assert len({c["message"]["content"] for c in every["choices"]}) >= 2  # different seeds, something to choose from
    best = httpx.post(server.url + "/v1/chat/completions", timeout=300, json={**body, "n": 2, "best_of": 4}).json()
    # the same four answers (seeds 5..8, decoded together), the two likeliest returned, best first
    assert [c["message"]["content"] for c in best["choices"]] == [c["message"]["content"] for c in ranked[:2]]
    assert [c["index"] for c in best["choices"]] == [0, 1]
    assert all(c["logprobs"] is None for c in best["choices"])  # not asked for: not returned
    assert best["usage"]["completion_tokens"] == every["usage"]["completion_tokens"]  # all four were decoded

    prompt = {"model": "smollm2", "prompt": "서울은", "max_tokens": 6, "temperature": 1.0, "seed": 9}
    raw = httpx.post(server.url + "/v1/completions", timeout=300, json={**prompt, "n": 3, "logprobs": 0}).json()
    scores = [[v for v in c["logprobs"]["token_logprobs"] if v is not None] for c in raw["choices"]]
    means = [sum(s) / len(s) if s else float("-inf") for s in scores]
    picked = httpx.post(server.url + "/v1/completions", timeout=300, json={**prompt, "best_of": 3}).json()
    assert [c["text"] for c in picked["choices"]] == [raw["choices"][means.index(max(means))]["text"]]


def test_best_of_limits_are_400s_that_say_why(server):
    url = server.url + "/v1/completions"
    cases = [({"n": 3, "best_of": 2}, "must be at least n"), ({"best_of": 5}, "at most 4"),
             ({"best_of": 2, "stream": True}, "cannot be streamed")]
    for extra, words in cases:
        answer = httpx.post(url, json={"model": "smollm2", "prompt": "서울은", "max_tokens": 2, **extra}, timeout=60)
        assert answer.status_code == 400 and words in answer.json()["error"]["message"], answer.text
        assert answer.json()["error"]["param"] == "best_of"
    chat = httpx.post(server.url + "/v1/chat/completions", timeout=60, json={
        "model": "smollm2", "messages": QUESTION, "best_of": 5})
    assert chat.status_code == 400 and "--max-n" in chat.json()["error"]["message"]
