"""`kollama serve` over real HTTP: the official openai and ollama clients, and raw requests for errors."""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import numpy as np
import ollama
import openai
import pytest
from serve_server import Server

pytestmark = pytest.mark.slow  # starts kollama serve

LONG = 3500  # tokens: an answer that takes many seconds on any machine, inside smollm2's 4096-token context


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("serve") / "server.log"
    # answers are logged (into this module's data directory): the cancellation test reads the log; the cap lets
    # that test ask for an answer far longer than a client takes to leave
    with Server("--model", "smollm2", "--max-tokens", str(LONG), log=log) as s:
        yield s


@pytest.fixture(scope="module")
def oai(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="not-needed-on-loopback", max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def oll(server):
    return ollama.Client(host=server.url, timeout=120)


QUESTION = [{"role": "user", "content": "한국의 수도는 어디인가요?"}]


# --- OpenAI client ------------------------------------------------------------------------------
def test_openai_chat_and_stream_give_the_same_greedy_answer(oai):
    whole = oai.chat.completions.create(model="smollm2", messages=QUESTION, max_tokens=8, temperature=0, seed=3)
    answer = whole.choices[0].message.content
    assert answer and whole.choices[0].finish_reason in ("stop", "length")
    assert 0 < whole.usage.completion_tokens <= 8 and whole.usage.prompt_tokens > 5
    assert whole.model_extra["kollama"]["lock"] == "script"  # the server's default lock
    pieces = []
    stream = oai.chat.completions.create(model="smollm2", messages=QUESTION, max_tokens=8, temperature=0, seed=3,
                                         stream=True, stream_options={"include_usage": True})
    finish, usage = None, None
    for chunk in stream:
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            usage = chunk.usage
    assert len([p for p in pieces if p]) >= 2, "the answer should arrive in several pieces"
    assert "".join(pieces) == answer
    assert finish in ("stop", "length") and usage.completion_tokens == whole.usage.completion_tokens


@pytest.mark.parametrize("extra, expected", [({"lock": "off"}, "off"), ({"lock": "strict", "lang": "ko"}, "strict"),
                                             ({"extra_body": {"lock": "off"}}, "off")])
def test_lock_is_chosen_per_request_top_level_or_in_extra_body(oai, extra, expected):
    response = oai.chat.completions.create(model="smollm2", messages=QUESTION, max_tokens=4, temperature=0,
                                           extra_body=extra)
    assert response.model_extra["kollama"]["lock"] == expected
    assert response.model_extra["kollama"]["lock_enforcement"] == ("none" if expected == "off" else "decoding")


def test_openai_completion_loads_another_model_on_first_use(oai, server):
    assert "gemma3" not in server.health()["loaded"]
    response = oai.completions.create(model="gemma3", prompt="대한민국의 수도는", max_tokens=6, temperature=0)
    assert response.choices[0].text.strip()
    assert "gemma3" in server.health()["loaded"]


def test_openai_embeddings_are_e5_vectors(oai):
    texts = ["서울은 대한민국의 수도이다.", "Seoul is the capital of South Korea.", "고양이가 소파에서 잠을 잔다."]
    response = oai.embeddings.create(model="multilingual-e5-small", input=texts)  # the client asks for base64
    vectors = np.array([d.embedding for d in response.data])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    floats = oai.embeddings.create(model="multilingual-e5-small", input=texts[0], encoding_format="float")
    assert np.allclose(floats.data[0].embedding, vectors[0], atol=1e-6)


def test_openai_model_list(oai):
    ids = {m.id for m in oai.models.list()}
    assert {"smollm2", "gemma3", "multilingual-e5-small"} <= ids
    assert oai.models.retrieve("smollm2").id == "smollm2"


def test_openai_logprobs_whole_and_streamed(oai):
    args = dict(model="smollm2", messages=QUESTION, max_tokens=6, temperature=0, logprobs=True, top_logprobs=3)
    whole = oai.chat.completions.create(**args)
    content = whole.choices[0].logprobs.content
    assert len(content) == whole.usage.completion_tokens == 6
    assert bytes(b for entry in content for b in entry.bytes).decode() == whole.choices[0].message.content
    for entry in content:
        assert entry.logprob <= 0 and len(entry.top_logprobs) == 3
        assert entry.top_logprobs[0].token == entry.token  # greedy: the chosen token is the likeliest
    streamed = []
    for chunk in oai.chat.completions.create(**args, stream=True):
        if chunk.choices and chunk.choices[0].logprobs:
            streamed += chunk.choices[0].logprobs.content
    assert [(e.token, e.logprob) for e in streamed] == [(e.token, e.logprob) for e in content]
    plain = oai.chat.completions.create(model="smollm2", messages=QUESTION, max_tokens=2, temperature=0)
    assert plain.choices[0].logprobs is None


def test_legacy_completion_logprobs(oai):
    response = oai.completions.create(model="smollm2", prompt="The capital of France is", max_tokens=4,
                                      temperature=0, logprobs=2)
    lp = response.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == 4
    assert "".join(lp.tokens) == response.choices[0].text
    assert lp.text_offset[0] == 0 and lp.text_offset == sorted(lp.text_offset)
    assert all(len(top) <= 2 and max(top.values()) >= chosen - 1e-6 for top, chosen in zip(lp.top_logprobs, lp.token_logprobs))


def test_concurrent_requests_are_decoded_together(server):
    """Streams are generated at the same time (one after another, they would never overlap)."""
    first, done = {}, {}

    def client(i):
        body = {"model": "smollm2", "messages": [{"role": "user", "content": f"{i}: 이야기를 들려주세요."}],
                "max_tokens": 48, "temperature": 0.9, "seed": i, "lock": "off", "stream": True}
        with httpx.stream("POST", server.url + "/v1/chat/completions", json=body, timeout=120) as r:
            for line in r.iter_lines():
                if i not in first and line.startswith("data: {"):
                    choices = json.loads(line[6:])["choices"]
                    if choices and choices[0]["delta"].get("content"):
                        first[i] = time.monotonic()
        done[i] = time.monotonic()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(first) == len(done) == 4
    overlap = max(sum(first[j] <= first[i] <= done[j] for j in first) for i in first)
    assert overlap >= 3, (first, done)


# --- Ollama client ------------------------------------------------------------------------------
def test_ollama_chat_and_stream(oll):
    options = {"num_predict": 8, "temperature": 0, "seed": 5, "lock": "strict"}
    whole = oll.chat(model="smollm2", messages=QUESTION, options=options, stream=False)
    assert whole.done and whole.done_reason in ("stop", "length")
    assert whole.message.role == "assistant" and whole.message.content
    assert 0 < whole.eval_count <= 8 and whole.prompt_eval_count > 5 and whole.total_duration > 0
    parts = list(oll.chat(model="smollm2", messages=QUESTION, options=options, stream=True))
    assert parts[-1].done and not any(p.done for p in parts[:-1])
    assert "".join(p.message.content for p in parts) == whole.message.content


def test_ollama_logprobs(oll):
    response = oll.chat(model="smollm2", messages=QUESTION, options={"num_predict": 4, "temperature": 0},
                        logprobs=True, top_logprobs=2)
    assert len(response.logprobs) == response.eval_count
    assert "".join(e.token for e in response.logprobs) == response.message.content
    assert all(len(e.top_logprobs) == 2 and e.top_logprobs[0].logprob >= e.logprob - 1e-6 for e in response.logprobs)
    streamed = [e for part in oll.generate(model="smollm2", prompt="한국의 수도는?", stream=True, logprobs=True,
                                           options={"num_predict": 4, "temperature": 0}) for e in part.logprobs or []]
    assert len(streamed) == 4


def test_ollama_generate_with_a_base_model(oll):
    response = oll.generate(model="gemma3", prompt="대한민국의 수도는", options={"num_predict": 6, "temperature": 0})
    assert response.done and response.response.strip() and response.eval_count <= 6


def test_ollama_tags_show_embed_version(oll, server):
    names = {m.model for m in oll.list().models}
    assert {"smollm2:latest", "gemma3:latest"} <= names
    shown = oll.show("smollm2")
    assert shown.details.family == "llama" and "completion" in shown.capabilities
    assert "im_start" in shown.template  # SmolLM2's own chat template
    embedded = oll.embed(model="multilingual-e5-small", input=["안녕하세요", "반갑습니다"])
    assert len(embedded.embeddings) == 2 and len(embedded.embeddings[0]) == 384
    assert httpx.get(server.url + "/api/version", timeout=60).json()["version"]
    # Ollama clients append ":latest"
    assert oll.chat(model="smollm2:latest", messages=QUESTION, options={"num_predict": 2}).done


# --- errors --------------------------------------------------------------------------------------
def _post(server, path, content, headers=None):
    return httpx.post(server.url + path, content=content, timeout=60,
                      headers={"Content-Type": "application/json", **(headers or {})})


@pytest.mark.parametrize("body, param", [
    ('{"model": "smollm2", "messages": [', None),
    ('{"model": "smollm2", "messages": "hello"}', "messages"),
    ('{"model": "smollm2", "messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}', "temperature"),
    ('{"model": "smollm2", "messages": [{"role": "wizard", "content": "hi"}]}', "messages.0.role"),
    ('{"model": "smollm2", "messages": [{"role": "user", "content": "hi"}], "lock": "maybe"}', "lock"),
    ('{"model": "smollm2", "messages": [{"role": "user", "content": "hi"}], "max_tokens": -5}', "max_tokens"),
    ('[1, 2, 3]', None),
])
def test_bad_openai_requests_are_400_with_a_message(server, body, param):
    response = _post(server, "/v1/chat/completions", body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"]
    if param:
        assert error["param"] == param


def test_bad_ollama_requests_are_400_in_ollama_shape(server):
    for body in ('{"model": "smollm2", "messages": [', '{"model": 5}', '{"model": "smollm2", "options": {"num_ctx": "big"}}'):
        response = _post(server, "/api/chat", body)
        assert response.status_code == 400 and isinstance(response.json()["error"], str)
    # Ollama's own docs use curl -d, which sends a form content type: still parsed as JSON
    response = httpx.post(server.url + "/api/generate", content='{"model": "nope", "prompt": "x"}',
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 404 and "nope" in response.json()["error"]


def test_unknown_model_unknown_language_and_paths_are_4xx(server):
    msgs = [{"role": "user", "content": "hi"}]
    response = _post(server, "/v1/chat/completions", json.dumps({"model": "no-such-model", "messages": msgs}))
    assert response.status_code == 404 and response.json()["error"]["code"] == "model_not_found"
    # a client cannot make the server open arbitrary files
    response = _post(server, "/v1/chat/completions", json.dumps({"model": "/etc/passwd.gguf", "messages": msgs}))
    assert response.status_code == 404
    response = _post(server, "/v1/chat/completions", json.dumps({"model": "smollm2", "messages": msgs, "lang": "xx"}))
    error = response.json()["error"]
    assert response.status_code == 400 and error["param"] == "lang" and "'ko'" in error["message"]
    assert httpx.get(server.url + "/v1/nothing-here", timeout=60).status_code == 404


def test_a_prompt_longer_than_the_context_is_400_not_500(server):
    long = "안녕하세요 " * 6000
    response = _post(server, "/v1/chat/completions", json.dumps({"model": "smollm2", "messages": [
        {"role": "user", "content": long}]}))
    assert response.status_code == 400 and "context" in response.json()["error"]["message"]


def test_huge_bodies_are_refused_with_413(server):
    huge = json.dumps({"model": "smollm2", "messages": [{"role": "user", "content": "가" * (2 << 20)}]})
    response = _post(server, "/v1/chat/completions", huge)
    assert response.status_code == 413 and "larger than" in response.json()["error"]["message"]

    def chunks():  # no Content-Length: the limit must hold while reading
        for _ in range(40):
            yield b" " * 65536

    response = httpx.post(server.url + "/api/chat", content=chunks(), headers={"Content-Type": "application/json"}, timeout=60)
    assert response.status_code == 413 and "larger than" in response.json()["error"]


def test_cross_origin_and_rebinding_requests_are_refused(server):
    body = json.dumps({"model": "smollm2", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1})
    response = _post(server, "/v1/chat/completions", body, {"Origin": "https://evil.example"})
    assert response.status_code == 403
    response = _post(server, "/v1/chat/completions", body, {"Host": "evil.example:80"})
    assert response.status_code == 403


# --- cancellation ---------------------------------------------------------------------------------
#: greedy counting never reaches an end of text: the answer runs to its LONG tokens (many seconds) unless cancelled
COUNTING = {"temperature": 0, "lock": "off"}


def _wait(server, active: int, seconds: float = 120) -> None:
    """Until the server has `active` requests (a generous bound: only a server that never gets there fails)."""
    deadline = time.monotonic() + seconds
    while server.health()["active"] != active:
        assert time.monotonic() < deadline, f"the server never had {active} active request(s)"
        time.sleep(0.05)


def _has_text(line: str) -> bool:
    """An event carrying answer text (the first event only names the role)."""
    choices = json.loads(line[6:])["choices"] if line.startswith("data: {") else []
    return bool(choices and choices[0]["delta"].get("content"))


def _logged(prompt: str) -> bool:
    from kollama.logs import recent

    return any(prompt in row["prompt"] for row in recent(50))


def test_a_client_that_disconnects_cancels_its_generation(server):
    """A client that leaves mid-answer cancels it. A cancelled answer is never logged and a finished one is, so
    the log tells a cancelled generation from one that ran to its end, however fast the machine is."""
    question = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,"
    chat = {"model": "smollm2", "messages": [{"role": "user", "content": question}], "max_tokens": LONG,
            "stream": True, **COUNTING}
    with httpx.stream("POST", server.url + "/v1/chat/completions", json=chat, timeout=120) as r:
        next(line for line in r.iter_lines() if _has_text(line))  # the first piece of the answer itself
    _wait(server, 0)
    # the non-streaming route notices too: a raw connection, closed while its request is being answered
    prompt = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10,"
    body = json.dumps({"model": "smollm2", "prompt": prompt, "raw": True, "stream": False,
                       "options": {"num_predict": LONG, **COUNTING}}).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=120) as raw:
        raw.sendall(b"POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
        _wait(server, 1)
    _wait(server, 0)
    assert not _logged(question) and not _logged(prompt)
    # the same request, left to finish, is logged
    finished = httpx.post(server.url + "/api/generate", timeout=120, json={
        "model": "smollm2", "prompt": prompt, "raw": True, "stream": False, "options": {"num_predict": 4, **COUNTING}})
    assert finished.json()["done"] and _logged(prompt)
