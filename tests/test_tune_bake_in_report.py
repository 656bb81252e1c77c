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
