"""Boolean masks over a vocabulary for a clean state, computed once per (vocabulary, language) and cached on disk.

While an unfinished character is pending, only tokens that continue it into an allowed character may follow
(`LockMasks.pending_mask`); each decoding step is then one vectorised write.
"""

from __future__ import annotations

import pickle
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kollama.korean.lock.modes import LockMode
from kollama.korean.lock.table import TokenTable
from kollama.korean.lock.vocabulary import Vocabulary, allowed_prefixes, is_continuation, split_piece, utf8_length
from kollama.korean.scripts import Language, language, script_of

MASK_VERSION = 12  # bump when masks or the token table change (the table is pickled: its class path counts)
# `strict` masks kept per vocabulary for every request (a state's mask depends only on the word policy and the
# scanner state, and most Korean prompts have no Latin word, so they share one policy): 64 MB is 256 masks of a
# 262k vocabulary
STRICT_MASK_BYTES = 64 << 20


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
    cache_file: Path | None = field(default=None, repr=False)
    _pending_cache: dict[bytes, np.ndarray] = field(default_factory=dict, repr=False)
    _table: TokenTable | None = field(default=None, repr=False)
    _script_banned: np.ndarray | None = field(default=None, repr=False)
    _target_weights: np.ndarray | None = field(default=None, repr=False)
    _strict_masks: OrderedDict = field(default_factory=OrderedDict, repr=False)
    _strict_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def strict_mask_memo(self, key: tuple) -> np.ndarray | None:
        """A `strict` mask computed before on this vocabulary, by any request, for (word policy, scanner state)."""
        with self._strict_lock:
            mask = self._strict_masks.get(key)
            if mask is not None:
                self._strict_masks.move_to_end(key)
            return mask

    def remember_strict_mask(self, key: tuple, mask: np.ndarray) -> None:
        """Keep a `strict` mask for later requests; the least recently used go past STRICT_MASK_BYTES."""
        with self._strict_lock:
            self._strict_masks[key] = mask
            while len(self._strict_masks) > max(16, STRICT_MASK_BYTES // max(1, mask.nbytes)):
                self._strict_masks.popitem(last=False)

    @property
    def script_banned(self) -> np.ndarray:
        """The ids the script mask forbids, found once for every request on this vocabulary (~1 ms on 262k)."""
        if self._script_banned is None:
            self._script_banned = np.flatnonzero(~self.script).astype(np.int32)
        return self._script_banned

    @property
    def target_weights(self) -> np.ndarray:
        """1.0 for the tokens carrying a target-language letter, else 0.0: `gated` sums their probability."""
        if self._target_weights is None:
            self._target_weights = self.table.target.astype(np.float32)
        return self._target_weights

    @property
    def table(self) -> TokenTable:
        """Per-token facts for `strict` and `gated`, built on first use and cached beside the masks."""
        if self._table is None:
            path = self.cache_file.with_suffix(".table.pkl") if self.cache_file is not None else None
            if path is not None and path.exists():
                try:
                    self._table = pickle.loads(path.read_bytes())
                except (OSError, pickle.UnpicklingError, EOFError, AttributeError):
                    self._table = None
            if self._table is None:
                self._table = TokenTable.build(self.vocab, self.lang)
                if path is not None:
                    tmp = path.with_suffix(".tmp")
                    tmp.write_bytes(pickle.dumps(self._table, protocol=pickle.HIGHEST_PROTOCOL))
                    tmp.replace(path)
        return self._table

    def char_allowed(self, ch: str) -> bool:
        return self.lang.allows(script_of(ch))

    def pending_mask(self, pending: bytes, mode: LockMode) -> np.ndarray:
        """Allowed tokens while `pending` (1-3 bytes of an unfinished character) is open."""
        key = pending + bytes([mode == LockMode.strict])
        cached = self._pending_cache.get(key)
        if cached is not None:
            return cached
        need = utf8_length(pending[0])
        column = 2 if mode == LockMode.strict else 0  # strict: no Latin letter rides in on a character's bytes
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


def build_masks(vocab: Vocabulary, lang_code: str, cache_dir: Path | None = None) -> LockMasks:
    """Compute (or load from the on-disk cache) the masks for this vocabulary and language."""
    lang = language(lang_code)
    prefixes = allowed_prefixes(lang)
    cache_file = None
    if cache_dir is not None:
        cache_file = cache_dir / f"lock-v{MASK_VERSION}-{vocab.fingerprint()}-{lang_code}.npz"
        if cache_file.exists():
            try:
                data = np.load(cache_file)
                return LockMasks(lang, vocab, data["script"], data["strict"], data["strict_no_letters"],
                                 data["continuation_ids"], prefixes, cache_file)
            except (OSError, KeyError, ValueError):
                pass  # a damaged cache file is rebuilt below
    n = len(vocab.pieces)
    table = np.zeros((n, 3), dtype=bool)
    continuation: list[int] = []
    for tid, data in enumerate(vocab.pieces):
        if not data:
            table[tid] = tid in vocab.eog
            continue
        if is_continuation(data[0]):
            continuation.append(tid)
            continue
        table[tid] = _classify(data, lang, prefixes)
    masks = LockMasks(lang, vocab, table[:, 0].copy(), table[:, 1].copy(), table[:, 2].copy(),
                      np.array(continuation, dtype=np.int64), prefixes, cache_file)
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(".tmp.npz")
        np.savez(tmp, script=masks.script, strict=masks.strict, strict_no_letters=masks.strict_no_letters,
                 continuation_ids=masks.continuation_ids)
        tmp.replace(cache_file)
    return masks
