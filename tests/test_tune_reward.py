"""`kollama tune reward` and `kollama score --reward`: ranked data, the human-ranked pairs, a tiny real run on smollm2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.cli import run_cli
from support.realdata import realdata

from kollama.errors import KollamaError

HUMAN = Path(__file__).parent / "data" / "reward_pairs_human.jsonl"


def human_pairs() -> list[dict]:
    return [json.loads(line) for line in HUMAN.read_text(encoding="utf-8").splitlines() if line.strip()]


def resolve_human_pairs(out: Path) -> Path:
    """The human-ranked pairs with their texts loaded from LCB's published completions (never stored here)."""
    outputs = realdata("lcb", "lcb_outputs_ko.jsonl")
    prompts = {(r["lcb_file"], str(r["id"])): r["prompt"]
               for r in map(json.loads, realdata("lcb", "lcb_ko.jsonl").read_text(encoding="utf-8").splitlines())}
    texts = {(r["lcb_file"], str(r["id"]), r["model"]): r["completion"]
             for r in map(json.loads, outputs.read_text(encoding="utf-8").splitlines())}
    with out.open("w", encoding="utf-8") as f:
        for p in human_pairs():
            key = (p["lcb_file"], p["id"])
            f.write(json.dumps({"prompt": prompts[key], "chosen": texts[(*key, p["chosen"])].strip(),
                                "rejected": texts[(*key, p["rejected"])].strip()}, ensure_ascii=False) + "\n")
    return out


def test_human_pairs_are_references_with_a_reason_and_no_copied_text() -> None:
    pairs = human_pairs()
    assert len(pairs) >= 100
    keys = {(p["lcb_file"], p["id"], p["chosen"], p["rejected"]) for p in pairs}
    assert len(keys) == len(pairs)
    for p in pairs:
        assert set(p) == {"source", "lcb_file", "id", "chosen", "rejected", "why"}  # no answer text in the repository
        assert p["chosen"] != p["rejected"] and p["why"].strip()


def test_human_pairs_resolve_to_real_non_empty_answers(tmp_path: Path) -> None:
    from kollama.tune.reward import load_ranked

    triples = load_ranked(resolve_human_pairs(tmp_path / "human.jsonl"))
    assert len(triples) == len(human_pairs())
    assert all(p.strip() and c.strip() and r.strip() and c != r for p, c, r in triples)


def test_ranked_lists_become_every_ordered_pair_and_bad_lines_name_their_line(tmp_path: Path) -> None:
    from kollama.tune.reward import load_ranked

    data = tmp_path / "ranked.jsonl"
    data.write_text(json.dumps({"prompt": "질문", "answers": ["가장 좋음", "중간", "나쁨"]}, ensure_ascii=False) + "\n"
                    + json.dumps({"prompt": "q", "chosen": "좋음", "rejected": "bad"}, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    triples = load_ranked(data)
    assert triples == [("질문", "가장 좋음", "중간"), ("질문", "가장 좋음", "나쁨"), ("질문", "중간", "나쁨"), ("q", "좋음", "bad")]
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"prompt": "a", "chosen": "b", "rejected": "c"}\n{"prompt": "a", "answers": ["only one"]}\n',
                      encoding="utf-8")
    with pytest.raises(KollamaError, match=r"broken.jsonl:2: 'answers' must list at least two"):
        load_ranked(broken)


@pytest.mark.slow
def test_score_reward_refuses_a_directory_that_is_no_reward_model(tmp_path: Path) -> None:
    result = run_cli("score", "--reward", str(tmp_path), "안녕하세요")
    assert result.returncode == 1
    assert "is not a reward model" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_tiny_reward_run_scores_resumes_and_measures_accuracy(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.jsonl"
    rows = [{"prompt": "한국의 수도는 어디인가요?", "chosen": "한국의 수도는 서울입니다.", "rejected": "The capital is Seoul."},
            {"prompt": "봄에 피는 꽃은?", "chosen": "봄에는 개나리와 진달래가 핍니다.", "rejected": "In spring, forsythia blooms."},
            {"prompt": "물은 몇 도에서 끓나요?", "chosen": "물은 섭씨 100도에서 끓습니다.", "rejected": "Water boils at 100 degrees."},
            {"prompt": "고양이를 소개해 주세요.", "answers": ["고양이는 귀여운 반려동물입니다.", "고양이는 cute pet입니다.",
                                                     "Cats are cute pets."]}]
    pairs.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "rm"
    args = ["tune", "reward", str(pairs), "--base", "smollm2", "--out", str(out), "--batch-size", "2",
            "--max-len", "64", "--save-every", "1", "--lr", "1e-3", "--eval-split", "0.2", "--heldout", str(pairs)]
    first = run_cli(*args, "--max-steps", "1")
    assert first.returncode == 0, first.stderr
    resumed = run_cli(*args, "--max-steps", "2", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["steps"] == 2 and summary["pairs"] == 6  # 3 pairs + 3 from the ranked list of three
    accuracy = summary["pairwise_accuracy"]
    assert accuracy["heldout"]["pairs"] == 1 and accuracy["extra"]["pairs"] == 6
    assert 0.0 <= accuracy["extra"]["accuracy"] <= 1.0
    info = json.loads((out / "reward.json").read_text())
    assert info["kind"] == "reward" and (out / "adapter" / "adapter_model.safetensors").is_file()
    scored = run_cli("score", "--reward", str(out), "한국의 수도는 서울입니다.", "The capital is Seoul.", "--json")
    assert scored.returncode == 0, scored.stderr
    rewards = [s["reward"] for s in json.loads(scored.stdout)["scores"]]
    assert len(rewards) == 2 and rewards[0] != rewards[1]
    from kollama.evaluate.reward_model import RewardModel

    model = RewardModel(out)  # the same numbers in-process, and the same for the same text twice
    again = model.score(["한국의 수도는 서울입니다.", "The capital is Seoul.", "한국의 수도는 서울입니다."])
    model.close()
    assert again[0] == pytest.approx(rewards[0], abs=1e-3) and again[0] == pytest.approx(again[2], abs=1e-5)


@pytest.mark.slow
def test_rank_by_writes_scored_pairs_and_ranked_lists_that_tune_reward_reads(tmp_path: Path) -> None:
    from kollama.tune.reward import load_ranked
    from kollama.tune.rewards import fidelity_score, length_score

    data = tmp_path / "prompts.jsonl"
    data.write_text("".join(json.dumps({"instruction": p, "input": "", "output": "."}, ensure_ascii=False) + "\n"
                            for p in ("한국의 수도는 어디인가요?", "봄에 피는 꽃을 알려 주세요.")), encoding="utf-8")
    ranked = tmp_path / "ranked.jsonl"
    result = run_cli("tune", "pairs", "smollm2", "--data", str(data), "--out", str(ranked), "--rank-by",
                     "fidelity,length", "--samples", "3", "--max-tokens", "12", "--ranked")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["form"] == "ranked" and summary["written"] + summary["skipped"] == 2
    lines = [json.loads(line) for line in ranked.read_text(encoding="utf-8").splitlines()]
    assert lines and all(len(line["answers"]) >= 2 for line in lines)
    for line in lines:  # best first, by the weighted mean of the named rewards
        scores = [(fidelity_score(a, line["prompt"]) + length_score(a)) / 2 for a in line["answers"]]
        assert scores == pytest.approx(line["scores"], abs=1e-3) and scores == sorted(scores, reverse=True)
    assert len(load_ranked(ranked)) == sum(len(x["answers"]) * (len(x["answers"]) - 1) // 2 for x in lines)
    unknown = run_cli("tune", "pairs", "smollm2", "--data", str(data), "--out", str(ranked), "--rank-by", "fluency")
    assert unknown.returncode == 1 and "unknown reward 'fluency'" in unknown.stderr
