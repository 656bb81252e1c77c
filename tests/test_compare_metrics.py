"""Metrics of `kollama compare` computed from answer texts: intrusions, code-switching, LCB vs Korean-aware,
pass^N / pass@N and the other consistency measures on constructed cases."""

from __future__ import annotations

import pytest

from kollama.compare.metrics import (
    consistency,
    distinct_answers,
    group_metrics,
    lcb_verdict,
    mean_similarity,
    pass_at_n,
    pass_hat_n,
)
from kollama.compare.runner import assess
from kollama.compare.suites import SuitePrompt

PROMPT = SuitePrompt(id="p", category="c", prompt="한국어로 답하세요.", lang="ko", checks={"min_chars": 5})


def answer(text: str, prompt: SuitePrompt = PROMPT, trial: int = 0, error: str | None = None, **speed) -> dict:
    return {"model": "m", "lock": "off", "prompt_id": prompt.id, "category": prompt.category, "trial": trial,
            **assess(prompt, text, failed=bool(error)), "error": error, **speed}


KANA = "저는 학생です. 오늘은 날씨가 정말 좋아요."
HAN = "대한민국의 首都는 서울입니다. 서울은 큰 도시입니다."
CODE = ("다음 함수는 목록을 값 순서대로 정렬합니다.\n```python\ndef by_value(items):\n"
        "    return sorted(items, key=lambda item: item.value)\n```\n"
        "이 코드는 파이썬의 정렬 함수를 사용해서 아주 짧게 목록을 정렬합니다.")
GLOSS = "딥러닝(deep learning) 모델은 아주 많은 데이터로 학습하는 방법입니다."
SWITCH = "이 model은 정말 fast하고 좋은 결과를 보여 줍니다 오늘도"
CLEAN = "광합성은 식물이 햇빛을 받아 양분을 만드는 과정입니다. 잎에서 일어납니다."


def test_kana_and_han_are_counted_as_intrusions_per_script():
    metrics = group_metrics([answer(KANA), answer(HAN), answer(CLEAN), answer(CLEAN)])
    assert metrics["intrusion_rate"] == {"han": 0.25, "kana": 0.25}
    assert metrics["fidelity_rate"] == 0.5
    kana = answer(KANA)
    spans = [s for s in kana["fidelity"]["foreign"] if s["kind"] == "script"]
    assert [(s["script"], s["text"]) for s in spans] == [("kana", "です")]


def test_code_is_not_code_switching_but_latin_words_are():
    code, switch = answer(CODE), answer(SWITCH)
    assert code["fidelity"]["code_switch_words"] == 0 and code["korean_aware"]["word_pass"] is True
    assert switch["fidelity"]["code_switch_words"] == 2 and switch["korean_aware"]["word_pass"] is False
    metrics = group_metrics([switch])
    assert metrics["code_switch_per_100_words"] == pytest.approx(100 * 2 / switch["fidelity"]["words"])


def test_lcb_reproduction_and_where_korean_aware_differs():
    code, han, gloss = answer(CODE), answer(HAN), answer(GLOSS)
    # LCB reads the code line (5 tokens once punctuation is gone) as a line in another language; Korean-aware exempts code
    assert code["lcb"]["line_error"] is True and code["korean_aware"]["line_pass"] is True
    # one Han word inside a Korean line: the line is still Korean for LCB, an intrusion for Korean-aware
    assert han["lcb"]["line_error"] is False and han["korean_aware"]["line_pass"] is False
    # a parenthesised gloss: `learning` is in LCB's English word list; Korean-aware accepts the gloss
    assert gloss["lcb"]["word_error"] is True and gloss["lcb"]["english_words"] == ["learning"]
    assert gloss["korean_aware"]["word_pass"] is True
    metrics = group_metrics([code, han, gloss, answer(CLEAN)])
    assert metrics["lcb"]["lpr"] == pytest.approx(3 / 4)
    assert metrics["lcb"]["wpr"] == pytest.approx(2 / 3)  # among the 3 responses without a line error, GLOSS fails
    assert metrics["lcb"]["lcpr"] == pytest.approx(2 * 0.75 * (2 / 3) / (0.75 + 2 / 3))
    assert metrics["korean_aware"]["lpr"] == pytest.approx(3 / 4)
    assert metrics["korean_aware"]["wpr"] == 1.0
    diff = metrics["lcb_vs_korean_aware"]
    assert diff["line_disagreements"] == 2 and diff["word_disagreements"] == 1
    assert {e["level"] for e in diff["examples"]} == {"line", "word"}


def test_lcb_keeps_only_lines_of_five_tokens_and_identifies_each():
    text = "Bonjour!\n오늘은 날씨가 정말 좋아서 공원에 산책을 갔습니다\nThis line is written in plain English words."
    verdict = lcb_verdict(text, "ko")
    assert verdict.kept_lines == 2  # "Bonjour!" has fewer than 5 tokens
    assert verdict.line_languages == ["ko", "en"] and verdict.line_error is True and verdict.word_error is None
    assert lcb_verdict("Esto es una respuesta escrita completamente en español.", "es").word_error is None
    short = lcb_verdict("짧은 답입니다.\n네.", "ko")  # no line of 5 tokens: LCB skips the response
    assert short.skipped and short.line_error is None


def test_pass_hat_n_and_pass_at_n_follow_their_definitions():
    good, bad = answer(CLEAN), answer("네")  # "네" fails min_chars 5
    assert pass_hat_n([good, good, good]) and pass_at_n([good, good, good])
    assert not pass_hat_n([good, bad, good]) and pass_at_n([good, bad, good])
    assert not pass_hat_n([bad, bad]) and not pass_at_n([bad, bad])
    failed = answer("", error="RuntimeError: backend died")
    assert not pass_hat_n([good, failed]) and pass_at_n([good, failed])
    assert failed["checks"] and not any(failed["checks"].values())
    other = SuitePrompt(id="q", category="c", prompt="x", lang="ko", checks={"min_chars": 5})
    rows = [answer(CLEAN, trial=0), answer(CLEAN, trial=1), answer("네", other, 0), answer(CLEAN, other, 1)]
    stats = consistency(rows)
    assert stats["pass_hat_n"] == 0.5 and stats["pass_at_n"] == 1.0


def test_stability_similarity_and_distinct_answers():
    en = answer("This is an answer written in English, not in Korean at all.")
    stats = consistency([answer(CLEAN), answer(CLEAN, trial=1)])
    assert stats["language_stability"] == 1.0 and stats["mean_similarity"] == 1.0 and stats["distinct_answers"] == 1
    stats = consistency([answer(CLEAN), en])
    assert stats["language_stability"] == 0.0 and stats["distinct_answers"] == 2
    assert stats["mean_similarity"] < 0.5
    assert distinct_answers(["a b", "a  b ", "c"]) == 2
    assert mean_similarity(["only one"]) is None


def test_speed_and_failures():
    rows = [answer(CLEAN, ttft=0.5, seconds=2.0, tokens_per_second=10.0, completion_tokens=20),
            answer(CLEAN, trial=1, ttft=1.5, seconds=3.0, tokens_per_second=20.0, completion_tokens=40),
            answer("", trial=2, error="RuntimeError: boom")]
    metrics = group_metrics(rows)
    assert metrics["failed"] == 1 and metrics["answers"] == 3
    assert metrics["speed"] == {"ttft_mean": 1.0, "tokens_per_second_mean": 15.0, "seconds_total": 5.0,
                                "completion_tokens": 60}
    assert metrics["all_checks_rate"] == pytest.approx(2 / 3)
