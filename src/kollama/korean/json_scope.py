"""The language lock inside JSON string values only, for grammar-constrained answers (structured outputs,
tool-call arguments): keys, numbers and JSON syntax are free, string values follow the lock.

A Korean answer in an English-keyed JSON object is where small models mix languages: the keys must stay
as the schema spells them, the values must be Korean. llama.cpp's grammar decides the syntax; this
wrapper decides where the lock applies.
"""

from __future__ import annotations

import numpy as np

#: what a banned token's logit loses inside a value: far more than any logit gap, so a banned token is chosen
#: only when the grammar allows nothing else (an enum value, a const, a fixed key) and never otherwise
BAN = 1e4


class JsonValueLock:
    """The language lock inside JSON string values only: keys, numbers and syntax are free.

    Wraps a lock hook (`apply(row)`, `feed(token)`): follows the generated JSON byte by byte to know
    whether the next token starts inside a string value, applies the inner lock only there (as a penalty
    the grammar can override, see `apply`), and feeds it only the tokens generated there."""

    def __init__(self, inner, pieces: list[bytes]):
        self.inner = inner
        self.pieces = pieces
        self.stack: list[str] = []  # "{" or "["
        self.expect_key = False
        self.in_string = False
        self.string_is_value = False
        self.escaped = False

    @property
    def in_value(self) -> bool:
        return self.in_string and self.string_is_value

    def apply(self, row) -> None:
        """Inside a value, the lock's bans become a BAN penalty instead of -inf: the grammar runs after the
        lock, and where it allows only banned tokens (`"port"` in an enum under `strict`) llama.cpp's grammar
        sampler must still find one to accept."""
        if self.in_value:
            before = row.copy()
            self.inner.apply(row)
            banned = np.isneginf(row) & ~np.isneginf(before)
            row[banned] = before[banned] - BAN

    def feed(self, token: int) -> None:
        if self.in_value:
            self.inner.feed(token)
        for byte in self.pieces[token]:
            self._step(chr(byte) if byte < 0x80 else "")

    def _step(self, ch: str) -> None:
        if self.in_string:
            if self.escaped:
                self.escaped = False
            elif ch == "\\":
                self.escaped = True
            elif ch == '"':
                self.in_string = False
            return
        if ch == '"':
            self.in_string = True
            self.string_is_value = not (self.stack and self.stack[-1] == "{" and self.expect_key)
        elif ch in "{[":
            self.stack.append(ch)
            self.expect_key = ch == "{"
        elif ch in "}]":
            if self.stack:
                self.stack.pop()
            self.expect_key = False
        elif ch == ":":
            self.expect_key = False
        elif ch == ",":
            self.expect_key = bool(self.stack) and self.stack[-1] == "{"
