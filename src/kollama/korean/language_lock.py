"""The language lock: forbid tokens that would put a foreign-script character into the answer.

A token is judged by its raw bytes. Byte-fallback and byte-level BPE tokens can carry part
of a UTF-8 character, so the lock tracks the unfinished character across steps: while one
is pending, only tokens that continue it into an allowed character may follow.

Masks are computed once per (model vocabulary, language) and cached on disk; each decoding
step is then one vectorised `np.copyto`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import numpy as np

from kollama.errors import KollamaError
from kollama.korean.scripts import Language, language, script_of

MASK_VERSION = 4


class LockMode(str, Enum):
    off = "off"
    script = "script"
    strict = "strict"


def parse_lock(value: str | None) -> LockMode:
    try:
        return LockMode(value or "off")
    except ValueError:
        raise KollamaError(f"unknown lock mode '{value}'", hint="use off, script or strict") from None


def _utf8_length(lead: int) -> int:
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


def _is_cont(byte: int) -> bool:
    return 0x80 <= byte <= 0xBF


@dataclass
class _Piece:
    """What a token's bytes do to the text: leading continuation bytes, whole characters, an open tail."""

    lead: bytes
    text: str
    tail: bytes
    valid: bool


def split_piece(data: bytes) -> _Piece:
    i = 0
    while i < len(data) and _is_cont(data[i]):
        i += 1
    lead, chars, tail = data[:i], [], b""
    while i < len(data):
        n = _utf8_length(data[i])
        if n == 0:
            return _Piece(lead, "", b"", False)
        chunk = data[i : i + n]
        if len(chunk) < n:
            if not all(_is_cont(b) for b in chunk[1:]):
                return _Piece(lead, "", b"", False)
            tail = chunk
            break
        try:
            chars.append(chunk.decode("utf-8"))
        except UnicodeDecodeError:
            return _Piece(lead, "", b"", False)
        i += n
    return _Piece(lead, "".join(chars), tail, True)


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


@dataclass
class LockMasks:
    """Boolean masks over the vocabulary, for a clean state (no unfinished character)."""

    lang: Language
    vocab: Vocabulary
    script: np.ndarray  # allowed by the script lock
    strict: np.ndarray  # ... and no lowercase ASCII letters
    strict_no_letters: np.ndarray  # ... and no ASCII letters at all (an acronym is already 6 long)
    continuation_ids: np.ndarray  # tokens starting with UTF-8 continuation bytes
    allowed_prefixes: frozenset[bytes] = field(repr=False, default_factory=frozenset)
    _pending_cache: dict[bytes, np.ndarray] = field(default_factory=dict, repr=False)

    def char_allowed(self, ch: str) -> bool:
        return self.lang.allows(script_of(ch))

    def pending_mask(self, pending: bytes, mode: LockMode) -> np.ndarray:
        """Allowed tokens while `pending` (1-3 bytes of an unfinished character) is open."""
        key = pending + bytes([mode == LockMode.strict])
        cached = self._pending_cache.get(key)
        if cached is not None:
            return cached
        need = _utf8_length(pending[0])
        column = 1 if mode == LockMode.strict else 0
        mask = np.zeros(len(self.vocab.pieces), dtype=bool)
        for tid in self.continuation_ids:
            data = self.vocab.pieces[tid]
            piece = split_piece(data)
            joined = pending + piece.lead
            if len(joined) > need:
                continue
            if len(joined) < need:
                mask[tid] = len(data) == len(piece.lead) and joined in self.allowed_prefixes
                continue
            try:
                ch = joined.decode("utf-8")
            except UnicodeDecodeError:
                continue
            rest = data[len(piece.lead):]
            mask[tid] = self.char_allowed(ch) and (not rest or _classify(rest, self.lang, self.allowed_prefixes)[column])
        self._pending_cache[key] = mask
        return mask


_ACRONYM_MAX = 6


def _classify(data: bytes, lang: Language, prefixes: frozenset[bytes]) -> tuple[bool, bool, bool]:
    """(script-ok, strict-ok, strict-no-letters-ok) for a token in a clean state."""
    piece = split_piece(data)
    if not piece.valid or piece.lead:
        return False, False, False
    if piece.tail and piece.tail not in prefixes:
        return False, False, False
    has_lower = has_upper = False
    for ch in piece.text:
        script = script_of(ch)
        if not lang.allows(script):
            return False, False, False
        if script == "latin":
            if ch.islower():
                has_lower = True
            else:
                has_upper = True
    bans_latin = lang.strict_bans_latin
    strict_ok = not (bans_latin and has_lower)
    no_letters_ok = not (bans_latin and (has_lower or has_upper))
    return True, strict_ok, no_letters_ok


def _allowed_prefixes(lang: Language) -> frozenset[bytes]:
    prefixes: set[bytes] = set()
    for cp in list(range(0x80, 0xD800)) + list(range(0xE000, 0x10000)) + list(range(0x1F000, 0x1FB00)) + list(range(0x20000, 0x2A6E0)):
        if lang.allows(script_of(chr(cp))):
            encoded = chr(cp).encode("utf-8")
            for n in range(1, len(encoded)):
                prefixes.add(encoded[:n])
    return frozenset(prefixes)


def build_masks(vocab: Vocabulary, lang_code: str, cache_dir: Path | None = None) -> LockMasks:
    """Compute (or load from the on-disk cache) the masks for this vocabulary and language."""
    lang = language(lang_code)
    prefixes = _allowed_prefixes(lang)
    cache_file = None
    if cache_dir is not None:
        cache_file = cache_dir / f"lock-v{MASK_VERSION}-{vocab.fingerprint()}-{lang_code}.npz"
        if cache_file.exists():
            try:
                data = np.load(cache_file)
                return LockMasks(lang, vocab, data["script"], data["strict"], data["strict_no_letters"],
                                 data["continuation_ids"], prefixes)
            except (OSError, KeyError, ValueError):
                pass  # a damaged cache file is rebuilt below
    n = len(vocab.pieces)
    table = np.zeros((n, 3), dtype=bool)
    continuation: list[int] = []
    for tid, data in enumerate(vocab.pieces):
        if not data:
            table[tid] = tid in vocab.eog
            continue
        if _is_cont(data[0]):
            continuation.append(tid)
            continue
        table[tid] = _classify(data, lang, prefixes)
    masks = LockMasks(lang, vocab, table[:, 0].copy(), table[:, 1].copy(), table[:, 2].copy(),
                      np.array(continuation, dtype=np.int64), prefixes)
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(".tmp.npz")
        np.savez(tmp, script=masks.script, strict=masks.strict, strict_no_letters=masks.strict_no_letters,
                 continuation_ids=masks.continuation_ids)
        tmp.replace(cache_file)
    return masks


_URL_START = re.compile(r"(https?://|www\.)\S*$")


class LockState:
    """Follows the generated bytes and answers, per step, which tokens may come next."""

    def __init__(self, masks: LockMasks, mode: LockMode, min_target_chars: int = 1):
        self.masks = masks
        self.mode = mode
        self.pending = b""
        self.text = ""
        self.target_seen = 0
        self.min_target = min_target_chars if mode == LockMode.strict else 0
        self._eog = np.array(sorted(masks.vocab.eog), dtype=np.int64)

    def feed(self, token: int) -> None:
        data = self.pending + self.masks.vocab.pieces[token]
        piece = split_piece(data)
        self.pending = piece.tail
        self.text += piece.text
        if self.min_target and piece.text:
            self.target_seen += sum(1 for ch in piece.text if script_of(ch) in self.masks.lang.scripts)

    def _latin_allowed_here(self) -> bool:
        text = self.text
        fences = text.count("```")
        if fences % 2 == 1:
            return True
        if (text.count("`") - 3 * fences) % 2 == 1:
            return True
        return bool(_URL_START.search(text[-200:]))

    def allowed(self) -> np.ndarray:
        if self.pending:
            return self.masks.pending_mask(self.pending, self.mode)
        if self.mode == LockMode.script or self._latin_allowed_here():
            mask = self.masks.script
        else:
            tail = self.text[-(_ACRONYM_MAX + 1):]
            run = len(tail) - len(tail.rstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
            mask = self.masks.strict_no_letters if run >= _ACRONYM_MAX else self.masks.strict
        if self.min_target and self.target_seen < self.min_target:
            mask = mask.copy()
            mask[self._eog] = False
        return mask

    def apply(self, logits_row: np.ndarray) -> None:
        """The sampler's lock hook: tokens not allowed now get -inf, in place."""
        np.copyto(logits_row, -np.inf, where=~self.allowed())


class LockProcessor:
    """A llama-cpp-python logits processor: `(input_ids, scores) -> scores` with forbidden tokens at -inf."""

    def __init__(self, masks: LockMasks, mode: LockMode):
        self.state = LockState(masks, mode)
        self._seen: int | None = None

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        n = len(input_ids)
        if self._seen is None:
            self._seen = n  # the first call sees only the prompt
        for token in input_ids[self._seen : n]:
            self.state.feed(int(token))
        self._seen = n
        np.copyto(scores, -np.inf, where=~self.state.allowed())
        return scores
