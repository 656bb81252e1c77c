"""How close are kollama's fidelity verdict and LCB's rules to a Korean reader, on real answers of real models?

Reads the labels in tests/data/fidelity_labels.jsonl (ids and a reader's verdict, written by the policy in
docs/fidelity.md) and the completions and prompts from ../shared/realdata/lcb, judges every labelled completion
with `fidelity_report` (prompt given) and with LCB's rules (a line error or a word error means confused; a skipped
completion is not), and prints agreement, and precision and recall of "confused", per split (dev: tuned on;
heldout: only measured). Also the answers per second of the in-process check.

    python benchmarks/fidelity.py [--split dev|heldout|all] [--show-disagreements]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from realdata import realdata_or_exit  # noqa: E402

from kollama.korean.fidelity import fidelity_report  # noqa: E402
from kollama.korean.lcb import lcb_verdict  # noqa: E402

LABELS = Path(__file__).resolve().parents[1] / "tests" / "data" / "fidelity_labels.jsonl"


def load_items(labels: Path = LABELS) -> list[dict]:
    """Each labelled item with its completion and prompt joined from the real data (lcb_file + id + model)."""
    folder = realdata_or_exit("lcb")
    completions = {(r["lcb_file"], str(r["id"]), r["model"]): r
                   for r in map(json.loads, (folder / "lcb_outputs_ko.jsonl").open(encoding="utf-8"))}
    prompts = {(p["lcb_file"], str(p["id"])): p["prompt"]
               for p in map(json.loads, (folder / "lcb_ko.jsonl").open(encoding="utf-8"))}
    items = []
    for label in map(json.loads, labels.open(encoding="utf-8")):
        row = completions[(label["lcb_file"], label["id"], label["model"])]
        items.append({**label, "completion": row["completion"], "prompt": prompts[(label["lcb_file"], label["id"])],
                      "task": row["task"], "source": row["source"]})
    return items


def scores(truth: list[bool], predicted: list[bool]) -> dict[str, float]:
    """Agreement, and precision and recall of 'confused' (True)."""
    tp = sum(t and p for t, p in zip(truth, predicted))
    fp = sum(p and not t for t, p in zip(truth, predicted))
    fn = sum(t and not p for t, p in zip(truth, predicted))
    agree = sum(t == p for t, p in zip(truth, predicted))
    return {"n": len(truth), "agreement": agree / len(truth) if truth else 0.0,
            "precision": tp / (tp + fp) if tp + fp else 1.0, "recall": tp / (tp + fn) if tp + fn else 1.0}


def kollama_confused(item: dict) -> bool:
    return not fidelity_report(item["completion"], "ko", prompt=item["prompt"], with_lcb=False).passed


def lcb_confused(item: dict) -> bool:
    verdict = lcb_verdict(item["completion"], "ko")
    return not verdict.skipped and bool(verdict.line_error or verdict.word_error)


def evaluate(items: list[dict]) -> dict[str, dict[str, dict[str, float]]]:
    out: dict[str, dict[str, dict[str, float]]] = {}
    for split in ("dev", "heldout", "all"):
        chosen = [i for i in items if split == "all" or i["split"] == split]
        truth = [i["label"] == "confused" for i in chosen]
        out[split] = {"kollama": scores(truth, [kollama_confused(i) for i in chosen]),
                      "lcb": scores(truth, [lcb_confused(i) for i in chosen])}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show-disagreements", action="store_true", help="print the items kollama gets wrong")
    parser.add_argument("--split", default="all", choices=["dev", "heldout", "all"])
    args = parser.parse_args()
    items = load_items()
    results = evaluate(items)
    print(f"{len(items)} labelled real completions ({sum(i['label'] == 'confused' for i in items)} confused)")
    print(f"{'split':8} {'judge':8} {'n':>4} {'agreement':>10} {'precision':>10} {'recall':>8}")
    for split, judges in results.items():
        for judge, s in judges.items():
            print(f"{split:8} {judge:8} {s['n']:4d} {s['agreement']:10.1%} {s['precision']:10.1%} {s['recall']:8.1%}")
    texts = [(i["completion"], i["prompt"]) for i in items]
    fidelity_report(texts[0][0], "ko", prompt=texts[0][1])  # load Kiwi, fastText and the word list first
    start = time.perf_counter()
    for text, prompt in texts:
        fidelity_report(text, "ko", prompt=prompt)
    elapsed = time.perf_counter() - start
    print(f"speed: {len(texts) / elapsed:.0f} answers/s in-process (fidelity_report with the LCB verdict, 1 core)")
    if args.show_disagreements:
        for item in items:
            if args.split != "all" and item["split"] != args.split:
                continue
            report = fidelity_report(item["completion"], "ko", prompt=item["prompt"], with_lcb=False)
            if report.passed == (item["label"] == "confused"):
                flagged = "; ".join(f"{s.kind}:{s.text[:40]!r}" for s in report.foreign[:6])
                print(f"--- {item['split']} {item['model']} {item['lcb_file'].split('/')[2]} id={item['id']} "
                      f"label={item['label']} ({item['note']}) kollama={'ok' if report.passed else 'confused'} "
                      f"dominant={report.dominant} {flagged}")


if __name__ == "__main__":
    main()
