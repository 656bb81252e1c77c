"""Numbers from answers: fidelity, script intrusions, code-switching, the Language Confusion Benchmark
(LPR/WPR/LCPR) beside a Korean-aware variant, consistency across trials, check pass rates and speed.

Every figure is computed from the per-answer records in results.json, so any number traces back to
the answers that made it.
"""

from __future__ import annotations

import difflib
import itertools
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from kollama.korean.fidelity import FidelityReport
from kollama.korean.scripts import COMMON, language, script_of

LCB_MIN_LINE_TOKENS = 5
_ASCII_WORD = re.compile(r"[A-Za-z]+")
# Scripts written without spaces between words: count characters as tokens for the 5-token rule.
_UNSPACED = {"han", "kana", "thai", "cjk_punct"}


@lru_cache(maxsize=1)
def _langid():
    import py3langid

    return py3langid


def _drop_punctuation(text: str) -> str:
    return "".join(" " if unicodedata.category(ch)[0] in "PS" else ch for ch in text)


def _line_tokens(line: str) -> int:
    words = line.split()
    letters = [script_of(ch) for ch in line if not ch.isspace() and script_of(ch) != COMMON]
    if letters and sum(s in _UNSPACED for s in letters) > len(letters) / 2:
        return len(letters)
    return len(words)


@dataclass
class LcbVerdict:
    """The Language Confusion Benchmark's view of one response (Marchisio et al. 2024)."""

    line_pass: bool
    word_pass: bool | None  # None: not measured (Latin-script target languages)
    kept_lines: int
    line_languages: list[str]
    english_words: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"line_pass": self.line_pass, "word_pass": self.word_pass, "kept_lines": self.kept_lines,
                "line_languages": self.line_languages, "english_words": self.english_words}


def lcb_verdict(text: str, lang: str) -> LcbVerdict:
    """Drop punctuation, split lines, keep lines of >= 5 tokens, identify each line's language;
    word level: any English (ASCII Latin) word in a response whose target is not written in Latin."""
    stripped = _drop_punctuation(text)
    detected = []
    for line in stripped.splitlines():
        if _line_tokens(line) >= LCB_MIN_LINE_TOKENS:
            detected.append(_langid().classify(line)[0])
    line_pass = all(code == lang for code in detected)
    word_pass: bool | None = None
    english: list[str] = []
    if "latin" not in language(lang).scripts:
        english = _ASCII_WORD.findall(stripped)
        word_pass = not english
    return LcbVerdict(line_pass, word_pass, len(detected), detected, english[:20])


def korean_aware_verdict(fidelity: FidelityReport) -> dict[str, bool]:
    """Line level: the answer is in the target language with no foreign-script intrusion.
    Word level: no code-switched word (Kiwi morphemes; code, URLs, acronyms, units and words
    the prompt asked for are exempt)."""
    line_pass = fidelity.dominant == fidelity.lang and not any(s.kind == "script" for s in fidelity.foreign)
    return {"line_pass": bool(line_pass), "word_pass": fidelity.code_switch_words == 0}


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
    lcb = confusion_rates([a["lcb"] for a in ok])
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


def _differences(answers: list[dict[str, Any]]) -> dict[str, Any]:
    """Where the LCB reproduction and the Korean-aware variant disagree, and why (first examples)."""
    line = [a for a in answers if a["lcb"]["line_pass"] != a["korean_aware"]["line_pass"]]
    word = [a for a in answers if a["lcb"]["word_pass"] is not None
            and a["lcb"]["word_pass"] != a["korean_aware"]["word_pass"]]
    examples = []
    for a in word[:5]:
        if a["lcb"]["word_pass"] is False:
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
