"""Per-prompt checks (promptfoo-like): each takes the answer and says pass or fail, by name.

A check is a function from (answer text, check value, context) to bool; the validators make sure a
suite's check values have the right type before any model runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from kollama.errors import KollamaError
from kollama.korean.fidelity import FidelityReport
from kollama.korean.morphology import nfc


def _texts(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _contains(text: str, value: Any, _fid: FidelityReport) -> bool:
    low = nfc(text).casefold()
    return all(nfc(item).casefold() in low for item in _texts(value))


def _not_contains(text: str, value: Any, fid: FidelityReport) -> bool:
    low = nfc(text).casefold()
    return not any(nfc(item).casefold() in low for item in _texts(value))


def _regex(text: str, value: Any, _fid: FidelityReport) -> bool:
    return re.search(value, text, re.M) is not None


def _json(text: str, value: Any, _fid: FidelityReport) -> bool:
    body = text.strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)```", body, re.S)
    if fenced:
        body = fenced.group(1).strip()
    try:
        json.loads(body)
        valid = True
    except ValueError:
        valid = False
    return valid == bool(value)


def _lines(text: str, value: Any, _fid: FidelityReport) -> bool:
    return sum(1 for line in text.splitlines() if line.strip()) == int(value)


def _lang(_text: str, value: Any, fid: FidelityReport) -> bool:
    return fid.dominant == value


CHECKS: dict[str, Callable[[str, Any, FidelityReport], bool]] = {
    "contains": _contains,
    "not_contains": _not_contains,
    "regex": _regex,
    "max_chars": lambda text, value, _f: len(text.strip()) <= int(value),
    "min_chars": lambda text, value, _f: len(text.strip()) >= int(value),
    "json": _json,
    "lines": _lines,
    "lang": _lang,
}


def _is_texts(value: Any) -> bool:
    return isinstance(value, str) and value != "" or (
        isinstance(value, list) and bool(value) and all(isinstance(v, str) and v for v in value))


def _is_count(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _valid_regex(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        re.compile(value)
    except re.error:
        return False
    return True


_VALIDATORS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "contains": (_is_texts, "a string or a list of strings"),
    "not_contains": (_is_texts, "a string or a list of strings"),
    "regex": (_valid_regex, "a valid regular expression"),
    "max_chars": (lambda v: _is_count(v, 0), "a whole number >= 0"),
    "min_chars": (lambda v: _is_count(v, 0), "a whole number >= 0"),
    "json": (lambda v: isinstance(v, bool), "true or false"),
    "lines": (lambda v: _is_count(v, 1), "a whole number >= 1"),
    "lang": (lambda v: isinstance(v, str), "a language code"),
}


def validate_checks(checks: dict[str, Any], where: Callable[[str], str]) -> None:
    """Raise a one-line error naming file:line for an unknown check or a value of the wrong type."""
    from kollama.korean.scripts import languages

    for name, value in checks.items():
        if name not in CHECKS:
            raise KollamaError(f"{where(name)}: unknown check '{name}'", hint=f"checks: {', '.join(CHECKS)}")
        valid, expected = _VALIDATORS[name]
        if not valid(value):
            raise KollamaError(f"{where(name)}: check '{name}' needs {expected}, got {value!r}")
        if name == "lang" and value not in languages():
            raise KollamaError(f"{where(name)}: check 'lang' names unknown language '{value}'")


def run_checks(text: str, checks: dict[str, Any], lang: str, fidelity: FidelityReport) -> dict[str, bool]:
    """Every check of a prompt, plus `lang` (the expected language) when the suite did not set it."""
    wanted = {**checks}
    wanted.setdefault("lang", lang)
    return {name: bool(CHECKS[name](text, value, fidelity)) for name, value in wanted.items()}
