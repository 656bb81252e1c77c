"""Continuous batching: several answers decoded together in one llama.cpp context must each stay
the answer to its own prompt, keep the lock, stop where asked, and report true log-probabilities."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from kollama.engines import GenerationParams, load_engine
from kollama.engines.llamacpp.sampler import TextAssembler
from kollama.engines.llamacpp import LlamaCppScorer
from kollama.korean.lock import LockMode
from test_foundation_lock import INVITING_PROMPTS, _foreign_chars

PROMPTS = ["대한민국의 수도는", "The capital of France is", "1, 2, 3, 4, 5,", "김치를 만들려면 먼저",
           "Once upon a time", "오늘 날씨가"]
NEAR_TIE = 0.5  # nats: llama.cpp's rounding depends on the batch shape, so greedy may flip only at near-ties


@pytest.fixture(scope="module")
def batched():
    engine = load_engine("smollm2", n_ctx=1024, parallel=6)
    yield engine
    engine.close()


def _together(engine, prompts, params, chat=False):
    results, errors = {}, []

    def one(i):
        try:
            request = [{"role": "user", "content": prompts[i]}] if chat else prompts[i]
            call = engine.chat if chat else engine.complete
            results[i] = call(request, params(i)).result()
        except Exception as exc:  # surfaced below, with the others' results
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(prompts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return [results[i] for i in range(len(prompts))]


@pytest.mark.slow
def test_concurrent_answers_are_each_the_answer_to_their_own_prompt(batched):
    params = GenerationParams(temperature=0, max_tokens=16, repeat_penalty=1.0, top_logprobs=2)
    alone = [batched.complete(p, params).result() for p in PROMPTS]
    together = _together(batched, PROMPTS, lambda i: params)
    identical = 0
    for a, b in zip(alone, together):
        ids_a, ids_b = [t.id for t in a.logprobs], [t.id for t in b.logprobs]
        if ids_a == ids_b:
            identical += 1
            continue
        k = next(i for i, (x, y) in enumerate(zip(ids_a, ids_b)) if x != y)
        gap = a.logprobs[k].top[0][1] - a.logprobs[k].top[1][1]
        assert gap < NEAR_TIE, f"diverged at token {k} where the model was sure ({gap:.2f} nats): {a.text!r} / {b.text!r}"
    assert identical >= len(PROMPTS) - 2
    assert together[2].text.startswith(" 6, 7, 8")  # a confident continuation is never disturbed


@pytest.mark.slow
def test_every_concurrent_answer_keeps_the_lock(batched):
    params = lambda i: GenerationParams(temperature=1.0, seed=31 + i, max_tokens=32, lock=LockMode.script)  # noqa: E731
    answers = _together(batched, INVITING_PROMPTS[:6], params, chat=True)
    for prompt, answer in zip(INVITING_PROMPTS, answers):
        assert answer.text.strip(), (prompt, "an empty answer proves nothing")
        assert "\ufffd" not in answer.text and _foreign_chars(answer.text) == [], (prompt, answer.text)
        assert answer.lock_enforcement == "decoding"


def test_logprobs_match_a_direct_computation_from_the_logits(batched):
    prompt = "The capital of France is"
    r = batched.complete(prompt, GenerationParams(temperature=0, max_tokens=12, repeat_penalty=1.0, top_logprobs=3)).result()
    assert len(r.logprobs) == r.completion_tokens == 12
    assert b"".join(t.token for t in r.logprobs).decode() == r.text
    for t in r.logprobs:
        assert t.top[0][0] == t.token  # greedy: the chosen token is the likeliest
        assert [lp for _, lp in t.top] == sorted((lp for _, lp in t.top), reverse=True)
        assert sum(np.exp(lp) for _, lp in t.top) <= 1 + 1e-6
    tokens = batched.tokenize(prompt, add_bos=batched.tokenizer.adds_bos)
    scorer = LlamaCppScorer(batched)
    try:
        direct = scorer.token_logprobs(tokens + [t.id for t in r.logprobs])[len(tokens) - 1:]
    finally:
        scorer.close()
    assert np.abs(direct - np.array([t.logprob for t in r.logprobs])).max() < 0.25  # measured 0.07 (batch-shape rounding)


def test_stop_strings_and_max_tokens_end_the_answer(batched):
    whole = batched.complete("1, 2, 3, 4, 5,", GenerationParams(temperature=0, max_tokens=16)).result()
    assert whole.text.startswith(" 6, 7, 8") and whole.finish_reason == "length" and whole.completion_tokens == 16
    cut = batched.complete("1, 2, 3, 4, 5,", GenerationParams(temperature=0, max_tokens=16, stop=[" 8"])).result()
    assert cut.text == " 6, 7," and cut.finish_reason == "stop" and cut.completion_tokens < 16


def test_a_closed_generation_frees_its_slot_at_once(batched):
    generation = batched.complete("Once upon a time", GenerationParams(temperature=1.0, max_tokens=400, seed=1))
    pieces = iter(generation)
    next(pieces), next(pieces)
    assert batched.scheduler.active == 1
    generation.close()
    deadline = time.monotonic() + 5
    while batched.scheduler.active and time.monotonic() < deadline:
        time.sleep(0.01)
    assert batched.scheduler.active == 0


def test_more_requests_than_slots_wait_their_turn(batched):
    prompts = [f"{n}, {n + 1}, {n + 2}," for n in range(10, 19)]  # 9 requests, 6 slots
    answers = _together(batched, prompts, lambda i: GenerationParams(temperature=0, max_tokens=4))
    for n, answer in zip(range(10, 19), answers):
        assert answer.text.startswith(f" {n + 3}"), answer.text


def test_a_prompt_that_starts_like_an_earlier_one_reuses_its_cached_prefix(batched):
    params = GenerationParams(temperature=0, max_tokens=6)
    first = batched.complete("1, 2, 3, 4, 5,", params).result()
    before = batched.scheduler.reused_tokens
    again = batched.complete("1, 2, 3, 4, 5,", params).result()
    prompt_tokens = len(batched.tokenize("1, 2, 3, 4, 5,", add_bos=batched.tokenizer.adds_bos))
    assert batched.scheduler.reused_tokens - before == prompt_tokens - 1  # all but the last prompt token
    assert again.text == first.text
    # a conversation's next turn starts with the previous turn's prompt and answer
    turn = [{"role": "user", "content": "한국의 수도는 어디인가요?"}]
    answer = batched.chat(turn, GenerationParams(temperature=0, max_tokens=8)).result()
    before = batched.scheduler.reused_tokens
    history = turn + [{"role": "assistant", "content": answer.text}, {"role": "user", "content": "인구는요?"}]
    batched.chat(history, GenerationParams(temperature=0, max_tokens=4)).result()
    assert batched.scheduler.reused_tokens - before >= answer.prompt_tokens


@pytest.mark.slow
def test_answers_submitted_together_evaluate_their_shared_prompt_once(batched):
    """compare's trials of one prompt (and n answers to one request): the followers copy the leader's
    keys and values instead of evaluating the prompt again, and answer as if they had."""
    system = "당신은 한국어로만 답하는 친절한 도우미입니다. 짧고 정확하게 답하세요."
    question = [{"role": "system", "content": system}, {"role": "user", "content": "김치는 어떻게 만드나요?"}]
    params = [GenerationParams(temperature=0.8, max_tokens=12, seed=s) for s in (1, 2, 3)]
    prompt_tokens = len(batched.prompt_tokens(question)[0])
    fresh = load_engine("smollm2", n_ctx=1024, parallel=6)  # nothing cached: only a leader can share
    try:
        together = [g.result().text for g in fresh.generate_many([(question, p) for p in params])]
        reused = fresh.scheduler.reused_tokens
    finally:
        fresh.close()
    alone = [batched.chat(question, p).result().text for p in params]
    assert prompt_tokens > 30 and reused >= 2 * (prompt_tokens - 1) - 2  # two followers, nearly all of it
    assert all(together) and together == alone  # SmolLM2 rounds these batch shapes alike (checked: 0.0 nats)


RIDE_QUESTIONS = [[{"role": "user", "content": "김치는 어떻게 만드나요?"}],
                  [{"role": "user", "content": "Please answer in Korean: what is the capital of Japan?"}],
                  [{"role": "user", "content": "서울에 대해 영어로 한 문장 써 주세요."}]]
RIDE_LOCKS = [LockMode.off, LockMode.script, LockMode.strict]


def _ids(response):
    return [t.id for t in response.logprobs]


def _assert_same_or_near_tie(alone, together):
    """Token for token the same answer, or parted where the model was torn (batch shape moves logits)."""
    a, b = _ids(alone), _ids(together)
    if a == b:
        return True
    k = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    assert k < min(len(a), len(b)), "one answer stopped early where the other went on"
    gap = alone.logprobs[k].top[0][1] - alone.logprobs[k].top[1][1]
    assert gap < NEAR_TIE, f"parted at token {k} where the model was sure ({gap:.2f}): {alone.text!r} / {together.text!r}"
    return False


@pytest.mark.slow
def test_answers_that_differ_only_in_their_lock_share_decoding_and_answer_as_alone(batched):
    """compare's `--lock off,script,strict` cells of one prompt and trial: the locked answers ride on the
    unlocked one (they draw from its logits row while they draw its tokens, and copy its cache when they
    part), and each is the answer it gets decoded alone."""
    requests = [(q, GenerationParams(temperature=0, max_tokens=24, lock=lock, top_logprobs=2))
                for q in RIDE_QUESTIONS for lock in RIDE_LOCKS]
    fresh = load_engine("smollm2", n_ctx=1024, parallel=len(requests))
    try:
        together = [g.result() for g in fresh.generate_many(requests)]
        ridden, steps = fresh.scheduler.ridden_tokens, fresh.scheduler.steps
    finally:
        fresh.close()
    alone = [batched.chat(q, p).result() for q, p in requests]
    assert all(_ids(a) for a in together)
    identical = sum(_assert_same_or_near_tie(a, b) for a, b in zip(alone, together))
    assert identical >= len(requests) - 2
    assert ridden > 0 and steps < sum(len(_ids(a)) for a in together)  # locked tokens that cost no decode
    off = together[0::3]
    parted = [a for i, a in enumerate(together) if i % 3 and a.text != off[i // 3].text]
    assert parted  # and locked answers that went on alone


@pytest.mark.slow
def test_sampled_riders_keep_their_locks(batched):
    """At temperature 0.8 (compare's default) riders draw with their own seeded chains: every locked
    answer keeps its lock, and riding still saves decodes."""
    requests = [(q, GenerationParams(temperature=0.8, max_tokens=32, seed=7, lock=lock))
                for q in RIDE_QUESTIONS for lock in RIDE_LOCKS]
    fresh = load_engine("smollm2", n_ctx=1024, parallel=len(requests))
    try:
        answers = [g.result() for g in fresh.generate_many(requests)]
        ridden = fresh.scheduler.ridden_tokens
    finally:
        fresh.close()
    assert ridden > 0
    for (question, params), answer in zip(requests, answers):
        assert answer.text.strip(), (question, params.lock, "an empty answer proves nothing")
        if params.lock != LockMode.off:
            assert "\ufffd" not in answer.text and _foreign_chars(answer.text) == [], (params.lock, answer.text)


@pytest.mark.slow
def test_a_cancelled_leader_hands_its_riders_on(batched):
    """The unlocked answer is closed after its first piece; the locked answer riding on it goes on alone
    from the shared cache and is still the answer it gets decoded alone."""
    question = RIDE_QUESTIONS[1]
    params = [GenerationParams(temperature=0, max_tokens=20, lock=lock, top_logprobs=2)
              for lock in (LockMode.off, LockMode.script)]
    engine = load_engine("smollm2", n_ctx=1024, parallel=2)
    try:
        leader, rider = engine.generate_many([(question, p) for p in params])
        next(iter(leader))
        leader.close()
        handed_on = rider.result()
    finally:
        engine.close()
    alone = batched.chat(question, params[1]).result()
    assert len(_ids(handed_on)) > 2 and handed_on.finish_reason == alone.finish_reason
    _assert_same_or_near_tie(alone, handed_on)


@pytest.mark.slow
def test_a_leader_cancelled_while_its_long_prompt_is_evaluated_leaves_its_rider_the_rest():
    """Cancelled between prompt chunks, the leader has only part of the prompt in its cache: the rider copies
    that part, evaluates the rest itself and still answers."""
    question = [{"role": "user", "content": "다음 글을 한 문장으로 요약해 주세요. " + "오늘은 날씨가 맑고 바람이 붑니다. " * 40}]
    engine = load_engine("smollm2", n_ctx=2048, parallel=2)
    try:
        leader, rider = (engine.job(question, GenerationParams(temperature=0, max_tokens=8, lock=lock))
                         for lock in (LockMode.off, LockMode.script))
        assert len(leader.prompt) > 2 * engine.scheduler.n_batch  # several prefill steps
        engine.scheduler.submit(leader, rider)
        while engine.scheduler.steps < 1:
            time.sleep(0.001)
        leader.cancelled.set()
        events = []
        while not events or events[-1][0] not in ("end", "error"):
            events.append(rider.events.get(timeout=120))  # a rider left without its prompt would wait forever
    finally:
        engine.close()
    assert events[-1][0] == "end" and events[-1][2] > 0
    assert "".join(e[1] for e in events if e[0] == "text").strip()


def test_unloading_the_model_answers_running_and_waiting_requests_with_an_error():
    from kollama.errors import KollamaError

    engine = load_engine("smollm2", n_ctx=512, parallel=1)
    outcomes: dict[str, object] = {}

    def ask(name):
        try:
            outcomes[name] = engine.complete("Once upon a time", GenerationParams(max_tokens=400, seed=1)).result()
        except KollamaError as exc:
            outcomes[name] = exc

    threads = [threading.Thread(target=ask, args=(name,)) for name in ("running", "waiting")]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while engine.scheduler.active == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    engine.close()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads), "a request was left waiting forever"
    assert all(isinstance(o, KollamaError) and "unloaded" in str(o) for o in outcomes.values()), outcomes


# --- text assembly (pure) ---------------------------------------------------------------------------------
def test_split_characters_wait_for_their_last_byte():
    text = TextAssembler([])
    han = "한".encode()
    assert text.feed(han[:1]) == "" and text.feed(han[1:2]) == "" and text.feed(han[2:] + b"!") == "한!"
    assert text.feed("국".encode()[:2]) == "" and text.flush() == ""  # cut off by max_tokens: dropped, not U+FFFD


def test_a_stop_string_split_across_tokens_is_held_back_then_cut():
    text = TextAssembler(["###"])
    assert text.feed(b"answer #") == "answer "
    assert text.feed(b"#") == ""
    assert text.feed(b"# more") == "" and text.stopped
    text = TextAssembler(["###"])
    assert text.feed(b"a #") == "a " and text.feed(b" b") == "# b" and text.flush() == ""
