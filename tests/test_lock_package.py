"""The lock package's shape: small modules, and the token kinds `strict` judges by, checked on a tiny vocabulary."""

from __future__ import annotations

from enum import IntEnum
from pathlib import Path

import numpy as np

import kollama.korean.lock as lock
from kollama.korean.lock import TokenKind, TokenTable, Vocabulary
from kollama.korean.scripts import language

MAX_LINES = 400


def test_every_lock_module_is_at_most_400_lines():
    modules = sorted(Path(lock.__file__).parent.glob("*.py"))
    assert len(modules) >= 8, [m.name for m in modules]  # the checker sees the package
    long = {m.name: n for m in modules if (n := len(m.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"split these lock modules (over {MAX_LINES} lines): {long}"


def test_token_kinds_are_an_int_enum_stored_in_the_table():
    assert issubclass(TokenKind, IntEnum)
    pieces = ["서울".encode(), b" 2024", b" hello", "API는".encode(), b"(see", b'"x"', b"", "서".encode()[:1]]
    table = TokenTable.build(Vocabulary(pieces, frozenset({4})), language("ko"))
    assert table.kind.dtype == np.int8
    assert [TokenKind(k) for k in table.kind] == [
        TokenKind.PLAIN, TokenKind.PLAIN,  # no ASCII letter, no special character
        TokenKind.LETTER_RUN, TokenKind.LETTER_RUN,  # one letter run: judged by lookups over its run
        TokenKind.SCANNED, TokenKind.SCANNED,  # a special character with letters: the scanner runs over it
        TokenKind.NO_TEXT, TokenKind.NO_TEXT,  # a special token, an open byte of a character
    ]
    assert table.leads[table.lead[2]] == "hello" and table.leads[table.lead[3]] == "API"


def test_the_lock_takes_its_acronym_length_from_the_fidelity_policy():
    from kollama.korean.lock.words import ACRONYM_MAX
    from kollama.korean.policy import policy

    assert ACRONYM_MAX == policy().acronym_max_length
