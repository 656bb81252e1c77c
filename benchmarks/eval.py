"""kollama eval vs lm-evaluation-harness on the same KoBEST-format items, in one run.

The harness runs as its users run it on a GGUF: `--model hf` with
model_args=pretrained=DIR,gguf_file=FILE (transformers de-quantises to fp32), on CPU, with the
harness's own KoBEST task definitions pointed at local files (`dataset_path: json`). kollama runs
`kollama eval` on the same files. Both run as fresh processes; we report accuracy, per-item
agreement, the per-item log-likelihood differences, wall time end to end, and the scoring loop
alone (the harness's `loglikelihood` call, kollama's scorer), plus the speed-up ratios.

    .venv/bin/python benchmarks/eval.py [--model gemma3] [--threads N] [--limit N]
    .venv/bin/python benchmarks/eval.py --data ../shared/realdata/kobest --limit 100   # real KoBEST test items

`--data DIR` reads the official KoBEST test splits (`<task>_test.jsonl`, original TSV field names plus
`hf_label`), renames the fields as the HF `skt/kobest_v1` dataset names them (README of realdata), and
writes the first `--limit` items of each task to the work folder; both contenders read those files.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "kobest"
TASKS = {"kobest_boolq": "boolq", "kobest_copa": "copa", "kobest_hellaswag": "hellaswag",
         "kobest_sentineg": "sentineg", "kobest_wic": "wic"}
LOCAL = "bench_"  # prefix of the harness task copies that read local files
USER_ENV = dict(os.environ)  # before kollama sets its OpenMP idle policy: the harness runs as its users run it


# realdata KoBEST (TSV field names) -> the field names lm-evaluation-harness's KoBEST tasks read
REAL_FIELDS = {
    "boolq": {"Text": "paragraph", "Question": "question"},
    "copa": {"sentence": "premise", "question": "question", "1": "alternative_1", "2": "alternative_2"},
    "hellaswag": {"context": "context", **{f"choice{i}": f"ending_{i}" for i in range(1, 5)}},
    "sentineg": {"Text": "sentence"},
    "wic": {"Target": "word", "SENTENCE1": "context_1", "SENTENCE2": "context_2"},
}


def convert_real_splits(source: Path, dest: Path, limit: int | None) -> Path:
    """The first `limit` test items of each task, with HF field names, as JSONL files in `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    for short, fields in REAL_FIELDS.items():
        lines = (source / f"{short}_test.jsonl").read_text(encoding="utf-8").splitlines()[: limit or None]
        rows = []
        for line in lines:
            raw = json.loads(line)
            rows.append({**{new: raw[old] for old, new in fields.items()}, "label": int(raw["hf_label"])})
        (dest / f"{short}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                             encoding="utf-8")
    return dest


def harness_tasks(folder: Path, data: Path) -> list[str]:
    """Copies of the harness's own KoBEST YAMLs (and utils.py), reading our JSONL files."""
    import lm_eval

    src = Path(lm_eval.__file__).parent / "tasks" / "kobest"
    shutil.copy(src / "utils.py", folder / "utils.py")
    names = []
    for task, short in TASKS.items():
        text = (src / f"{task}.yaml").read_text(encoding="utf-8")
        text = text.replace(f"task: {task}", f"task: {LOCAL}{task}")
        text = text.replace("dataset_path: skt/kobest_v1", "dataset_path: json")
        text = re.sub(r"dataset_name: \w+", f"dataset_kwargs:\n  data_files:\n    test: {data / (short + '.jsonl')}", text)
        text = re.sub(r"(training|validation)_split: \w+\n", "", text)
        (folder / f"{task}.yaml").write_text(text, encoding="utf-8")
        names.append(LOCAL + task)
    return names


def harness_driver(args: argparse.Namespace) -> None:
    """Runs inside the harness subprocess: simple_evaluate with the scoring loop timed."""
    import torch

    torch.set_num_threads(args.threads)
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    loop = {"seconds": 0.0, "requests": 0}
    original = HFLM.loglikelihood

    def timed(self, requests, *a, **kw):
        t = time.perf_counter()
        out = original(self, requests, *a, **kw)
        loop["seconds"] += time.perf_counter() - t
        loop["requests"] += len(requests)
        return out

    HFLM.loglikelihood = timed
    gguf = Path(args.gguf)
    folder = Path(args.workdir) / "harness_tasks"
    folder.mkdir(parents=True, exist_ok=True)
    names = harness_tasks(folder, Path(args.data_dir))
    out = simple_evaluate(model="hf", model_args=f"pretrained={gguf.parent},gguf_file={gguf.name}",
                          tasks=names, device="cpu", batch_size=1, log_samples=True, limit=args.limit,
                          task_manager=TaskManager(include_path=str(folder)))
    samples = {name[len(LOCAL):]: [{"doc_id": s["doc_id"], "target": s["target"],
                                    "loglikelihoods": [float(r[0]) for r in s["filtered_resps"]]}
                                   for s in sorted(out["samples"][name], key=lambda s: s["doc_id"])]
               for name in names}
    results = {name[len(LOCAL):]: {k.split(",")[0]: v for k, v in out["results"][name].items()
                                   if k.split(",")[0] in ("acc", "acc_norm", "f1")} for name in names}
    Path(args.workdir, "harness.json").write_text(json.dumps({"samples": samples, "results": results, "loop": loop}))


def run_timed(cmd: list[str], env: dict | None = None) -> float:
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**USER_ENV, **(env or {})})
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return seconds


def top2_gap(lls: list[float]) -> float:
    a = sorted(lls, reverse=True)
    return a[0] - a[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="gemma3")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads for both (torch and llama.cpp)")
    parser.add_argument("--limit", type=int, default=None, help="items per task (default: all 8, 40 in total)")
    parser.add_argument("--data", help="folder of the real KoBEST splits (../shared/realdata/kobest): their test items")
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)  # the converted files, for the harness driver
    parser.add_argument("--harness-driver", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--gguf", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.harness_driver:
        harness_driver(args)
        return

    from kollama.models import resolve

    gguf = resolve(args.model).path
    work = Path(tempfile.mkdtemp(prefix="kollama-eval-bench-"))
    data = DATA
    if args.data:
        from realdata import realdata_or_exit

        source = Path(args.data) if Path(args.data).exists() else realdata_or_exit("kobest")
        data = convert_real_splits(source, work / "data", args.limit)
    env = {"KOLLAMA_HOME": str(work / "home"), "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "HF_HOME": str(work / "hf"), "OMP_NUM_THREADS": str(args.threads),
           "TOKENIZERS_PARALLELISM": "false"}
    n_items = sum(min(len((data / f"{s}.jsonl").read_text().splitlines()), args.limit or 10**9) for s in TASKS.values())
    print(f"{n_items} KoBEST-format items, {len(TASKS)} tasks, model {args.model} ({gguf.name}), {args.threads} thread(s)")

    kollama_cmd = [sys.executable, "-m", "kollama", "eval", args.model, "--out", str(work / "kollama"),
                   "--threads", str(args.threads), "--json"]
    for task, short in TASKS.items():
        kollama_cmd += ["--task", task, "--data", f"{task}={data / (short + '.jsonl')}"]
    if args.limit:
        kollama_cmd += ["--limit", str(args.limit)]
    print("running kollama eval ...", flush=True)
    kollama_wall = run_timed(kollama_cmd, env)
    k_summary = json.loads((work / "kollama" / "results.json").read_text())
    k_loop = sum(t["scoring"] for t in k_summary["timing"].values())
    k_requests = sum(t["requests"] for t in k_summary["timing"].values())
    k_samples = {task: [json.loads(line) for line in (work / "kollama" / f"samples_{task}.jsonl").read_text().splitlines()]
                 for task in TASKS}

    print("running lm-evaluation-harness (--model hf on the GGUF, CPU) ...", flush=True)
    harness_cmd = [sys.executable, __file__, "--harness-driver", "--gguf", str(gguf), "--workdir", str(work),
                   "--data-dir", str(data), "--threads", str(args.threads)] + (["--limit", str(args.limit)] if args.limit else [])
    harness_wall = run_timed(harness_cmd, env)
    h = json.loads((work / "harness.json").read_text())

    from rich.console import Console
    from rich.table import Table

    table = Table(title="accuracy (harness | kollama)")
    for col in ("task", "acc", "acc_norm", "f1", "preds agree", "max |Δ ll|"):
        table.add_column(col, justify="left" if col == "task" else "right")
    agree = total = exempt = 0
    disagreements = []
    max_diff = 0.0
    for task in TASKS:
        hs, ks = h["samples"][task], k_samples[task]
        hr, kr = h["results"][task], k_summary["results"][task]
        task_agree = task_total = 0
        task_diff = 0.0
        for a, b in zip(hs, ks):
            assert a["doc_id"] == b["doc_id"]
            pa = max(range(len(a["loglikelihoods"])), key=lambda i: a["loglikelihoods"][i])
            close = min(top2_gap(a["loglikelihoods"]), top2_gap(b["loglikelihoods"])) < 0.5
            task_diff = max(task_diff, max(abs(x - y) for x, y in zip(a["loglikelihoods"], b["loglikelihoods"])))
            if pa == b["pred"]:
                task_agree += 1
            elif close:
                exempt += 1
            else:
                disagreements.append((task, a["doc_id"], a["loglikelihoods"], b["loglikelihoods"]))
            task_total += 1
        agree += task_agree
        total += task_total
        max_diff = max(max_diff, task_diff)

        def pair(metric):
            return f"{hr[metric]:.3f} | {kr[metric]:.3f}" if metric in hr and metric in kr else "–"

        table.add_row(task, pair("acc"), pair("acc_norm"), pair("f1"), f"{task_agree}/{task_total}", f"{task_diff:.3f}")
    console = Console()
    console.print(table)
    print(f"predictions: {agree}/{total} identical; {exempt} differ where the two best choices are within 0.5 nats; "
          f"{len(disagreements)} other disagreements")
    for d in disagreements:
        print("  disagreement:", d)
    h_loop, h_requests = h["loop"]["seconds"], h["loop"]["requests"]
    print(f"end to end:   harness {harness_wall:7.1f} s   kollama {kollama_wall:6.1f} s   ratio {harness_wall / kollama_wall:5.1f}x  (target >= 10x)")
    print(f"scoring loop: harness {h_loop:7.1f} s   kollama {k_loop:6.1f} s   ratio {h_loop / k_loop:5.1f}x  (target >= 3x)")
    print(f"              harness {h_requests / h_loop:6.1f} req/s   kollama {k_requests / k_loop:6.1f} req/s  ({h_requests} | {k_requests} requests)")
    print(f"work files: {work}")
    from results import record

    record("eval", f"end to end {harness_wall / kollama_wall:.1f}x faster than the harness ({kollama_wall:.0f} s vs "
           f"{harness_wall:.0f} s), scoring loop {h_loop / k_loop:.1f}x; {agree}/{total} predictions identical")


if __name__ == "__main__":
    main()
