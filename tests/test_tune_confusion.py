"""`kollama tune pairs --confusion`: the rejected copy is the chosen answer changed only by the stated rules."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from conftest import ROOT, run_cli
from kollama.korean.scripts import script_of
from kollama.tune.confusion import build_confusion_pairs, confuse, glossary, insert_words
from kollama.tune.datasets import load_alpaca, load_pairs

DATA = ROOT / "src" / "kollama" / "data" / "tune" / "ko_instructions.jsonl"


def undo(rejected: str, swapped: list[list[str]] | list[tuple[str, str]], inserted) -> str:
    """Reverse the rules: drop the inserted word, put the Korean nouns back (left to right)."""
    text = rejected.replace(" " + inserted[1], "", 1)
    position = 0
    for korean, english in swapped:
        at = text.index(english, position)
        text = text[:at] + korean + text[at + len(english):]
        position = at + len(korean)
    return text


def test_confused_copy_changes_only_glossary_nouns_and_one_foreign_word() -> None:
    rng = random.Random(1)
    answer = "고양이가 공원에서 친구와 함께 산책을 하고 물을 마셨습니다."
    for script in ("han", "kana", "thai"):
        confused = confuse(answer, rng, swap_rate=1.0, script=script)
        assert {ko for ko, _ in confused.swapped} == {"고양이", "공원", "친구", "산책", "물"}
        assert "cat가" in confused.text and "park에서" in confused.text  # particles stay glued on
        assert confused.inserted[0] == script and confused.inserted[1] in insert_words()[script]
        assert any(script_of(ch) == script for ch in confused.text)
        assert undo(confused.text, confused.swapped, confused.inserted) == answer


def test_swap_rate_zero_only_inserts() -> None:
    confused = confuse("친구와 공원에 갔습니다.", random.Random(0), swap_rate=0.0, script="kana")
    assert confused.swapped == [] and "친구" in confused.text and "공원" in confused.text
    assert confused.text != "친구와 공원에 갔습니다."


@pytest.mark.slow
def test_pairs_cli_writes_pairs_and_the_rules(tmp_path: Path) -> None:
    out = tmp_path / "pairs.jsonl"
    proc = run_cli("tune", "pairs", "--confusion", "--data", str(DATA), "--out", str(out), "--limit", "40", "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["pairs"] == 40 and set(summary["rules"]) == {"noun_to_english", "foreign_script_word"}
    report = json.loads(out.with_suffix(".report.json").read_text())
    assert report["applied"]["foreign_script_word"] == 40 and report["applied"]["noun_to_english"] >= 20
    references = load_alpaca(DATA)[:40]
    pairs = load_pairs(out)  # the DPO/ORPO loader reads them
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    table = glossary()
    for (prompt, reference), pair, row in zip(references, pairs, rows):
        assert pair.chosen == reference and pair.prompt[0]["content"] == prompt
        assert pair.rejected != pair.chosen
        assert any(script_of(ch) in ("han", "kana", "thai") for ch in pair.rejected)
        if "noun_to_english" in row["rule"]:
            assert any(en in pair.rejected and ko in pair.chosen for ko, en in table.items())
    build_confusion_pairs(DATA, tmp_path / "b.jsonl", limit=40, seed=3)
    assert (tmp_path / "b.jsonl").read_text() == out.read_text()  # seeded


@pytest.mark.slow
def test_pairs_without_model_or_confusion_is_one_line(tmp_path: Path) -> None:
    proc = run_cli("tune", "pairs", "--data", str(DATA), "--out", str(tmp_path / "p.jsonl"))
    assert proc.returncode != 0 and "--confusion" in proc.stderr and "Traceback" not in proc.stderr
