"""Guards against reward hacking: a policy can win a fidelity reward by writing little or repeating itself.

`answer_stats` measures a set of answers (mean length, distinct word bigrams pooled over the set, share
under 20 characters, naturalness); `collapse` compares before and after and names every rule a run broke,
so a collapsed run is flagged in its report instead of celebrated.
"""

from __future__ import annotations

from typing import Any

SHORT_CHARS = 20
#: a run is flagged when its answers end up shorter than half, this much more often short, less than 60% as
#: varied, or this much less natural (nats per character) than before
LENGTH_RATIO = 0.5
SHORT_RISE = 0.25
DISTINCT_RATIO = 0.6
NATURALNESS_DROP = 0.2


def distinct_bigrams(answers: list[str]) -> float:
    """Distinct word bigrams over all word bigrams of the set (1.0 when there are none)."""
    grams = [tuple(words[i:i + 2]) for words in (a.split() for a in answers) for i in range(len(words) - 1)]
    return round(len(set(grams)) / len(grams), 4) if grams else 1.0


def answer_stats(answers: list[str], naturalness: list[float | None] | None = None) -> dict[str, Any]:
    texts = [a.strip() for a in answers]
    n = len(texts) or 1
    scored = [v for v in (naturalness or []) if v is not None]
    return {"answers": len(texts), "mean_chars": round(sum(len(t) for t in texts) / n, 1),
            "distinct_2": distinct_bigrams(texts),
            "short_share": round(sum(len(t) < SHORT_CHARS for t in texts) / n, 4),
            "naturalness": round(sum(scored) / len(scored), 4) if scored else None}


def collapse(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The guard rules `after` broke against `before` (empty: no collapse)."""
    broken = []
    if before["mean_chars"] and after["mean_chars"] < LENGTH_RATIO * before["mean_chars"]:
        broken.append(f"answers shrank: {before['mean_chars']} -> {after['mean_chars']} characters")
    if after["short_share"] > before["short_share"] + SHORT_RISE:
        broken.append(f"answers under {SHORT_CHARS} characters: {before['short_share']:.0%} -> {after['short_share']:.0%}")
    if after["distinct_2"] < DISTINCT_RATIO * before["distinct_2"]:
        broken.append(f"distinct word bigrams fell: {before['distinct_2']} -> {after['distinct_2']}")
    if (before.get("naturalness") is not None and after.get("naturalness") is not None
            and after["naturalness"] < before["naturalness"] - NATURALNESS_DROP):
        broken.append(f"naturalness fell: {before['naturalness']} -> {after['naturalness']} nats/char")
    return broken


def guard_report(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    broken = collapse(before, after)
    return {"before": before, "after": after, "collapsed": bool(broken), "reasons": broken}
