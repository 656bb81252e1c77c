"""`strict` as a state machine over the answer so far: exempt spans, and the Latin word in progress."""

from __future__ import annotations

from dataclasses import dataclass

from kollama.korean.lock.words import (
    ACRONYM_MAX,
    URL_SCHEMES,
    WordPolicy,
    fence_kind,
    is_letter,
    quote_max_words,
    run_signature,
)
from kollama.korean.scripts import script_of

_QUOTES = {"“": "”", "‘": "’", "「": "」", "『": "』", "《": "》", "〈": "〉"}


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
    fence_info: str | None = None  # the tag of a fence just opened, until its line ends
    data_fence: bool = False  # inside a fenced block of data or text (```json, ```markdown): read, not exempt
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
    # a quoted title is exempt only on a Korean line (the judge's quote rule): a quote opened after Latin words
    # on a line without Hangul is judged like the rest, and a line that opens with a quote must reach Hangul
    line_target: bool = False  # a target-language letter on this line so far
    line_latin: bool = False  # a Latin letter outside exempt spans on this line so far
    quote_alone: bool = False  # a quote was exempted on this line before any target-language letter
    quote_words: int = 0  # words so far inside the open quote (a title has at most the policy's quote_max_words)

    def copy(self) -> StrictScanner:
        twin = StrictScanner.__new__(StrictScanner)  # 10x faster than dataclasses.replace; fields are immutable
        twin.__dict__.update(self.__dict__)
        return twin

    def key(self) -> tuple:
        return (self.fence, self.fence_info, self.data_fence, self.ticks, self.inline, self.quote, self.gloss, self.gloss_needs_hangul, self.url,
                self.json, self.json_stack, self.json_string, self.json_key, self.json_escape,
                self.json_expect_key, self.word, self.word_bad, self.word_glued, self.need_gloss,
                run_signature(self.run), script_of(self.last_visible) in self.target,
                script_of(self.last) in self.target, self.last.isascii() and self.last.isalnum(), is_letter(self.last),
                self.line_target, self.line_latin, self.quote_alone, self.quote_words)

    def needs_target(self) -> bool:
        """May this line (or the answer) not end here? An open quote must close on its line, and a line opened
        by a quote must reach a target-language letter."""
        return bool(self.quote) or (self.quote_alone and not self.line_target)

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
        if word.isupper() and len(word) <= ACRONYM_MAX:
            self.need_gloss = True
            return None
        return "Latin word outside exempt spans (the fidelity policy flags it; not the prompt's, not listed)"

    def feed_char(self, ch: str) -> str | None:
        if script_of(ch) in self.target:
            self.line_target = True
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
                self.inline = False
                if self.data_fence:  # the end of a data block
                    self.data_fence = self.json_string = self.json_key = self.json_escape = False
                    self.json, self.json_stack, self.json_expect_key = False, "", False
                else:
                    self.fence = not self.fence
                    self.fence_info = "" if self.fence else None
            elif not self.fence and not self.quote and not self.url:
                self.inline = not self.inline
            self.last = ch
            return why
        self.ticks = 0
        if self.fence:
            if self.fence_info is not None:
                if ch == "\n":
                    self._open_block(fence_kind(self.fence_info))
                else:
                    self.fence_info = (self.fence_info + ch)[:24]
            self.last = ch
            return None
        if ch == "\n":
            why = self._end_word() if self.word else None
            if self.need_gloss and why is None:
                why = "acronym without a Hangul gloss"
            if self.quote and why is None:
                why = "an unclosed quote (a quoted title closes on its line)"
            elif self.needs_target() and why is None:
                why = "a quoted title needs Korean on its line (the fidelity policy judges it otherwise)"
            self.line_target = self.line_latin = self.quote_alone = False
            self.quote_words = 0
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
                self.quote, self.quote_words = "", 0
            elif is_letter(ch) and not is_letter(self.last):  # a word begins inside the quote
                if self.quote_words >= quote_max_words():
                    why = "a quote longer than a title (the fidelity policy judges it as text)"
                else:
                    self.quote_words += 1
            self.last = ch
            return why
        if self.gloss:
            if ch == ")":
                self.gloss = self.gloss_needs_hangul = False
            elif is_letter(ch) and self.gloss_needs_hangul:
                why = "a gloss after an unknown acronym must be Hangul"
            elif script_of(ch) in self.target:
                self.gloss_needs_hangul = False
            self.last = ch
            return why
        if ch in "'’" and self.word and not self.word.endswith(("'", "’")):  # I'm, don't: one word
            self.word += ch
            self.last = ch
            return why
        if is_letter(ch):
            self.line_latin = True
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
            if ch == ":" and word.lower() in URL_SCHEMES or ch == "." and word.lower() == "www" or ch == "@":
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
        elif self.line_latin and not self.line_target:
            pass  # a quote on a line that is English so far is no title: what follows is judged
        elif ch == '"' and not self.json:
            self.quote = '"'
        elif ch == "'" and not (self.last.isascii() and self.last.isalnum()):
            self.quote = "'"
        elif ch in _QUOTES:
            self.quote = _QUOTES[ch]
        if self.quote and not self.line_target:
            self.quote_alone = True
        self.last = ch
        return why

    def _open_block(self, kind: str) -> None:
        """A fence's tag has ended: a data or text block is read like the answer (JSON by its own rules)."""
        self.fence_info = None
        if kind == "code":
            return
        self.fence, self.data_fence = False, True
        self.json = kind == "json"
        self.json_stack, self.json_string, self.json_key, self.json_escape, self.json_expect_key = "", False, False, False, False

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
