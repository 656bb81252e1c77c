"""`kollama compare --parallel N` (answers decoded together) against `--parallel 1` (one at a time),
on the `make compare` workload, in one run.

Each contender is the whole CLI run a user starts (`kollama compare smollm2 gemma3 --suite ko-basic
--lock off,script`), in a fresh data directory so nothing is cached: process start, model loads,
generation, fidelity, metrics, report. Prints the wall times, the speed-up, how the batched engine
got there (decode steps; answer tokens a locked answer drew from its unlocked twin's logits instead of
decoding them, see the scheduler's riders; prompt tokens reused), and how many answers are identical
between the two (batch shape moves logits slightly, so at near-ties a sampled token can
differ; see kollama.compare.runner).

    .venv/bin/python benchmarks/compare.py                       # the make compare workload: 528 answers
    .venv/bin/python benchmarks/compare.py --prompts 8 --trials 2 --parallel 4 8 16   # a shorter run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 1.8


def run_compare(args: argparse.Namespace, suite: Path, parallel: int, work: Path) -> tuple[float, dict]:
    out, home = work / f"report-p{parallel}", work / f"home-p{parallel}"
    start, cpu0 = time.perf_counter(), _children_cpu()
    subprocess.run([sys.executable, "-m", "kollama", "compare", *args.models, "--suite", str(suite),
                    "--trials", str(args.trials), "--max-tokens", str(args.max_tokens), "--lock", args.locks,
                    "--parallel", str(parallel), "--out", str(out), "--json",
                    *(["--no-naturalness"] if args.no_naturalness else [])],
                   check=True, env={**os.environ, "KOLLAMA_HOME": str(home)}, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    result = json.loads((out / "results.json").read_text(encoding="utf-8"))
    result["cpu_seconds"] = _children_cpu() - cpu0
    return wall, result


def _children_cpu() -> float:
    """User + system CPU seconds of finished child processes: the work done, whatever else the
    machine runs (on a busy machine wall times say little; CPU time says what the work costs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["smollm2", "gemma3"])
    parser.add_argument("--prompts", type=int, default=None, help="the first N prompts of ko-basic (default: all 44)")
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--locks", default="off,script")
    parser.add_argument("--parallel", type=int, nargs="+", default=[8], help="batched settings to time against 1")
    parser.add_argument("--no-naturalness", action="store_true",
                        help="time generation and analysis only (naturalness scoring costs both contenders alike)")
    args = parser.parse_args()

    import yaml

    import results
    from kollama.compare.suites import load_suite

    load = results.load()
    figures = []

    suite = load_suite("ko-basic")
    chosen = suite.prompts[: args.prompts] if args.prompts else suite.prompts
    with tempfile.TemporaryDirectory(prefix="kollama-bench-") as tmp:
        work = Path(tmp)
        suite_file = work / "bench.yaml"
        suite_file.write_text(yaml.safe_dump({"prompts": [
            {"id": p.id, "category": p.category, "prompt": p.prompt, "lang": p.lang, "checks": p.checks,
             **({"system": p.system} if p.system else {})} for p in chosen]}, allow_unicode=True), encoding="utf-8")
        answers = len(args.models) * len(chosen) * args.trials * len(args.locks.split(","))
        print(f"workload: {len(args.models)} models x {len(chosen)} prompts x {args.trials} trials x "
              f"{len(args.locks.split(','))} lock modes = {answers} answers, max {args.max_tokens} tokens", flush=True)
        one_wall, one = run_compare(args, suite_file, 1, work)
        print(f"--parallel  1: {one_wall:7.1f} s  (CPU {one['cpu_seconds']:.0f} s; load {os.getloadavg()[0]:.1f})",
              flush=True)
        texts_one = [a["text"] for a in one["answers"]]
        for n in args.parallel:
            wall, result = run_compare(args, suite_file, n, work)
            same = sum(a == b["text"] for a, b in zip(texts_one, result["answers"]))
            speedup = one_wall / wall
            print(f"--parallel {n:2d}: {wall:7.1f} s   speed-up {speedup:4.2f}x (target >= {TARGET}x)   "
                  f"answers identical to --parallel 1: {same}/{len(texts_one)}   "
                  f"{'OK' if speedup >= TARGET else 'MISSED'}   (CPU {result['cpu_seconds']:.0f} s, "
                  f"{one['cpu_seconds'] / result['cpu_seconds']:.2f}x less; load {os.getloadavg()[0]:.1f})", flush=True)
            figures.append(f"--parallel {n}: {speedup:.2f}x ({wall:.0f} s vs {one_wall:.0f} s; CPU "
                           f"{one['cpu_seconds'] / result['cpu_seconds']:.2f}x less)")
            for model, stats in decoding(result).items():
                print(f"    {model}: {stats.get('decode_steps')} decode steps, {stats.get('ridden_tokens')} answer tokens "
                      f"ridden (drawn from another lock's logits), {stats.get('reused_prompt_tokens')} prompt tokens "
                      f"reused", flush=True)
    results.record("compare", f"{answers} answers; " + "; ".join(figures), load_before=load)


def decoding(result: dict) -> dict[str, dict]:
    """Per model, what its engine's decoding cost (compare's results.json, one entry per model and lock)."""
    return {g["model"]: g["decoding"] for g in result["summary"]["groups"] if g.get("decoding")}


if __name__ == "__main__":
    main()
