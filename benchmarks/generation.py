"""Generation speed: kollama (no lock, `script` lock, `strict` lock) against raw llama-cpp-python.

Same model file, prompt tokens, seed, sampling settings, thread count and length cap, in one run.
Rounds alternate the order of the contenders so neither always runs on a warm cache.
Targets (issue 2): no lock >= 0.95x raw; script lock >= 0.90x raw; mask build < 5 s for a 262k vocabulary.

    python benchmarks/generation.py [--models smollm2 gemma3] [--rounds 5] [--max-tokens 128]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("KOLLAMA_HOME", tempfile.mkdtemp(prefix="kollama-bench-"))

from kollama.engines import GenerationParams, load_engine  # noqa: E402
from kollama.engines.llamacpp import load_llama, masks_for  # noqa: E402
from kollama.korean.language_lock import LockMode, build_masks  # noqa: E402

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["smollm2", "gemma3"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()
    summary = {m: bench_model(m, args.rounds, args.max_tokens) for m in args.models}
    print("\nsummary (targets: off >= 0.95, script >= 0.90, cold mask < 5 s)")
    for model, s in summary.items():
        ok = s["ratio_off"] >= 0.95 and s["ratio_script"] >= 0.90 and s["cold_mask_s"] < 5
        print(f"{model:>8}: off {s['ratio_off']:.3f}  script {s['ratio_script']:.3f}  strict {s['ratio_strict']:.3f}  "
              f"mask {s['cold_mask_s']:.2f} s  {'OK' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
