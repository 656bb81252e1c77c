"""How often does `--lang auto` pick the language a reader expects, beside the baseline "always Korean"?

1. The hand-written code-switched prompts of tests/data/lang_auto_prompts.jsonl (prompt, optional system and
   history, expected language, kind): accuracy per kind, auto vs always-ko.
2. Real users' prompts: the Language Confusion Benchmark's Korean, Japanese and Chinese prompts in
   ../shared/realdata/lcb (monolingual prompts expect their own language; cross-lingual ones are English
   prompts that ask for the target language somewhere in the text). Read at run time, never copied; skipped
   with one line when absent.
3. With --generate N: N prompts whose expected answer is English and N whose expected answer is Korean, answered
   by smollm2 under the default lock of the decided language (what `kollama run --lang auto` does) and under
   the `--lang ko` default (gated): the share of answers in Korean.

    python benchmarks/lang_auto.py [--generate 12] [--show-misses]
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

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ROOT / "tests" / "data" / "lang_auto_prompts.jsonl"
REALDATA = Path(os.environ.get("KOLLAMA_REALDATA", ROOT.parent / "shared" / "realdata"))


def _table(title: str, rows: list[tuple[str, int, int, int]]) -> None:
    """rows: (group, n, right with auto, right with always-ko)."""
    print(f"\n{title}")
    print(f"{'group':<40} {'n':>5} {'auto':>7} {'always-ko':>10}")
    for group, n, auto, ko in rows:
        print(f"{group:<40} {n:>5} {auto / n:>7.1%} {ko / n:>10.1%}")
    n, auto, ko = (sum(r[i] for r in rows) for i in (1, 2, 3))
    print(f"{'all':<40} {n:>5} {auto / n:>7.1%} {ko / n:>10.1%}")


def own_prompts(show_misses: bool) -> list[dict]:
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
    _table(f"{PROMPTS.relative_to(ROOT)}: {len(records)} prompts, "
           f"{seconds / len(records) * 1000:.0f} ms a prompt (Kiwi loaded on the first)",
           [(kind, total[kind], auto[kind], ko[kind]) for kind in total])
    return records


def lcb_prompts(show_misses: bool) -> None:
    folder = REALDATA / "lcb"
    if not folder.is_dir():
        print(f"\nskipped LCB: real data not found at {folder} (set KOLLAMA_REALDATA to the shared realdata folder)")
        return
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
    _table("LCB prompts (real users' prompts; the expected language is the benchmark's)", rows)


def generate(records: list[dict], n: int) -> None:
    """Answers under `--lang auto`'s default lock vs `--lang ko`'s (gated): how many come out in Korean."""
    from kollama.engines import load_engine
    from kollama.korean.fidelity import fidelity_report
    from kollama.run import RunOptions

    picked = [r for r in records if r["expected"] == "en" and not r.get("history")][:n] + \
             [r for r in records if r["expected"] == "ko" and not r.get("history")][:n]
    korean = Counter()
    with load_engine("smollm2") as engine:
        for r in picked:
            for setting in ("auto", "ko"):
                options = RunOptions(model="smollm2", lang=setting, max_tokens=32, temperature=0, seed=0,
                                     system=r.get("system"), log=False)
                params = options.params(r["decided"] if setting == "auto" else None)
                messages = ([{"role": "system", "content": r["system"]}] if r.get("system") else []) + \
                           [{"role": "user", "content": r["prompt"]}]
                generation = engine.chat(messages, params)
                for _ in generation:
                    pass
                text = generation.response.text
                korean[(r["expected"], setting)] += fidelity_report(text, "ko").dominant == "ko"
    print(f"\nsmollm2, 32 tokens, greedy: answers whose dominant language is Korean ({n} prompts each)")
    print(f"{'expected':<10} {'--lang auto':>12} {'--lang ko (gated)':>18}")
    for expected in ("en", "ko"):
        print(f"{expected:<10} {korean[(expected, 'auto')]:>12} {korean[(expected, 'ko')]:>18}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generate", type=int, default=0, help="answer N prompts per expected language (smollm2)")
    parser.add_argument("--show-misses", action="store_true")
    args = parser.parse_args()
    records = own_prompts(args.show_misses)
    lcb_prompts(args.show_misses)
    if args.generate:
        generate(records, args.generate)


if __name__ == "__main__":
    sys.exit(main())
