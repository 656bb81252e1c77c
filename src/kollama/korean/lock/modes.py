"""The lock modes and the one parser of their names."""

from __future__ import annotations

from enum import Enum

from kollama.errors import KollamaError


class LockMode(str, Enum):
    """off: nothing; script: no forbidden-script character; strict: the fidelity policy enforced while
    decoding (docs/lock.md); gated: script, plus a ban on off-language tokens only at the steps where the
    model is about to switch language and an in-language token is among its top candidates."""

    off = "off"
    script = "script"
    strict = "strict"
    gated = "gated"


LOCK_CHOICES = ", ".join(mode.value for mode in LockMode)


def default_lock(lang: str) -> LockMode:
    """The lock `kollama run` uses when none is given: `gated` for Korean (benchmarks/lock.py measured it as
    faithful as `strict` and closer to the unlocked answer's naturalness), `script` for other languages."""
    return LockMode.gated if lang == "ko" else LockMode.script


def parse_lock(value: str | None) -> LockMode:
    """The one parser of lock names (CLI, serve's OpenAI and Ollama routes, compare, the web page)."""
    try:
        return LockMode((value or "off").strip().lower())
    except ValueError:
        raise KollamaError(f"unknown lock mode '{value}'", hint=f"use one of: {LOCK_CHOICES}") from None
