"""`/v1/completions` as lm-evaluation-harness uses it (prompt lists, token ids, echo log-probabilities with
max_tokens 0, no lock on scores), the exported Hugging Face tokenizer, and the harness itself on real
KoBEST COPA agreeing with `kollama eval`."""

from __future__ import annotations

import math
import sys

import httpx
import pytest
from conftest import ROOT, run_cli
from serve_server import Server
from support.realdata import realdata

pytestmark = pytest.mark.slow

TEXT = "대한민국의 수도는 서울이다. 그래서 사람이 많다."


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("serve") / "completions.log"
    with Server("--model", "smollm2", "--max-tokens", "16", "--no-log", "--no-rag", log=log) as s:
        yield s


def _complete(server, **body) -> httpx.Response:
    return httpx.post(server.url + "/v1/completions", json={"model": "smollm2", **body}, timeout=120)


def test_echo_with_max_tokens_zero_scores_the_prompt_like_kollama_score(server, smollm2):
    response = _complete(server, prompt=TEXT, max_tokens=0, echo=True, logprobs=3, temperature=0)
    assert response.status_code == 200, response.text
    out = response.json()
    choice = out["choices"][0]
    assert choice["text"] == TEXT and out["usage"]["completion_tokens"] == 0
    lp = choice["logprobs"]
    tokens = smollm2.tokenize(TEXT)
    assert len(lp["tokens"]) == len(tokens) and any(t.startswith("bytes:\\x") for t in lp["tokens"])
    assert lp["token_logprobs"][0] is None and lp["top_logprobs"][0] is None  # OpenAI's first token
    # the numbers are the model's own: the same as `kollama score`'s scorer on the same tokens
    reference = [lp_ for _, lp_ in smollm2.token_logprobs(TEXT)][-(len(tokens) - 1):]
    assert all(abs(a - b) < 1e-3 for a, b in zip(lp["token_logprobs"][1:], reference))
    for chosen, top in zip(lp["token_logprobs"][1:], lp["top_logprobs"][1:]):
        assert len(top) == 3 and max(top.values()) >= chosen - 1e-6 and all(math.isfinite(v) for v in top.values())
    assert out["kollama"]["lock"] == "off" and out["kollama"]["prompt_logprobs_lock"] == "off"


def test_no_lock_applies_to_scores_and_the_response_says_which_did(server):
    scored = {}
    for lock in ("off", "strict"):
        out = _complete(server, prompt=TEXT, max_tokens=1, echo=True, logprobs=1, temperature=0, lock=lock).json()
        scored[lock] = out["choices"][0]["logprobs"]["token_logprobs"][:-1]
        assert out["kollama"]["lock"] == lock and out["kollama"]["prompt_logprobs_lock"] == "off"
        assert len(out["choices"][0]["logprobs"]["tokens"]) == len(scored[lock]) + 1  # the prompt, then 1 generated
    assert scored["off"] == scored["strict"]


def test_the_openai_client_scores_prompts_as_the_harness_does(server):
    import openai

    client = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0, timeout=120)
    out = client.completions.create(model="smollm2", prompt=["서울은 크다", "부산은 바다"], max_tokens=0, echo=True,
                                    logprobs=1)
    assert [c.text for c in out.choices] == ["서울은 크다", "부산은 바다"]
    for choice in out.choices:
        assert choice.logprobs.token_logprobs[0] is None
        assert all(isinstance(v, float) and v <= 0 for v in choice.logprobs.token_logprobs[1:])


def test_prompts_as_lists_and_token_ids(server, smollm2):
    ids = smollm2.tokenize("서울은 대한민국의")
    many = _complete(server, prompt=["서울은", "부산은", "대구는"], max_tokens=2, temperature=0).json()
    assert [c["index"] for c in many["choices"]] == [0, 1, 2] and all(c["text"] is not None for c in many["choices"])
    as_ids = _complete(server, prompt=ids, max_tokens=0, echo=True, logprobs=0).json()["choices"]
    as_text = _complete(server, prompt="서울은 대한민국의", max_tokens=0, echo=True, logprobs=0).json()["choices"]
    assert as_ids[0]["text"] == "서울은 대한민국의"
    assert as_ids[0]["logprobs"]["token_logprobs"] == as_text[0]["logprobs"]["token_logprobs"]
    batch = _complete(server, prompt=[ids, ids[:3]], max_tokens=0, echo=True, logprobs=1).json()["choices"]
    assert [len(c["logprobs"]["tokens"]) for c in batch] == [len(ids), 3]
    bad = _complete(server, prompt=[10**9], max_tokens=0, echo=True, logprobs=0)
    assert bad.status_code == 400 and "vocabulary" in bad.json()["error"]["message"]
    too_many = _complete(server, prompt="a", logprobs=6)
    assert too_many.status_code == 400 and "logprobs" in too_many.json()["error"]["message"]


def test_export_tokenizer_gives_llama_cpps_tokens(tmp_path, smollm2):
    pytest.importorskip("transformers")
    done = run_cli("tokens", "smollm2", "--export-tokenizer", str(tmp_path / "tok"), "--json")
    assert done.returncode == 0, done.stderr
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tmp_path / "tok"))
    for text in (TEXT, "KoBEST COPA 문제: 바지의 밑단을 잘랐다.  왜냐하면 허리가 컸다"):
        assert tokenizer(text, add_special_tokens=False)["input_ids"] == smollm2.tokenize(text)
    refused = run_cli("tokens", "smollm2", "gemma3", "--export-tokenizer", str(tmp_path / "two"))
    assert refused.returncode != 0 and "one model" in refused.stderr and "Traceback" not in refused.stderr


@pytest.mark.realdata
def test_lm_eval_local_completions_matches_kollama_eval_on_real_kobest_copa(tmp_path):
    pytest.importorskip("lm_eval")
    pytest.importorskip("transformers")
    realdata("kobest", "copa_test.jsonl")  # skips cleanly when the real data is absent (the benchmark would exit)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from harness import compare  # the benchmark's own steps, on a smaller slice

    result = compare("smollm2", 12, tmp_path)
    assert len(result["differ"]) <= 1, result
    assert abs(result["kollama_eval_acc"] - result["lm_eval_acc"]) <= 1 / 12 + 1e-9
