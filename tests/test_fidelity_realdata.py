"""The fidelity verdict against a reader's labels on real answers of real models (tests/data/fidelity_labels.jsonl:
ids and labels only; the completions and prompts are read from ../shared/realdata/lcb), and kollama's LCB metric
against the independent re-implementation in benchmarks/lcb_reference.py on all 3,986 completions."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from support.realdata import realdata

from kollama.korean.fidelity import fidelity_report
from kollama.korean.lcb import lcb_verdict

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "tests" / "data" / "fidelity_labels.jsonl"
pytestmark = pytest.mark.realdata


def _rows(name: str) -> list[dict]:
    return [json.loads(line) for line in realdata("lcb", name).open(encoding="utf-8")]


@pytest.fixture(scope="module")
def labelled() -> list[dict]:
    completions = {(r["lcb_file"], str(r["id"]), r["model"]): r["completion"] for r in _rows("lcb_outputs_ko.jsonl")}
    prompts = {(p["lcb_file"], str(p["id"])): p["prompt"] for p in _rows("lcb_ko.jsonl")}
    items = []
    for label in map(json.loads, LABELS.open(encoding="utf-8")):
        items.append({**label, "completion": completions[(label["lcb_file"], label["id"], label["model"])],
                      "prompt": prompts[(label["lcb_file"], label["id"])]})
    return items


def _scores(items: list[dict], confused) -> tuple[float, float]:
    truth = [i["label"] == "confused" for i in items]
    guess = [confused(i) for i in items]
    agreement = sum(t == g for t, g in zip(truth, guess)) / len(items)
    recall = sum(t and g for t, g in zip(truth, guess)) / sum(truth)
    return agreement, recall


def test_the_labels_are_many_mixed_and_split(labelled):
    assert len(labelled) >= 200
    assert {i["split"] for i in labelled} == {"dev", "heldout"}
    assert len({i["model"] for i in labelled}) == 10 and len({i["lcb_file"] for i in labelled}) == 4
    dev = {(i["lcb_file"], i["id"]) for i in labelled if i["split"] == "dev"}
    assert not dev & {(i["lcb_file"], i["id"]) for i in labelled if i["split"] == "heldout"}  # split by prompt


@pytest.mark.parametrize("split", ["dev", "heldout"])
def test_kollama_agrees_with_the_reader(labelled, split):
    items = [i for i in labelled if i["split"] == split]
    agreement, recall = _scores(items, lambda i: not fidelity_report(i["completion"], "ko", prompt=i["prompt"],
                                                                     with_lcb=False).passed)
    lcb_agreement, _ = _scores(items, lambda i: bool(lcb_verdict(i["completion"], "ko").line_error
                                                     or lcb_verdict(i["completion"], "ko").word_error))
    assert agreement >= 0.95 and recall >= 0.95, (agreement, recall)
    assert agreement > lcb_agreement  # the Korean-aware verdict is closer to the reader than LCB's rules


def test_lcb_metric_matches_the_independent_reimplementation():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import lcb_reference

    from kollama.korean.english import lcb_words

    rows = _rows("lcb_outputs_ko.jsonl")
    model = lcb_reference.load_fasttext()
    words = set(lcb_words())  # the same list on both sides: this checks the implementations
    differ = 0
    for row in rows:
        ours = lcb_verdict(row["completion"], "ko")
        ref = lcb_reference.reference_verdict(row["completion"], model, words)
        differ += (ours.skipped, bool(ours.line_error), bool(ours.word_error)) != ref
    assert len(rows) == 3986 and differ == 0
