"""The vectorised `strict` mask of a LockState: which tokens may come next, by lookups over the token table.

Most tokens are judged by their letter run (the table's leads) with verdicts computed once per lead; only the
few tokens holding exempt-span characters with letters run the scanner over their text.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kollama.korean.lock.masks import LockMasks
from kollama.korean.lock.scanner import StrictScanner
from kollama.korean.lock.table import TokenKind, TokenTable
from kollama.korean.lock.words import (
    ACRONYM_MAX,
    NAME_MAX,
    WordPolicy,
    base_viable,
    camel_english,
    camel_tail_is_function_word,
    is_letter,
    quote_max_words,
    run_signature,
)
from kollama.korean.scripts import script_of


class StrictMask:
    """LockState's `strict` mask, kept apart from the per-step bookkeeping; LockState sets these attributes."""

    masks: LockMasks
    policy: WordPolicy
    scanner: StrictScanner
    table: TokenTable
    _eog: np.ndarray
    _lead_cache: dict[Any, Any]
    _mask_cache: dict[tuple, np.ndarray]
    _policy_key: tuple
    _fresh: np.ndarray | None

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
        """LETTER_RUN tokens whose letter run, as a new word after the Latin words `run`, `strict` allows."""
        if run:
            key = ("fresh", run_signature(run))
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
            caps = table.upper & (table.lead_len <= ACRONYM_MAX)
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

    def _camel_dead(self, word: str) -> np.ndarray:
        """Over the leads: does `word + lead` turn into English run together in camel case (`IntroductionTo` +
        `Gender`, `be` + `O`)? Whatever follows, the judge flags it, so `strict` stops it where it starts."""
        table = self.table
        upper_start, inner_fn, mixed_lower = table.camel_leads()
        dead = inner_fn | upper_start if camel_tail_is_function_word(word) else inner_fn.copy()
        if len(word) >= 2 and word[-2:].isupper() and camel_english(word + "x"):
            # a lower-case letter takes the last capital of a run into a new part: `RequestITT` + `asers`
            # reads `Request`, `IT`, `Tasers`, with a function word inside
            dead[:-1] |= ~upper_start[:-1]
        for i in mixed_lower:
            dead[i] = camel_english(word + table.leads[i])
        return dead

    def _continued_ok(self, word: str, glued_before: bool, run: tuple[str, ...] = ()) -> np.ndarray:
        """LETTER_RUN tokens starting with a letter, continuing the open `word` (per token)."""
        key = ("cont", glued_before, word, run_signature(run))
        cached = self._lead_cache.get(key)
        if cached is not None:
            return cached
        table, policy = self.table, self.policy
        lengths, uppers = table.lead_shape()
        total = lengths + len(word)
        viable = self._listed_leads(word)[0].copy()
        if word.isupper():  # more capitals: an acronym in progress; a lower-case letter: a camel-case name
            viable |= np.where(uppers, total <= ACRONYM_MAX, total <= NAME_MAX)
        elif word[0].isupper():
            viable |= total <= NAME_MAX
        else:
            for i in np.flatnonzero(total <= 3):
                viable[i] = viable[i] or base_viable(word + table.leads[i], glued_before)
        viable &= ~(self._english_only_after(word) | self._camel_dead(word)) | self._listed_leads(word)[0]
        plain = np.zeros(len(table.leads) + 1, dtype=bool)
        glued = np.zeros(len(table.leads) + 1, dtype=bool)
        for i in table.closed_leads:
            whole = word + table.leads[i]
            plain[i] = not policy.is_sentence(run + (whole,)) and policy.complete(whole, False, glued_before)
            glued[i] = policy.complete(whole, True, glued_before)
        lead = table.lead
        caps = table.upper & (table.lead_len + len(word) <= ACRONYM_MAX) if word.isupper() else False
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
        simple = table.kind == TokenKind.LETTER_RUN
        word = "" if scanner.word_bad else scanner.word
        if scanner.need_gloss:  # after an unknown acronym: spaces, then "(" (a SCANNED token)
            mask &= (((table.kind == TokenKind.NO_TEXT) & ~table.tail_only) | (table.kind == TokenKind.SCANNED)
                     | ((table.kind == TokenKind.PLAIN) & table.space_only))
        elif scanner.gloss and scanner.gloss_needs_hangul:  # its gloss must start with Hangul
            mask &= ~(simple & ~table.target_before)
        elif not scanner.exempt():
            # A word ends with any character but a letter: only where it may end.
            ends = (table.kind == TokenKind.PLAIN) | (simple & ~table.starts_letter) | table.tail_only
            if word:
                sentence = self.policy.is_sentence(scanner.run + (word,))
                end_plain = not sentence and self.policy.complete(word, False, scanner.word_glued)
                end_glued = self.policy.complete(word, True, scanner.word_glued)  # glued to a particle: a term
                can_end = np.where(table.starts_target, end_glued, end_plain)  # an open character: not glued
                if word.isupper() and len(word) <= ACRONYM_MAX:  # spaces may come before its gloss
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
                    caps = table.upper & (table.lead_len <= ACRONYM_MAX)
                    glued_ok = np.where(table.closed, ends_in[lead] | listed_c[lead] | (caps & table.space_after),
                                        viable_in[lead] | listed_v[lead])
                    fresh = np.where(table.starts_letter, glued_ok, fresh)
                ok = fresh
            mask &= ~simple | ok
        elif scanner.quote and not scanner.inline and scanner.quote_words >= quote_max_words():
            # a quote as long as a title may take no more words: letters may only finish the word in progress
            mask &= ~simple | (table.starts_letter & is_letter(scanner.last))
        elif scanner.url and not scanner.fence and not scanner.inline:
            # whitespace ends a URL: a letter run after it is a fresh word outside
            mask &= ~(simple & table.before_space) | self._fresh_ok()
        # the rest (SCANNED): run the scanner over the token. Without a word in progress or an acronym waiting for
        # its gloss, a token with no ASCII letter cannot break a rule: only its lettered tokens need the scan.
        if scanner.needs_target():  # a line opened by a quote must reach Korean before the answer ends
            mask[self._eog] = False
        quiet = (not scanner.word or scanner.word_bad) and not scanner.need_gloss
        texts = table.lettered_texts(line_breaks=scanner.needs_target()) if quiet else table.texts
        for tid, text in texts.items():
            if mask[tid]:
                mask[tid] = scanner.copy().feed(text) is None
        if not mask.any():  # never leave the sampler nothing: give up the word in progress rather than garble
            mask = self.masks.script & ~table.letters
            if not mask.any():
                mask = self.masks.script
        self._mask_cache[key] = mask
        self.masks.remember_strict_mask(shared_key, mask)
        return mask
