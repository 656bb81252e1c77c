"""How often does `--lang auto` pick the language a reader expects, beside the baseline "always Korean"?

1. The hand-written code-switched prompts of tests/data/lang_auto_prompts.jsonl (prompt, optional system and
   history, expected language, kind): accuracy per kind, auto vs always-ko.
2. Real users' prompts: the Language Confusion Benchmark's Korean, Japanese and Chinese prompts in
   ../shared/realdata/lcb (monolingual prompts expect their own language; cross-lingual ones are English
   prompts that ask for the target language somewhere in the text). Read at run time, never copied; skipped
   with one line when absent.
3. With --generate N: N prompts whose expected answer is English and N whose expected answer is Korean, answered
   greedily by a real instruct model (`--model`, default Qwen2.5-Coder-0.5B-Instruct from `make real-models`)
   under the default lock of the decided language (what `kollama run --lang auto` does), under the `--lang ko`
   default (gated) and unlocked: the answers in the expected language.

    python benchmarks/lang_auto.py [--generate 20] [--show-misses]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

from kollama.korean.answer_language import infer_answer_language

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import record  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ROOT / "tests" / "data" / "lang_auto_prompts.jsonl"
REALDATA = Path(os.environ.get("KOLLAMA_REALDATA", ROOT.parent / "shared" / "realdata"))


def _table(title: str, rows: list[tuple[str, int, int, int]]) -> tuple[int, int, int, float]:
    """rows: (group, n, right with auto, right with always-ko). Returns n, auto, always-ko and the worst group's
    auto accuracy."""
    print(f"\n{title}")
    print(f"{'group':<40} {'n':>5} {'auto':>7} {'always-ko':>10}")
    for group, n, auto, ko in rows:
        print(f"{group:<40} {n:>5} {auto / n:>7.1%} {ko / n:>10.1%}")
    n, auto, ko = (sum(r[i] for r in rows) for i in (1, 2, 3))
    print(f"{'all':<40} {n:>5} {auto / n:>7.1%} {ko / n:>10.1%}")
    return n, auto, ko, min(r[2] / r[1] for r in rows)


def own_prompts(show_misses: bool) -> tuple[list[dict], tuple[int, int, int, float]]:
    records = [json.loads(line) for line in PROMPTS.read_text(encoding="utf-8").splitlines() if line.strip()]
    total, auto, ko = Counter(), Counter(), Counter()
    started = time.perf_counter()
    for r in records:
        decision = infer_answer_language(r["prompt"], system=r.get("system"), history=r.get("history"))
        r["decided"] = decision.lang
        total[r["kind"]] += 1
        auto[r["kind"]] += decision.lang == r["expected"]
        ko[r["kind"]] += r["expected"] == "ko"
        if show_misses and decision.lang != r["expected"]:
            print(f"miss [{r['kind']}] expected {r['expected']}, got {decision.lang}: {r['prompt'][:80]!r} "
                  f"({decision.reason})")
    seconds = time.perf_counter() - started
    totals = _table(f"{PROMPTS.relative_to(ROOT)}: {len(records)} prompts, "
                    f"{seconds / len(records) * 1000:.0f} ms a prompt (Kiwi loaded on the first)",
                    [(kind, total[kind], auto[kind], ko[kind]) for kind in total])
    return records, totals


def lcb_prompts(show_misses: bool) -> tuple[int, int, int, float] | None:
    folder = REALDATA / "lcb"
    if not folder.is_dir():
        print(f"\nskipped LCB: real data not found at {folder} (set KOLLAMA_REALDATA to the shared realdata folder)")
        return None
    rows = []
    for lang in ("ko", "ja", "zh"):
        records = [json.loads(line) for line in (folder / f"lcb_{lang}.jsonl").open(encoding="utf-8")]
        total, auto, ko = Counter(), Counter(), Counter()
        for r in records:
            group = f"{r['language']} {r['task']} {r['source']}"
            decision = infer_answer_language(r["prompt"])
            total[group] += 1
            auto[group] += decision.lang == r["language"]
            ko[group] += r["language"] == "ko"
            if show_misses and decision.lang != r["language"]:
                print(f"miss [{group}] got {decision.lang}: {r['prompt'][:80]!r} ({decision.reason})")
        rows += [(group, total[group], auto[group], ko[group]) for group in total]
    return _table("LCB prompts (real users' prompts; the expected language is the benchmark's)", rows)


def generate(records: list[dict], n: int, model: str, max_tokens: int) -> Counter | None:
    """Answers under `--lang auto`'s default lock, under `--lang ko`'s (gated) and unlocked, greedy, on a real
    instruct model: how many English-expected answers come out English, and Korean-expected ones Korean."""
    from kollama.engines import load_engine
    from kollama.korean.fidelity import fidelity_report
    from kollama.models.chunked import CHUNKED_MODELS, find_assembled
    from kollama.run import RunOptions

    if model in CHUNKED_MODELS and find_assembled(model) is None:
        print(f"\nskipped generation: {model} is not assembled (run `make real-models`)")
        return None
    picked = [r for r in records if r["expected"] == "en" and not r.get("history")][:n] + \
             [r for r in records if r["expected"] == "ko" and not r.get("history")][:n]
    settings = ("auto", "ko", "off")
    jobs = []
    for r in picked:
        for setting in settings:
            options = RunOptions(model=model, lang="ko" if setting == "off" else setting, max_tokens=max_tokens,
                                 temperature=0, seed=0, system=r.get("system"), log=False,
                                 lock="off" if setting == "off" else None)
            params = options.params(r["decided"] if setting == "auto" else None)
            messages = ([{"role": "system", "content": r["system"]}] if r.get("system") else []) + \
                       [{"role": "user", "content": r["prompt"]}]
            jobs.append((r, setting, messages, params))
    right = Counter()
    started = time.perf_counter()
    with load_engine(model, n_ctx=4096, parallel=4) as engine:
        pending = engine.generate_many([(messages, params) for _, _, messages, params in jobs])
        for done, ((r, setting, _, _), generation) in enumerate(zip(jobs, pending), 1):
            text = generation.result().text
            dominant = fidelity_report(text, "ko", with_lcb=False).dominant
            right[(r["expected"], setting)] += dominant == r["expected"]
            if done % 20 == 0:
                print(f"  {done}/{len(jobs)} answers, {time.perf_counter() - started:.0f} s", flush=True)
    print(f"\n{model}, {max_tokens} tokens, greedy: answers in the expected language ({n} prompts each)")
    print(f"{'expected':<10} {'--lang auto':>12} {'--lang ko (gated)':>18} {'unlocked':>10}")
    for expected in ("en", "ko"):
        print(f"{expected:<10} {right[(expected, 'auto')]:>12} {right[(expected, 'ko')]:>18} "
              f"{right[(expected, 'off')]:>10}")
    return right


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generate", type=int, default=0, help="answer N prompts per expected language")
    parser.add_argument("--model", default="qwen2.5-coder-0.5b", help="the instruct model that answers (--generate)")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--show-misses", action="store_true")
    args = parser.parse_args()
    records, (n, auto, ko, worst) = own_prompts(args.show_misses)
    figure = (f"{n} code-switched prompts: --lang auto {auto / n:.1%} right (worst kind {worst:.1%}), "
              f"always Korean {ko / n:.1%}")
    lcb = lcb_prompts(args.show_misses)
    if lcb:
        figure += f"; {lcb[0]} LCB prompts: auto {lcb[1] / lcb[0]:.1%}, always Korean {lcb[2] / lcb[0]:.1%}"
    right = generate(records, args.generate, args.model, args.max_tokens) if args.generate else None
    if right:
        figure += (f"; {args.model}, greedy, {args.generate} English-expected and {args.generate} Korean-expected "
                   f"prompts answered in the expected language: --lang auto {right[('en', 'auto')]} and "
                   f"{right[('ko', 'auto')]}, --lang ko (gated) {right[('en', 'ko')]} and {right[('ko', 'ko')]}, "
                   f"unlocked {right[('en', 'off')]} and {right[('ko', 'off')]}")
    record("lang-auto", figure)


if __name__ == "__main__":
    sys.exit(main())
