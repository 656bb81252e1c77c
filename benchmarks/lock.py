"""The language lock on real prompts: off, script, strict and gated, on smollm2 and gemma3.

Prompts: 100 of the Language Confusion Benchmark's Korean prompts (../shared/realdata/lcb/lcb_ko.jsonl: 50
monolingual, 50 cross-lingual) and the ko-basic suite. Measures per model and lock: fidelity v2 pass rate, check
pass rate (ko-basic), naturalness (mean log-prob per character under gemma3), forbidden-script characters in
locked answers, and tokens per second (single answers, one at a time, the same prompts for every lock).
Targets: gated fidelity >= strict's - 5 points, and gated's naturalness closer to off's than strict's;
no forbidden-script character in a locked answer; every lock >= 0.9x the speed of off.

Answers for the quality figures are decoded 8 at a time with the batched engine, a prompt's four locks side by side
(greedy, so the batch does not change what is measured beyond near-ties); speed is measured on the single-answer
engine. On a busy machine, KOLLAMA_THREADS=1 makes the quality run faster.

    flock /tmp/kollama-bench.lock python benchmarks/lock.py [--models smollm2 gemma3] [--max-tokens 40]

With --real, the same four locks on real instruct models that write Korean (benchmarks/lock_real.py), sampled at
T = 0.7 over several seeds, 96 tokens:

    python benchmarks/lock.py --real [--lcb 100] [--seeds 3] [--models qwen2.5-coder-0.5b]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
if "--real" not in sys.argv:  # the real models live in the user's $KOLLAMA_HOME/models
    os.environ.setdefault("KOLLAMA_HOME", tempfile.mkdtemp(prefix="kollama-bench-"))

from realdata import realdata_or_exit  # noqa: E402

from kollama.compare.checks import run_checks  # noqa: E402
from kollama.compare.naturalness import naturalness  # noqa: E402
from kollama.compare.suites import load_suite  # noqa: E402
from kollama.engines import GenerationParams, load_engine  # noqa: E402
from kollama.errors import KollamaError  # noqa: E402
from kollama.korean.fidelity import fidelity_report  # noqa: E402
from kollama.korean.lock import LockMode  # noqa: E402
from kollama.korean.scripts import language, script_of  # noqa: E402

LOCKS = [LockMode.off, LockMode.script, LockMode.strict, LockMode.gated]
KO = language("ko")


def prompts(lcb: int) -> list[dict]:
    """50 monolingual and 50 cross-lingual LCB prompts (spread over the sources), then ko-basic with its checks."""
    rows = [json.loads(line) for line in realdata_or_exit("lcb", "lcb_ko.jsonl").open(encoding="utf-8")]
    mono = [r for r in rows if r["task"] == "monolingual"][: lcb // 2]
    cross = [r for r in rows if r["task"] == "crosslingual"]
    cross = cross[:: max(1, len(cross) // (lcb - len(mono)))][: lcb - len(mono)]
    items = [{"id": f"lcb-{r['task']}-{r['source']}-{r['id']}", "set": f"lcb-{r['task']}", "prompt": r["prompt"],
              "system": None, "checks": None} for r in mono + cross]
    for p in load_suite("ko-basic").prompts:
        if p.lang == "ko":
            items.append({"id": p.id, "set": "ko-basic", "prompt": p.prompt, "system": p.system, "checks": p})
    return items


def messages(item: dict) -> list[dict[str, str]]:
    return ([{"role": "system", "content": item["system"]}] if item["system"] else []) + [
        {"role": "user", "content": item["prompt"]}]


def answer_all(items: list[dict], max_tokens: int, engine) -> dict[str, list[str | None]]:
    """Every lock's answer to every prompt, decoded together: a prompt's four answers sit side by side,
    so the scheduler evaluates the prompt once and the other three copy it."""
    requests = [(item, lock) for item in items for lock in LOCKS]
    generations = engine.generate_many([(messages(item), GenerationParams(temperature=0.0, max_tokens=max_tokens,
                                                                          lock=lock, seed=0))
                                        for item, lock in requests])
    answers: dict[str, list[str | None]] = {lock.value: [] for lock in LOCKS}
    for (_, lock), generation in zip(requests, generations):
        try:
            answers[lock.value].append(generation.result().text)
        except KollamaError:  # a prompt longer than the context
            answers[lock.value].append(None)
    return answers


def speed(model: str, items: list[dict], max_tokens: int, prompts_n: int, passes: int = 2) -> dict[str, dict]:
    """Tokens per second per lock on the single-answer engine. Each prompt's four locks run back to back (in a
    rotating order), so a lock's ratio to off is taken per prompt and pass, and the median of those ratios is
    reported: a machine whose speed drifts between prompts moves both sides of a ratio alike."""
    engine = load_engine(model, n_ctx=1024)
    rates: dict[str, list[float]] = {lock.value: [] for lock in LOCKS}
    try:
        for n in range(passes):
            for k, item in enumerate(items[:prompts_n]):
                order = LOCKS[(k + n) % len(LOCKS):] + LOCKS[:(k + n) % len(LOCKS)]
                for lock in order:
                    params = GenerationParams(temperature=0.0, max_tokens=max_tokens, lock=lock, seed=0)
                    response = engine.chat(messages(item), params).result()
                    rates[lock.value].append(response.tokens_per_second)
    finally:
        engine.close()
    off = rates["off"]
    return {lock: {"tokens_per_second": statistics.mean(values),
                   "vs_off": statistics.median(v / o for v, o in zip(values, off) if o > 0)}
            for lock, values in rates.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["smollm2", "gemma3"])
    parser.add_argument("--lcb", type=int, default=100, help="LCB prompts (half monolingual, half cross-lingual)")
    parser.add_argument("--max-tokens", type=int, default=40)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--speed-prompts", type=int, default=6)
    parser.add_argument("--speed-passes", type=int, default=2, help="passes over the speed prompts")
    parser.add_argument("--reference-model", default="gemma3")
    parser.add_argument("--basic", type=int, default=None, help="only the first N ko-basic prompts")
    parser.add_argument("--no-speed", action="store_true", help="quality only (no timing: may run outside the bench lock)")
    parser.add_argument("--speed-only", action="store_true", help="only tokens per second per lock (under the bench lock)")
    parser.add_argument("--json", type=Path, help="write every answer and figure here")
    parser.add_argument("--real", action="store_true",
                        help="real instruct models that write Korean (make real-models), sampled at T 0.7 over seeds")
    parser.add_argument("--seeds", type=int, default=3, help="with --real: seeds per prompt and lock")
    args = parser.parse_args()
    if args.real:
        from lock_real import run as run_real

        lcb = [i for i in prompts(args.lcb) if i["set"] != "ko-basic"]
        run_real(lcb, None if args.models == parser.get_default("models") else args.models,
                 list(range(args.seeds)), args.max_tokens if args.max_tokens != 40 else 96, args.parallel,
                 args.reference_model, 0 if args.no_speed else args.speed_prompts, args.json)
        return
    items = prompts(args.lcb)
    if args.basic is not None:
        basic = [i for i in items if i["set"] == "ko-basic"][: args.basic]
        items = [i for i in items if i["set"] != "ko-basic"] + basic
    print(f"{len(items)} prompts ({sum(i['set'].startswith('lcb') for i in items)} LCB, "
          f"{sum(i['set'] == 'ko-basic' for i in items)} ko-basic), max {args.max_tokens} tokens, greedy", flush=True)
    answers: dict[tuple[str, str], list[str | None]] = {}
    started = time.perf_counter()
    from results import record

    figures: list[str] = []
    if args.speed_only:
        for model in args.models:
            rates = speed(model, [i for i in items if i["set"] == "ko-basic"], args.max_tokens, args.speed_prompts,
                          args.speed_passes)
            print(f"{model}: " + ", ".join(f"{lock} {r['tokens_per_second']:.1f} tok/s ({r['vs_off']:.2f}x off)"
                                           for lock, r in rates.items()), flush=True)
            figures.append(f"{model} " + " / ".join(f"{r['vs_off']:.2f}x" for lock, r in rates.items() if lock != "off"))
        record("lock-speed", "tokens/s against off, script / strict / gated: " + "; ".join(figures))
        return
    for model in args.models:
        engine = load_engine(model, n_ctx=2048, parallel=args.parallel)
        try:
            t0 = time.perf_counter()
            for lock, texts in answer_all(items, args.max_tokens, engine).items():
                answers[(model, lock)] = texts
            print(f"  {model}, {len(LOCKS)} locks: {time.perf_counter() - t0:.0f} s", flush=True)
        finally:
            engine.close()
    unmeasured = {"tokens_per_second": float("nan"), "vs_off": float("nan")}
    speeds = {model: (speed(model, [i for i in items if i["set"] == "ko-basic"], args.max_tokens, args.speed_prompts,
                            args.speed_passes)
                      if not args.no_speed else {lock.value: unmeasured for lock in LOCKS}) for model in args.models}
    reference = load_engine(args.reference_model)
    scored: dict[str, float | None] = {}
    rows = []
    try:
        for (model, lock), texts in answers.items():
            fid, checks, natural, forbidden, failed = [], [], [], 0, 0
            for item, text in zip(items, texts):
                if text is None:
                    failed += 1
                    continue
                report = fidelity_report(text, "ko", prompt=item["prompt"], system=item["system"], with_lcb=False)
                fid.append(report.passed)
                if item["checks"] is not None:
                    checks.extend(run_checks(text, item["checks"].checks, "ko", report).values())
                if lock != "off":
                    forbidden += sum(1 for ch in text if not KO.allows(script_of(ch)))
                if text not in scored:
                    scored[text] = naturalness(reference, text)
                if scored[text] is not None:
                    natural.append(scored[text])
            rows.append({"model": model, "lock": lock, "answers": len(texts) - failed, "failed": failed,
                         "fidelity": statistics.mean(fid), "checks": statistics.mean(checks) if checks else None,
                         "naturalness": statistics.mean(natural), "forbidden_chars": forbidden,
                         "tokens_per_second": speeds[model][lock]["tokens_per_second"],
                         "speed_vs_off": speeds[model][lock]["vs_off"]})
    finally:
        reference.close()
    print(f"\n{'model':8} {'lock':7} {'answers':>7} {'fidelity':>8} {'checks':>7} {'natural':>8} {'forbidden':>9} "
          f"{'tok/s':>6} {'vs off':>6}")
    for r in rows:
        print(f"{r['model']:8} {r['lock']:7} {r['answers']:7d} {r['fidelity']:8.1%} {r['checks'] or 0:7.1%} "
              f"{r['naturalness']:8.3f} {r['forbidden_chars']:9d} {r['tokens_per_second']:6.1f} "
              f"{r['speed_vs_off']:6.2f}x")
    print("\ntargets:")
    for model in args.models:
        by = {r["lock"]: r for r in rows if r["model"] == model}
        gated, strict, off = by["gated"], by["strict"], by["off"]
        print(f"  {model}: gated fidelity {gated['fidelity']:.1%} >= strict {strict['fidelity']:.1%} - 5 pts: "
              f"{'yes' if gated['fidelity'] >= strict['fidelity'] - 0.05 else 'NO'}; gated naturalness closer to off "
              f"({abs(gated['naturalness'] - off['naturalness']):.3f} vs strict "
              f"{abs(strict['naturalness'] - off['naturalness']):.3f}): "
              f"{'yes' if abs(gated['naturalness'] - off['naturalness']) < abs(strict['naturalness'] - off['naturalness']) else 'NO'}; "
              f"no forbidden char: {'yes' if all(by[m]['forbidden_chars'] == 0 for m in ('script', 'strict', 'gated')) else 'NO'}; "
              f"speed >= 0.9x off: " + ", ".join(f"{m} {by[m]['speed_vs_off']:.2f}x" for m in ('script', 'strict', 'gated')))
    print(f"\n{time.perf_counter() - started:.0f} s in all (shared machine: speed figures are noisy)")
    record("lock", "fidelity / naturalness, off · script · strict · gated: " + "; ".join(
        f"{model} " + " · ".join(f"{r['fidelity']:.1%} / {r['naturalness']:.2f}" for r in rows if r["model"] == model)
        for model in args.models), rows=rows)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "answers": {f"{m}|{lk}": t for (m, lk), t in answers.items()},
                                         "prompts": [i["id"] for i in items]}, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
