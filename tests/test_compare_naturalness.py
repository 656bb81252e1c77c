"""compare's naturalness score: a garbled locked answer reads worse than a fluent one under the reference model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli

from kollama.compare.naturalness import naturalness
from kollama.engines import GenerationParams
from kollama.korean.fidelity import fidelity_report
from kollama.korean.lock import LockMode

pytestmark = pytest.mark.slow  # whole comparisons and naturalness under a reference model

FLUENT = "서울은 대한민국의 수도이며, 한강을 따라 발달한 큰 도시입니다. 많은 사람들이 이곳에서 일하고 공부합니다."


def test_a_garbled_locked_answer_scores_visibly_lower_than_a_fluent_one(smollm2, gemma3):
    """smollm2 wants to answer in English; forced into Korean by a hard lock at temperature 1 it garbles.
    The garbled answer still passes the script check, so only naturalness can tell it from a fluent one."""
    question = [{"role": "user", "content": "서울은 어떤 도시인가요? 한국어로 설명해 주세요."}]
    params = GenerationParams(temperature=1.0, seed=4, max_tokens=48, lock=LockMode.strict)
    garbled = smollm2.chat(question, params).result().text
    assert fidelity_report(garbled, "ko").chars.get("hangul", 0) > 0, garbled
    fluent = naturalness(gemma3, FLUENT)
    locked = naturalness(gemma3, garbled)
    assert fluent is not None and locked is not None
    assert fluent - locked > 0.5, (fluent, locked, garbled)  # nats per character
    assert naturalness(gemma3, "  ") is None


def test_compare_reports_naturalness_in_json_and_html(tmp_path):
    suite = tmp_path / "s.yaml"
    suite.write_text("description: one prompt\nprompts:\n  - id: capital\n    category: fact\n"
                     "    prompt: 대한민국의 수도는 어디인가요?\n    checks: {min_chars: 1}\n", encoding="utf-8")
    out = tmp_path / "report"
    done = run_cli("compare", "gemma3", "--suite", str(suite), "--trials", "1", "--lock", "off,gated",
                   "--max-tokens", "16", "--reference-model", "smollm2", "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["naturalness"]["reference_model"] == "smollm2"
    for group in summary["groups"]:
        assert group["overall"]["naturalness"] < 0  # a log-probability
    answers = json.loads((Path(out) / "results.json").read_text(encoding="utf-8"))["answers"]
    assert all(isinstance(a["naturalness"], float) for a in answers)
    assert "natural" in (Path(out) / "report.html").read_text(encoding="utf-8")
    skipped = run_cli("compare", "gemma3", "--suite", str(suite), "--trials", "1", "--max-tokens", "16",
                      "--no-naturalness", "--out", str(tmp_path / "r2"), "--json")
    assert skipped.returncode == 0, skipped.stderr
    assert json.loads(skipped.stdout)["naturalness"] is None
