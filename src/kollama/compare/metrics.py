"""Numbers from answers: fidelity, script intrusions, code-switching, the Language Confusion Benchmark
(LPR/WPR/LCPR) beside a Korean-aware variant, consistency across trials, check pass rates and speed.

Every figure is computed from the per-answer records in results.json, so any number traces back to
the answers that made it.
"""

from __future__ import annotations

import difflib
import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from kollama.korean.fidelity import FidelityReport
from kollama.korean.lcb import lcb_rates, lcb_verdict  # LCB's metric: one implementation, shared with `fidelity`

__all__ = ["lcb_verdict", "korean_aware_verdict", "confusion_rates", "group_metrics", "summarise"]


def korean_aware_verdict(fidelity: FidelityReport) -> dict[str, bool]:
    """Line level: the answer is in the target language, with no foreign-script intrusion and no line in another
    language. Word level: no code-switched word or English label (the policy of docs/fidelity.md: names,
    glosses, code, URLs, acronyms, units and words the prompt used are exempt)."""
    kinds = {span.kind for span in fidelity.foreign}
    line_pass = fidelity.dominant == fidelity.lang and not kinds & {"script", "wrong_language_line"}
    return {"line_pass": bool(line_pass), "word_pass": not kinds & {"code_switch", "label"}}


def harmonic(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return a if b is None else None
    return 0.0 if a + b == 0 else 2 * a * b / (a + b)


def _rate(flags: Iterable[bool]) -> float | None:
    flags = list(flags)
    return sum(flags) / len(flags) if flags else None


def confusion_rates(verdicts: list[dict[str, Any]]) -> dict[str, float | None]:
    """LPR, WPR (among responses without a line error) and LCPR over per-answer verdicts."""
    lpr = _rate(v["line_pass"] for v in verdicts)
    word = [v["word_pass"] for v in verdicts if v["line_pass"] and v["word_pass"] is not None]
    wpr = _rate(word)
    return {"lpr": lpr, "wpr": wpr, "lcpr": harmonic(lpr, wpr)}


# --- consistency across trials ---------------------------------------------------------------
def all_checks_pass(answer: dict[str, Any]) -> bool:
    return not answer.get("error") and all(answer["checks"].values())


def pass_hat_n(trials: list[dict[str, Any]]) -> bool:
    """pass^N: every one of the N trials passes every check."""
    return bool(trials) and all(all_checks_pass(a) for a in trials)


def pass_at_n(trials: list[dict[str, Any]]) -> bool:
    """pass@N: at least one of the N trials passes every check."""
    return any(all_checks_pass(a) for a in trials)


def language_stable(trials: list[dict[str, Any]]) -> bool:
    """All trials answered, and in the same language."""
    if any(a.get("error") for a in trials):
        return False
    return len({a["fidelity"]["dominant"] for a in trials}) == 1


def mean_similarity(texts: list[str]) -> float | None:
    """Mean pairwise character-level similarity (difflib ratio) of the trials' answers."""
    pairs = list(itertools.combinations(texts, 2))
    if not pairs:
        return None
    return sum(difflib.SequenceMatcher(None, a, b, autojunk=False).ratio() for a, b in pairs) / len(pairs)


def distinct_answers(texts: list[str]) -> int:
    return len({" ".join(t.split()) for t in texts})


def consistency(answers: list[dict[str, Any]]) -> dict[str, float | None]:
    by_prompt: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for answer in answers:
        by_prompt[answer["prompt_id"]].append(answer)
    groups = list(by_prompt.values())
    sims = [mean_similarity([a["text"] for a in g if not a.get("error")]) for g in groups]
    sims = [s for s in sims if s is not None]
    return {
        "prompts": len(groups),
        "pass_hat_n": _rate(pass_hat_n(g) for g in groups),
        "pass_at_n": _rate(pass_at_n(g) for g in groups),
        "language_stability": _rate(language_stable(g) for g in groups),
        "mean_similarity": sum(sims) / len(sims) if sims else None,
        "distinct_answers": (sum(distinct_answers([a["text"] for a in g if not a.get("error")]) for g in groups)
                             / len(groups)) if groups else None,
    }


# --- one group of answers (a model x lock, overall or for one category) -------------------------
def group_metrics(answers: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [a for a in answers if not a.get("error")]
    intrusions: Counter = Counter()
    for answer in ok:
        intrusions.update({span["script"] for span in answer["fidelity"]["foreign"] if span["kind"] == "script"})
    words = sum(a["fidelity"]["words"] for a in ok)
    switches = sum(a["fidelity"]["code_switch_words"] for a in ok)
    check_flags = [flag for a in answers for flag in a["checks"].values()]
    ttfts = [a["ttft"] for a in ok if a.get("ttft") is not None]
    speeds = [a["tokens_per_second"] for a in ok if a.get("tokens_per_second")]
    natural = [a["naturalness"] for a in ok if a.get("naturalness") is not None]
    langs = {a.get("lang") for a in ok}
    lcb = lcb_rates([a["lcb"] for a in ok], lang=langs.pop() if len(langs) == 1 else None)
    aware = confusion_rates([a["korean_aware"] for a in ok])
    return {
        "answers": len(answers),
        "failed": len(answers) - len(ok),
        "fidelity_rate": _rate(a["fidelity"]["pass"] for a in ok),
        "language_rate": _rate(a["fidelity"]["dominant"] == a["fidelity"]["lang"] for a in ok),
        "intrusion_rate": {script: n / len(ok) for script, n in sorted(intrusions.items())} if ok else {},
        "code_switch_per_100_words": 100 * switches / words if words else (0.0 if ok else None),
        "lcb": lcb,
        "korean_aware": aware,
        "lcb_vs_korean_aware": _differences(ok),
        "naturalness": sum(natural) / len(natural) if natural else None,
        "check_pass_rate": _rate(check_flags),
        "all_checks_rate": _rate(all_checks_pass(a) for a in answers),
        "consistency": consistency(answers),
        "speed": {
            "ttft_mean": sum(ttfts) / len(ttfts) if ttfts else None,
            "tokens_per_second_mean": sum(speeds) / len(speeds) if speeds else None,
            "seconds_total": sum(a.get("seconds") or 0.0 for a in ok),
            "completion_tokens": sum(a.get("completion_tokens") or 0 for a in ok),
        },
    }


def _lcb_passes(lcb: dict[str, Any]) -> tuple[bool | None, bool | None]:
    """LCB's line and word verdicts as passes; None where LCB does not measure (skipped, no WPR, line error)."""
    if lcb["skipped"]:
        return None, None
    word = None if lcb["word_error"] is None else not lcb["word_error"]
    return not lcb["line_error"], word


def _differences(answers: list[dict[str, Any]]) -> dict[str, Any]:
    """Where LCB's metric and the Korean-aware variant disagree, and why (first examples)."""
    line, word = [], []
    for a in answers:
        lcb_line, lcb_word = _lcb_passes(a["lcb"])
        if lcb_line is not None and lcb_line != a["korean_aware"]["line_pass"]:
            line.append(a)
        if lcb_word is not None and lcb_word != a["korean_aware"]["word_pass"]:
            word.append(a)
    examples = []
    for a in word[:5]:
        if a["lcb"]["word_error"]:
            why = f"LCB counts {', '.join(a['lcb']['english_words'][:4])} as English; Korean-aware exempts them"
        else:
            why = "Korean-aware counts a code-switched word LCB does not"
        examples.append({"prompt_id": a["prompt_id"], "trial": a["trial"], "level": "word", "why": why})
    for a in line[:5]:
        if a["korean_aware"]["line_pass"]:
            why = f"LCB line languages {a['lcb']['line_languages']}"
        else:
            scripts = sorted({s["script"] for s in a["fidelity"]["foreign"] if s["kind"] == "script"})
            why = (f"foreign script {', '.join(scripts)} inside lines LCB identifies as the target"
                   if scripts else f"dominant language {a['fidelity']['dominant']}")
        examples.append({"prompt_id": a["prompt_id"], "trial": a["trial"], "level": "line", "why": why})
    return {"line_disagreements": len(line), "word_disagreements": len(word), "examples": examples}


def summarise(answers: list[dict[str, Any]], group_info: dict[tuple[str, str], dict[str, Any]]) -> list[dict[str, Any]]:
    """Metrics per model x lock, overall and per category, in the order the groups ran."""
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for answer in answers:
        grouped[(answer["model"], answer["lock"])].append(answer)
    out = []
    for (model, lock), items in grouped.items():
        categories: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for answer in items:
            categories[answer["category"]].append(answer)
        out.append({"model": model, "lock": lock, **group_info.get((model, lock), {}),
                    "overall": group_metrics(items),
                    "categories": {name: group_metrics(cat) for name, cat in categories.items()}})
    return out
