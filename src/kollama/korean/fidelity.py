"""Is this text in the language we asked for? Which spans are foreign, and how?

The same analysis backs `kollama fidelity`, the lock tests and `kollama compare`.
Code, URLs, e-mail addresses, numbers with units and acronyms are exempt: they are
legitimately Latin inside a Korean answer.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

from kollama.korean.morphology import nfc, tokenize
from kollama.korean.scripts import COMMON, Language, language, script_of

_EXEMPT_PATTERNS = [
    re.compile(r"```.*?(?:```|\Z)", re.S),  # fenced code, also unterminated at the end
    re.compile(r"`[^`\n]+`"),  # inline code
    re.compile(r"\b(?:https?://|www\.)[^\s<>\"')\]]+", re.I),  # URLs
    re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"),  # e-mail
    re.compile(r"\b\d+(?:[.,]\d+)*\s?(?:[a-zA-Z]{1,3}|[a-zA-Z]{1,3}/[a-zA-Z]{1,3})\b(?![a-zA-Z])"),  # 5kg, 3.5 GHz, 10km/h
]
_ACRONYM = re.compile(r"^[A-Z][A-Z0-9&]{1,5}s?$")
_LATIN_WORD = re.compile(r"[A-Za-z]+(?:['’-][A-Za-z]+)*")
_SCRIPT_TO_LANG = {"hangul": "ko", "thai": "th", "devanagari": "hi", "hebrew": "he", "greek": "el"}
# Languages py3langid may answer for text written mostly in one script.
_LANGID_CANDIDATES = {
    "latin": ("en", "es", "fr", "de", "it", "pt", "pl", "nl", "tr", "id", "sw", "vi", "ms", "ro", "cs", "sv",
              "da", "no", "fi", "hu", "ca", "tl", "zu", "xh", "rw"),
    "cyrillic": ("ru", "uk", "bg", "sr", "mk", "be", "kk"),
    "arabic": ("ar", "fa", "ur"),
}
# Letters of an alphabet carry less than a syllable block or a Han character.
_ALPHABETIC_WEIGHT = 0.25
_SYLLABIC = {"hangul", "han", "kana", "thai", "cjk_punct"}


@dataclass
class ForeignSpan:
    text: str
    kind: str  # "script" | "code_switch"
    script: str
    start: int
    end: int


@dataclass
class FidelityReport:
    lang: str
    dominant: str
    passed: bool
    chars: dict[str, int]
    hangul_ratio: float
    words: int
    code_switch_words: int
    foreign: list[ForeignSpan] = field(default_factory=list)

    def scripts_intruding(self) -> Counter:
        return Counter(span.script for span in self.foreign if span.kind == "script")

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["pass"] = out.pop("passed")
        return out


def exempt_regions(text: str) -> list[tuple[int, int]]:
    regions: list[tuple[int, int]] = []
    for pattern in _EXEMPT_PATTERNS:
        for match in pattern.finditer(text):
            if not any(s <= match.start() < e for s, e in regions):
                regions.append((match.start(), match.end()))
    return sorted(regions)


def _blank(text: str, regions: list[tuple[int, int]]) -> str:
    chars = list(text)
    for start, end in regions:
        for i in range(start, end):
            if chars[i] != "\n":
                chars[i] = " "
    return "".join(chars)


def _script_spans(text: str, lang: Language) -> list[ForeignSpan]:
    spans: list[ForeignSpan] = []
    current: ForeignSpan | None = None
    for i, ch in enumerate(text):
        script = script_of(ch)
        if script == COMMON or lang.allows(script):
            continue
        gap = text[current.end : i] if current else ""
        if current and len(gap) <= 3 and "\n" not in gap and all(script_of(c) == COMMON for c in gap):
            current.end = i + 1  # one run of foreign text, even if it mixes kana and Han
        else:
            current = ForeignSpan("", "script", script, i, i + 1)
            spans.append(current)
    for span in spans:
        counts = Counter(script_of(c) for c in text[span.start : span.end])
        counts.pop(COMMON, None)
        span.script = counts.most_common(1)[0][0]
        if span.script == "latin_ext":  # widen to the whole word: "tiếng", not "ế"
            while span.start > 0 and script_of(text[span.start - 1]) in ("latin", "latin_ext"):
                span.start -= 1
            while span.end < len(text) and script_of(text[span.end]) in ("latin", "latin_ext"):
                span.end += 1
        span.text = text[span.start : span.end]
    return spans


def _latin_words(text: str, lang_code: str) -> list[tuple[int, int]]:
    """ASCII Latin words; for Korean, Kiwi's SL tags (so `model이` yields `model`)."""
    if lang_code != "ko":
        return [(m.start(), m.end()) for m in _LATIN_WORD.finditer(text)]
    runs: list[list[int]] = []
    for token in tokenize(text):
        if token.tag != "SL":
            continue
        if runs and runs[-1][1] == token.start:  # Kiwi sometimes cuts one word in two
            runs[-1][1] = token.start + token.len
        else:
            runs.append([token.start, token.start + token.len])
    words = []
    for start, end in runs:
        for m in _LATIN_WORD.finditer(text, start, end):
            words.append((m.start(), m.end()))
    return words


def _code_switches(text: str, lang: Language, prompt: str | None, taken: list[ForeignSpan]) -> list[ForeignSpan]:
    """ASCII Latin words in a non-Latin language, except acronyms, option letters and words the prompt used."""
    if not lang.strict_bans_latin:
        return []
    asked_for = {w.lower() for w in _LATIN_WORD.findall(prompt or "")}
    spans = []
    for start, end in _latin_words(text, lang.code):
        word = text[start:end]
        if any(span.start < end and start < span.end for span in taken):
            continue  # part of a word already reported as a script intrusion (Vietnamese)
        if len(word) == 1 and word.isupper():  # option labels: A안, B형
            continue
        if _ACRONYM.match(word) or word.lower() in asked_for:
            continue
        spans.append(ForeignSpan(word, "code_switch", "latin", start, end))
    return spans


@lru_cache(maxsize=1)
def _langid():
    import py3langid

    return py3langid


def _dominant(letters: Counter, text: str) -> str:
    if not letters:
        return ""
    weights = {s: n * (1.0 if s in _SYLLABIC else _ALPHABETIC_WEIGHT) for s, n in letters.items()}
    han, kana = letters.get("han", 0), letters.get("kana", 0)
    if kana:
        weights["kana"] = weights.get("kana", 0) + han  # Japanese writes with both
        weights.pop("han", None)
    top = max(weights, key=weights.get)
    if top == "kana":
        return "ja"
    if top in ("han", "cjk_punct"):
        return "zh"
    if top in _SCRIPT_TO_LANG:
        return _SCRIPT_TO_LANG[top]
    family = "latin" if top in ("latin", "latin_ext") else top
    candidates = _LANGID_CANDIDATES.get(family)
    if not candidates:
        return "und"
    ranked = _langid().rank(text)
    for code, _score in ranked:
        if code in candidates:
            return code
    return candidates[0]


def fidelity_report(text: str, lang: str = "ko", prompt: str | None = None) -> FidelityReport:
    """Analyse `text` against the expected language `lang`; `prompt` exempts words it asked for."""
    target = language(lang)
    text = nfc(text)
    analysed = _blank(text, exempt_regions(text))
    chars: Counter = Counter(script_of(ch) for ch in analysed if not ch.isspace())
    letters = Counter({s: n for s, n in chars.items() if s != COMMON})
    script_spans = _script_spans(analysed, target)
    foreign = script_spans + _code_switches(analysed, target, prompt, script_spans)
    foreign.sort(key=lambda span: span.start)
    for span in foreign:
        span.text = text[span.start : span.end]
    total_letters = sum(letters.values())
    words = len(analysed.split())
    code_switch = sum(1 for span in foreign if span.kind == "code_switch")
    dominant = _dominant(letters, analysed)
    return FidelityReport(
        lang=lang,
        dominant=dominant,
        passed=bool(dominant == lang and not foreign),
        chars=dict(chars),
        hangul_ratio=round(letters.get("hangul", 0) / total_letters, 4) if total_letters else 0.0,
        words=words,
        code_switch_words=code_switch,
        foreign=foreign,
    )


SCRIPT_COLOURS = {"han": "red", "kana": "magenta", "thai": "yellow", "cyrillic": "cyan", "latin_ext": "blue",
                  "latin": "green", "arabic": "bright_red", "devanagari": "bright_yellow"}


def print_fidelity(report: FidelityReport) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    verdict = "[green]pass[/green]" if report.passed else "[red]fail[/red]"
    console.print(f"{verdict} · expected {report.lang} · dominant {report.dominant or '-'} · "
                  f"hangul ratio {report.hangul_ratio:.2f} · code-switch words {report.code_switch_words}")
    console.print("characters: " + ", ".join(f"{k} {v}" for k, v in sorted(report.chars.items())))
    if report.foreign:
        table = Table("text", "kind", "script")
        for span in report.foreign:
            colour = SCRIPT_COLOURS.get(span.script, "white")
            table.add_row(f"[{colour}]{span.text}[/{colour}]", span.kind, span.script)
        console.print(table)
