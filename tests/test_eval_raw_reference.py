"""kollama's log-likelihoods against llama-cpp-python's own (`Llama(logits_all=True)`, `eval`, log-softmax of
its `scores`), per sequence, on real KoBEST items and Korean minimal pairs, on both built-in models.

llama.cpp's CPU kernels round a token differently depending on its batch, so a scorer that cuts the
sequence anywhere else than where `eval` does drifts by tenths of a nat per sentence on Gemma 3; the
tolerance here is 0.05 nats per sequence.
"""

from __future__ import annotations

import json

import pytest
from evaluate_reference import HARNESS_KOBEST, RawLlama, real_kobest_items
from support.realdata import realdata

from kollama.engines.llamacpp import LlamaCppScorer
from kollama.engines.llamacpp.scorer import MAX_OUTPUTS_PER_DECODE
from kollama.evaluate.encoding import encode_pair, raw_sentence_request, sentence_request
from kollama.evaluate.score import score_groups
from kollama.evaluate.tasks import builtin_dir

TOLERANCE = 0.05  # nats per sequence
ITEMS_PER_TASK = 4  # 20 KoBEST items (5 tasks), 50 choices
PAIRS = 20  # Korean minimal pairs (40 sentences)


def minimal_pairs() -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in (builtin_dir() / "ko_grammar.jsonl").read_text(encoding="utf-8").splitlines()]
    return [(r["good"], r["bad"]) for r in rows[::len(rows) // PAIRS][:PAIRS]]  # every phenomenon


def kobest_requests(engine) -> list:
    folder = realdata("kobest")
    requests = []
    for task in HARNESS_KOBEST:
        for context, choices, _ in real_kobest_items(folder, task, ITEMS_PER_TASK):
            requests += [encode_pair(engine, context, " " + choice) for choice in choices]
    return requests


def assert_matches_raw(engine, requests, scores) -> float:
    raw = RawLlama(engine.ref.path, n_ctx=engine.n_ctx)
    try:
        worst = 0.0
        for req, ours in zip(requests, scores):
            ref = raw.logprob(list(req.context + req.continuation), len(req.context))
            assert abs(ours - ref) <= TOLERANCE, (len(req.context), len(req.continuation), ours, ref)
            worst = max(worst, abs(ours - ref))
        return worst
    finally:
        raw.close()


@pytest.mark.slow
@pytest.mark.parametrize("model", ["gemma3", "smollm2"])
def test_eval_and_score_match_llama_cpp_python(model, request):
    """`kollama eval`'s requests (real KoBEST test items, harness encoding) and `kollama score`'s sentences
    (minimal pairs), scored together in one run as eval does, against raw llama-cpp-python one by one."""
    engine = request.getfixturevalue(model)
    requests = kobest_requests(engine) + [sentence_request(engine, s) for pair in minimal_pairs() for s in pair]
    scorer = LlamaCppScorer(engine, n_threads=1)
    try:
        scores = [r.logprob for r in scorer.loglikelihood(requests)]
    finally:
        scorer.close()
    assert len(scores) == len(requests) > 80
    assert_matches_raw(engine, requests, scores)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["gemma3", "smollm2"])
def test_echo_logprobs_and_score_raw_reference_match(model, request):
    """serve's echo log-probabilities and `token_logprobs` (perplexity) are `eval`'s per-token numbers; `kollama
    score --raw-reference` shows llama-cpp-python's number for the tokenizer's own tokens beside kollama's."""
    engine = request.getfixturevalue(model)
    pairs = minimal_pairs()[:12]
    sentences = [s for pair in pairs for s in pair]
    groups = score_groups(engine, [list(p) for p in pairs], threads=1, raw_reference=True)
    scorer = LlamaCppScorer(engine, n_threads=1)
    raw = RawLlama(engine.ref.path, n_ctx=engine.n_ctx)
    try:
        text = " ".join(sentences)
        whole = sentence_request(engine, text)
        tokens = list(whole.context + whole.continuation)
        assert len(tokens) > MAX_OUTPUTS_PER_DECODE  # echo rows come back in several blocks
        echo = [lp for lp, _ in scorer.prompt_logprobs(tokens, top=2)]
        assert echo == pytest.approx(raw.token_logprobs(tokens), abs=TOLERANCE / 10)
        assert list(scorer.token_logprobs(tokens)) == pytest.approx(echo, abs=1e-9)
        by_sentence = {s: (lp, rlp) for g in groups for s, lp, rlp in zip(g.sentences, g.logprob, g.raw_logprob)}
        for s in sentences:
            own = sentence_request(engine, s)
            assert by_sentence[s][0] == pytest.approx(raw.logprob(list(own.context + own.continuation), 1), abs=TOLERANCE)
            plain = raw_sentence_request(engine, s)
            ref = raw.logprob(list(plain.context + plain.continuation), len(plain.context))
            assert by_sentence[s][1] == pytest.approx(ref, abs=TOLERANCE)
            if engine.tokenizer.adds_bos:  # Gemma: the tokenizer's own tokens are kollama's
                assert by_sentence[s][1] == by_sentence[s][0]
            else:  # SmolLM2: kollama also scores the first token, after EOS standing in for BOS
                assert by_sentence[s][0] < by_sentence[s][1]
    finally:
        raw.close()
        scorer.close()
