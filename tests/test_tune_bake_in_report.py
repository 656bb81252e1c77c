"""`tune report --model` / benchmarks/bake_in.py: a prompt longer than the model's context is skipped and counted."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from kollama.errors import KollamaError, PromptTooLong


class _Engine:
    """Answers in Korean, one in Japanese; a prompt starting with 'LONG' does not fit the context."""

    def chat(self, messages, params):
        prompt = messages[-1]["content"]
        if prompt.startswith("LONG"):
            raise PromptTooLong("the prompt is 5000 tokens, the context holds 4096")
        text = "今日は晴れです。" if "일본" in prompt else "오늘은 날씨가 맑습니다."
        return SimpleNamespace(result=lambda: SimpleNamespace(text=text))

    def close(self) -> None:
        pass


def test_prompts_longer_than_the_context_are_skipped_and_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    import kollama.engines
    from kollama.tune.report import answer_fidelity

    monkeypatch.setattr(kollama.engines, "load_engine", lambda model: _Engine())
    prompts = ["오늘 날씨를 알려 주세요.", "LONG 다음 글을 요약해 주세요.", "일본 날씨를 알려 주세요."]
    row = answer_fidelity("fake.gguf", prompts, 1.0, 16)
    assert row["answers"] == 2 and row["skipped_too_long"] == [1]
    assert row["intruded"] == 1 and row["intrusion_rate"] == 0.5
    assert issubclass(PromptTooLong, KollamaError)  # the CLI still reports it in one line
    with pytest.raises(KollamaError, match="no prompt fits"):
        answer_fidelity("fake.gguf", prompts[1:2], 1.0, 16)


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
