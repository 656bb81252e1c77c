"""lm-evaluation-harness against `kollama serve`: KoBEST COPA through `lm_eval --model local-completions`
must score what `kollama eval` scores on the same items (within one item).

    flock /tmp/kollama-bench.lock python benchmarks/harness.py [--limit 40] [--model smollm2]

Steps: take the first --limit items of the real KoBEST COPA test split (../shared/realdata/kobest),
rename the fields to the HF `skt/kobest_v1` names both tools use, export the model's tokenizer with
`kollama tokens MODEL --export-tokenizer`, start `kollama serve`, run the harness's `local-completions`
model on a task YAML that is lm-eval's own kobest_copa pointed at the local file, run `kollama eval` on
the same file, and print both accuracies, the items they disagree on, and the time each took.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from realdata import realdata_or_exit  # noqa: E402

# lm-eval's kobest_copa (lm_eval/tasks/kobest/utils.py), here over a local JSONL
TASK_UTILS = '''
def doc_to_text(doc):
    connector = {"원인": " 왜냐하면", "결과": " 그래서"}[doc["question"].strip()]
    return f"""{doc["premise"]} {connector}"""


def doc_to_choice(doc):
    return [doc["alternative_1"], doc["alternative_2"]]
'''

TASK_YAML = """task: kobest_copa_local
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: !function utils.doc_to_text
doc_to_choice: !function utils.doc_to_choice
doc_to_target: label
metric_list:
  - metric: acc
metadata:
  version: 1.0
"""


def copa_slice(source: Path, limit: int, out: Path) -> Path:
    """The first `limit` items as HF-convention JSONL (premise, question, alternative_1/2, label)."""
    rows = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines() if line.strip()][:limit]
    with out.open("w", encoding="utf-8") as handle:
        for r in rows:
            handle.write(json.dumps({"premise": r["sentence"], "question": r["question"], "alternative_1": r["1"],
                                     "alternative_2": r["2"], "label": int(r["hf_label"])}, ensure_ascii=False) + "\n")
    return out


def write_task(folder: Path, data: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "utils.py").write_text(TASK_UTILS, encoding="utf-8")
    (folder / "kobest_copa_local.yaml").write_text(TASK_YAML.format(data=json.dumps(str(data))), encoding="utf-8")
    return folder


def _env() -> dict[str, str]:
    return {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false"}


def export_tokenizer(model: str, folder: Path) -> dict:
    done = subprocess.run([sys.executable, "-m", "kollama", "tokens", model, "--export-tokenizer", str(folder),
                           "--json"], capture_output=True, text=True, env=_env(), timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"kollama tokens --export-tokenizer failed: {done.stderr.strip()}")
    return json.loads(done.stdout)


def lm_eval_accuracy(url: str, model: str, tokenizer: Path, tasks: Path, out: Path) -> tuple[float, list[int]]:
    """Accuracy and per-item correctness from `lm_eval --model local-completions` against `url`."""
    args = (f"model={model},base_url={url}/v1/completions,tokenizer_backend=huggingface,tokenizer={tokenizer},"
            "tokenized_requests=False,num_concurrent=1,max_retries=1")
    done = subprocess.run([sys.executable, "-m", "lm_eval", "--model", "local-completions", "--model_args", args,
                           "--tasks", "kobest_copa_local", "--include_path", str(tasks), "--output_path", str(out),
                           "--log_samples", "--batch_size", "1"],
                          capture_output=True, text=True, env=_env(), timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"lm_eval failed ({done.returncode}): {done.stderr[-3000:]}")
    results = json.loads(Path(sorted(glob.glob(f"{out}/**/results_*.json", recursive=True))[-1]).read_text())
    samples_file = sorted(glob.glob(f"{out}/**/samples_kobest_copa_local_*.jsonl", recursive=True))[-1]
    samples = [json.loads(line) for line in Path(samples_file).read_text(encoding="utf-8").splitlines()]
    correct = [int(s["acc"]) for s in sorted(samples, key=lambda s: s["doc_id"])]
    return float(results["results"]["kobest_copa_local"]["acc,none"]), correct


def kollama_eval_accuracy(model: str, data: Path) -> tuple[float, list[int]]:
    done = subprocess.run([sys.executable, "-m", "kollama", "eval", model, "--task", "kobest_copa", "--data",
                           str(data), "--json"], capture_output=True, text=True, env=_env(), timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"kollama eval failed: {done.stderr.strip()}")
    payload = json.loads(done.stdout)
    samples = payload["samples"]["kobest_copa"] if isinstance(payload["samples"], dict) else payload["samples"]
    correct = [int(s["acc"]) if "acc" in s else int(s["correct"]) for s in samples]
    acc = payload["results"]["kobest_copa"]["acc"]
    return float(acc["value"] if isinstance(acc, dict) else acc), correct


def compare(model: str, limit: int, work: Path, port: int | None = None) -> dict:
    """Run both on the same items; returns both accuracies, per-item disagreements and timings."""
    from serve_server import Server

    data = copa_slice(realdata_or_exit("kobest", "copa_test.jsonl"), limit, work / "copa.jsonl")
    tasks = write_task(work / "tasks", data)
    tokenizer = export_tokenizer(model, work / "tokenizer")
    started = time.perf_counter()
    ours, ours_items = kollama_eval_accuracy(model, data)
    eval_seconds = time.perf_counter() - started
    with Server("--model", model, "--no-log", "--no-rag", "--max-tokens", "16", log=work / "serve.log") as server:
        started = time.perf_counter()
        harness, harness_items = lm_eval_accuracy(server.url, model, work / "tokenizer", tasks, work / "lm_eval")
        harness_seconds = time.perf_counter() - started
    differ = [i for i, (a, b) in enumerate(zip(ours_items, harness_items)) if a != b]
    return {"model": model, "items": limit, "kollama_eval_acc": ours, "lm_eval_acc": harness, "differ": differ,
            "tokenizer": tokenizer, "kollama_eval_seconds": round(eval_seconds, 1),
            "lm_eval_seconds": round(harness_seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--limit", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("KOLLAMA_HOME", str(Path(tmp) / "home"))
        result = compare(args.model, args.limit, Path(tmp))
    print(json.dumps(result, ensure_ascii=False, indent=1))
    print(f"KoBEST COPA, first {args.limit} test items, {args.model}: kollama eval acc {result['kollama_eval_acc']:.3f} "
          f"({result['kollama_eval_seconds']} s), lm_eval local-completions against kollama serve acc "
          f"{result['lm_eval_acc']:.3f} ({result['lm_eval_seconds']} s); items that differ: {len(result['differ'])}")
    from results import record

    record("harness", f"KoBEST COPA, {args.limit} items, {args.model}: accuracy {result['lm_eval_acc']:.3f} "
           f"(lm_eval against kollama serve) vs {result['kollama_eval_acc']:.3f} (kollama eval); "
           f"{len(result['differ'])} items differ")
    sys.exit(0 if len(result["differ"]) <= 1 else 1)


if __name__ == "__main__":
    main()
