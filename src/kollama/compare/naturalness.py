"""`naturalness`: how fluent an answer reads, as the mean log-probability per character of its text under a
reference model (default gemma3, which ranks 29 of 30 held-out Korean minimal pairs correctly).

The fidelity check says whether an answer is in Korean; it cannot see that a hard-locked answer, made of
whatever Hangul was left, is gibberish. A reference model can: garbled text is improbable. Scored per
character, not per token, so models with different tokenizers (and answers of different lengths) compare.
The answer is scored on its own, without the prompt: this is P(sentence), not P(answer | question).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kollama.engines import Engine, load_engine
from kollama.errors import KollamaError
from kollama.progress import Progress, no_progress

DEFAULT_REFERENCE = "gemma3"


def naturalness(engine: Engine, text: str) -> float | None:
    """Mean log-probability per character of `text` under `engine` (None for an empty text)."""
    text = text.strip()
    if not text:
        return None
    scored = engine.token_logprobs(text)
    if not scored:
        return None
    return sum(lp for _, lp in scored) / len(text)


def score_answers(answers: list[dict[str, Any]], reference: str = DEFAULT_REFERENCE,
                  progress: Progress = no_progress,
                  load: Callable[[str], Engine] = lambda ref: load_engine(ref)) -> str | None:
    """Set `naturalness` on every answer record; returns an error line if the reference model cannot score."""
    todo = [a for a in answers if not a.get("error") and a.get("text", "").strip()]
    for answer in answers:
        answer["naturalness"] = None
    if not todo:
        return None
    try:
        engine = load(reference)
    except KollamaError as exc:
        return f"reference model {reference}: {exc}"
    seen: dict[str, float | None] = {}
    note = f"naturalness ({reference})"
    try:
        progress(0, len(todo), note)
        for done, answer in enumerate(todo, start=1):
            text = answer["text"]
            if text not in seen:
                seen[text] = naturalness(engine, text)
            answer["naturalness"] = None if seen[text] is None else round(seen[text], 4)
            progress(done, len(todo), note)
    except KollamaError as exc:
        return f"reference model {reference}: {exc}"
    finally:
        engine.close()
    return None
