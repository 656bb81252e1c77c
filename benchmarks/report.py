"""Render docs/benchmarks.md from the figures the benchmark scripts left in benchmarks/results/ (`make bench-report`).

One row per benchmark: what is compared, the command that reproduces it, the machine and load it ran on, and
its current figure. A benchmark without a result file says so; nothing on the page is typed by hand.

    python benchmarks/report.py            # writes docs/benchmarks.md
    python benchmarks/report.py --check    # exit 1 if docs/benchmarks.md is not what the results render
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PAGE = ROOT / "docs" / "benchmarks.md"
NOT_MEASURED = "not measured on this machine yet"

#: (name, what is compared, the command that reproduces it); the name is the result file's stem.
CATALOGUE = [
    ("first-run", "`make compare` from a fresh clone: compiling llama.cpp, then the comparison "
                  "(generation, naturalness)", "python benchmarks/first_run.py --setup; python benchmarks/first_run.py"),
    ("generation", "`kollama run` (no lock, `script`, `strict`) against raw llama-cpp-python, tokens/s",
     "python benchmarks/generation.py --rounds 3 --max-tokens 96"),
    ("lang-auto", "`--lang auto` against always-Korean: the expected answer language of code-switched and LCB prompts, "
                  "and a real instruct model's answers under auto's lock and `--lang ko`'s",
     "python benchmarks/lang_auto.py --generate 20"),
    ("openmp", "llama.cpp's OpenMP idle policy: kollama's 500 spins against libgomp's default and passive, "
               "with other work on the machine", "python benchmarks/generation.py --omp --busy 2"),
    ("compare", "`kollama compare --parallel 8` (answers decoded together) against `--parallel 1`",
     "python benchmarks/compare.py --prompts 12 --trials 3 --no-naturalness"),
    ("lock", "the lock modes on 100 LCB Korean prompts + ko-basic: fidelity and naturalness of "
             "off / script / strict / gated", "python benchmarks/lock.py --no-speed"),
    ("lock_real", "the lock modes on a real instruct model that writes Korean (Qwen2.5-Coder-0.5B-Instruct), LCB "
                  "Korean prompts, T 0.7: answers failing fidelity off / script / strict / gated",
     "python benchmarks/lock.py --real --models qwen2.5-coder-0.5b --lcb 40 --seeds 1 --speed-prompts 4"),
    ("lock-speed", "tokens/s of each lock mode against `off`",
     "python benchmarks/lock.py --speed-only --speed-prompts 12 --speed-passes 3"),
    ("fidelity", "`kollama fidelity` against LCB's own rules on 264 labelled real answers; judging speed",
     "python benchmarks/fidelity.py"),
    ("lcb-reference", "compare's LPR/WPR against an independent re-implementation of LCB's metric, "
                      "3,986 published answers", "python benchmarks/lcb_reference.py"),
    ("eval", "`kollama eval` against lm-evaluation-harness on the same real KoBEST items",
     "python benchmarks/eval.py --data ../shared/realdata/kobest --limit 100"),
    ("llama-throughput", "llama.cpp's own prompt tokens/s by batch size: the ceiling for `eval` here",
     "python benchmarks/llama_throughput.py"),
    ("harness", "lm-evaluation-harness's `local-completions` against `kollama serve`, beside `kollama eval`",
     "python benchmarks/harness.py"),
    ("rag", "`kollama rag` against pypdf + fixed chunks + dense: ingest pages/s, query p95, recall@1",
     "python benchmarks/rag.py"),
    ("rag-real", "`kollama rag` on the real PDFs and HWP/HWPX files: recall and ingest speed",
     "python benchmarks/rag.py --real-only"),
    ("rag-scale", "100k chunks: Qdrant Edge against qdrant-client's local mode, query p50/p95",
     "python benchmarks/rag_scale.py"),
    ("tune", "`kollama tune sft` against a plain transformers + peft loop: steps/s and memory",
     "python benchmarks/tune.py"),
    ("bake-in", "`kollama tune smooth` and ORPO against the base model: foreign-script answers, "
                "fidelity, accuracy", "python benchmarks/bake_in.py"),
    ("serve", "`kollama serve` against `python -m llama_cpp.server` at 1, 4 and 16 clients",
     "python benchmarks/serve.py"),
]

INTRO = """\
# Benchmarks

Each benchmark runs kollama and what it is compared with on the same input, in one run, and prints the ratio.
Every script writes its current figure to `benchmarks/results/NAME.json`; this page is rendered from those
files by `make bench-report` (`python benchmarks/report.py`): do not edit it by hand. Figures depend on the
machine and on what else runs on it, so each row names both; re-run a script to get yours.
"""


def load_results() -> dict[str, dict]:
    results = {}
    for path in sorted(RESULTS.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        results[data.get("benchmark", path.stem)] = data
    return results


def cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render(results: dict[str, dict]) -> str:
    lines = [INTRO, "| benchmark | what is compared | command | machine (load) | figure |", "|---|---|---|---|---|"]
    for name, compared, command in CATALOGUE:
        data = results.get(name)
        if data is None:
            lines.append(f"| {name} | {cell(compared)} | `{command}` | | {NOT_MEASURED} |")
            continue
        where = f"{data['machine']} (load {data['load']}), {data['date']}"
        lines.append(f"| {name} | {cell(compared)} | `{cell(data['command'])}` | {cell(where)} | "
                     f"{cell(data['figure'])} |")
    unknown = sorted(set(results) - {name for name, _, _ in CATALOGUE})
    if unknown:
        raise SystemExit(f"results without a catalogue row: {', '.join(unknown)} (add them to benchmarks/report.py)")
    first = results.get("first-run", {}).get("details", {})
    if first.get("split"):
        lines += ["", "## First run, part by part", "",
                  "Where the minutes of a first `make compare` go (`python benchmarks/first_run.py --setup`, then without `--setup`):", "",
                  "| part | seconds | CPU seconds | load (1 min) |", "|---|---|---|---|"]
        for part in first["split"]:
            cpu = "" if part.get("cpu_seconds") is None else f"{part['cpu_seconds']:.0f}"
            lines.append(f"| {cell(part['part'])} | {part['seconds']:.0f} | {cpu} | {cell(part.get('load', ''))} |")
        lines += ["", "Seconds are wall-clock on the machine named in the `first-run` row, with the load beside them; "
                  "on a shared machine the CPU seconds are the steadier figure."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only check that the page is up to date")
    args = parser.parse_args()
    page = render(load_results())
    if args.check:
        if not PAGE.exists() or PAGE.read_text(encoding="utf-8") != page:
            print(f"{PAGE.relative_to(ROOT)} is out of date: run `make bench-report`", file=sys.stderr)
            raise SystemExit(1)
        return
    PAGE.write_text(page, encoding="utf-8")
    print(f"wrote {PAGE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
