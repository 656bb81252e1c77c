"""ROUGE-L F1 on Kiwi morphemes: the rouge-score package's tokenizer deletes Hangul, so Korean needs this."""

from __future__ import annotations

from kollama.korean.morphology import nfc, tokenize

_PUNCTUATION_TAGS = ("SF", "SP", "SS", "SE", "SO", "SW")


def morphemes(text: str) -> list[str]:
    """Every morpheme form except punctuation, lower-cased (particles and endings count, as words do in English)."""
    return [t.form.lower() for t in tokenize(nfc(text)) if t.tag not in _PUNCTUATION_TAGS]


def lcs_length(a: list[str], b: list[str]) -> int:
    if not a or not b:
        return 0
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, 1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l_tokens(a: list[str], b: list[str]) -> float:
    lcs = lcs_length(a, b)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(a), lcs / len(b)
    return 2 * precision * recall / (precision + recall)


def rouge_l(a: str, b: str) -> float:
    """ROUGE-L F1 between two texts on Kiwi morphemes."""
    return rouge_l_tokens(morphemes(a), morphemes(b))
