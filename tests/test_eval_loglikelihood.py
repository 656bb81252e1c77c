"""The log-likelihood core against log-probabilities computed directly from llama.cpp logits (one batch
per sequence, as `Llama.eval` decodes it), and against transformers on the same GGUF."""

from __future__ import annotations

import random

import pytest
from evaluate_reference import direct_logprob

from kollama.evaluate.encoding import encode_pair, sentence_request
from kollama.engines.llamacpp import LlamaCppScorer

PAIRS = [
    ("", "나는 버스를 탔다."),
    ("", "나는 버스를 태운다."),
    ("문장: 오늘 날씨가 정말 좋다 긍부정:", " 긍정"),
    ("문장: 오늘 날씨가 정말 좋다 긍부정:", " 부정"),
    ("선생님이 교실로 ", "부리나케 달려갔다."),
    ("선생님이 교실로 ", "부리나케 잘려갔다."),
    ("한라산은 남한에서 가장 높은 산이다. 질문: 한라산은 높은가? 답변: ", " 예"),
]


@pytest.fixture(scope="module")
def gemma_scorer(gemma3):
    scorer = LlamaCppScorer(gemma3, n_threads=1)
    yield scorer
    scorer.close()


def test_matches_direct_llama_logits_gemma3(gemma3, gemma_scorer):
    requests = [encode_pair(gemma3, c, x) for c, x in PAIRS]
    results = gemma_scorer.loglikelihood(requests)
    for req, res in zip(requests, results):
        ref = direct_logprob(gemma3, list(req.context), list(req.continuation), one_batch=True)
        assert res.logprob == pytest.approx(ref, abs=1e-3)
        assert res.n_tokens == len(req.continuation)
    # the grammatical sentences win
    assert results[0].logprob > results[1].logprob
    assert results[4].logprob > results[5].logprob


def test_one_batch_reference_smollm2(smollm2):
    """The core matches a single forward pass over context + continuation on SmolLM2 too."""
    scorer = LlamaCppScorer(smollm2, n_threads=1)
    try:
        requests = [encode_pair(smollm2, c, x) for c, x in PAIRS[:5]]
        for req, res in zip(requests, scorer.loglikelihood(requests)):
            ref = direct_logprob(smollm2, list(req.context), list(req.continuation), one_batch=True)
            assert res.logprob == pytest.approx(ref, abs=1e-3)
    finally:
        scorer.close()


def test_batch_shape_moves_gemma3_and_the_core_follows_eval(gemma3, gemma_scorer):
    """Gemma 3 Q4_K_M rounds a token differently by its place in the batch: decoding BOS alone and the
    sentence after it moves this 15-token sentence by about 0.4 nats against one batch. The core gives
    the one-batch number (what `Llama.eval` gives)."""
    req = sentence_request(gemma3, "오늘은 날씨가 정말 좋아서 공원에 산책을 나갔다")
    ours = gemma_scorer.loglikelihood([req])[0].logprob
    one = direct_logprob(gemma3, list(req.context), list(req.continuation), one_batch=True)
    split = direct_logprob(gemma3, list(req.context), list(req.continuation))
    assert ours == pytest.approx(one, abs=1e-3)
    assert abs(split - one) > 0.1


def test_scores_do_not_depend_on_batch_company_or_order(gemma3, gemma_scorer):
    requests = [encode_pair(gemma3, c, x) for c, x in PAIRS]
    alone = [gemma_scorer.loglikelihood([r])[0].logprob for r in requests]
    shuffled = list(range(len(requests)))
    random.Random(7).shuffle(shuffled)
    together = gemma_scorer.loglikelihood([requests[i] for i in shuffled])
    for pos, i in enumerate(shuffled):
        assert together[pos].logprob == alone[i]


def test_greedy_flag(gemma3, gemma_scorer):
    """is_greedy is true exactly when every continuation token is the argmax: check with a
    continuation built from the model's own greedy choice."""
    ctx = encode_pair(gemma3, "대한민국의 수도는", " 서울").context
    import llama_cpp
    import numpy as np
    from evaluate_reference import _decode

    llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(gemma3.llm._ctx.ctx), True)
    row = _decode(gemma3, list(ctx), 0, [len(ctx) - 1])[0]
    gemma3.llm.reset()
    best = int(np.argmax(row))
    second = int(np.argsort(row)[-2])
    from kollama.engines.scoring import Request

    res = gemma_scorer.loglikelihood([Request(ctx, (best,)), Request(ctx, (second,))])
    assert res[0].is_greedy and not res[1].is_greedy
    assert res[0].logprob > res[1].logprob


@pytest.mark.slow
def test_sliding_window_matches_full_context_when_it_fits(gemma3, gemma_scorer):
    req = sentence_request(gemma3, "나는 어제 친구와 함께 도서관에 가서 책을 읽었다. " * 3)
    tokens = list(req.context + req.continuation)
    full = gemma_scorer.token_logprobs(tokens)
    assert full.sum() == pytest.approx(gemma_scorer.loglikelihood([req])[0].logprob, abs=1e-3)
    windowed = gemma_scorer.token_logprobs(tokens, window=16)
    assert len(windowed) == len(tokens) - 1
    first_window = gemma_scorer.token_logprobs(tokens[:16])
    assert windowed[:15] == pytest.approx(first_window, abs=1e-3)  # the first window is that text alone
    assert (windowed < 0).all()
    # later windows see only half a window of context: the repeated sentence is less predictable
    assert windowed.sum() < full.sum()


@pytest.mark.slow
def test_transformers_cross_check_smollm2(smollm2):
    """The same GGUF through transformers (de-quantised to fp32) against llama.cpp (Q4_1 kernels
    with 8-bit activations): measured differences reach 0.08 nats per token (1.2 nats on a
    24-token sentence; gemma3 Q4_K_M: 0.06 per token), so the tolerance is 0.1 nats per token."""
    from kollama.evaluate.transformers_scorer import TransformersScorer

    hf = TransformersScorer(smollm2.ref.path)
    requests = [encode_pair(smollm2, c, x) for c, x in PAIRS[:4]]
    # the two tokenizers agree on these texts
    assert [list(r.context + r.continuation) for r in requests[2:3]] == [
        hf.tokenizer.encode("문장: 오늘 날씨가 정말 좋다 긍부정: 긍정", add_special_tokens=False)]
    scorer = LlamaCppScorer(smollm2, n_threads=1)
    try:
        ours = scorer.loglikelihood(requests)
    finally:
        scorer.close()
    theirs = hf.loglikelihood(requests)
    for a, b in zip(ours, theirs):
        assert abs(a.logprob - b.logprob) <= TOLERANCE_PER_TOKEN * a.n_tokens
    assert (ours[0].logprob > ours[1].logprob) == (theirs[0].logprob > theirs[1].logprob)


TOLERANCE_PER_TOKEN = 0.1


def test_row_statistics_split_across_cores_equal_a_float64_reference():
    """Log-softmax rows are normalised in float32 with a pairwise sum, several rows per core: each row's
    log-normaliser must match float64 to 1e-5 and its argmax must be the row's, however the rows are split."""
    import numpy as np

    from kollama.engines.scoring import log_softmax_at, row_statistics

    rng = np.random.default_rng(3)
    logits = (rng.standard_normal((9, 262_144)) * 4).astype(np.float32)
    log_z, peak_at = row_statistics(logits)
    reference = np.log(np.exp(logits.astype(np.float64)).sum(axis=1))
    assert np.abs(log_z - reference).max() < 1e-5
    assert (peak_at == logits.argmax(axis=1)).all()
    for i in range(len(logits)):  # alone, the same numbers
        alone_z, alone_peak = row_statistics(logits[i:i + 1])
        assert alone_z[0] == log_z[i] and alone_peak[0] == peak_at[i]
    targets = [int(t) for t in rng.integers(0, 262_144, len(logits))]
    lp, greedy = log_softmax_at(logits, targets)
    assert np.allclose(lp, logits[np.arange(9), targets] - reference, atol=1e-5) and not greedy.any()
