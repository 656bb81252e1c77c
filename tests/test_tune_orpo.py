"""`kollama tune orpo`: the odds-ratio loss by hand, and a tiny real run on smollm2 (resume, export, load)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from conftest import ROOT, run_cli

DATA = ROOT / "src" / "kollama" / "data" / "tune" / "ko_instructions.jsonl"


def test_orpo_loss_matches_the_paper_formula() -> None:
    torch = pytest.importorskip("torch")
    from kollama.tune.dpo import orpo_loss

    # chosen: 2 tokens, mean log p = log 0.5 (odds 1); rejected: 3 tokens, mean log p = log 0.25 (odds 1/3)
    chosen_sum, rejected_sum = torch.tensor([2 * math.log(0.5)]), torch.tensor([3 * math.log(0.25)])
    loss = orpo_loss(chosen_sum, torch.tensor([2]), rejected_sum, torch.tensor([3]), lam=0.2)
    expected = -math.log(0.5) - 0.2 * math.log(1 / (1 + 1 / 3))  # NLL - lambda * log sigmoid(log 3)
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    swapped = orpo_loss(rejected_sum, torch.tensor([3]), chosen_sum, torch.tensor([2]), lam=0.2)
    assert float(swapped) > float(loss)  # preferring the rejected answer costs more


@pytest.mark.slow
def test_tiny_orpo_run_resumes_and_exports(tmp_path: Path) -> None:
    lines = sorted(DATA.read_text(encoding="utf-8").splitlines(), key=len)[:8]
    data = tmp_path / "tiny.jsonl"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    pairs = tmp_path / "pairs.jsonl"
    assert run_cli("tune", "pairs", "--confusion", "--data", str(data), "--out", str(pairs)).returncode == 0
    out = tmp_path / "orpo"
    args = ["tune", "orpo", "smollm2", "--data", str(pairs), "--out", str(out), "--batch-size", "2",
            "--max-len", "96", "--save-every", "1"]
    first = run_cli(*args, "--max-steps", "1")
    assert first.returncode == 0, first.stderr
    resumed = run_cli(*args, "--max-steps", "2", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads((out / "train_report.json").read_text())
    assert report["kind"] == "orpo" and report["steps"] == 2 and len(report["history"]) == 2
    assert all(math.isfinite(h["loss"]) and h["loss"] > 0 for h in report["history"])
    assert json.loads((out / "tune.json").read_text())["kind"] == "orpo"
    gguf = tmp_path / "orpo.gguf"
    exported = run_cli("tune", "export", str(out), "--out", str(gguf), "--quant", "q8_0")
    assert exported.returncode == 0, exported.stderr
    from kollama.engines import GenerationParams, load_engine

    engine = load_engine(str(gguf))
    try:
        answer = engine.chat([{"role": "user", "content": "안녕"}], GenerationParams(max_tokens=4)).result()
        assert answer.completion_tokens > 0
    finally:
        engine.close()


def test_orpo_defaults_give_it_the_sft_budget_on_every_projection() -> None:
    """30 steps of 4 pairs on q/v barely moved smollm2; the defaults are SFT's budget, a higher rate, all linear layers."""
    from kollama.tune.trainer import ALL_LINEAR, TrainSettings, preference_settings, steps_for

    orpo, sft = preference_settings("orpo"), TrainSettings()
    assert set(orpo.target_modules) == set(ALL_LINEAR) and orpo.max_steps is None
    assert orpo.lr > sft.lr and orpo.batch_size == sft.batch_size and orpo.epochs == sft.epochs
    assert steps_for(243, orpo) >= 87  # the 243 built-in instructions: at least SFT's 87 steps
    assert preference_settings("dpo").target_modules == sft.target_modules  # DPO keeps its own
