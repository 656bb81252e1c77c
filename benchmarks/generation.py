"""Generation speed: kollama (no lock, `script` lock, `strict` lock) against raw llama-cpp-python.

Same model file, prompt tokens, seed, sampling settings, thread count and length cap, in one run.
Rounds alternate the order of the contenders so neither always runs on a warm cache.
Targets: no lock >= 0.95x raw; script lock >= 0.90x raw; mask build < 5 s for a 262k vocabulary.

    python benchmarks/generation.py [--models smollm2 gemma3] [--rounds 5] [--max-tokens 128]
    python benchmarks/generation.py --omp [--busy 2] [--side-by-side 2]   # OpenMP idle policies

`--omp` runs raw llama-cpp-python and kollama in fresh processes under libgomp's default idle policy
(spinning 300k rounds), OMP_WAIT_POLICY=passive (sleep at once) and kollama's own (500 rounds), optionally
with `--busy N` pure-Python busy loops beside them or `--side-by-side N` copies decoding at once (a machine
with other work), and prints tokens/s and the ratios.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("KOLLAMA_HOME", tempfile.mkdtemp(prefix="kollama-bench-"))

from kollama.engines import GenerationParams, load_engine  # noqa: E402
from kollama.engines.llamacpp import load_llama, masks_for  # noqa: E402
from kollama.korean.lock import LockMode, build_masks  # noqa: E402
import results  # noqa: E402  (benchmarks/results.py: where the figure is recorded)

PROMPT = "한국의 사계절에 대해 자세히 설명해 주세요. 봄, 여름, 가을, 겨울의 특징을 각각 써 주세요."


def raw_tokens_per_second(llm, tokens: list[int], params: GenerationParams) -> float:
    llm.reset()  # kollama resets too (deterministic answers); keep the comparison fair
    start = time.perf_counter()
    out = llm.create_completion(tokens, max_tokens=params.max_tokens, temperature=params.temperature,
                                top_p=params.top_p, top_k=params.top_k, repeat_penalty=params.repeat_penalty,
                                seed=params.seed)
    seconds = time.perf_counter() - start
    return out["usage"]["completion_tokens"] / seconds


def kollama_tokens_per_second(engine, messages, params: GenerationParams) -> float:
    response = engine.chat(messages, params).result()
    return response.completion_tokens / response.seconds


def bench_model(name: str, rounds: int, max_tokens: int) -> dict[str, float]:
    engine = load_engine(name)
    messages = [{"role": "user", "content": PROMPT}]
    tokens, _ = engine.prompt_tokens(messages)
    raw = load_llama(str(engine.ref.path), engine.n_ctx, n_threads=os.cpu_count())

    start = time.perf_counter()
    build_masks(engine.vocabulary, "ko", cache_dir=None)  # cold: no disk cache
    cold = time.perf_counter() - start
    masks_for(engine.vocabulary, "ko")  # fill the disk cache
    start = time.perf_counter()
    masks_for(engine.vocabulary, "ko")
    warm = time.perf_counter() - start

    results: dict[str, list[float]] = {"raw": [], "off": [], "script": [], "strict": []}
    for r in range(rounds):
        order = list(results) if r % 2 == 0 else list(reversed(results))
        for contender in order:
            params = GenerationParams(temperature=0.8, seed=1000 + r, max_tokens=max_tokens,
                                      lock=LockMode(contender) if contender != "raw" else LockMode.off)
            if contender == "raw":
                results["raw"].append(raw_tokens_per_second(raw, tokens, params))
            else:
                results[contender].append(kollama_tokens_per_second(engine, messages, params))
    raw.close()
    engine.close()
    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"\n== {name} (vocabulary {len(engine.vocabulary.pieces)}, prompt {len(tokens)} tokens, "
          f"max {max_tokens} new, {rounds} rounds)")
    print(f"mask build: cold {cold:.2f} s, from disk cache {warm:.3f} s")
    for k in ("raw", "off", "script", "strict"):
        print(f"{k:>7}: {med[k]:7.1f} tok/s   ratio to raw {med[k] / med['raw']:.3f}")
    return {"cold_mask_s": cold, **{f"ratio_{k}": med[k] / med["raw"] for k in med}}


def child(contender: str, name: str, max_tokens: int) -> None:
    """One contender in this (fresh) process: print tokens/s of 3 answers."""
    engine = load_engine(name)
    messages = [{"role": "user", "content": PROMPT}]
    tokens, _ = engine.prompt_tokens(messages)
    if contender == "raw":
        engine.close()  # one model in memory, as a raw user has
        raw = load_llama(str(engine.ref.path), 4096, n_threads=os.cpu_count())
    rates = []
    for r in range(3):
        params = GenerationParams(temperature=0.8, seed=1000 + r, max_tokens=max_tokens)
        if contender == "raw":
            rates.append(raw_tokens_per_second(raw, tokens, params))
        else:
            rates.append(kollama_tokens_per_second(engine, messages, params))
    print(statistics.median(rates))


def _spin(seconds: float) -> None:
    end = time.time() + seconds
    while time.time() < end:
        pass


#: OpenMP idle policies, as environment a fresh process starts with ("" = libgomp's default, which warns once)
POLICIES = {"default": {"OMP_WAIT_POLICY": ""}, "passive": {"OMP_WAIT_POLICY": "passive"},
            "kollama": {}}  # nothing set: kollama's own (GOMP_SPINCOUNT, see kollama/__init__.py)


def omp_policies(models: list[str], busy: int, side_by_side: int, max_tokens: int) -> dict[str, dict]:
    """libgomp's default idle policy, passive, and kollama's brief spin, each contender in fresh processes:
    alone, beside `busy` pure-Python loops, or `side_by_side` copies of itself decoding at the same time."""
    found: dict[str, dict] = {}
    for name in models:
        print(f"\n== {name}: tokens/s, {busy} busy loop(s) beside, {side_by_side} process(es) at once")
        for contender in ("raw", "kollama"):
            rates = {}
            for policy, extra in POLICIES.items():
                env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")} | extra
                loads = [multiprocessing.Process(target=_spin, args=(600,)) for _ in range(busy)]
                for p in loads:
                    p.start()
                try:
                    procs = [subprocess.Popen([sys.executable, __file__, "--child", contender, "--models", name,
                                               "--max-tokens", str(max_tokens)], env=env, stdout=subprocess.PIPE,
                                              stderr=subprocess.DEVNULL, text=True) for _ in range(side_by_side)]
                    outs = [proc.communicate()[0] for proc in procs]
                finally:
                    for p in loads:
                        p.terminate()
                rates[policy] = statistics.mean(float(out.strip().splitlines()[-1]) for out in outs)
            print(f"{contender:>8}: " + "  ".join(f"{policy} {rate:6.1f}" for policy, rate in rates.items())
                  + f"  kollama's/passive {rates['kollama'] / rates['passive']:.2f}x"
                  + f"  kollama's/default {rates['kollama'] / rates['default']:.2f}x")
            found.setdefault(name, {})[contender] = rates
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["smollm2", "gemma3"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--omp", action="store_true", help="compare OpenMP idle policies (fresh processes)")
    parser.add_argument("--busy", type=int, default=0, help="with --omp: busy loops running beside")
    parser.add_argument("--side-by-side", type=int, default=1, help="with --omp: copies decoding at the same time")
    parser.add_argument("--child", choices=["raw", "kollama"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.models[0], args.max_tokens)
        return
    load = results.load()
    if args.omp:
        found = omp_policies(args.models, args.busy, args.side_by_side, args.max_tokens)
        results.record("openmp", "kollama's tokens/s against passive / libgomp's default: " + ", ".join(
            f"{m} {r['kollama']['kollama'] / r['kollama']['passive']:.2f}x / "
            f"{r['kollama']['kollama'] / r['kollama']['default']:.2f}x" for m, r in found.items())
            + f" ({args.busy} busy loops, {args.side_by_side} process(es) at once)", load_before=load, rates=found)
        return
    summary = {m: bench_model(m, args.rounds, args.max_tokens) for m in args.models}
    print("\nsummary (targets: off >= 0.95, script >= 0.90, cold mask < 5 s)")
    for model, s in summary.items():
        ok = s["ratio_off"] >= 0.95 and s["ratio_script"] >= 0.90 and s["cold_mask_s"] < 5
        print(f"{model:>8}: off {s['ratio_off']:.3f}  script {s['ratio_script']:.3f}  strict {s['ratio_strict']:.3f}  "
              f"mask {s['cold_mask_s']:.2f} s  {'OK' if ok else 'MISSED'}")
    results.record("generation", "against raw llama-cpp-python, no lock / script / strict: " + "; ".join(
        f"{m} {s['ratio_off']:.2f}x / {s['ratio_script']:.2f}x / {s['ratio_strict']:.2f}x" for m, s in summary.items()),
        load_before=load, summary=summary)


if __name__ == "__main__":
    main()
