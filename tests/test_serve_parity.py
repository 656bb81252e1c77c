"""`kollama serve` as Ollama clients and careless JSON see it: lone surrogates, -inf log-probabilities,
keep_alive, pull/delete, version, ':latest', think, images, num_ctx and `HEAD /`, over real HTTP."""

from __future__ import annotations

import math
import re
import time

import httpx
import ollama
import openai
import pytest
from serve_server import Server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("serve") / "parity.log"
    with Server("--model", "smollm2", "--max-tokens", "16", "--no-log", "--no-rag", log=log) as s:
        yield s


@pytest.fixture(scope="module")
def oll(server):
    return ollama.Client(host=server.url, timeout=120)


def _raw(server, path: str, body: str, **kwargs) -> httpx.Response:
    """The body exactly as written (json.dumps would escape what a careless client sends)."""
    return httpx.post(server.url + path, content=body.encode("ascii"), headers={"Content-Type": "application/json"},
                      timeout=120, **kwargs)


HALF_EMOJI = '"\\ud83d\uc548\\ub155\\ud83d"'  # a lone high surrogate, Hangul, and another lone surrogate


@pytest.mark.parametrize("path, body", [
    ("/v1/chat/completions", '{"model": "smollm2", "max_tokens": 3, "messages": [{"role": "user", "content": %s}]}'),
    ("/v1/chat/completions", '{"model": "smollm2", "max_tokens": 3, "stop": [%s], '
                             '"messages": [{"role": "user", "content": [{"type": "text", "text": %s}]}]}'),
    ("/api/chat", '{"model": "smollm2", "stream": false, "options": {"num_predict": 3}, '
                  '"messages": [{"role": "user", "content": %s}]}'),
    ("/api/generate", '{"model": "smollm2", "stream": false, "options": {"num_predict": 3}, "system": %s, '
                      '"prompt": %s}'),
    ("/v1/completions", '{"model": "smollm2", "max_tokens": 2, "prompt": %s}'),
    ("/api/chat", '{"model": %s, "messages": [{"role": "user", "content": "hi"}]}'),
])
def test_lone_surrogates_become_replacement_characters_not_500(server, path, body):
    text = body.replace("%s", HALF_EMOJI.encode("ascii", "backslashreplace").decode("ascii"))
    response = _raw(server, path, text)
    assert response.status_code < 500, response.text
    if '"model": %s' in body:
        assert response.status_code == 404 and "\ufffd" in response.json()["error"]
    else:
        assert response.status_code == 200, response.text


def _finite_everywhere(text: str) -> None:
    assert not re.search(r"-?Infinity|NaN", text), text[:500]


def test_top_logprobs_under_the_lock_never_carry_minus_infinity(server):
    body = {"model": "smollm2", "messages": [{"role": "user", "content": "한국어로 인사해 주세요."}], "max_tokens": 6,
            "logprobs": True, "top_logprobs": 20, "temperature": 0, "lock": "strict"}
    whole = httpx.post(server.url + "/v1/chat/completions", json=body, timeout=120)
    assert whole.status_code == 200, whole.text
    _finite_everywhere(whole.text)
    content = whole.json()["choices"][0]["logprobs"]["content"]
    assert content and all(math.isfinite(t["logprob"]) and t["logprob"] <= 0 for t in content)
    # the strict lock bans most of SmolLM2's vocabulary: fewer than 20 candidates remain at some step,
    # and the banned ones are left out rather than listed at -inf
    assert all(0 < len(t["top_logprobs"]) <= 20 for t in content)
    streamed = httpx.post(server.url + "/v1/chat/completions", json={**body, "stream": True}, timeout=120)
    assert streamed.status_code == 200
    _finite_everywhere(streamed.text)
    # the same through the official clients, with the server's default lock (script)
    oai = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0, timeout=120)
    sdk = oai.chat.completions.create(model="smollm2", messages=body["messages"], max_tokens=6, logprobs=True,
                                      top_logprobs=20, temperature=0)
    assert all(math.isfinite(t.logprob) and all(math.isfinite(a.logprob) for a in t.top_logprobs)
               for t in sdk.choices[0].logprobs.content)
    chunks = list(oai.chat.completions.create(model="smollm2", messages=body["messages"], max_tokens=6, logprobs=True,
                                              top_logprobs=20, temperature=0, stream=True))
    assert any(c.choices and c.choices[0].logprobs for c in chunks)
    ollama_line = httpx.post(server.url + "/api/chat", json={
        "model": "smollm2", "messages": body["messages"], "logprobs": True, "top_logprobs": 20, "lock": "strict",
        "options": {"num_predict": 4, "temperature": 0}}, timeout=120)
    assert ollama_line.status_code == 200
    _finite_everywhere(ollama_line.text)


def _loaded(server) -> list[str]:
    return [m["name"] for m in httpx.get(server.url + "/api/ps", timeout=30).json()["models"]]


def test_keep_alive_zero_unloads_and_a_duration_is_honoured(server, oll):
    assert _loaded(server) == ["smollm2:latest"]
    # num_ctx neither loads a second copy nor evicts the preloaded model
    answer = oll.chat(model="smollm2:latest", messages=[{"role": "user", "content": "hi"}],
                      options={"num_ctx": 512, "num_predict": 2})
    assert answer.message.content is not None
    assert _loaded(server) == ["smollm2:latest"]
    unloaded = oll.generate(model="smollm2", prompt="", keep_alive=0)
    assert unloaded.done_reason == "unload"
    assert _loaded(server) == []
    # a duration: loaded now, gone a little after it runs out
    oll.chat(model="smollm2", messages=[{"role": "user", "content": "hi"}], keep_alive="2s",
             options={"num_predict": 2})
    ps = httpx.get(server.url + "/api/ps", timeout=30).json()["models"]
    assert [m["name"] for m in ps] == ["smollm2:latest"] and ps[0]["expires_at"] < "2300"
    deadline = time.monotonic() + 15
    while _loaded(server) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _loaded(server) == []
    # a generating request with keep_alive 0 answers, then unloads
    oll.chat(model="smollm2", messages=[{"role": "user", "content": "hi"}], keep_alive=0, options={"num_predict": 2})
    time.sleep(0.5)
    assert _loaded(server) == []
    # and a bad duration is a 400 that says what is wrong
    bad = httpx.post(server.url + "/api/generate", json={"model": "smollm2", "prompt": "", "keep_alive": "soon"})
    assert bad.status_code == 400 and "keep_alive" in bad.json()["error"]


def test_pull_and_delete_answer_in_ollama_shape(server, oll):
    assert oll.pull("smollm2:latest").status == "success"  # a model this server offers "pulls" at once
    with pytest.raises(ollama.ResponseError) as missing:
        oll.pull("llama3.2:1b")
    assert missing.value.status_code == 404 and "does not download" in missing.value.error
    with pytest.raises(ollama.ResponseError) as refused:
        oll.delete("smollm2")
    assert "does not delete" in refused.value.error
    raw = httpx.post(server.url + "/api/pull", json={"model": "nope", "stream": False}, timeout=30)
    assert raw.status_code == 404 and isinstance(raw.json()["error"], str)


def test_version_latest_think_images_and_head(server, oll):
    version = httpx.get(server.url + "/api/version", timeout=30).json()["version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", version)
    assert httpx.head(server.url + "/", timeout=30).status_code == 200
    assert oll.show("smollm2:latest").modelfile
    assert len(oll.embed(model="multilingual-e5-small:latest", input="서울").embeddings[0]) == 384
    oai = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
    assert oai.chat.completions.create(model="smollm2:latest", messages=[{"role": "user", "content": "hi"}],
                                       max_tokens=2).choices[0].message.content is not None
    assert oai.models.retrieve("smollm2:latest").id == "smollm2"
    thought = httpx.post(server.url + "/api/chat", json={"model": "smollm2", "think": True, "stream": False,
                                                         "messages": [{"role": "user", "content": "hi"}],
                                                         "options": {"num_predict": 2}}, timeout=120)
    assert thought.status_code == 200, thought.text
    for path, body in [("/api/chat", {"model": "smollm2", "messages": [{"role": "user", "content": "이게 뭐야?",
                                                                       "images": ["iVBORw0KGgo="]}]}),
                       ("/api/generate", {"model": "smollm2", "prompt": "이게 뭐야?", "images": ["iVBORw0KGgo="]})]:
        response = httpx.post(server.url + path, json=body, timeout=30)
        assert response.status_code == 400 and "images are not supported" in response.json()["error"]
    image_part = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    with pytest.raises(openai.BadRequestError) as refused:
        oai.chat.completions.create(model="smollm2", messages=[{"role": "user", "content": [image_part]}])
    assert "images are not supported" in str(refused.value)
