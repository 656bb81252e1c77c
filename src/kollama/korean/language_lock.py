"""The language lock: forbid tokens that would put a foreign-script character into the answer.

A token is judged by its raw bytes. Byte-fallback and byte-level BPE tokens can carry part
of a UTF-8 character, so the lock tracks the unfinished character across steps: while one
is pending, only tokens that continue it into an allowed character may follow.

Masks are computed once per (model vocabulary, language) and cached on disk; each decoding
step is then one vectorised `np.copyto`.
"""

from __future__ import annotations

import hashlib
import pickle
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from kollama.errors import KollamaError
from kollama.korean.scripts import Language, language, script_of

MASK_VERSION = 9  # bump when masks or the token table change


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
    cache_file: Path | None = field(default=None, repr=False)
    _pending_cache: dict[bytes, np.ndarray] = field(default_factory=dict, repr=False)
    _table: TokenTable | None = field(default=None, repr=False)
    _script_banned: np.ndarray | None = field(default=None, repr=False)
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
        need = _utf8_length(pending[0])
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
        if _is_cont(data[0]):
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


# --- strict v2: a state machine over the text so far --------------------------------------------------------

# Characters that open or close an exempt span, or start a URL / e-mail. A token holding one of these
# together with ASCII letters is judged by running the scanner over it; every other token is judged by
# vectorised lookups (see LockState._strict_mask).
SPECIALS = frozenset("`\"'()[]{}:/@\n“”‘’「」『』《》〈〉")
_QUOTES = {"“": "”", "‘": "’", "「": "」", "『": "』", "《": "》", "〈": "〉"}
_URL_SCHEMES = ("http", "https", "ftp")
NAME_MAX = 20  # longest Latin word taken for a name
MAX_LATIN_RUN = 3  # most Latin words in a row outside exempt spans before a Hangul letter must come
_ACRONYM_MAX = 6  # longest run of capitals taken for an acronym in progress
BANNED_CACHE = 16  # masks whose forbidden ids one LockState keeps (see LockState._banned)
# `strict` masks kept per vocabulary for every request (a state's mask depends only on the word policy and the
# scanner state, and most Korean prompts have no Latin word, so they share one policy): 64 MB is 256 masks of a
# 262k vocabulary
STRICT_MASK_BYTES = 64 << 20


def _is_letter(ch: str) -> bool:
    return ch.isascii() and ch.isalpha()


@lru_cache(maxsize=1)
def known_acronyms() -> frozenset[str]:
    """The short data list of acronyms a Korean text writes in Latin capitals, as written (IT, not `it`)."""
    text = resources.files("kollama.data").joinpath("acronyms.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


_WORD = re.compile(r"[A-Za-z]+")


def context_words(*texts: str | None) -> frozenset[str]:
    """Latin words (lower-cased) of the prompt and system prompt: the answer may repeat them."""
    return frozenset(w.lower() for text in texts if text for w in _WORD.findall(text))


def request_texts(request: str | list[dict[str, str]] | None) -> tuple[str, str]:
    """(prompt, system) of a raw prompt or a chat: what `strict` lets the answer repeat."""
    if request is None:
        return "", ""
    if isinstance(request, str):
        return request, ""
    system = "\n".join(m.get("content", "") for m in request if m.get("role") == "system")
    prompt = "\n".join(m.get("content", "") for m in request if m.get("role") != "system")
    return prompt, system


@lru_cache(maxsize=200_000)
def _judged_ok(word: str, glued: bool, inside: bool = False) -> bool:
    """The fidelity policy's verdict on one finished Latin word (no prompt): accepted or not.
    `glued`: a Hangul letter follows it (`pvc관`); `inside`: one comes right before it (`권oga`)."""
    from kollama.korean.policy import WordContext, judge_latin_word

    context = WordContext(glued_to_target=glued or inside, after_target_letter=inside)
    return not judge_latin_word(word, context).flagged


@lru_cache(maxsize=50_000)
def _looks_like_sentence(run: tuple[str, ...]) -> bool:
    from kollama.korean.policy import looks_like_sentence

    return looks_like_sentence(list(run))


def _ends_only_in_english(word: str) -> bool:
    from kollama.korean.policy import ends_only_in_english

    return ends_only_in_english(word)


@lru_cache(maxsize=50_000)
def _word_class(word: str) -> str:
    """How a word counts towards a sentence: 'f' function word, 'o' ordinary English word, '-' neither."""
    from kollama.korean.policy import is_function_word

    if is_function_word(word):
        return "f"
    return "o" if _looks_like_sentence((word, word, word)) else "-"


def _run_signature(run: tuple[str, ...]) -> tuple[str, ...]:
    """What of a run of words the sentence rule can see: how many words of each class (it counts, no more)."""
    return tuple(sorted(_word_class(w) for w in run))


@lru_cache(maxsize=50_000)
def _short_lower_viable(prefix: str, inside: bool = False) -> bool:
    """Can a lower-case prefix still become a word the policy accepts (short lower-case acronyms: pvc, bmw)?"""
    if _judged_ok(prefix, True, inside):
        return True
    if len(prefix) >= 3:
        return False
    return any(_short_lower_viable(prefix + ch, inside) for ch in "abcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True)
class WordPolicy:
    """Which Latin words `strict` lets through outside exempt spans.

    A finished word passes when the fidelity policy's judge (`kollama.korean.policy.judge_latin_word`) accepts
    it (names, short lower-case acronyms, ...), when the prompt or system prompt used it, or when it is on the
    acronym list. A run of capitals not on the list and not in the prompt is provisionally an acronym: a
    parenthesised Hangul gloss must follow it (`ROI(투자수익률)`). An unfinished word may continue while some
    ending of it would pass.
    """

    words: frozenset[str]  # lower-cased: the prompt's words, URL schemes
    prefixes: frozenset[str]
    allow_sentences: bool = False  # the prompt asks for another language
    acronyms: frozenset[str] = frozenset()  # the acronym list, matched as written
    acronym_prefixes: frozenset[str] = frozenset()

    @classmethod
    def build(cls, prompt: str | None = None, system: str | None = None) -> WordPolicy:
        from kollama.korean.policy import asked_languages

        words = set(context_words(prompt, system)) | set(_URL_SCHEMES) | {"www"}
        prefixes = {w[:i] for w in words for i in range(1, len(w) + 1)}
        acronyms = known_acronyms()
        return cls(frozenset(words), frozenset(prefixes), bool(asked_languages(prompt, system)), acronyms,
                   frozenset(a[:i] for a in acronyms for i in range(1, len(a) + 1)))

    def is_sentence(self, run: tuple[str, ...]) -> bool:
        """Do these Latin words in a row (no Hangul between) read as a sentence, even when each is the prompt's?
        More than MAX_LATIN_RUN of them always do: a Korean line names things, it does not list them at length."""
        if len(run) < 2 or self.allow_sentences:
            return False
        return len(run) > MAX_LATIN_RUN or _looks_like_sentence(run)


    def viable(self, word: str, inside: bool = False) -> bool:
        """Can `word` (still open) become an allowed word? `inside`: it began right after a Hangul letter."""
        if word.endswith(("'", "’")):  # I'm, O'Brien: only after a word that could end here, or a name
            stem = word.rstrip("'’")
            return bool(stem) and (self.complete(stem) or stem[0].isupper())
        return word.lower() in self.prefixes or word in self.acronym_prefixes or base_viable(word, inside)

    def complete(self, word: str, glued: bool = False, inside: bool = False) -> bool:
        """Is the finished `word` allowed (an unknown acronym is not: it needs its gloss)?
        `glued`: a Hangul letter follows it directly (`pvc관`); `inside`: one precedes it directly (`권oga`)."""
        word = word.rstrip("'’") or word  # a closing quote, not part of the word
        return word.lower() in self.words or word in self.acronyms or base_complete(word, glued, inside)


def base_viable(word: str, inside: bool = False) -> bool:
    """Without the prompt: can this open word still end as an accepted one?"""
    if ("'" in word or "’" in word) and _ends_only_in_english(word):
        return False  # I'm, It'sf: whatever follows, English (no apostrophe, no contraction: the common case)
    if word.isupper():
        return len(word) <= _ACRONYM_MAX
    if word[0].isupper():
        return len(word) <= NAME_MAX  # capitalised: it can still end as a name
    return len(word) <= 3 and _short_lower_viable(word.lower(), inside)


def base_complete(word: str, glued: bool = False, inside: bool = False) -> bool:
    """Without the prompt: is this finished word accepted as it is?"""
    if word.isupper() and len(word) > 1:
        return False  # unknown acronyms need a gloss (or the list, or the prompt)
    return len(word) <= NAME_MAX and _judged_ok(word, glued, inside)


@dataclass
class StrictScanner:
    """Follows the answer character by character: which exempt span is open, and the Latin word in progress.

    Exempt spans (Latin allowed): fenced code until its fence; inline code, quotes, a parenthesised gloss
    right after a Hangul word, and a URL or e-mail domain until they close or the line ends; JSON keys and
    syntax when the answer is JSON. Outside them a Latin word must be one the WordPolicy allows.
    `feed_char` returns why a character breaks the rule, or None.
    """

    policy: WordPolicy
    target: frozenset[str]
    fence: bool = False
    ticks: int = 0
    inline: bool = False
    quote: str = ""  # closing character of an open quote
    gloss: bool = False
    gloss_needs_hangul: bool = False
    url: bool = False
    json: bool | None = None  # None: no non-space character yet
    json_stack: str = ""
    json_string: bool = False
    json_key: bool = False
    json_escape: bool = False
    json_expect_key: bool = False
    word: str = ""
    word_bad: bool = False
    word_glued: bool = False  # the word started right after a Hangul letter
    run: tuple[str, ...] = ()  # the accepted Latin words since the last Hangul letter
    last_visible: str = "\n"  # the last character that is not a space
    need_gloss: bool = False
    last: str = "\n"

    def copy(self) -> StrictScanner:
        twin = StrictScanner.__new__(StrictScanner)  # 10x faster than dataclasses.replace; fields are immutable
        twin.__dict__.update(self.__dict__)
        return twin

    def key(self) -> tuple:
        return (self.fence, self.ticks, self.inline, self.quote, self.gloss, self.gloss_needs_hangul, self.url,
                self.json, self.json_stack, self.json_string, self.json_key, self.json_escape,
                self.json_expect_key, self.word, self.word_bad, self.word_glued, self.need_gloss,
                _run_signature(self.run), script_of(self.last_visible) in self.target,
                script_of(self.last) in self.target, self.last.isascii() and self.last.isalnum())

    def exempt(self) -> bool:
        if self.fence or self.inline or self.url or self.quote or self.gloss:
            return True
        return bool(self.json) and (not self.json_string or self.json_key)

    def feed(self, text: str) -> str | None:
        """Feed several characters; the first reason for a violation, if any."""
        first = None
        for ch in text:
            why = self.feed_char(ch)
            if why and first is None:
                first = why
        if self.word and not self.word_bad and not self.policy.viable(self.word, self.word_glued):
            self.word_bad = True  # judged where a token leaves it open: no ending of it would pass
            first = first or "Latin word outside exempt spans (no ending of it would pass the fidelity policy)"
        return first

    def _end_word(self, after: str = "") -> str | None:
        word, bad = self.word, self.word_bad
        self.word, self.word_bad = "", False
        if not word or bad:
            return None
        glued_after = bool(after) and script_of(after) in self.target
        if self.policy.complete(word, glued_after, self.word_glued):
            self.run += (word,)
            # a run glued to a Korean particle is a term (`Large Language Model은`), not a sentence
            if not glued_after and self.policy.is_sentence(self.run):
                return "a sentence in another language (the fidelity policy: a wrong-language line)"
            return None
        if word.isupper() and len(word) <= _ACRONYM_MAX:
            self.need_gloss = True
            return None
        return "Latin word outside exempt spans (the fidelity policy flags it; not the prompt's, not listed)"

    def feed_char(self, ch: str) -> str | None:
        why = self._step(ch)
        if not ch.isspace():
            self.last_visible = ch
        if self.run and script_of(ch) in self.target:  # a line break does not end a run: Hangul does
            self.run = ()
        return why

    def _step(self, ch: str) -> str | None:
        why = None
        # a run of backticks: ``` toggles a fence, ` toggles inline code
        if ch == "`":
            self.ticks += 1
            if self.word:
                why = self._end_word()
            if self.ticks == 3:
                self.ticks = 0
                self.fence = not self.fence
                self.inline = False
            elif not self.fence and not self.quote and not self.url:
                self.inline = not self.inline
            self.last = ch
            return why
        self.ticks = 0
        if self.fence:
            self.last = ch
            return None
        if ch == "\n":
            why = self._end_word() if self.word else None
            if self.need_gloss and why is None:
                why = "acronym without a Hangul gloss"
            self.inline = self.url = self.gloss = self.gloss_needs_hangul = self.need_gloss = False
            self.quote = ""
            self.last = ch
            return why
        if self.inline:
            self.last = ch
            return None
        if self.url:
            if ch.isspace():
                self.url = False
            else:
                self.last = ch
                return None
        if self.json is None and not ch.isspace():
            self.json = ch in "{["
        if self.json and self._json_char(ch):
            self.last = ch
            return None
        if self.quote:
            if ch == self.quote:
                self.quote = ""
            self.last = ch
            return None
        if self.gloss:
            if ch == ")":
                self.gloss = self.gloss_needs_hangul = False
            elif _is_letter(ch) and self.gloss_needs_hangul:
                why = "a gloss after an unknown acronym must be Hangul"
            elif script_of(ch) in self.target:
                self.gloss_needs_hangul = False
            self.last = ch
            return why
        if ch in "'’" and self.word and not self.word.endswith(("'", "’")):  # I'm, don't: one word
            self.word += ch
            self.last = ch
            return why
        if _is_letter(ch):
            if self.need_gloss:
                self.need_gloss = False
                why = "acronym without a Hangul gloss"
            if not self.word:
                self.word_glued = script_of(self.last) in self.target
            self.word += ch
            self.last = ch
            return why
        # any other character ends a word in progress
        if self.word:
            word = self.word
            why = self._end_word(ch)
            if ch == ":" and word.lower() in _URL_SCHEMES or ch == "." and word.lower() == "www" or ch == "@":
                self.url = True
                self.last = ch
                return why
        elif ch == "@" and (self.last.isalnum() and self.last.isascii()):
            self.url = True
            self.last = ch
            return why
        if self.need_gloss:
            if ch == ")":  # "(BLE)": the acronym is itself the gloss of the words before it
                self.need_gloss = False
            elif ch == "(":
                self.need_gloss = False
                self.gloss = self.gloss_needs_hangul = True
            elif not ch.isspace():
                self.need_gloss = False
                why = why or "acronym without a Hangul gloss"
            self.last = ch
            return why
        if ch == "(" and script_of(self.last_visible) in self.target:
            self.gloss = True
        elif ch == '"' and not self.json:
            self.quote = '"'
        elif ch == "'" and not (self.last.isascii() and self.last.isalnum()):
            self.quote = "'"
        elif ch in _QUOTES:
            self.quote = _QUOTES[ch]
        self.last = ch
        return why

    def _json_char(self, ch: str) -> bool:
        """JSON structure; True when the character is consumed as JSON syntax or key text."""
        if self.json_string:
            if self.json_escape:
                self.json_escape = False
            elif ch == "\\":
                self.json_escape = True
            elif ch == '"':
                self.json_string = False
                self.json_key = False
                return True
            return self.json_key  # value strings follow the Korean rules
        if ch == '"':
            self.json_string = True
            self.json_key = self.json_stack[-1:] == "o" and self.json_expect_key
            return True
        if ch == "{":
            self.json_stack += "o"
            self.json_expect_key = True
        elif ch == "[":
            self.json_stack += "a"
            self.json_expect_key = False
        elif ch in "}]":
            self.json_stack = self.json_stack[:-1]
        elif ch == ":":
            self.json_expect_key = False
        elif ch == ",":
            self.json_expect_key = self.json_stack[-1:] == "o"
        return True  # outside strings everything is syntax (true, false, null, numbers)


@dataclass
class TokenTable:
    """Per-token facts `strict` and `gated` need, computed once per vocabulary from the clean-state text.

    kind: 0 no ASCII letter and no special character; 1 one ASCII letter run and no special character
    (judged by lookups over its letter run); 2 anything else with text (judged by running the scanner over
    it); 3 no clean-state text (special tokens, byte pieces).
    """

    kind: np.ndarray  # int8
    lead: np.ndarray  # int32 index into leads (kind 1), else len(leads)
    leads: list[str]  # the distinct letter runs, as written
    lead_len: np.ndarray
    flags: dict[str, np.ndarray]
    texts: dict[int, str]  # clean-state text of kind-2 tokens
    closed_leads: np.ndarray  # lead ids some token closes (letters followed by other characters)
    _words: dict = field(default_factory=dict, repr=False)  # cached word verdicts without a prompt

    FLAGS = ("upper", "starts_letter", "closed", "before_space", "space_only", "letters", "target",
             "space_after", "target_before", "glued_in", "glued_out", "starts_target", "tail_only")

    def __getattr__(self, name: str) -> np.ndarray:
        flags = self.__dict__.get("flags")
        if flags is not None and name in flags:
            return flags[name]
        raise AttributeError(name)

    @classmethod
    def build(cls, vocab: Vocabulary, lang: Language) -> TokenTable:
        n = len(vocab.pieces)
        kind = np.full(n, 3, dtype=np.int8)
        lead = np.full(n, -1, dtype=np.int32)
        lead_len = np.zeros(n, dtype=np.int16)
        flags = {name: np.zeros(n, dtype=bool) for name in cls.FLAGS}
        leads: dict[str, int] = {}
        texts: dict[int, str] = {}
        closed: set[int] = set()
        is_target = lambda ch: script_of(ch) in lang.scripts  # noqa: E731
        target_tails = _target_only_prefixes(lang)
        for tid, data in enumerate(vocab.pieces):
            piece = split_piece(data)
            if not data or not piece.valid or piece.lead:
                continue
            text = piece.text
            # in-language for the gate: a Hangul letter, or an open character only Hangul can finish
            # (byte-level vocabularies such as SmolLM2's and Llama 2's start most Korean words this way)
            opens_target = bool(piece.tail) and piece.tail in target_tails
            if not text:
                flags["tail_only"][tid] = bool(piece.tail)  # opens a character: ends a word in progress
                flags["target"][tid] = opens_target
                continue
            runs = _WORD.findall(text)
            has_special = any(ch in SPECIALS for ch in text)
            flags["letters"][tid] = bool(runs)
            flags["target"][tid] = opens_target or any(is_target(ch) for ch in text)
            flags["starts_target"][tid] = is_target(text[0])
            if not runs and not has_special:
                kind[tid] = 0
                flags["space_only"][tid] = text.isspace() and not piece.tail
                continue
            if len(runs) == 1 and not has_special:
                m = _WORD.search(text)
                assert m is not None
                word = m.group(0)
                kind[tid] = 1
                lead[tid] = leads.setdefault(word, len(leads))
                lead_len[tid] = len(word)
                flags["upper"][tid] = word.isupper()
                flags["starts_letter"][tid] = m.start() == 0
                # an open character after the letters ends the word too (judged as if not glued: unknown yet)
                flags["closed"][tid] = m.end() < len(text) or bool(piece.tail)
                if flags["closed"][tid]:
                    closed.add(lead[tid])
                flags["before_space"][tid] = any(ch.isspace() for ch in text[: m.start()])
                flags["space_after"][tid] = m.end() < len(text) and text[m.end():].isspace()
                flags["target_before"][tid] = any(is_target(ch) for ch in text[: m.start()])
                flags["glued_in"][tid] = m.start() > 0 and is_target(text[m.start() - 1])
                flags["glued_out"][tid] = m.end() < len(text) and is_target(text[m.end()])
                continue
            kind[tid] = 2
            texts[tid] = text + ("\ufffd" if piece.tail else "")  # an open character ends a word in progress
        lead[lead < 0] = len(leads)
        return cls(kind, lead, list(leads), lead_len, flags, texts, np.array(sorted(closed), dtype=np.int64))

    def base_words(self, inside: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Over the leads (one extra slot for 'no lead'), without a prompt: (may stay open, may end here,
        may end here glued to a Hangul letter). Computed once per vocabulary. `inside`: for a word begun right
        after a Hangul letter (`권` + `oga`), which is glued however it ends."""
        key = ("base", inside)
        if key not in self._words:
            size = len(self.leads) + 1
            viable = np.zeros(size, dtype=bool)
            plain = np.zeros(size, dtype=bool)
            glued = np.zeros(size, dtype=bool)
            for i, word in enumerate(self.leads):
                viable[i] = base_viable(word, inside)
            for i in self.closed_leads:
                word = self.leads[i]
                glued[i] = base_complete(word, True, inside)
                plain[i] = glued[i] if inside else base_complete(word, False)
            self._words[key] = (viable, plain, glued)
        return self._words[key]

    def leads_by_start(self) -> dict[str, np.ndarray]:
        """The leads grouped by their first three characters."""
        if "starts" not in self._words:
            groups: dict[str, list[int]] = {}
            for i, w in enumerate(self.leads):
                groups.setdefault(w[:3], []).append(i)
            self._words["starts"] = {k: np.array(v) for k, v in groups.items()}
        return self._words["starts"]

    def apostrophe_leads(self) -> list[int]:
        """The leads with an apostrophe (few): only they can turn a word into a contraction."""
        if "apostrophe" not in self._words:
            self._words["apostrophe"] = [i for i, w in enumerate(self.leads) if "'" in w or "’" in w]
        return self._words["apostrophe"]

    def lead_shape(self) -> tuple[np.ndarray, np.ndarray]:
        """Length and all-capitals of each lead (one extra slot for 'no lead')."""
        if "shape" not in self._words:
            lengths = np.array([len(w) for w in self.leads] + [10_000], dtype=np.int32)
            uppers = np.array([w.isupper() for w in self.leads] + [False], dtype=bool)
            self._words["shape"] = (lengths, uppers)
        return self._words["shape"]

    def lettered_texts(self) -> dict[int, str]:
        """The kind-2 tokens whose text has an ASCII letter (the others cannot start a Latin word)."""
        if "lettered" not in self._words:
            self._words["lettered"] = {tid: text for tid, text in self.texts.items() if any(map(_is_letter, text))}
        return self._words["lettered"]

    def function_leads(self) -> np.ndarray:
        """Over the leads: is the letter run an English function word (`I`, `A`, `The`, `In`)?"""
        if "function" not in self._words:
            self._words["function"] = np.array([_word_class(w) == "f" for w in self.leads] + [False], dtype=bool)
        return self._words["function"]

    def exact_index(self) -> dict[str, int]:
        if "exact" not in self._words:
            self._words["exact"] = {w: i for i, w in enumerate(self.leads)}
        return self._words["exact"]

    def lower_index(self) -> dict[str, list[int]]:
        if "lower" not in self._words:
            index: dict[str, list[int]] = {}
            for i, word in enumerate(self.leads):
                index.setdefault(word.lower(), []).append(i)
            self._words["lower"] = index
        return self._words["lower"]


GATE_TOP_K = 5
GATE_FLOOR = 0.01
# A line's first word sets its language (LCB's line-level confusion: a whole answer or paragraph in English).
# There the gate looks as deep as the sampler's default top-k and accepts rarer in-language candidates.
GATE_OPENING_TOP_K = 40
GATE_OPENING_FLOOR = 0.002


class LockState:
    """Follows the generated bytes and answers, per step, which tokens may come next.

    The decoding loop calls `apply(logits_row)` before sampling (forbidden tokens become -inf in place)
    and `feed(token)` after.
    """

    def __init__(self, masks: LockMasks, mode: LockMode, min_target_chars: int = 1, prompt: str | None = None,
                 system: str | None = None, top_k: int = GATE_TOP_K, floor: float = GATE_FLOOR,
                 opening_top_k: int = GATE_OPENING_TOP_K, opening_floor: float = GATE_OPENING_FLOOR):
        self.masks = masks
        self.mode = mode
        self.pending = b""
        self.text = ""
        self.target_seen = 0
        self.min_target = min_target_chars if mode == LockMode.strict else 0
        self._eog = np.array(sorted(masks.vocab.eog), dtype=np.int64)
        self.policy = WordPolicy.build(prompt, system)
        # English words of a Korean request are terms the user chose; the words of an English request that asks
        # for Korean are not, and the gate weighs them like any other switch
        self._terms_in_prompt = any(script_of(ch) in masks.lang.scripts for ch in (prompt or "") + (system or ""))
        self.scanner = StrictScanner(self.policy, masks.lang.scripts)
        self.top_k = top_k
        self.floor = floor
        self.opening_top_k = opening_top_k
        self.opening_floor = opening_floor
        self.line_has_letter = False  # has the current line a letter yet (of any script)?
        self.gated_steps = 0  # steps where `gated` banned the off-language candidates
        self.last_gate: tuple[int, int, float, int] | None = None  # (top token, in-language token, its p, window k)
        self._lead_cache: dict[str, Any] = {}
        self._mask_cache: dict[tuple, np.ndarray] = {}
        self._policy_key = (self.policy.words, self.policy.allow_sentences)  # the acronym list is data, fixed
        self._banned_cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._fresh: np.ndarray | None = None

    @property
    def table(self) -> TokenTable:
        return self.masks.table

    def feed(self, token: int) -> None:
        data = self.pending + self.masks.vocab.pieces[token]
        piece = split_piece(data)
        self.pending = piece.tail
        self.text += piece.text
        if piece.text:
            self.scanner.feed(piece.text)
            self._follow_line(piece.text)
        if self.min_target and piece.text:
            self.target_seen += sum(1 for ch in piece.text if script_of(ch) in self.masks.lang.scripts)

    def feed_text(self, text: str) -> None:
        """Follow text that is already there (teacher forcing, tests) without tokens."""
        self.text += text
        self.scanner.feed(text)
        self._follow_line(text)
        if self.min_target:
            self.target_seen += sum(1 for ch in text if script_of(ch) in self.masks.lang.scripts)

    def _follow_line(self, text: str) -> None:
        newline = text.rfind("\n")
        if newline >= 0:
            self.line_has_letter, text = False, text[newline + 1:]
        self.line_has_letter = self.line_has_letter or any(ch.isalpha() for ch in text)

    # --- masks ---------------------------------------------------------------------------------------------
    def _banned(self, mask: np.ndarray) -> np.ndarray:
        """The ids a mask forbids. Most steps reuse a few masks (the script mask, a cached strict state), and
        writing -inf at a list of ids is about 10x faster than a boolean `where` over a 262k vocabulary."""
        if mask is self.masks.script:
            return self.masks.script_banned
        hit = self._banned_cache.get(id(mask))
        if hit is not None and hit[0] is mask:
            return hit[1]
        banned = np.flatnonzero(~mask).astype(np.int32)
        if len(self._banned_cache) >= BANNED_CACHE:
            self._banned_cache.pop(next(iter(self._banned_cache)))
        self._banned_cache[id(mask)] = (mask, banned)  # the mask is kept, so its id cannot be reused
        return banned

    def allowed(self) -> np.ndarray:
        """The tokens `script` or `strict` allows now (for `gated`: the script mask; the gate acts in apply)."""
        if self.pending:
            mask = self.masks.pending_mask(self.pending, LockMode.strict if self.mode == LockMode.strict
                                           else LockMode.script)
        elif self.mode == LockMode.strict:
            mask = self._strict_mask()
        else:
            mask = self.masks.script
        if self.min_target and self.target_seen < self.min_target:
            mask = mask.copy()
            mask[self._eog] = False
        return mask

    def apply(self, row: np.ndarray) -> None:
        """Set the logits of forbidden tokens to -inf in place (the engines' one call before sampling)."""
        row[self._banned(self.allowed())] = -np.inf
        if self.mode == LockMode.gated:
            self._gate(row)

    def _listed_leads(self, prefix: str, prompt_words: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Over the leads: may `prefix + lead` stay open / end here as a listed word (prompt, acronyms)?"""
        key = f"listed:{prompt_words}:{prefix}"
        cached = self._lead_cache.get(key)
        if cached is not None:
            return cached
        table, policy = self.table, self.policy
        index = table.lower_index()
        viable = np.zeros(len(table.leads) + 1, dtype=bool)
        complete = np.zeros(len(table.leads) + 1, dtype=bool)
        low = prefix.lower()
        for word in policy.prefixes if prompt_words else ():
            if word.startswith(low) and len(word) > len(low):
                for i in index.get(word[len(low):], ()):
                    viable[i] = True
                    complete[i] = complete[i] or word in policy.words
        exact = table.exact_index()
        for word in policy.acronym_prefixes:
            if word.startswith(prefix) and len(word) > len(prefix):
                i = exact.get(word[len(prefix):])
                if i is not None:
                    viable[i] = True
                    complete[i] = complete[i] or word in policy.acronyms
        self._lead_cache[key] = (viable, complete)
        return viable, complete

    def _fresh_ok(self, run: tuple[str, ...] = ()) -> np.ndarray:
        """Kind-1 tokens whose letter run, as a new word after the Latin words `run`, `strict` allows."""
        if run:
            key = ("fresh", _run_signature(run))
            cached = self._lead_cache.get(key)
            if cached is None:
                table = self.table
                sentence = np.zeros(len(table.leads) + 1, dtype=bool)
                for i in table.closed_leads:
                    sentence[i] = self.policy.is_sentence(run + (table.leads[i],))
                cached = self._fresh_ok() & ~(table.closed & ~table.glued_out & sentence[table.lead])
                self._lead_cache[key] = cached
            return cached
        if self._fresh is None:
            table = self.table
            viable, plain, glued = table.base_words()
            viable_in, _, ends_in = table.base_words(inside=True)
            listed_v, listed_c = self._listed_leads("")
            lead = table.lead
            caps = table.upper & (table.lead_len <= _ACRONYM_MAX)
            ends_ok = np.where(table.glued_in, ends_in[lead],
                               np.where(table.glued_out, glued[lead], plain[lead])) | listed_c[lead]
            opens_ok = np.where(table.glued_in, viable_in[lead], viable[lead]) | listed_v[lead]
            # a finished unknown acronym may be followed by spaces (its gloss comes next)
            self._fresh = np.where(table.closed, ends_ok | (caps & table.space_after), opens_ok)
        return self._fresh

    def _english_only_after(self, word: str) -> np.ndarray:
        """Over the leads: does `word + lead` begin a word that can only end as English (`I` + `'m`, `I'm` + `R`)?
        Only an apostrophe in the word's last three characters or in the lead can make one."""
        from kollama.korean.policy import contraction_stem_prefixes, contraction_stems, ends_only_in_english

        table = self.table
        dead = np.zeros(len(table.leads) + 1, dtype=bool)
        if ends_only_in_english(word):
            dead[:-1] = True
            return dead
        low = word.lower().replace("’", "'")
        if "'" in low[-3:] and low[:low.index("'")] in contraction_stems():
            # `I'`, `I'v`: the verdict depends on the lead's first three characters only
            for start, ids in table.leads_by_start().items():
                if ends_only_in_english(word + start):
                    dead[ids] = True
        if low in contraction_stem_prefixes():  # `I` + `'m`, `T` + `hat's`
            for i in table.apostrophe_leads():
                dead[i] = ends_only_in_english(word + table.leads[i])
        return dead

    def _continued_ok(self, word: str, glued_before: bool, run: tuple[str, ...] = ()) -> np.ndarray:
        """Kind-1 tokens starting with a letter, continuing the open `word` (per token)."""
        key = ("cont", glued_before, word, _run_signature(run))
        cached = self._lead_cache.get(key)
        if cached is not None:
            return cached
        table, policy = self.table, self.policy
        lengths, uppers = table.lead_shape()
        total = lengths + len(word)
        viable = self._listed_leads(word)[0].copy()
        if word.isupper():  # more capitals: an acronym in progress; a lower-case letter: a camel-case name
            viable |= np.where(uppers, total <= _ACRONYM_MAX, total <= NAME_MAX)
        elif word[0].isupper():
            viable |= total <= NAME_MAX
        else:
            for i in np.flatnonzero(total <= 3):
                viable[i] = viable[i] or base_viable(word + table.leads[i], glued_before)
        viable &= ~self._english_only_after(word) | self._listed_leads(word)[0]
        plain = np.zeros(len(table.leads) + 1, dtype=bool)
        glued = np.zeros(len(table.leads) + 1, dtype=bool)
        for i in table.closed_leads:
            whole = word + table.leads[i]
            plain[i] = not policy.is_sentence(run + (whole,)) and policy.complete(whole, False, glued_before)
            glued[i] = policy.complete(whole, True, glued_before)
        lead = table.lead
        caps = table.upper & (table.lead_len + len(word) <= _ACRONYM_MAX) if word.isupper() else False
        ends_ok = np.where(table.glued_out, glued[lead], plain[lead])
        result = np.where(table.closed, ends_ok | (caps & table.space_after), viable[lead])
        self._lead_cache[key] = result
        return result

    def _strict_mask(self) -> np.ndarray:
        scanner = self.scanner
        key = scanner.key()
        cached = self._mask_cache.get(key)
        if cached is not None:
            return cached
        shared_key = (self._policy_key, key)
        cached = self.masks.strict_mask_memo(shared_key)
        if cached is not None:
            self._mask_cache[key] = cached
            return cached
        table = self.table
        mask = self.masks.script.copy()
        simple = table.kind == 1
        word = "" if scanner.word_bad else scanner.word
        if scanner.need_gloss:  # after an unknown acronym: spaces, then "(" (a kind-2 token)
            mask &= ((table.kind == 3) & ~table.tail_only) | (table.kind == 2) | ((table.kind == 0) & table.space_only)
        elif scanner.gloss and scanner.gloss_needs_hangul:  # its gloss must start with Hangul
            mask &= ~(simple & ~table.target_before)
        elif not scanner.exempt():
            # A word ends with any character but a letter: only where it may end.
            ends = (table.kind == 0) | (simple & ~table.starts_letter) | table.tail_only
            if word:
                sentence = self.policy.is_sentence(scanner.run + (word,))
                end_plain = not sentence and self.policy.complete(word, False, scanner.word_glued)
                end_glued = self.policy.complete(word, True, scanner.word_glued)  # glued to a particle: a term
                can_end = np.where(table.starts_target, end_glued, end_plain)  # an open character: not glued
                if word.isupper() and len(word) <= _ACRONYM_MAX:  # spaces may come before its gloss
                    can_end = can_end | table.space_only
                mask &= ~ends | can_end
                if not end_plain:  # the end of the answer ends the word too
                    mask[self._eog] = False
            # a token that ends the word in progress and starts another: the first joins the run
            ends_as_word = bool(word) and self.policy.complete(word, False, scanner.word_glued)
            after = scanner.run + (word,) if ends_as_word else scanner.run
            fresh = np.where(table.target_before, self._fresh_ok(), self._fresh_ok(after))  # Hangul ends a run
            if word:
                ok = np.where(table.starts_letter, self._continued_ok(word, scanner.word_glued, scanner.run), fresh)
            else:
                if script_of(scanner.last) in self.masks.lang.scripts:  # glued to the Hangul before it
                    viable_in, _, ends_in = table.base_words(inside=True)
                    listed_v, listed_c = self._listed_leads("")
                    lead = table.lead
                    caps = table.upper & (table.lead_len <= _ACRONYM_MAX)
                    glued_ok = np.where(table.closed, ends_in[lead] | listed_c[lead] | (caps & table.space_after),
                                        viable_in[lead] | listed_v[lead])
                    fresh = np.where(table.starts_letter, glued_ok, fresh)
                ok = fresh
            mask &= ~simple | ok
        elif scanner.url and not scanner.fence and not scanner.inline:
            # whitespace ends a URL: a letter run after it is a fresh word outside
            mask &= ~(simple & table.before_space) | self._fresh_ok()
        # the rest (kind 2): run the scanner over the token. Without a word in progress or an acronym waiting for
        # its gloss, a token with no ASCII letter cannot break a rule: only its lettered tokens need the scan.
        quiet = (not scanner.word or scanner.word_bad) and not scanner.need_gloss
        for tid, text in (table.lettered_texts() if quiet else table.texts).items():
            if mask[tid]:
                mask[tid] = scanner.copy().feed(text) is None
        if not mask.any():  # never leave the sampler nothing: give up the word in progress rather than garble
            mask = self.masks.script & ~table.letters
            if not mask.any():
                mask = self.masks.script
        self._mask_cache[key] = mask
        self.masks.remember_strict_mask(shared_key, mask)
        return mask

    def strict_reason(self, token: int) -> str | None:
        """Why `strict` bans `token` now (None: it does not). Used by `kollama lock check`."""
        if self.pending:
            data = self.pending + self.masks.vocab.pieces[token]
            piece = split_piece(data)
            if not self.masks.pending_mask(self.pending, LockMode.script)[token]:
                return _script_reason(data, self.masks)
            return self.scanner.copy().feed(piece.text) if piece.text else None
        if not self.masks.script[token]:
            return _script_reason(self.masks.vocab.pieces[token], self.masks)
        piece = split_piece(self.masks.vocab.pieces[token])
        scanner = self.scanner.copy()
        why = scanner.feed(piece.text) if piece.text else None
        if why is None and piece.tail:  # a character left open ends the word in progress
            if scanner.need_gloss:
                why = "acronym without a Hangul gloss"
            elif scanner.word and not scanner.word_bad and not self.policy.complete(scanner.word, True,
                                                                                    scanner.word_glued):
                why = f"the Latin word '{scanner.word}' cannot end here (the fidelity policy flags it)"
        return why

    # --- gated ---------------------------------------------------------------------------------------------
    def _gate(self, row: np.ndarray) -> None:
        """Ban off-language candidates for this step only where the model is about to switch language and
        an in-language candidate is among its top k above the probability floor."""
        self.last_gate = None
        scanner = self.scanner
        if self.pending or scanner.exempt() or scanner.word:
            return  # mid-character, inside code/URLs/glosses, or finishing a word already begun
        top = int(np.argmax(row))
        if not np.isfinite(row[top]) or not self.table.letters[top]:
            return
        stays = self._gate_allowed()
        if stays[top]:
            return  # a word the user wrote, or a listed acronym: not a switch
        opening = not self.line_has_letter  # the first word of the answer or of a line (after `1. `, `- `, `## `)
        k = min(self.opening_top_k if opening else self.top_k, len(row))
        floor = self.opening_floor if opening else self.floor
        best = np.argpartition(-row, k - 1)[:k]
        peak = float(row[top])
        log_z = peak + float(np.log(np.exp((row - peak).astype(np.float64)).sum()))
        probs = np.exp(row[best].astype(np.float64) - log_z)
        good = self.table.target[best] & (probs >= floor) & np.isfinite(row[best])
        if not good.any():
            return  # no Korean way on: a name the model cannot say in Korean stays
        choice = int(best[good][np.argmax(probs[good])])
        self.last_gate = (top, choice, float(probs[good].max()), k)
        self.gated_steps += 1
        np.copyto(row, -np.inf, where=self.table.letters & ~stays)

    def _gate_allowed(self) -> np.ndarray:
        """Lettered tokens that do not start off-language text here: what `strict` allows, less the Latin words
        it lets through only as possible names (`The`, `Theres`). A name is not a switch the gate must leave alone:
        it stays when no Korean candidate is close, which the gate checks next. An English function word that
        only begins a listed acronym (`I` of `IT`, `A` of `API`) opens English, not the acronym."""
        key = ("gate", self.scanner.key())
        cached = self._mask_cache.get(key)
        if cached is None:
            table = self.table
            viable, complete = self._listed_leads("", prompt_words=self._terms_in_prompt)
            listed = viable & (complete | ~table.function_leads())
            cached = self._mask_cache[key] = self._strict_mask() & ((table.kind != 1) | listed[table.lead])
        return cached


def script_reason_for(state: LockState, token: int) -> str | None:
    """Why the `script` lock bans `token` in this state (None: it does not)."""
    data = state.pending + state.masks.vocab.pieces[token]
    allowed = (state.masks.pending_mask(state.pending, LockMode.script)[token] if state.pending
               else state.masks.script[token])
    return None if allowed else _script_reason(data, state.masks)


def _script_reason(data: bytes, masks: LockMasks) -> str:
    piece = split_piece(data)
    for ch in piece.text:
        if not masks.char_allowed(ch):
            return f"forbidden script ({script_of(ch)}: '{ch}')"
    if not piece.valid or piece.lead:
        return "broken UTF-8 (a byte that cannot continue the character)"
    return "starts a character of a forbidden script"


class LockProcessor:
    """A llama-cpp-python logits processor: `(input_ids, scores) -> scores` with forbidden tokens at -inf."""

    def __init__(self, masks: LockMasks, mode: LockMode, prompt: str | None = None, system: str | None = None):
        self.state = LockState(masks, mode, prompt=prompt, system=system)
        self._seen: int | None = None

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        n = len(input_ids)
        if self._seen is None:
            self._seen = n  # the first call sees only the prompt
        for token in input_ids[self._seen : n]:
            self.state.feed(int(token))
        self._seen = n
        self.state.apply(scores)
        return scores


# --- foreign risk: the lock baked into a model file (`kollama tune smooth`) -----------------------------

@lru_cache(maxsize=8)
def _cached_prefixes(lang: Language) -> frozenset[bytes]:
    return _allowed_prefixes(lang)


@lru_cache(maxsize=8)
def _target_only_prefixes(lang: Language) -> frozenset[bytes]:
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
def _allowed_suffixes(lang: Language) -> frozenset[bytes]:
    """Continuation-byte endings (1-3 bytes) of the characters `lang` allows (mirror of `_allowed_prefixes`)."""
    suffixes: set[bytes] = set()
    for cp in list(range(0x80, 0xD800)) + list(range(0xE000, 0x10000)) + list(range(0x1F000, 0x1FB00)) + list(range(0x20000, 0x2A6E0)):
        if lang.allows(script_of(chr(cp))):
            encoded = chr(cp).encode("utf-8")
            for n in range(1, len(encoded)):
                suffixes.add(encoded[n:])
    return frozenset(suffixes)


def foreign_risk(vocab: Vocabulary, lang_code: str) -> np.ndarray:
    """Tokens that can only put characters `lang_code` forbids into the text (True = at risk).

    A token is at risk when its whole characters include a forbidden one, when its open tail
    (an unfinished character) can only be completed into forbidden characters, or when its leading
    continuation bytes can only finish a forbidden character. Used to bake the lock into a model's
    output layer (`kollama tune smooth`); special tokens (empty pieces) and impossible byte
    sequences are never at risk.
    """
    lang = language(lang_code)
    prefixes, suffixes = _cached_prefixes(lang), _allowed_suffixes(lang)
    risk = np.zeros(len(vocab.pieces), dtype=bool)
    for tid, data in enumerate(vocab.pieces):
        if not data:
            continue
        piece = split_piece(data)
        if not piece.valid or len(piece.lead) > 3:
            continue
        risk[tid] = ((bool(piece.lead) and piece.lead not in suffixes)
                     or (bool(piece.tail) and piece.tail not in prefixes)
                     or any(not lang.allows(script_of(ch)) for ch in piece.text))
    return risk
