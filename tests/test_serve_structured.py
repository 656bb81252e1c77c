"""Agent-framework calls over real HTTP: `n` answers with derived seeds and a server cap, tool definitions,
tool results fed back, and (with the batched engine's grammar sampler) structured outputs and forced tool
calls that always parse, with the lock inside string values."""

from __future__ import annotations


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
    with Server("--model", "smollm2", "--max-tokens", "48", "--no-log", "--no-rag", "--max-n", "4", log=log) as s:
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
    ollama_like = httpx.post(server.url + "/api/chat", json={
        "model": "smollm2", "stream": False, "tools": [WEATHER], "options": {"num_predict": 8},
        "messages": [{"role": "user", "content": "서울 날씨 알려줘"},
                     {"role": "assistant", "content": "", "tool_calls": [
                         {"function": {"name": "get_weather", "arguments": {"city": "서울"}}}]},
                     {"role": "tool", "tool_name": "get_weather", "content": "맑음, 23도"}]}, timeout=300)
    assert ollama_like.status_code == 200, ollama_like.text
    assert ollama_like.json()["done"] is True
    bad = httpx.post(server.url + "/v1/chat/completions", json={
        "model": "smollm2", "messages": QUESTION, "tools": [WEATHER],
        "tool_choice": {"type": "function", "function": {"name": "no_such_tool"}}}, timeout=60)
    assert bad.status_code == 400 and "no tool named" in bad.json()["error"]["message"]
    unenforceable = httpx.post(server.url + "/v1/chat/completions", json={
        "model": "smollm2", "messages": QUESTION, "response_format": {"type": "json_schema", "json_schema": {
            "name": "n", "schema": {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}}}}},
        timeout=60)
    assert unenforceable.status_code == 400 and "'minimum'" in unenforceable.json()["error"]["message"]
