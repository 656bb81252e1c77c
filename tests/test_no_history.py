"""The product speaks of what kollama does, not of how it was made: no development sessions or runs,
no issue numbers, no "was 5.3x" or "since made robust" in the code, tests, docs, benchmarks or README.
What changed for users belongs in CHANGELOG.md (not scanned)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TREES = ("src", "tests", "docs", "benchmarks")
FILES = ("README.md",)
SUFFIXES = {".py", ".md", ".toml", ".yaml", ".yml", ".j2", ".html", ".js", ".css", ".sh", ".txt"}

#: Phrases that tell how the work went. Each is precise enough to leave ordinary words alone:
#: "before" and "was" alone, `#` comments, CSS colours (`#333`), pytest's `scope="session"`.
PATTERNS = {
    "a numbered session": re.compile(r"\bsessions? \d+", re.IGNORECASE),
    "this or that session": re.compile(r"\b(?:this|last|previous|next|earlier|later) session\b", re.IGNORECASE),
    "an issue number": re.compile(r"\b(?:issues?|pr|pull request|ticket)\s+#?\d+", re.IGNORECASE),
    "a #N reference": re.compile(r"(?:\(#\d+\)|\b(?:see|fixes|fixed|closes|closed|per|in|from|of)\s+#\d+\b)",
                                 re.IGNORECASE),
    "a development run": re.compile(r"\bdevelopment (?:runs?|machines?|sessions?|history)\b", re.IGNORECASE),
    "since fixed": re.compile(r"\bsince (?:made robust|fixed|removed|made|changed)\b", re.IGNORECASE),
    "an old figure": re.compile(r"(?:\(|;\s)(?:was|before:?|earlier:?|previously:?) [<>~]?\d", re.IGNORECASE),
    "before this work": re.compile(r"\bbefore (?:this|that|the) (?:work|change|fix|session|rewrite)\b",
                                   re.IGNORECASE),
}


#: Files allowed to hold such phrases, and why.
ALLOWED = {
    "tests/test_no_history.py": "defines the patterns and their examples",
}

#: Data files: real model answers and prompts, quoted as they are.
SKIPPED_TREES = ("tests/data/", "src/kollama/data/")


def scanned_files() -> list[Path]:
    files = [ROOT / name for name in FILES]
    for tree in TREES:
        files += [p for p in sorted((ROOT / tree).rglob("*")) if p.is_file() and p.suffix in SUFFIXES]
    return [p for p in files if p.exists()]


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def history_hits(text: str) -> list[tuple[int, str, str]]:
    """(line number, pattern name, matched text) for every phrase of development history in `text`."""
    hits = []
    for number, line in enumerate(text.splitlines(), 1):
        for name, pattern in PATTERNS.items():
            for match in pattern.finditer(line):
                hits.append((number, name, match.group(0)))
    return hits


@pytest.mark.parametrize("text", [
    "measured in session 11 on a quiet machine",
    "Targets (issue 12): gated within 5 points",
    "Targets (issue #13), each printed",
    "one flaky browser check since made robust",
    "end to end 181 s (was 5.3x)",
    "recall@1 0.952 (before: 0.857)",
    "the README labels figures by development run",
    "figures measured before this work",
    "fixed in (#42)",
    "this session's run",
])
def test_the_patterns_catch_history(text: str) -> None:
    assert history_hits(text), text


@pytest.mark.parametrize("text", [
    "  color: #333; background: #111827;",  # CSS colours
    'units.append(("#1" if block.level == 1 else "#", block.text))',  # a marker in code
    "# a comment about the scheduler",
    '@pytest.fixture(scope="session")',
    "other tests in the session upload into the default one",
    "Re-adding an unchanged file does nothing; before it is embedded, the text is normalised.",
    "the answer was cut off by max_tokens",
    "an issue with the upload is a 422",
    "development of the model",
])
def test_the_patterns_leave_ordinary_text_alone(text: str) -> None:
    assert history_hits(text) == [], text


def test_the_product_does_not_tell_how_it_was_made() -> None:
    found = []
    for path in scanned_files():
        rel = relative(path)
        if rel in ALLOWED or rel.startswith(SKIPPED_TREES):
            continue
        for number, name, text in history_hits(path.read_text(encoding="utf-8", errors="replace")):
            found.append(f"{rel}:{number}: {name}: {text!r}")
    assert not found, "development history in the product (CHANGELOG.md is its place):\n" + "\n".join(found)


def test_the_allowed_files_exist() -> None:
    for rel in ALLOWED:
        assert (ROOT / rel).is_file(), rel
