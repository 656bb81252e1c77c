"""`tune report --model` / benchmarks/bake_in.py: a prompt longer than the model's context is skipped and counted."""

from __future__ import annotations

import pytest

from kollama.errors import KollamaError, PromptTooLong


@pytest.mark.slow
def test_prompts_longer_than_the_context_are_skipped_and_counted() -> None:
    """Real smollm2 (4,096-token context here): the long prompt is skipped and its index kept; every figure is
    the count of the per-answer samples it came from."""
    from kollama.korean.fidelity import fidelity_report
    from kollama.tune.report import answer_fidelity

    long = "다음 글을 요약해 주세요. " + "오늘은 날씨가 맑고 바람이 붑니다. " * 800
    prompts = ["오늘 날씨를 한 문장으로 알려 주세요.", long, "서울은 어떤 도시인가요?"]
    row = answer_fidelity("smollm2", prompts, 0.7, 12)
    assert row["answers"] == 2 and row["skipped_too_long"] == [1]
    samples = row["samples"]
    assert [s["prompt"] for s in samples] == [0, 2] and all(s["text"].strip() for s in samples)
    for sample in samples:
        assert sample["passed"] == fidelity_report(sample["text"], "ko", prompt=prompts[sample["prompt"]]).passed
    assert row["fidelity"] == round(sum(s["passed"] for s in samples) / 2, 4)
    assert row["intruded"] == sum(bool(s["scripts"]) for s in samples)
    assert row["intrusion_rate"] == round(row["intruded"] / 2, 4)
    assert issubclass(PromptTooLong, KollamaError)  # the CLI still reports it in one line
    with pytest.raises(KollamaError, match="no prompt fits"):
        answer_fidelity("smollm2", [long], 0.7, 12)


def test_bytes_that_form_no_character_are_malformed_not_a_foreign_script() -> None:
    """A byte-level model with the lock off can write a Hangul lead byte and then an English word: the text shows
    U+FFFD, which no smoothing of foreign-script rows can remove, so the bake-in figures count it apart."""
    from kollama.korean.fidelity import fidelity_report
    from kollama.tune.smooth import has_script_intrusion

    broken = fidelity_report("오늘은 날씨가 \ufffd 맑습니다.", "ko")
    assert not broken.scripts_intruding() and broken.malformed() == 1
    assert not has_script_intrusion("오늘은 날씨가 \ufffd 맑습니다.", "ko")
    mixed = fidelity_report("오늘은 날씨가 \ufffd 晴れ 맑습니다.", "ko")  # real foreign letters beside it still count
    assert mixed.scripts_intruding() and mixed.malformed() == 1
    assert has_script_intrusion("오늘은 今日 맑습니다.", "ko")
