"""The English word list behind two judgments: is a Latin word an ordinary English word (fidelity's
code-switch rule, the `strict` lock), and LCB's word-level metric (WPR).

Where it comes from, in this order:
1. `$KOLLAMA_WORDS` (a file, one word a line), for a user who wants another list;
2. Debian's `wamerican` (`/usr/share/dict/words`), which `scripts/install-system-deps.sh` installs: after LCB's filter
   81,910 of LCB's own 81,995 words are in it;
3. the `english-words` PyPI package (`web2`, a core dependency), so the rules work on any machine.
The list carries proper nouns capitalised (`Brexit`, `Salesforce`, `Ferrari`): a signal that a capitalised word is a name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

SYSTEM_WORDS = Path("/usr/share/dict/words")
LCB_MIN_WORD_LENGTH = 4  # LCB keeps entries longer than 3 characters


@dataclass(frozen=True)
class WordList:
    source: str
    entries: frozenset[str]  # as written in the list
    lower: frozenset[str]  # entries written in lower case (ordinary words)
    proper: frozenset[str]  # lower-cased forms of capitalised entries (names: Brexit, Ferrari)


def _read_entries() -> tuple[str, list[str]]:
    override = os.environ.get("KOLLAMA_WORDS")
    for path in ([Path(override)] if override else []) + [SYSTEM_WORDS]:
        if path.is_file():
            return str(path), path.read_text(encoding="utf-8", errors="replace").split()
    from english_words import get_english_words_set

    return "english-words:web2", sorted(get_english_words_set(["web2"], lower=False, alpha=False))


@lru_cache(maxsize=1)
def word_list() -> WordList:
    """The English word list, loaded once per process (about 0.1 s)."""
    source, entries = _read_entries()
    lower = frozenset(w for w in entries if w.islower())
    proper = frozenset(w.lower() for w in entries if w[:1].isupper() and not w.isupper())
    return WordList(source, frozenset(entries), lower, proper)


def is_english_word(word: str) -> bool:
    """An ordinary (lower-case) English word of the list; `Training` and `training` both are."""
    return word.lower() in word_list().lower


def is_proper_noun(word: str) -> bool:
    """The list spells this word capitalised (a person, company, place or product)."""
    return word.lower() in word_list().proper


@lru_cache(maxsize=1)
def lcb_words() -> frozenset[str]:
    """LCB's WPR vocabulary: entries entirely in lower case and longer than 3 characters, from our list, or from
    `$KOLLAMA_LCB_WORDS` (LCB's own `words` file, for a user who has it and wants LCB's numbers to the word)."""
    override = os.environ.get("KOLLAMA_LCB_WORDS")
    entries = Path(override).read_text(encoding="utf-8").split() if override else word_list().entries
    return frozenset(w for w in entries if w.islower() and len(w) >= LCB_MIN_WORD_LENGTH)
