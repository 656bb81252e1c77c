"""`--lang auto`: the answer language inferred from a code-switched prompt, measured on hand-written prompts
(tests/data/lang_auto_prompts.jsonl), and the lock's default following the decision."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from kollama.errors import KollamaError
from kollama.korean.answer_language import explicit_request, infer_answer_language, resolve_answer_language
from kollama.korean.scripts import languages
from kollama.run import RunOptions

PROMPTS = Path(__file__).parent / "data" / "lang_auto_prompts.jsonl"
KINDS = {"korean_grammar", "english_grammar", "instruction_content", "explicit", "multi_turn", "system", "ambiguous"}


def _records() -> list[dict]:
    return [json.loads(line) for line in PROMPTS.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_the_prompt_file_is_varied_and_well_formed():
    records = _records()
    assert len(records) >= 200
    assert {r["kind"] for r in records} == KINDS
    assert len({r["prompt"] for r in records}) > 0.95 * len(records)  # not one pattern repeated
    for r in records:
        assert r["expected"] in languages() and r["prompt"].strip()
        assert set(r) <= {"prompt", "system", "history", "expected", "kind"}
    by_kind = Counter((r["kind"], r["expected"]) for r in records)
    for kind in ("instruction_content", "explicit", "multi_turn", "system"):  # both directions
        assert by_kind[(kind, "ko")] >= 8 and by_kind[(kind, "en")] >= 8, kind


@pytest.mark.slow  # Kiwi over 280 prompts: about 10 s on two busy cores
def test_auto_agrees_with_the_expected_language_on_90_percent_of_every_kind():
    right, always_ko, total = Counter(), Counter(), Counter()
    for r in _records():
        decision = infer_answer_language(r["prompt"], system=r.get("system"), history=r.get("history"))
        total[r["kind"]] += 1
        right[r["kind"]] += decision.lang == r["expected"]
        always_ko[r["kind"]] += r["expected"] == "ko"
    for kind in total:
        assert right[kind] / total[kind] >= 0.9, (kind, right[kind], total[kind])
    auto_rate = sum(right.values()) / sum(total.values())
    ko_rate = sum(always_ko.values()) / sum(total.values())
    assert ko_rate < 0.7 and auto_rate - ko_rate > 0.3  # "always Korean" is far below


@pytest.mark.parametrize("prompt, expected", [
    ("이 function의 return value가 왜 None이야?", "ko"),  # Korean particles and endings, English terms
    ("What does 눈치 mean in Korean culture?", "en"),  # English grammar, a Korean term
    ("Write a romantic reply to: 자기야 오늘 하루 어땠어?", "ko"),  # reply: the content's language
    ("Translate into English: 오늘 회의는 취소됐어요.", "en"),  # translate into X: X
    ("이거 무슨 뜻이야? break a leg", "ko"),  # explain: the instruction's language
    ("다음 글 요약해줘:\nThe council approved the plan on Tuesday after a long debate.", "ko"),  # summarise
    ("React hooks 규칙 정리해줘. 답변은 English로 해줘", "en"),  # an explicit request wins
    ("How do I say 'thank you' in Korean?", "en"),  # a question about Korean, not a request for it
])
def test_the_rules_a_reader_uses(prompt, expected):
    decision = infer_answer_language(prompt)
    assert decision.lang == expected, decision
    assert decision.reason and not decision.ambiguous


def test_the_conversation_and_the_system_prompt_count():
    history = [{"role": "user", "content": "From now on, answer in English only."},
               {"role": "assistant", "content": "Sure."}]
    assert infer_answer_language("그럼 이건 왜 그래?", history=history).lang == "en"  # a standing request
    korean = [{"role": "user", "content": "파이썬 가상환경 만드는 법 알려줘"}, {"role": "assistant", "content": "venv를 쓰세요."}]
    assert infer_answer_language("ok", history=korean).lang == "ko"  # too short: follows the conversation
    assert infer_answer_language("What is a closure?", system="Always answer in Korean.").lang == "ko"
    assert infer_answer_language("이 코드 설명해줘", system="Respond in English only.").lang == "en"


def test_an_ambiguous_prompt_falls_back_to_the_default_and_says_so():
    decision = infer_answer_language("Kubernetes")
    assert decision.lang == "ko" and decision.ambiguous and "default" in decision.reason
    assert infer_answer_language("👍", default="en").lang == "en"


def test_explicit_requests_name_ja_and_zh_too():
    assert explicit_request("Respond in Japanese: what is the best season to visit Kyoto?")[0] == "ja"
    assert explicit_request("중국어로 자기소개 좀 써줘")[0] == "zh"
    assert explicit_request("What does 'answer in English' mean?") is None  # quoted words are content


def test_the_user_can_override_and_an_unknown_language_is_one_clear_error():
    decision = resolve_answer_language("en", "이 function의 return value가 왜 None이야?")
    assert decision.lang == "en" and "user" in decision.reason
    with pytest.raises(KollamaError) as raised:
        resolve_answer_language("xx", "hello")
    assert "unknown language 'xx'" in str(raised.value) and "auto" in str(raised.value)
    with pytest.raises(KollamaError):
        RunOptions(model="smollm2", lang="korean")


def test_the_default_lock_follows_the_decision():
    """With --lang auto and no --lock, an English answer never gets Korean's gated lock, a Korean one keeps it."""
    options = RunOptions(model="smollm2", lang="auto")
    for prompt, lang, lock in (("What does 눈치 mean in Korean culture?", "en", "script"),
                               ("이 function의 return value가 왜 None이야?", "ko", "gated")):
        decision = resolve_answer_language(options.lang, prompt)
        params = options.params(decision.lang)
        assert (params.lang, params.lock.value) == (lang, lock)
    assert RunOptions(model="smollm2", lang="auto", lock="strict").params("en").lock.value == "strict"


def test_compare_lang_auto_agrees_with_the_built_in_suite_authors():
    """ko-basic's authors wrote each prompt's expected language; `--lang auto` decides the same from the prompts."""
    from kollama.compare.options import with_answer_language
    from kollama.compare.suites import load_suite

    suite = load_suite("ko-basic")
    decided = with_answer_language(suite, "auto")
    assert [p.lang for p in decided.prompts] == [p.lang for p in suite.prompts]
    assert {p.lang for p in suite.prompts} == {"ko", "en"}
    assert {p.lang for p in with_answer_language(suite, "ja").prompts} == {"ja"}
    assert all(p.lang_reason for p in decided.prompts)  # results.json says why (analyse copies it per answer)
    assert all(p.lang_reason is None for p in with_answer_language(suite, "ja").prompts)
