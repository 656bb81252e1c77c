"""`kollama lock check`: teacher-forced replay through the lock, on made-up and on real answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli
from support.realdata import realdata

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "tests" / "data" / "fidelity_labels.jsonl"


@pytest.mark.slow
def test_strict_check_lists_the_confusion_with_position_and_reason():
    answer = "자연 언어 처리 tasks 에서 Large Language Model은 좋은 API입니다. 大量"
    done = run_cli("lock", "check", answer, "--model", "smollm2", "--lock", "strict",
                   "--prompt", "Large Language Model이 뭐야?", "--json")
    assert done.returncode == 2, done.stderr
    result = json.loads(done.stdout)
    assert result["lock"] == "strict" and result["tokens"] > 10
    banned = result["banned"]
    assert [b["token"].strip() for b in banned][:1] == ["tasks"]
    assert answer[banned[0]["offset"]:].lstrip().startswith("tasks")
    assert "Latin word" in banned[0]["reason"]
    assert any("han" in b["reason"] for b in banned)
    assert not any("Large" in b["token"] or "API" in b["token"] for b in banned)  # the prompt's words, an acronym


@pytest.mark.slow
def test_clean_answer_passes_and_bad_input_is_one_line():
    done = run_cli("lock", "check", "서울은 대한민국의 수도입니다. `print()` 함수와 https://example.com 링크.",
                   "--model", "smollm2", "--lock", "strict")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "nothing banned" in done.stdout
    bad = run_cli("lock", "check", "서울", "--model", "smollm2", "--lock", "loose")
    assert bad.returncode != 0 and "unknown lock mode" in bad.stderr and "Traceback" not in bad.stderr
    off = run_cli("lock", "check", "서울", "--model", "smollm2", "--lock", "off")
    assert off.returncode != 0 and "bans nothing" in off.stderr


@pytest.mark.slow
def test_gated_check_uses_the_models_own_logits():
    """smollm2 wants English after a Korean start: where Korean holds enough of its probability, gated bans
    English."""
    answer = "한국어를 이해합니다. I understand Korean very well, and I can help you."
    done = run_cli("lock", "check", "-", "--model", "smollm2", "--lock", "gated", "--prompt", "한국어를 이해해?",
                   "--json", input=answer)
    assert done.returncode in (0, 2), done.stderr
    result = json.loads(done.stdout)
    assert result["lock"] == "gated"
    for ban in result["banned"]:
        assert ban["reason"].startswith("gated:") or "forbidden" in ban["reason"]
    script = json.loads(run_cli("lock", "check", answer, "--model", "smollm2", "--lock", "script", "--json").stdout)
    assert script["banned"] == []  # ASCII English is fine for the script lock


@pytest.mark.slow
def test_explain_gives_every_tokens_decision_and_the_gates_signal():
    answer = "한국어를 이해합니다. I understand Korean very well."
    done = run_cli("lock", "check", "-", "--model", "smollm2", "--lock", "gated", "--prompt", "한국어를 이해해?",
                   "--explain", "--json", input=answer)
    assert done.returncode in (0, 2), done.stderr
    result = json.loads(done.stdout)
    steps = result["steps"]
    assert len(steps) == result["tokens"] and all(step["reason"] for step in steps)
    assert [s["position"] for s in steps] == list(range(result["tokens"]))
    banned = {b["position"] for b in result["banned"]}
    assert banned <= {s["position"] for s in steps if s["banned"]}
    weighed = [s for s in steps if s["gate"] is not None]
    assert weighed, "the gate weighed no step"
    for step in weighed:
        gate = step["gate"]
        assert 0.0 <= gate["target_p"] <= 1.0 and 0.0 <= gate["switch_p"] <= 1.0
        assert gate["fired"] == (gate["target_p"] >= gate["needs"] and gate["switch_p"] >= 0.001)
    table = run_cli("lock", "check", "-", "--model", "smollm2", "--lock", "strict", "--explain", input=answer)
    assert "decision" in table.stdout and "allowed" in table.stdout


@pytest.mark.realdata
def test_on_real_answers_strict_spares_the_clean_and_stops_the_confused():
    """The fidelity issue's labelled real answers: human-clean ones pass `strict`, confused ones are banned at
    the confusion. Tokenised with the real Llama 3 vocabulary (no weights needed for `strict`)."""
    from kollama.engines.llamacpp import Tokenizer
    from kollama.korean.fidelity import fidelity_report
    from kollama.korean.lock import LockMode, LockState, build_masks
    from kollama.lock_check import check_tokens
    from support.vocab_models import vocab_only

    rows = lambda name: map(json.loads, realdata("lcb", name).open(encoding="utf-8"))  # noqa: E731
    completions = {(r["lcb_file"], str(r["id"]), r["model"]): r["completion"] for r in rows("lcb_outputs_ko.jsonl")}
    prompts = {(p["lcb_file"], str(p["id"])): p["prompt"] for p in rows("lcb_ko.jsonl")}
    tokenizer = Tokenizer.vocab_only(vocab_only("llama-bpe"))
    masks = build_masks(tokenizer.vocabulary, "ko")
    clean = clean_banned = confused = confused_banned = at_confusion = 0
    for label in map(json.loads, LABELS.open(encoding="utf-8")):
        text = completions[(label["lcb_file"], label["id"], label["model"])]
        prompt = prompts[(label["lcb_file"], label["id"])]
        state = LockState(masks, LockMode.strict, prompt=prompt, min_target_chars=0)
        banned = check_tokens(state, tokenizer.tokenize(text, special=False))
        if label["label"] == "ok":
            clean += 1
            clean_banned += bool(banned)
        else:
            confused += 1
            confused_banned += bool(banned)
            spans = fidelity_report(text, "ko", prompt=prompt, with_lcb=False).foreign
            at_confusion += bool(banned) and any(s.start - 2 <= banned[0].offset <= s.end for s in spans)
    tokenizer.close()
    assert clean >= 100 and confused >= 100
    # measured: 6 of 110 clean answers (3 Greek letters the script lock forbids, 2 unknown acronyms without a
    # gloss, which the lock's acronym rule asks for, 1 name phrase); 151 of 154 confused, 145 at the confusion
    assert clean_banned / clean <= 0.08, (clean_banned, clean)
    assert confused_banned / confused >= 0.95, (confused_banned, confused)
    assert at_confusion / confused >= 0.9, (at_confusion, confused)
