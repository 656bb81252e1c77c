"""What the lock knows of a model (each token's raw bytes) and how bytes split into UTF-8 characters.

A token is judged by its raw bytes. Byte-fallback and byte-level BPE tokens can carry part of a UTF-8
character, so a token's bytes split into leading continuation bytes, whole characters and an open tail.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

from kollama.korean.scripts import Language, script_of


def utf8_length(lead: int) -> int:
    """Expected length of a UTF-8 sequence from its lead byte; 0 for a continuation or invalid byte."""
    if lead < 0x80:
        return 1
    if 0xC2 <= lead <= 0xDF:
        return 2
    if 0xE0 <= lead <= 0xEF:
        return 3
    if 0xF0 <= lead <= 0xF4:
        return 4
    return 0


def is_continuation(byte: int) -> bool:
    return 0x80 <= byte <= 0xBF


@dataclass
class Piece:
    """What a token's bytes do to the text: leading continuation bytes, whole characters, an open tail."""

    lead: bytes
    text: str
    tail: bytes
    valid: bool


def split_piece(data: bytes) -> Piece:
    i = 0
    while i < len(data) and is_continuation(data[i]):
        i += 1
    lead, chars, tail = data[:i], [], b""
    while i < len(data):
        n = utf8_length(data[i])
        if n == 0:
            return Piece(lead, "", b"", False)
        chunk = data[i : i + n]
        if len(chunk) < n:
            if not all(is_continuation(b) for b in chunk[1:]):
                return Piece(lead, "", b"", False)
            tail = chunk
            break
        try:
            chars.append(chunk.decode("utf-8"))
        except UnicodeDecodeError:
            return Piece(lead, "", b"", False)
        i += n
    return Piece(lead, "".join(chars), tail, True)


@dataclass
class Vocabulary:
    """Raw bytes of every token plus the end-of-generation ids; all the lock needs of a model."""

    pieces: list[bytes]
    eog: frozenset[int]

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for piece in self.pieces:
            digest.update(len(piece).to_bytes(2, "little"))
            digest.update(piece)
        digest.update(repr(sorted(self.eog)).encode())
        return digest.hexdigest()[:16]


def allowed_prefixes(lang: Language) -> frozenset[bytes]:
    prefixes: set[bytes] = set()
    for cp in list(range(0x80, 0xD800)) + list(range(0xE000, 0x10000)) + list(range(0x1F000, 0x1FB00)) + list(range(0x20000, 0x2A6E0)):
        if lang.allows(script_of(chr(cp))):
            encoded = chr(cp).encode("utf-8")
            for n in range(1, len(encoded)):
                prefixes.add(encoded[:n])
    return frozenset(prefixes)


@lru_cache(maxsize=8)
def cached_prefixes(lang: Language) -> frozenset[bytes]:
    return allowed_prefixes(lang)


@lru_cache(maxsize=8)
def target_only_prefixes(lang: Language) -> frozenset[bytes]:
    """Unfinished characters (1-3 bytes) that only the language's own script can finish: b'\\xec' is always
    Hangul; b'\\xea' may also become Yi or Vai, so it is not."""
    def characters(first: int, last: int):
        return (chr(cp) for cp in range(first, last) if not 0xD800 <= cp < 0xE000)

    own = {ch.encode("utf-8") for ch in characters(0x80, 0x10000) if script_of(ch) in lang.scripts}  # BMP
    prefixes = {code[:n] for code in own for n in range(1, len(code))}
    shared: set[bytes] = set()
    for lead in {code[0] for code in own}:  # every character that starts with one of these lead bytes
        first = (lead & 0x1F) << 6 if lead < 0xE0 else (lead & 0x0F) << 12
        for ch in characters(first, first + (64 if lead < 0xE0 else 4096)):
            if script_of(ch) not in lang.scripts:
                code = ch.encode("utf-8")
                shared.update(code[:n] for n in range(1, len(code)))
    return frozenset(prefixes - shared)


@lru_cache(maxsize=8)
def allowed_suffixes(lang: Language) -> frozenset[bytes]:
    """Continuation-byte endings (1-3 bytes) of the characters `lang` allows (mirror of `allowed_prefixes`)."""
    suffixes: set[bytes] = set()
    for cp in list(range(0x80, 0xD800)) + list(range(0xE000, 0x10000)) + list(range(0x1F000, 0x1FB00)) + list(range(0x20000, 0x2A6E0)):
        if lang.allows(script_of(chr(cp))):
            encoded = chr(cp).encode("utf-8")
            for n in range(1, len(encoded)):
                suffixes.add(encoded[n:])
    return frozenset(suffixes)
