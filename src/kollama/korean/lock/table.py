"""Per-token facts `strict` and `gated` need, computed once per vocabulary (and cached beside the masks)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from kollama.korean.lock.vocabulary import Vocabulary, split_piece, target_only_prefixes
from kollama.korean.lock.words import WORD, base_complete, base_viable, is_letter, word_class
from kollama.korean.scripts import Language, script_of

# Characters that open or close an exempt span, or start a URL / e-mail. A token holding one of these
# together with ASCII letters is judged by running the scanner over it; every other token is judged by
# vectorised lookups (see LockState._strict_mask).
SPECIALS = frozenset("`\"'()[]{}:/@\n“”‘’「」『』《》〈〉")


class TokenKind(IntEnum):
    """How `strict` judges a token in a clean state (the values are stored in `TokenTable.kind`, an int8 array)."""

    PLAIN = 0  # no ASCII letter and no special character
    LETTER_RUN = 1  # one ASCII letter run and no special character: judged by lookups over its letter run
    SCANNED = 2  # anything else with text: judged by running the scanner over it
    NO_TEXT = 3  # no clean-state text (special tokens, byte pieces)



@dataclass
class TokenTable:
    """Per-token facts `strict` and `gated` need, computed once per vocabulary from the clean-state text."""

    kind: np.ndarray  # int8 TokenKind values
    lead: np.ndarray  # int32 index into leads (LETTER_RUN), else len(leads)
    leads: list[str]  # the distinct letter runs, as written
    lead_len: np.ndarray
    flags: dict[str, np.ndarray]
    texts: dict[int, str]  # clean-state text of SCANNED tokens
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
        kind = np.full(n, TokenKind.NO_TEXT, dtype=np.int8)
        lead = np.full(n, -1, dtype=np.int32)
        lead_len = np.zeros(n, dtype=np.int16)
        flags = {name: np.zeros(n, dtype=bool) for name in cls.FLAGS}
        leads: dict[str, int] = {}
        texts: dict[int, str] = {}
        closed: set[int] = set()
        is_target = lambda ch: script_of(ch) in lang.scripts  # noqa: E731
        target_tails = target_only_prefixes(lang)
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
            runs = WORD.findall(text)
            has_special = any(ch in SPECIALS for ch in text)
            flags["letters"][tid] = bool(runs)
            flags["target"][tid] = opens_target or any(is_target(ch) for ch in text)
            flags["starts_target"][tid] = is_target(text[0])
            if not runs and not has_special:
                kind[tid] = TokenKind.PLAIN
                flags["space_only"][tid] = text.isspace() and not piece.tail
                continue
            if len(runs) == 1 and not has_special:
                m = WORD.search(text)
                assert m is not None
                word = m.group(0)
                kind[tid] = TokenKind.LETTER_RUN
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
            kind[tid] = TokenKind.SCANNED
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

    def camel_leads(self) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """Over the leads, for camel case after a word in progress: (starts with a capital, has a function word
        that the word before would make inner, the few leads that start lower-case and have a capital later)."""
        if "camel" not in self._words:
            from kollama.korean.policy import camel_humps, is_function_word

            size = len(self.leads) + 1
            upper_start = np.zeros(size, dtype=bool)
            inner_fn = np.zeros(size, dtype=bool)
            mixed_lower: list[int] = []
            for i, word in enumerate(self.leads):
                if not any(ch.isupper() for ch in word):
                    continue
                humps = camel_humps(word)
                upper_start[i] = word[0].isupper()
                if not upper_start[i]:
                    mixed_lower.append(i)
                    continue
                inner_fn[i] = any(len(h) >= 2 and is_function_word(h) for h in humps[:-1])
            self._words["camel"] = (upper_start, inner_fn, mixed_lower)
        return self._words["camel"]

    def lettered_texts(self, line_breaks: bool = False) -> dict[int, str]:
        """The SCANNED tokens that can break a rule with no word in progress: those with an ASCII letter (a Latin
        word), those that open a quote and end the line in it, and with `line_breaks` every one with a line break
        (a quote left open, a line that must reach Hangul)."""
        key = f"lettered:{line_breaks}"
        if key not in self._words:
            quotes = "\"'“‘「『《〈"
            self._words[key] = {tid: text for tid, text in self.texts.items()
                                if any(map(is_letter, text))
                                or ("\n" in text and (line_breaks or any(q in text for q in quotes)))}
        return self._words[key]

    def function_leads(self) -> np.ndarray:
        """Over the leads: is the letter run an English function word (`I`, `A`, `The`, `In`)?"""
        if "function" not in self._words:
            self._words["function"] = np.array([word_class(w) == "f" for w in self.leads] + [False], dtype=bool)
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
