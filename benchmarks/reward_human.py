"""Pairwise accuracy of a `kollama tune reward` model on the pairs a person ranked (target: at least 80%).

tests/data/reward_pairs_human.jsonl names 104 pairs of LCB's published completions of Korean prompts (file, prompt
id, preferred model, other model, why); the texts are read here from ../shared/realdata/lcb, never stored in the
repository.

    .venv/bin/python benchmarks/reward_human.py --reward-model runs/rm [--write human.jsonl]

`--write` keeps the resolved pairs (prompt/chosen/rejected) for `kollama tune reward ... --heldout human.jsonl`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from realdata import realdata_or_exit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
HUMAN = ROOT / "tests" / "data" / "reward_pairs_human.jsonl"


def resolved_pairs() -> list[tuple[str, str, str]]:
    """(prompt, preferred answer, other answer) for every human-ranked pair."""
    def rows(path: Path) -> list[dict]:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    prompts = {(r["lcb_file"], str(r["id"])): r["prompt"] for r in rows(realdata_or_exit("lcb", "lcb_ko.jsonl"))}
    texts = {(r["lcb_file"], str(r["id"]), r["model"]): r["completion"].strip()
             for r in rows(realdata_or_exit("lcb", "lcb_outputs_ko.jsonl"))}
    return [(prompts[(p["lcb_file"], p["id"])], texts[(p["lcb_file"], p["id"], p["chosen"])],
             texts[(p["lcb_file"], p["id"], p["rejected"])]) for p in rows(HUMAN)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reward-model", type=Path, default=None)
    parser.add_argument("--write", type=Path, default=None)
    args = parser.parse_args()
    pairs = resolved_pairs()
    if args.write:
        args.write.write_text("".join(json.dumps({"prompt": p, "chosen": c, "rejected": r}, ensure_ascii=False) + "\n"
                                      for p, c, r in pairs), encoding="utf-8")
        print(f"written: {args.write} ({len(pairs)} pairs)")
    if args.reward_model:
        from kollama.evaluate.reward_model import RewardModel
        from kollama.tune.reward import pairwise_accuracy

        model = RewardModel(args.reward_model)
        result = pairwise_accuracy(model, pairs)
        model.close()
        ok = result["accuracy"] is not None and result["accuracy"] >= 0.8
        print(json.dumps(result))
        print(f"human-ranked pairs: {result['correct']}/{result['pairs']} = {result['accuracy']:.1%} (>= 80%) -> "
              f"{'PASS' if ok else 'FAIL'}")


if __name__ == "__main__":
    main()
