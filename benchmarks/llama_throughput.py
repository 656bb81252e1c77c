"""llama.cpp's own prompt throughput on this machine, by batch size: the ceiling for `kollama eval`.

A log-likelihood run is prompt evaluation: context tokens without logits, and continuation tokens that each need a
full logits row (262k wide on Gemma 3). This prints tokens per second for batches of 4 to 512 tokens, with and
without a logits row per token, and, given a token count (`--context-tokens`, `--logit-rows`), the shortest time
any scheduler could score them here (every token in the best batch size).

    .venv/bin/python benchmarks/llama_throughput.py [--model gemma3] [--context-tokens 28777 --logit-rows 9158]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from kollama.engines import load_engine
from kollama.engines.llamacpp.context import DecodeContext

WINDOW = 512  # positions used before the cache is cleared: eval's contexts are short


def rate(context: DecodeContext, tokens: list[int], batch: int, total: int, all_logits: bool) -> float:
    context.clear()
    pos, done = 0, 0
    started = time.perf_counter()
    while done < total:
        if pos + batch > WINDOW:
            context.clear()
            pos = 0
        for i in range(batch):
            context.add(tokens[(done + i) % len(tokens)], pos + i, 0, all_logits or i == batch - 1)
        context.decode()
        pos += batch
        done += batch
    return total / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gemma3")
    parser.add_argument("--tokens", type=int, default=2048, help="tokens per measurement")
    parser.add_argument("--context-tokens", type=int, default=28_777, help="real KoBEST, 100 items per task")
    parser.add_argument("--logit-rows", type=int, default=9_158)
    args = parser.parse_args()
    engine = load_engine(args.model, n_ctx=WINDOW)
    context = DecodeContext.of_model(engine.llm)
    tokens = np.random.default_rng(0).integers(1000, 20000, 4096).tolist()
    try:
        plain = {b: rate(context, tokens, b, args.tokens, False) for b in (4, 16, 64, 128, 512)}
        rows = {b: rate(context, tokens, b, args.tokens // 2, True) for b in (16, 64)}
    finally:
        context.close()
        engine.close()
    for b, r in plain.items():
        print(f"batch {b:4d}: {r:7.1f} tok/s (one logits row per batch)")
    for b, r in rows.items():
        print(f"batch {b:4d}: {r:7.1f} tok/s (a logits row per token)")
    floor = args.context_tokens / max(plain.values()) + args.logit_rows / max(rows.values())
    print(f"ceiling: {args.context_tokens} context tokens + {args.logit_rows} logits rows take at least {floor:.0f} s here")
    from results import record

    record("llama-throughput", f"{args.model}: " + ", ".join(f"batch {b} {r:.0f} tok/s" for b, r in plain.items())
           + f"; with a logits row per token {max(rows.values()):.0f} tok/s; the eval workload's floor {floor:.0f} s")


if __name__ == "__main__":
    main()
