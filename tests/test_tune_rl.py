"""`kollama tune rl`: the rewards, GRPO's arithmetic, the guards, the one-line errors, and a tiny real run on smollm2."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from support.cli import run_cli

from kollama.errors import KollamaError


def test_fidelity_reward_is_graded_by_flagged_spans() -> None:
    from kollama.korean.fidelity import fidelity_report
    from kollama.tune.rewards import SPAN_PENALTY, fidelity_score

    clean = "서울은 한국의 수도이며 인구가 많은 도시입니다."
    slipped = "서울은 한국의 capital 이며 인구가 많은 도시입니다."
    assert fidelity_score(clean, "한국의 수도는?") == 1.0
    spans = len(fidelity_report(slipped, "ko", prompt="한국의 수도는?").foreign)
    assert spans >= 1 and fidelity_score(slipped, "한국의 수도는?") == pytest.approx(max(0.0, 1 - SPAN_PENALTY * spans))
    assert 0 < fidelity_score(slipped, "한국의 수도는?") < 1  # nearly right scores above wrong
    assert fidelity_score("Seoul is the capital of Korea and a large city.", "한국의 수도는?") == 0.0
    assert fidelity_score("   ", "한국의 수도는?") == 0.0


def test_length_reward_punishes_short_and_repetitive_answers() -> None:
    from kollama.tune.rewards import length_score

    varied = "봄에는 개나리와 진달래가 피고, 여름에는 장마가 오며, 가을에는 단풍이 들고 겨울에는 눈이 내립니다."
    assert length_score(varied) > 0.8
    assert length_score("네.") < 0.1
    assert length_score("좋아요 " * 30) < 0.3


def test_reward_spec_weights_and_unknown_names() -> None:
    from kollama.tune.rewards import parse_spec

    assert parse_spec("fidelity,naturalness=0.5,reward-model:runs/rm=2") == [
        ("fidelity", None, 1.0), ("naturalness", None, 0.5), ("reward-model", "runs/rm", 2.0)]
    with pytest.raises(KollamaError, match="unknown reward 'fluency'.*fidelity, naturalness, length, reward-model:DIR"):
        parse_spec("fidelity,fluency")
    with pytest.raises(KollamaError, match="not a number"):
        parse_spec("fidelity=lots")


def test_group_advantages_and_grpo_loss() -> None:
    torch = pytest.importorskip("torch")
    from kollama.tune.rl import group_advantages, grpo_loss

    adv = group_advantages([1.0, 0.0, 0.5, 0.5], group=2)
    assert adv[0] > 0 > adv[1] and adv[0] == pytest.approx(-adv[1]) and adv[2:] == [0.0, 0.0]
    policy = torch.tensor([[-1.0, -2.0], [-1.0, -3.0]], requires_grad=True)
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    loss, kl = grpo_loss(policy, policy.detach(), mask, torch.tensor([1.0, -1.0]), beta=0.1)
    assert float(loss.detach()) == pytest.approx(0.0) and kl == pytest.approx(0.0)  # -1 and +1, no KL at the reference
    loss.backward()
    assert policy.grad[0, 0] < 0 < policy.grad[1, 0] and policy.grad[1, 1] == 0  # raise the better answer only
    _, kl = grpo_loss(policy, policy.detach() - 1, mask, torch.tensor([0.0, 0.0]), beta=0.1)
    assert kl == pytest.approx(math.exp(-1) + 1 - 1)  # k3 estimator at log-ratio -1


def test_guards_flag_a_collapsed_run() -> None:
    from kollama.tune.guards import answer_stats, collapse, guard_report

    before = answer_stats(["봄에는 꽃이 피고 새가 울며 날이 따뜻해집니다.", "여름에는 비가 많이 오고 날씨가 무척 덥습니다.",
                           "가을 하늘은 높고 맑으며 바람이 시원합니다."], [-1.2, -1.3, -1.1])
    healthy = answer_stats(["겨울에는 눈이 오고 바람이 무척 찹니다.", "봄바람이 불면 마음이 설레고 걷고 싶어집니다.",
                            "바다는 넓고 푸르며 파도 소리가 들립니다."], [-1.2, -1.2, -1.3])
    collapsed = answer_stats(["네.", "네.", "네 네 네 네 네 네"], [-0.4, -0.4, -0.5])
    assert collapse(before, healthy) == []
    report = guard_report(before, collapsed)
    assert report["collapsed"] and any("shrank" in r for r in report["reasons"])
    assert any("under 20" in r for r in report["reasons"]) and any("bigrams" in r for r in report["reasons"])
    assert collapse(before, {**healthy, "naturalness": -1.6}) == ["naturalness fell: -1.2 -> -1.6 nats/char"]


def test_prompts_file_without_usable_prompts_names_file_and_line(tmp_path: Path) -> None:
    from kollama.tune.rl import load_prompts

    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text('{"text": "a"}\n{"prompt": "  "}\n', encoding="utf-8")
    with pytest.raises(KollamaError, match=r"p.jsonl:1: no usable prompt"):
        load_prompts(jsonl)
    text = tmp_path / "p.txt"
    text.write_text("\n\n  \n", encoding="utf-8")
    with pytest.raises(KollamaError, match=r"p.txt:3: no usable prompt"):
        load_prompts(text)
    good = tmp_path / "good.jsonl"
    good.write_text('{"instruction": "요약해 주세요", "input": "글"}\n{"prompt": "안녕"}\n', encoding="utf-8")
    assert load_prompts(good) == ["요약해 주세요\n\n글", "안녕"]


@pytest.mark.slow
def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_text("한국의 수도는?\n", encoding="utf-8")
    unknown = run_cli("tune", "rl", "smollm2", "--prompts", str(prompts), "--out", str(tmp_path / "o"),
                      "--reward", "fidelity,fluency")
    assert unknown.returncode == 1 and "Traceback" not in unknown.stderr
    assert "unknown reward 'fluency'" in unknown.stderr and "reward-model:DIR" in unknown.stderr
    other = tmp_path / "rm"
    other.mkdir()
    (other / "reward.json").write_text(json.dumps({"kind": "reward", "base": "/models/other-base.gguf",
                                                   "base_identity": "gguf:other-base"}))
    mismatch = run_cli("tune", "rl", "smollm2", "--prompts", str(prompts), "--out", str(tmp_path / "o"),
                       "--reward", f"fidelity,reward-model:{other}")
    assert mismatch.returncode == 1 and "Traceback" not in mismatch.stderr
    line = mismatch.stderr.strip().splitlines()[-1]
    assert "other-base.gguf (gguf:other-base)" in line and "smollm2" in line.lower()  # both bases, by file


@pytest.mark.slow
def test_tiny_rl_run_logs_resumes_guards_and_exports(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("한국의 수도는 어디인가요?\n봄에 피는 꽃을 알려 주세요.\n", encoding="utf-8")
    out = tmp_path / "rl"
    args = ["tune", "rl", "smollm2", "--prompts", str(prompts), "--out", str(out), "--reward", "fidelity,length=0.5",
            "--group", "2", "--batch-size", "1", "--max-new-tokens", "8", "--save-every", "1"]
    first = run_cli(*args, "--max-steps", "1")
    assert first.returncode == 0, first.stderr
    resumed = run_cli(*args, "--max-steps", "2", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["steps"] == 2 and summary["steps_per_minute"] > 0
    log = [json.loads(line) for line in (out / "rewards.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["step"] for r in log] == [1, 2]
    for record in log:
        assert len(record["answers"]) == 2 and set(record["rewards"]) == {"fidelity", "length"}
        assert 0 <= record["reward"] <= 1 and record["seconds"]["sample"] > 0
    guards = summary["guards"]
    assert guards["before"]["answers"] == 2 and isinstance(guards["collapsed"], bool)
    assert json.loads((out / "tune.json").read_text())["kind"] == "rl"
    gguf = tmp_path / "rl.gguf"
    exported = run_cli("tune", "export", str(out), "--out", str(gguf), "--quant", "q8_0")
    assert exported.returncode == 0, exported.stderr
    assert gguf.read_bytes()[:4] == b"GGUF"


def test_tune_report_prints_the_guards_and_flags_a_collapse(tmp_path: Path, capsys) -> None:
    from kollama.tune.cli import _print_guards
    from kollama.tune.guards import answer_stats, guard_report

    before = answer_stats(["봄에는 꽃이 피고 새가 울며 날이 따뜻해집니다.", "여름에는 비가 많이 오고 날씨가 무척 덥습니다."])
    after = answer_stats(["네.", "네."])
    (tmp_path / "train_report.json").write_text(json.dumps({"kind": "rl", "guards": guard_report(before, after)}))
    _print_guards(tmp_path)
    shown = capsys.readouterr().out
    assert "answers under 20 chars" in shown and "COLLAPSED" in shown and "answers shrank" in shown
    (tmp_path / "train_report.json").write_text(json.dumps({"kind": "sft"}))
    _print_guards(tmp_path)
    assert capsys.readouterr().out == ""  # not an RL run: nothing to add
