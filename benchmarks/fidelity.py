"""How close are kollama's fidelity verdict and LCB's rules to a Korean reader, on real answers of real models?

Reads the labels in tests/data/fidelity_labels.jsonl (ids and a reader's verdict, written by the policy in
docs/fidelity.md) and the completions and prompts from ../shared/realdata/lcb, judges every labelled completion
with `fidelity_report` (prompt given) and with LCB's rules (a line error or a word error means confused; a skipped
completion is not), and prints agreement, and precision and recall of "confused", per split (dev: tuned on;
heldout: only measured; blind: labelled afterwards by a second reader from the written policy alone, without
reading the rules' code or seeing kollama's verdict first, in tests/data/fidelity_labels_blind.jsonl), and on the seed's own Llama 3.1/3.2 answers. Then the speed of `kollama fidelity --file`
on all 3,986 completions beside LCB's rules alone.

    python benchmarks/fidelity.py [--split dev|heldout|blind|all] [--show-disagreements]
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
SEED_LABELS = LABELS.with_name("fidelity_labels_seed.jsonl")
BLIND_LABELS = LABELS.with_name("fidelity_labels_blind.jsonl")


def load_items(labels: tuple[Path, ...] = (LABELS, BLIND_LABELS)) -> list[dict]:
    """Each labelled item (of every label file) with its completion and prompt joined from the real data
    (lcb_file + id + model)."""
    folder = realdata_or_exit("lcb")
    completions = {(r["lcb_file"], str(r["id"]), r["model"]): r
                   for r in map(json.loads, (folder / "lcb_outputs_ko.jsonl").open(encoding="utf-8"))}
    prompts = {(p["lcb_file"], str(p["id"])): p["prompt"]
               for p in map(json.loads, (folder / "lcb_ko.jsonl").open(encoding="utf-8"))}
    items = []
    for label in (json.loads(line) for path in labels for line in path.open(encoding="utf-8")):
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
    for split in ("dev", "heldout", "blind", "all"):
        chosen = [i for i in items if split == "all" or i["split"] == split]
        truth = [i["label"] == "confused" for i in chosen]
        out[split] = {"kollama": scores(truth, [kollama_confused(i) for i in chosen]),
                      "lcb": scores(truth, [lcb_confused(i) for i in chosen])}
    return out


def speed() -> str:
    """Answers per second: `kollama fidelity --file ... --json` on the 3,986 completions (a separate process, start-up
    included) beside the LCB reference's rules alone on the same texts (the cheapest judge there is)."""
    import os
    import subprocess
    import tempfile

    folder = realdata_or_exit("lcb")
    prompts = {(p["lcb_file"], str(p["id"])): p["prompt"]
               for p in map(json.loads, (folder / "lcb_ko.jsonl").open(encoding="utf-8"))}
    rows = [json.loads(line) for line in (folder / "lcb_outputs_ko.jsonl").open(encoding="utf-8")]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "answers.jsonl"
        with path.open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps({**row, "prompt": prompts[(row["lcb_file"], str(row["id"]))]},
                                        ensure_ascii=False) + "\n")
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
        import resource

        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "kollama", "fidelity", "--file", str(path), "--prompt-field",
                               "prompt", "--group-by", "model", "--json"], capture_output=True, text=True, env=env)
        cli_seconds = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cli_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        assert done.returncode == 0, done.stderr
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import lcb_reference

    from kollama.korean.english import lcb_words

    model, words = lcb_reference.load_fasttext(), set(lcb_words())
    start = time.perf_counter()
    for row in rows:
        lcb_reference.reference_verdict(row["completion"], model, words)
    reference_seconds = time.perf_counter() - start
    load = os.getloadavg()[0]
    print(f"speed: kollama fidelity --file: {len(rows)} answers in {cli_seconds:.1f} s wall = {len(rows) / cli_seconds:.0f} "
          f"answers/s (one process, start-up included), {cli_cpu:.1f} s CPU = {len(rows) / cli_cpu:.0f} answers per "
          f"CPU-second; LCB rules alone: {len(rows) / reference_seconds:.0f} answers/s (ratio kollama/LCB "
          f"{reference_seconds / cli_seconds:.2f}x); load average {load:.1f} on {os.cpu_count()} cores")
    return f"judged {len(rows) / cli_cpu:.0f} answers per CPU-second"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show-disagreements", action="store_true", help="print the items kollama gets wrong")
    parser.add_argument("--split", default="all", choices=["dev", "heldout", "blind", "all"])
    parser.add_argument("--no-speed", action="store_true", help="skip the timing (run it under the benchmark lock)")
    args = parser.parse_args()
    from results import load, record

    load_before = load()
    items = load_items()
    results = evaluate(items)
    print(f"{len(items)} labelled real completions ({sum(i['label'] == 'confused' for i in items)} confused)")
    print(f"{'split':8} {'judge':8} {'n':>4} {'agreement':>10} {'precision':>10} {'recall':>8}")
    for split, judges in results.items():
        for judge, s in judges.items():
            print(f"{split:8} {judge:8} {s['n']:4d} {s['agreement']:10.1%} {s['precision']:10.1%} {s['recall']:8.1%}")
    seed = [json.loads(line) for line in SEED_LABELS.open(encoding="utf-8")]
    seed_truth = [i["label"] == "confused" for i in seed]
    s = scores(seed_truth, [not fidelity_report(i["text"], "ko", prompt=i["prompt"], with_lcb=False).passed for i in seed])
    print(f"{'seed':8} {'kollama':8} {s['n']:4d} {s['agreement']:10.1%} {s['precision']:10.1%} {s['recall']:8.1%}"
          "   (the seed's Llama 3.1/3.2 answers, tests/data/fidelity_labels_seed.jsonl)")
    speed_figure = None if args.no_speed else speed()
    figure = "; ".join(f"{split}: kollama {judges['kollama']['agreement']:.1%} agreement with the labels, LCB's rules "
                       f"{judges['lcb']['agreement']:.1%}" for split, judges in results.items()
                       if split in ("heldout", "all") and "kollama" in judges and "lcb" in judges)
    record("fidelity", figure + (f"; {speed_figure}" if speed_figure else ""), load_before=load_before,
           results=results)
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
