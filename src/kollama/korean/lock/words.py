"""Which Latin words `strict` lets through: the fidelity policy's verdicts on words, plus the prompt's own words.

The verdicts come from `kollama.korean.policy`, imported where used: a lock that never judges a word
(`script`, `off`) does not load the policy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

URL_SCHEMES = ("http", "https", "ftp")
NAME_MAX = 20  # longest Latin word taken for a name
MAX_LATIN_RUN = 3  # most Latin words in a row outside exempt spans before a Hangul letter must come
ACRONYM_MAX = 5  # longest run of capitals taken for an acronym: the fidelity policy's acronym_max_length (tested)


WORD = re.compile(r"[A-Za-z]+")  # a letter run as the lock tracks it (apostrophes are followed separately)


def is_letter(ch: str) -> bool:
    return ch.isascii() and ch.isalpha()


def fence_kind(tag: str) -> str:
    """`json`, `text` or `code`: what a fence's tag says its block holds (the fidelity policy's definition)."""
    from kollama.korean.policy import fence_kind as policy_fence_kind

    return policy_fence_kind(tag)


@lru_cache(maxsize=1)
def quote_max_words() -> int:
    """The most words a quoted title holds (the fidelity policy's own limit)."""
    from kollama.korean.policy import policy

    return policy().quote_max_words


@lru_cache(maxsize=1)
def known_acronyms() -> frozenset[str]:
    """The short data list of acronyms a Korean text writes in Latin capitals, as written (IT, not `it`)."""
    text = resources.files("kollama.data").joinpath("acronyms.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


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
def camel_english(word: str) -> bool:
    from kollama.korean.policy import camel_runs_english_together

    return camel_runs_english_together(word)


def camel_tail_is_function_word(word: str) -> bool:
    """Would a capital after `word` make a function word inner (`IntroductionTo` + `G`) or glue a lower-case
    function word to a capital (`be` + `O`)? Then no continuation starting with a capital can end as a name."""
    from kollama.korean.policy import camel_humps, is_function_word

    humps = camel_humps(word)
    if not humps:
        return False
    if humps[0].islower() and len(humps[0]) >= 2 and len(humps) == 1:
        return is_function_word(humps[0])
    return len(humps) >= 2 and len(humps[-1]) >= 2 and is_function_word(humps[-1])


@lru_cache(maxsize=50_000)
def word_class(word: str) -> str:
    """How a word counts towards a sentence: 'f' function word, 'o' ordinary English word, '-' neither."""
    from kollama.korean.policy import is_function_word

    if is_function_word(word):
        return "f"
    return "o" if _looks_like_sentence((word, word, word)) else "-"


def run_signature(run: tuple[str, ...]) -> tuple[str, ...]:
    """What of a run of words the sentence rule can see: how many words of each class (it counts, no more)."""
    return tuple(sorted(word_class(w) for w in run))


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
        from kollama.korean.policy import asked_languages, prompt_vocabulary

        # the judge's definition of the words a prompt licenses: a Korean prompt's Latin words; an English
        # prompt's terms and names, never its ordinary or function words (`could`, `in`)
        words = set(prompt_vocabulary(prompt, system)) | set(URL_SCHEMES) | {"www"}
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
    if camel_english(word):
        return False  # IntroductionToG, beO: English run together, whatever follows
    if word.isupper():
        return len(word) <= ACRONYM_MAX
    if word[0].isupper():
        return len(word) <= NAME_MAX  # capitalised: it can still end as a name
    return len(word) <= 3 and _short_lower_viable(word.lower(), inside)


def base_complete(word: str, glued: bool = False, inside: bool = False) -> bool:
    """Without the prompt: is this finished word accepted as it is?"""
    if word.isupper() and len(word) > 1:
        return False  # unknown acronyms need a gloss (or the list, or the prompt)
    return len(word) <= NAME_MAX and _judged_ok(word, glued, inside)
