"""Overhead of `kollama compare` over raw llama-cpp-python generation for the same answers.

1. Runs `kollama compare smollm2 gemma3 --suite ko-basic` (fresh data directory, so nothing is cached)
   as a user would, and takes its wall time: process start, model loads, generation, fidelity, metrics,
   report.
2. Replays every answer with raw `llama_cpp.Llama.create_completion` on the same prompt tokens and
   parameters (same seed), timing only the generation calls, and sums them. Each raw call is paired
   with the same request through kollama's engine, back to back, so a CPU shared with other work
   slows both alike.
Prints the direct ratio (wall / raw sum), the fixed overhead (wall / compare's own generation time),
the interleaved per-generation ratio, and how many raw answers matched kollama's text exactly.

    .venv/bin/python benchmarks/compare.py            # 40 prompts x 3 trials x 2 models (long on 2 cores)
    .venv/bin/python benchmarks/compare.py --quick    # 8 prompts x 2 trials, 48 tokens
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_kollama(models: list[str], suite: Path, trials: int, max_tokens: int, out: Path, home: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "kollama", "compare", *models, "--suite", str(suite), "--trials", str(trials),
                    "--max-tokens", str(max_tokens), "--lock", "off", "--out", str(out), "--json"],
                   check=True, env={**os.environ, "KOLLAMA_HOME": str(home)}, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def replay(results: dict, suite_prompts: dict, max_tokens: int) -> dict[str, float | int]:
    """Replay every answer twice, back to back in alternating order so a shared CPU slows both alike:
    raw `llama_cpp.Llama.create_completion` on the same prompt tokens and parameters, and kollama's
    engine (`engine.chat(...).result()`). Returns summed seconds and how many raw texts matched."""
    from llama_cpp import Llama

    from kollama.engines import GenerationParams, load_engine
    from kollama.engines.llama_cpp import _quiet_stderr

    raw_total, engine_total, count, same = 0.0, 0.0, 0, 0
    for model in results["summary"]["models"]:
        engine = load_engine(model)
        with _quiet_stderr():
            llm = Llama(model_path=str(engine.ref.path), n_ctx=engine.n_ctx, n_threads=os.cpu_count(), verbose=False)
        for i, answer in enumerate(a for a in results["answers"] if a["model"] == model):
            messages = suite_prompts[answer["prompt_id"]].messages()
            tokens, stops = engine._prompt_tokens(messages)  # kollama renders the template; timing is raw

            params = GenerationParams(max_tokens=max_tokens, seed=answer["seed"], lang=answer["lang"])
            for name in (("raw", "mine") if i % 2 == 0 else ("mine", "raw")):
                start = time.perf_counter()
                if name == "raw":
                    llm.reset()
                    out = llm.create_completion(tokens, max_tokens=max_tokens, temperature=0.8, top_p=0.95,
                                                top_k=40, repeat_penalty=1.1, seed=answer["seed"], stop=stops)
                    raw_total += time.perf_counter() - start
                    same += out["choices"][0]["text"] == answer["text"]
                else:
                    engine.chat(messages, params, log=False).result()
                    engine_total += time.perf_counter() - start
            count += 1
        llm.close()
        engine.close()
    return {"raw": raw_total, "engine": engine_total, "answers": count, "same": same}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="8 prompts, 2 trials, 48 tokens")
    parser.add_argument("--prompts", type=int, default=None, help="use the first N prompts of ko-basic")
    parser.add_argument("--trials", type=int, default=None)
    parser.add_argument("--max-tokens", type=int, default=None)
    args = parser.parse_args()
    prompts = args.prompts or (8 if args.quick else 40)
    trials = args.trials or (2 if args.quick else 3)
    max_tokens = args.max_tokens or (48 if args.quick else 128)

    import yaml

    from kollama.compare.suites import load_suite

    suite = load_suite("ko-basic")
    chosen = suite.prompts[:prompts]
    with tempfile.TemporaryDirectory(prefix="kollama-bench-") as tmp:
        tmp_path = Path(tmp)
        suite_file = tmp_path / "bench.yaml"
        suite_file.write_text(yaml.safe_dump({"prompts": [
            {"id": p.id, "category": p.category, "prompt": p.prompt, "lang": p.lang, "checks": p.checks,
             **({"system": p.system} if p.system else {})} for p in chosen]}, allow_unicode=True), encoding="utf-8")
        out = tmp_path / "report"
        wall = run_kollama(["smollm2", "gemma3"], suite_file, trials, max_tokens, out, tmp_path / "home")
        results = json.loads((out / "results.json").read_text(encoding="utf-8"))
        own = sum(g["overall"]["speed"]["seconds_total"] for g in results["summary"]["groups"])
        rep = replay(results, {p.id: p for p in chosen}, max_tokens)
    raw, count = rep["raw"], rep["answers"]
    fixed = wall / own  # start-up, model loads, fidelity, metrics, report: same process, same contention
    per_generation = rep["engine"] / rep["raw"]  # kollama's engine vs raw llama.cpp, interleaved
    print(f"answers: {count} (2 models x {prompts} prompts x {trials} trials, max {max_tokens} tokens, lock off)")
    print(f"kollama compare wall time:         {wall:8.1f} s (whole CLI run: start, loads, metrics, report)")
    print(f"  of which its generation calls:   {own:8.1f} s  -> fixed overhead {fixed - 1:+.1%}")
    print(f"raw llama-cpp-python generation:   {raw:8.1f} s (sum over the same answers, replayed after)")
    print(f"raw texts identical to kollama's:  {rep['same']}/{count}")
    print(f"direct overhead (wall / raw sum):   {wall / raw - 1:+.1%}  (sequential passes: CPU drift counts too)")
    print(f"interleaved replay: kollama engine {rep['engine']:.1f} s vs raw {rep['raw']:.1f} s -> "
          f"{per_generation - 1:+.1%} per generation")
    print(f"estimated overhead (fixed x per-generation): {fixed * per_generation - 1:+.1%}  (target < 10%)")


if __name__ == "__main__":
    main()
