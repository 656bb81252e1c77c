"""`--lang auto`: the language the answer should be in, decided from the prompt before decoding.

Korean developers write `이 function의 return value가 왜 None이야?` and expect Korean; `What does 눈치 mean?`
expects English. The rules a reader uses, in order:
1. an explicit request wins (`language_requests`: "answer in English", "한국어로 답해줘"): the prompt's,
   then a standing one earlier in the conversation ("from now on in English"), then the system prompt's;
2. the language that supplies the grammar is the answer's; inserted words are content (`prompt_language`);
3. where an instruction and pasted content differ, the task decides: translate or summarise go to the
   instruction's language, reply/continue/rewrite to the content's, explain/answer to the instruction's;
4. a prompt too short to tell (`ok`, `계속`, a bare term) follows the conversation, then the system prompt;
5. otherwise the configured default, and the decision says it was ambiguous.
Pure: no model, no I/O; Kiwi through `korean.morphology`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kollama.errors import KollamaError
from kollama.korean import prompt_language as pl
from kollama.korean.language_requests import (FOLLOW_UP, LANGUAGE_NAMED, LANGUAGE_ONLY, STANDING, clip,
                                              explicit_request)
from kollama.korean.language_requests import language_name as _name
from kollama.korean.scripts import languages

AUTO = "auto"


@dataclass(frozen=True)
class LanguageDecision:
    """The answer language, why, and whether the prompt left it open (then `lang` is the default)."""

    lang: str
    reason: str
    ambiguous: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"lang": self.lang, "lang_reason": self.reason, "lang_ambiguous": self.ambiguous}


@dataclass(frozen=True)
class Reading:
    """What one text says by itself: its answer language (None: nothing to go by), why, and the language of
    content pasted into it (for a later "reply to her" that points back at it)."""

    lang: str | None
    reason: str
    strength: float = 0.0
    content_lang: str | None = None
    short: bool = False  # two words or fewer and no Korean grammar: too short to tell alone


def _other_language(text: str) -> str | None:
    """A prompt in none of Korean, Japanese, Chinese or English (`Bitte stell dich vor`, `Пожалуйста...`):
    fastText lid.176 names it, when sure."""
    body = " ".join(pl.QUOTE.sub(" ", pl.strip_code(text)).split())
    words = body.split()
    if sum(ch.isalpha() for ch in body) < 4 or pl.CJK.search(body) or (len(words) < 3 and re.search(r"[A-Za-z]", body)):
        return None
    english = sum(w.strip(".,!?;:'\"()").lower() in pl.FUNCTION_WORDS for w in words)
    if english >= 0.25 * len(words):  # "Thank you so much!": English, whatever fastText guesses
        return None
    from kollama.korean.lcb import _detector

    best = _detector().detect(body, model="lite", k=1)
    if best and best[0]["lang"] != "en" and best[0]["lang"] in languages() and best[0]["score"] >= 0.6:
        return best[0]["lang"]
    return None


def read_text(text: str) -> Reading:
    """The answer language `text` asks for by its grammar and, where they differ, its instruction vs its content."""
    short = pl.too_short(text)
    other = _other_language(text)
    if other:
        return Reading(other, f"the prompt is in {_name(other)}", 3.0, short=short)
    if not pl.has_grammar(text):
        if len(pl.SYLLABLE_WORD.findall(pl.strip_code(text))) >= 2:  # `React hooks 사용법 정리`: a Korean heading
            return Reading("ko", "Korean words without grammar, as in a heading", 1.0, short=short)
        return Reading(None, "bare terms, no grammar of any language", short=True)
    units = [u for u in pl.units_of(text) if u.lang]
    if not units:
        return Reading(None, "no words in any language", short=short)
    instr = [u for u in units if not u.content]
    content = [u for u in units if u.content]
    if len({u.lang for u in instr}) > 1:
        best = max(instr, key=lambda u: (pl.instruction_score(u.text), u.weight))
        content += [u for u in instr if u.lang != best.lang]
        instr = [u for u in instr if u.lang == best.lang]
    lang_i, margin_i = pl.leader(pl.total(instr))
    lang_c, margin_c = pl.leader(pl.total(content))
    task_text = " ".join(u.text for u in instr).lower()
    if lang_i is None:
        if lang_c is None:
            return Reading(None, "no grammar to go by", short=short)
        return Reading(lang_c, f"no instruction outside the pasted {_name(lang_c)} text", margin_c, lang_c, short)
    if lang_c is None or lang_c == lang_i:
        if content and pl.TRANSLATE.search(task_text) and lang_i in ("ko", "en"):
            other = "en" if lang_i == "ko" else "ko"
            return Reading(other, f"a translation of {_name(lang_i)} text names no target: into {_name(other)}",
                           2.0, lang_c, short)
        strength = margin_i if not content else max(margin_i, 1.0)
        return Reading(lang_i, _grammar_reason(lang_i, units), strength, lang_c, short)
    task, lang = _task(task_text, lang_i, lang_c)
    return Reading(lang, f"instruction in {_name(lang_i)}, content in {_name(lang_c)}: {task} answers in "
                         f"{_name(lang)}", 2.0, lang_c, short)


def _task(task_text: str, lang_i: str, lang_c: str) -> tuple[str, str]:
    """Translate/summarise and questions about the content answer in the instruction's language; reply,
    continue and rewrite in the content's; anything else (explain, answer) in the instruction's."""
    if pl.TRANSLATE.search(task_text):
        return "translate", lang_i
    if pl.SUMMARISE.search(task_text):
        return "summarise", lang_i
    if pl.ADVICE.search(task_text) or pl.QUESTION.search(task_text):
        return "a question about it", lang_i
    if pl.SAME_AS_CONTENT.search(task_text):
        return "reply/continue/rewrite", lang_c
    return "explain or answer", lang_i


def _grammar_reason(lang: str, units: list[pl.Unit]) -> str:
    others = {code for u in units for code, v in u.scores.items() if code != lang and v >= 0.5}
    if not others:
        return f"the prompt is in {_name(lang)}"
    inserted = ", ".join(_name(o) for o in sorted(others))
    return f"{_name(lang)} supplies the grammar; the {inserted} words are inserted terms"


def _text_of(content: Any) -> str:
    """A message's text: a string, or OpenAI's list of parts ({"type": "text", "text": ...})."""
    if isinstance(content, list):
        return " ".join(str(part.get("text") or "") for part in content if isinstance(part, dict))
    return str(content or "")


def _messages(history: list[dict] | None, role: str) -> list[str]:
    return [_text_of(m.get("content")) for m in history or [] if isinstance(m, dict) and m.get("role") == role]


def _points_back(prompt: str, reading: Reading, users: list[str], answers: list[str]) -> LanguageDecision | None:
    """`Reply to her for me` after a turn that pasted a Korean message: the reply is in that message's language."""
    low = prompt.lower()
    if reading.content_lang or not (users or answers):
        return None
    if pl.TRANSLATE.search(low) and answers and len(prompt.split()) <= 4:
        said = read_text(answers[-1])  # "translate that": into the other of Korean and English
        if said.lang in ("ko", "en"):
            other = "en" if said.lang == "ko" else "ko"
            return LanguageDecision(other, f"a translation of the last answer ({_name(said.lang)}): into {_name(other)}")
    if not users or not pl.SAME_AS_CONTENT.search(low) or pl.QUESTION.search(low) or pl.ADVICE.search(low) \
            or pl.TRANSLATE.search(low) or re.search(r"\bexplain|설명|알려", low):
        return None
    earlier = read_text(users[-1])
    if earlier.content_lang and earlier.content_lang != reading.lang:
        return LanguageDecision(earlier.content_lang, f"a reply/rewrite of the {_name(earlier.content_lang)} text "
                                                      "pasted earlier in the conversation")
    said = read_text(answers[-1]) if answers else None
    if said and said.lang and said.lang != reading.lang:
        return LanguageDecision(said.lang, f"a rewrite of the last answer, which is in {_name(said.lang)}")
    return None


def infer_answer_language(prompt: str, system: str | None = None, history: list[dict] | None = None,
                          default: str = "ko") -> LanguageDecision:
    """The language the answer to `prompt` should be in; `history` is the conversation before it
    ([{"role": "user"|"assistant", "content": ...}]), oldest first."""
    users = _messages(history, "user")
    found = explicit_request(prompt)
    if found and users and LANGUAGE_ONLY.match(prompt.strip()) and LANGUAGE_NAMED.search(users[-1]) \
            and not explicit_request(users[-1]):
        found = None  # "And in Korean?" after "How do you say X in Japanese?": the same question again
    if found:
        return LanguageDecision(found[0], f"the prompt asks for {_name(found[0])} ('{found[1]}')")
    for earlier in reversed(users):
        found = explicit_request(earlier)
        if found and STANDING.search(earlier):
            return LanguageDecision(found[0], f"the conversation asked for {_name(found[0])} from then on "
                                              f"('{found[1]}')")
    found = explicit_request(system)
    if found:
        return LanguageDecision(found[0], f"the system prompt asks for {_name(found[0])} ('{found[1]}')")
    reading = read_text(prompt)
    answers = _messages(history, "assistant")
    if answers and pl.CONTINUE.match(prompt.strip()):
        said = read_text(answers[-1])
        if said.lang:
            return LanguageDecision(said.lang, f"'{clip(prompt, 20)}' continues the last answer, which is in "
                                               f"{_name(said.lang)}")
    back = _points_back(prompt, reading, users, answers)
    if back:
        return back
    if users and len(prompt.split()) <= 4 and FOLLOW_UP.search(prompt):
        found = explicit_request(users[-1])  # "그럼 이건?" after "Translate into English: ...": the same task
        if found:
            return LanguageDecision(found[0], f"a follow-up of the previous request for {_name(found[0])}")
    if reading.lang is not None and reading.strength >= 1.0 and not reading.short:
        return _with_system(reading, system)
    return _from_context(reading, system, users, answers, default)


def _with_system(reading: Reading, system: str | None) -> LanguageDecision:
    """The prompt's own language, unless the system prompt makes every prompt a text to translate."""
    if system and pl.TRANSLATE.search(system.lower()) and reading.lang in ("ko", "en"):
        other = "en" if reading.lang == "ko" else "ko"
        return LanguageDecision(other, f"the system prompt asks to translate; the prompt is {_name(reading.lang)}")
    return LanguageDecision(str(reading.lang), reading.reason)


def _from_context(reading: Reading, system: str | None, users: list[str], answers: list[str],
                  default: str) -> LanguageDecision:
    """A prompt too short or too bare to tell: the conversation, then the answers, then the prompt's own
    weak reading, then the system prompt, then the default (said to be ambiguous)."""
    short = "the prompt is too short to tell"
    for earlier in reversed(users):
        found = explicit_request(earlier)
        if found:
            return LanguageDecision(found[0], f"{short}; the previous request asked for {_name(found[0])}")
        said = read_text(earlier)
        if said.lang and said.strength >= 1.0:
            return LanguageDecision(said.lang, f"{short}; the conversation is in {_name(said.lang)}")
    for answer in reversed(answers):
        said = read_text(answer)
        if said.lang and said.strength >= 1.0:
            return LanguageDecision(said.lang, f"{short}; the answers so far are in {_name(said.lang)}")
    if reading.lang is not None and reading.strength >= 1.0:  # "Any tips?": short, but the user's own words
        return _with_system(reading, system)
    if system:
        said = read_text(system)
        if said.lang and said.strength >= 1.0:
            if pl.TRANSLATE.search(system.lower()) and reading.lang in ("ko", "en"):
                other = "en" if reading.lang == "ko" else "ko"
                return LanguageDecision(other, f"the system prompt asks to translate; the prompt is "
                                               f"{_name(reading.lang)}")
            return LanguageDecision(said.lang, f"{short}; the system prompt is in {_name(said.lang)}")
    return LanguageDecision(default, f"ambiguous prompt ({reading.reason}): the default, {_name(default)}",
                            ambiguous=True)


def check_lang(value: str, allow_auto: bool = True) -> str:
    """`value` when it is a known language code (or `auto`); a one-line error listing the choices otherwise."""
    if value == AUTO and allow_auto:
        return value
    if value not in languages():
        choices = ", ".join(sorted(languages()))
        raise KollamaError(f"unknown language '{value}'",
                           hint=f"use {'auto or ' if allow_auto else ''}one of: {choices}")
    return value


def resolve_answer_language(value: str, prompt: str, system: str | None = None, history: list[dict] | None = None,
                            default: str = "ko") -> LanguageDecision:
    """The edges' one call: `auto` is inferred from the prompt; a language code is the user's choice."""
    if check_lang(value) == AUTO:
        return infer_answer_language(prompt, system=system, history=history, default=default)
    return LanguageDecision(value, f"set by the user ({value})")
