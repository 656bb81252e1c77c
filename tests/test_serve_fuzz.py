"""Fuzzing `kollama serve` from its own OpenAPI schema: no input makes it answer 5xx or break its schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import positive_data_acceptance
from serve_server import Server

pytestmark = pytest.mark.slow  # starts kollama serve


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    log = tmp_path_factory.mktemp("serve") / "fuzz.log"
    # tiny answers keep each example fast; a deep queue so the limiter does not shed the fuzzer
    with Server("--model", "smollm2", "--max-tokens", "2", "--no-log", "--max-concurrency", "2", "--queue", "64",
                "--max-n", str(MAX_N),
                log=log) as s:
        yield s


MAX_N = 4


def _schema_cannot_say(path: str, body: object) -> bool:
    """What OpenAPI cannot express, so a 400 for it is right: which token ids a model's vocabulary has, the
    server's --max-n (and best_of's relation to n), and whether an embedded JSON schema (format, response_format, tool parameters) is one
    llama.cpp's grammar can enforce."""
    if not isinstance(body, dict):
        return False
    prompt = body.get("prompt")
    if path == "/v1/completions" and isinstance(prompt, list) and prompt and not isinstance(prompt[0], str):
        return True
    n = body.get("n")
    n = n if isinstance(n, (int, float)) and not isinstance(n, bool) else 1  # JSON's 65.0 is an integer too
    if n > MAX_N:
        return True
    # best_of: at least n, at most --max-n, never streamed; several completions: not streamed, at most 64 answers
    if body.get("best_of") is not None or path == "/v1/completions" and n > 1:
        return True
    return isinstance(body.get("format"), dict) or body.get("format") == "json" or bool(body.get("tools")) or \
        isinstance(body.get("response_format"), dict) and body["response_format"].get("type") != "text"


def test_no_input_breaks_the_server(fuzz_server):
    schema = schemathesis.openapi.from_url(fuzz_server.url + "/openapi.json")
    tested = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy(), real_model=st.sampled_from([None, "smollm2", "multilingual-e5-small"]))
        @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                  database=None)
        def fuzz(case, real_model):
            # random model names are all 404s: often name a real one so the generation paths get fuzzed too
            if real_model and isinstance(case.body, dict) and "model" in case.body:
                case.body["model"] = real_model
            # a schema cannot say "starts with %PDF-": random bytes rightly get 415, not acceptance
            excluded = [positive_data_acceptance] if case.operation.path == "/v1/rag/documents" else []
            if _schema_cannot_say(case.operation.path, case.body):
                excluded = [positive_data_acceptance]
            case.call_and_validate(timeout=60, excluded_checks=excluded)

        fuzz()
        tested.append(operation.label)
    assert len(tested) >= 15, tested
    assert fuzz_server.process.poll() is None


# Text UTF-8 cannot encode (lone UTF-16 surrogates, as JS clients send half an emoji) in any string of a
# chat or generate body, and log-probabilities under the lock: never a 5xx, never -Infinity/NaN in JSON.
_surrogate = st.integers(0xD800, 0xDFFF).map(chr)
_text = st.lists(st.one_of(_surrogate, st.sampled_from("안녕a😀 ")), min_size=1, max_size=6).map("".join)
_bodies = st.sampled_from([
    ("/v1/chat/completions", lambda t, lp: {"model": "smollm2", "messages": [{"role": "user", "content": t}],
                                            "stop": [t], "logprobs": True, "top_logprobs": lp, "lock": "strict"}),
    ("/api/chat", lambda t, lp: {"model": "smollm2", "stream": False, "messages": [{"role": "system", "content": t},
                                                                              {"role": "user", "content": t}],
                                 "logprobs": True, "top_logprobs": lp, "options": {"lock": "strict"}}),
    ("/api/generate", lambda t, lp: {"model": "smollm2", "stream": lp % 2 == 0, "prompt": t, "system": t,
                                     "logprobs": True, "top_logprobs": lp}),
    ("/v1/completions", lambda t, lp: {"model": "smollm2", "prompt": [t, "서울"], "echo": True, "logprobs": lp % 6,
                                       "max_tokens": lp % 2}),
])


def test_unencodable_text_and_banned_token_logprobs_never_break_json(fuzz_server):
    import json
    import re

    import httpx

    @given(route=_bodies, text=_text, top=st.integers(0, 20))
    @settings(max_examples=24, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
    def check(route, text, top):
        path, make = route
        raw = json.dumps(make(text, top))  # ensure_ascii: lone surrogates travel as \udXXX escapes
        response = httpx.post(fuzz_server.url + path, content=raw, headers={"Content-Type": "application/json"},
                              timeout=60)
        assert response.status_code < 500, (path, raw, response.text)
        assert not re.search(r"-?Infinity|NaN", response.text), response.text[:300]

    check()
    assert fuzz_server.process.poll() is None
