"""`--lang auto`: the language the answer should be in, decided from the prompt before decoding.

Korean developers write `이 function의 return value가 왜 None이야?` and expect Korean; `What does 눈치 mean?`
expects English. The rules a reader uses, in order:
1. an explicit request wins ("answer in English", "한국어로 답해줘", "Translate into Korean: ..."): the prompt's,
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
from kollama.korean.scripts import languages

AUTO = "auto"

# language names as a request spells them -> code (English, Korean and native spellings)
_NAMES_EN = {"korean": "ko", "english": "en", "japanese": "ja", "chinese": "zh", "mandarin": "zh", "spanish": "es",
             "french": "fr", "german": "de", "italian": "it", "portuguese": "pt", "russian": "ru", "vietnamese": "vi",
             "thai": "th", "indonesian": "id", "arabic": "ar", "hindi": "hi", "dutch": "nl", "polish": "pl",
             "turkish": "tr", "ukrainian": "uk", "hebrew": "he", "greek": "el", "swahili": "sw"}
_SHORT_EN = {"eng": "en", "kor": "ko", "kr": "ko", "jp": "ja", "jpn": "ja", "chn": "zh", "cn": "zh"}  # `Kor로`, `eng pls`
_NAMES_KO = {"한국어": "ko", "한국말": "ko", "한글": "ko", "우리말": "ko", "국문": "ko", "영어": "en", "영문": "en",
             "일본어": "ja", "일어": "ja", "중국어": "zh", "중문": "zh", "스페인어": "es", "프랑스어": "fr", "불어": "fr",
             "독일어": "de", "이탈리아어": "it", "포르투갈어": "pt", "러시아어": "ru", "베트남어": "vi", "태국어": "th",
             "인도네시아어": "id", "아랍어": "ar", "힌디어": "hi"}
_EN = "|".join(_NAMES_EN)
_EN_SHORT = "|".join([*_NAMES_EN, *_SHORT_EN])
_KO = "|".join(sorted(_NAMES_KO, key=len, reverse=True))
# after "in Korean": the end, punctuation, a function word or a number; "in Korean culture" is about Korea
_NOT_A_NOUN = frozenset(pl.FUNCTION_WORDS | {"please", "pls", "plz", "only", "language", "instead", "too", "again",
                                              "now", "first", "though", "anyway", "thanks", "thank"})
_NUMBER_WORDS = frozenset("one two three four five six seven eight nine ten hundred".split())
_ABOUT_LANGUAGE = r"(?:word|words|term|phrase|expression|equivalent|name|called|mean|means|meaning|say|said|" \
                  r"interested|fluent|proficient|good|better|classes|lessons|course|courses|spelled|" \
                  r"spell|pronounce|pronounced|alphabet)"
_STYLE = "plain|simple|natural|fluent|formal|casual|polite|proper|standard|both|easy|everyday|colloquial|informal|" \
         "business|honorific|friendly|conversational|native|basic|good|correct|modern|clear|short|polished"
_EXPLICIT_EN = [
    re.compile(rf"(?i)\b(?:in|into)\s+(?:the\s+)?(?:(?:{_STYLE})\s+){{0,2}}({_EN})(?:\s+language)?\b"),
    re.compile(rf"(?i)\b(?:translat\w*|convert\w*|switch\w*|chang\w*|turn\w*|render\w*|rewrit\w*)\b[^.?!\n]{{0,120}}?"
               rf"\bto\s+(?:the\s+)?(?:natural\s+|plain\s+)?({_EN})\b"),
    re.compile(rf"(?i)\b(?:use|using|speak|speaking|output)\s+(?:only\s+)?({_EN})\b"),
    re.compile(rf"(?i)\b(?:in|into|write|give\s+me|produce)\s+(?:a|an|one|two|three|\d+|a\s+short|short|single)\s+"
               rf"({_EN})\s+(?:sentence|paragraph|summary|line|tweet|email|message|post|poem|story|essay|letter)s?\b"),
    re.compile(rf"(?i)\b({_EN_SHORT}),?(?:\s+|-)(?:only|please|pls|plz|answers?|responses?|reply|replies|translation|version|"
               rf"output)\b"),
    re.compile(rf"(?i)\bin\s+({'|'.join(_SHORT_EN)})\b(?=\s*(?:$|[.,!?)]|pls|plz|please))"),
    re.compile(r"(日本語|中文|汉语|漢語|英语|英文|韓国語|韩语|韓語)(?:で|で答|で回答|回答|回复|回覆|作答)"),
    re.compile(r"用(中文|汉语|英语|英文|日语|韩语)"),
]
_NATIVE = {"日本語": "ja", "中文": "zh", "汉语": "zh", "漢語": "zh", "英语": "en", "英文": "en", "韓国語": "ko",
           "韩语": "ko", "韓語": "ko", "日语": "ja"}
_VERB_KO = r"(?:인사|답|대답|응답|말|써|쓰|작성|번역|바꿔|바꾸|옮겨|옮기|해\s*줘|해\s*주|해\s*줄|해\s*봐|해라|해요|부탁|설명|요약|정리|" \
           r"알려|적어|얘기|이야기|표현해\s*줘|출력|대화|풀어|변환|돌려|진행|답변|회신|써\s*줘|작문|불러)"
_BETWEEN_KO = r"(?:만|도|좀|다시|꼭|잘|한번|한\s*번|전부|모두|다|간단히|간략히|자세히|짧게|\S+하게|\S+스럽게|\S*하려는데|" \
              r"\S*하려고|(?!\S*(?:된|되어|되는|쓰인|적힌|있는|인|는데|은데|니까|지만|어서|아서|왔|받)(?:\s|$))\S+)"
_EXPLICIT_KO = [
    re.compile(rf"((?:{_KO})|(?<![A-Za-z])(?:{_EN_SHORT}))\s*(?:으로|로)(?:만|도)?\s*(?:{_BETWEEN_KO}\s+){{0,4}}"
               rf"(?!\S*(?:된|되어|되는|쓰인|적힌|있는)(?:\s|$)){_VERB_KO}", re.I),
    re.compile(rf"((?:{_KO})|(?<![A-Za-z])(?:{_EN_SHORT}))\s*(?:으로|로)(?:만|도)?\s*(?:{_BETWEEN_KO}\s+){{0,4}}"
               rf"\S*(?:하세요|하십시오|하라|해라|하자|해요|합시다|할래|해줘|해\s*줘|해\s*주세요|해\s*줄래|부탁)", re.I),
    re.compile(rf"((?:{_KO})|(?<![A-Za-z])(?:{_EN_SHORT}))\s*(?:으로|로)\s*(?:만|요|좀|부탁해?요?)?\s*(?:[.!?~)\]]+|$)", re.I | re.M),
    re.compile(rf"({_KO})\s*(?:원어민|네이티브)처럼"),
    re.compile(rf"({_KO})\s*그대로\s*(?:\S+\s+)?{_VERB_KO}"),
    re.compile(rf"({_KO})\s*(?:으로|로)\s*된\s+(?:\S+\s+){{0,3}}?\S*(?:만들|써|작성)"),  # "영어로 된 슬라이드 만들어 줘"
    re.compile(rf"(?:답변|대답|응답|답|출력|언어)(?:은|는|:)?\s*(?:항상|반드시|무조건|꼭)?\s*({_KO})(?:로|으로)?\s*(?:[.!]|$|만)",
               re.M),
    re.compile(rf"({_KO})\s*(?:답변|대답|응답|번역|버전|답장)\s*(?:으로|로|좀|부탁|해|:|$)", re.M),
    re.compile(rf"({_KO})\s+(?:\S+\s+)?(?:이메일|메일|편지|문장|글|답장|답변|자기소개서?|보고서|버전|텍스트|시|가사|캡션|"
               rf"문구|제목|슬로건|대본|스크립트|요약|설명|일기)\S*?(?:을|를|로|으로|도|만)?\s+(?:\S+\s+){{0,2}}"
               rf"\S*(?:써|쓰|작성|만들|부탁)"),
]
_IN_LANGUAGE, _SPEAK, _OUTPUT_IN = _EXPLICIT_EN[0], _EXPLICIT_EN[2], _EXPLICIT_EN[4]  # "in L", "speak L", "L translation"
_QUESTION_ABOUT_KO = re.compile(r"^\s*(?:\S+\s*){0,2}?(?:뭐|무엇|어떻게|뭐라|뭔지|어떤|무슨)")
_NEGATED = re.compile(r"(?i)(?:\bnot|\bdon'?t|\bnever|\binstead\s+of|\brather\s+than|\bno)\s+(?:\w+\s+){0,3}$")
_NEGATED_AFTER_KO = re.compile(r"^\s*(?:으로|로)\s*(?:는\s*)?(?:\S*지\s*(?:말|마)|말고|대신|말구|안\s*돼)")
_DESCRIBED = re.compile(r"(?i)\b(?:is|are|was|were|it's|that's|been)\s+(?:\w+\s+)?(?:written|spoken|said|sent)\s+$")
_LANGUAGE_ONLY = re.compile(rf"(?i)^\W*(?:and|or|what\s+about|how\s+about)?\s*(?:in\s+)?(?:{_EN})\s*\??\W*$"
                            rf"|^\W*(?:{_KO})(?:으로는|로는|는)\s*\??\W*$")
_LANGUAGE_NAMED = re.compile(rf"(?i)\b(?:{_EN})\b|{_KO}")
# a language asked for a part of the answer (the comments of code), not for the answer
_PART_EN = re.compile(r"(?i)\b(?:comments?|variable\s+names?|labels?|keys?|column\s+names?|docstrings?|commit\s+messages?|"
                      r"log\s+messages?|identifiers?)\s+$")
_PART_KO = re.compile(r"(?:주석|변수명|변수\s*이름|커밋\s*메시지|로그|키\s*이름)(?:은|는|을|를|도|만)?\s*$")
_FOLLOW_UP = re.compile(r"(?i)그럼|이건|이거는|이것도|저건|\b(?:and\s+this|this\s+one|what\s+about|how\s+about|another|"
                        r"next\s+one|same\s+for)\b")
_STANDING = re.compile(r"(?i)\bfrom\s+now\s+on\b|\blet'?s\s+(?:talk|speak|chat|continue|switch|keep)\b|\bfrom\s+here\b|\bgoing\s+forward\b|\balways\b|\bfor\s+the\s+rest\b|\bevery\s+(?:answer|"
                       r"reply|response|time)\b|\ball\s+(?:your\s+)?(?:answers|replies|responses)\b|앞으로|이제부터|"
                       r"지금부터|항상|계속|늘|모든\s*(?:답|대답)")
_NAMES = {"ko": "Korean", "en": "English", "ja": "Japanese", "zh": "Chinese"}


@dataclass(frozen=True)
class LanguageDecision:
    """The answer language, why, and whether the prompt left it open (then `lang` is the default)."""

    lang: str
    reason: str
    ambiguous: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"lang": self.lang, "lang_reason": self.reason, "lang_ambiguous": self.ambiguous}


def _name(code: str) -> str:
    if code in _NAMES:
        return _NAMES[code]
    return languages()[code].name if code in languages() else code


def _clip(text: str, size: int = 48) -> str:
    text = " ".join(text.split())
    return text if len(text) <= size else text[: size - 1] + "…"


def _code_of(name: str) -> str | None:
    low = name.lower()
    return _NAMES_EN.get(low) or _SHORT_EN.get(low) or _NAMES_KO.get(name) or _NATIVE.get(name)


def _noun_follows(body: str, end: int) -> bool:
    """`in Korean culture`: the language name is an adjective of the noun after it, not a request."""
    after = re.match(r"[ \t]+([A-Za-z]+)", body[end:])
    if not after:
        return False
    word = after.group(1)
    low = word.lower()
    return not (low in _NOT_A_NOUN or low.endswith(("ing", "ed", "ly")) or low in _NUMBER_WORDS or word[0].isupper())


def _overlapping(pattern: re.Pattern, text: str) -> list[re.Match]:
    """Every match, also those starting inside an earlier one ("영어로 말하면 한국어로 바꿔": both requests)."""
    found, pos = [], 0
    while (m := pattern.search(text, pos)) is not None:
        found.append(m)
        pos = m.start() + 1
    return found


def explicit_request(text: str | None) -> tuple[str, str] | None:
    """(code, the words that ask) for a request of an answer language in `text`, quotes and code left out."""
    if not text:
        return None
    body = pl.QUOTE.sub(pl.PLACEHOLDER, pl.strip_code(text))
    found: list[tuple[int, str, str]] = []
    for pattern in _EXPLICIT_EN:
        for m in pattern.finditer(body):
            before = body[max(0, m.start() - 40): m.start()]
            about = re.search(rf"(?i)\b{_ABOUT_LANGUAGE}\s+(?:\S+\s+){{0,1}}$", before)
            about_it = (about and not re.search(r"\d+[\s-]*words?\b", before)) or _DESCRIBED.search(before) \
                or _noun_follows(body, m.end())
            if _NEGATED.search(before) or (pattern is _IN_LANGUAGE and about_it) or _PART_EN.search(before):
                continue
            sentence = re.split(r"[.!?\n]", body[: m.start()])[-1]
            tail = body[m.end(): m.end() + 3]
            if re.match(r"(?i)\s*(?:how|what|which|is\s+there)\b", sentence) and (
                    "?" in tail or pattern is _OUTPUT_IN):
                continue  # "How do you say X in Korean?", "What's the Korean translation of X?": about the language
            if pattern is _IN_LANGUAGE and re.match(r"(?i)\s*what(?:'s|\s+is|\s+are|\s+does)?\s+(?:\S+\s+){0,3}$", sentence):
                continue  # "What's 'awkward' in Korean and how do I use it?": a word asked about
            if pattern is _SPEAK and re.match(r"(?i)\s*(?:do|can|could|does)\s+you\b", sentence) \
                    and tail.lstrip().startswith("?"):
                continue  # "Do you speak Korean?": a question about the assistant
            if pattern is _IN_LANGUAGE and re.search(r"(?i)\b(?:how\s+(?:to|do\s+i|can\s+i|would\s+i|should\s+i)|"
                                                        r"teach\s+me\s+to)\s+(?:[\w'-]+\s+){1,6}$", sentence):
                continue  # "teach me how to introduce myself in Korean": learning to say it
            found.append((m.start(), m.group(1), m.group()))
    for pattern in _EXPLICIT_KO:
        for m in _overlapping(pattern, body):
            after = re.split(r"[.!?\n]", body[m.end(1): m.end(1) + 24])[0] or body[m.end(1): m.end(1) + 3]
            if _NEGATED_AFTER_KO.search(after) or _PART_KO.search(body[max(0, m.start() - 12): m.start()]):
                continue  # "영어로 말고 한국어로": the language not wanted
            if re.match(r"\s*(?:으로|로)\s*\S*면(?![?？])(?:\s|,)", after):
                continue  # "영어로 말하면 ...": a condition, not a request
            if _QUESTION_ABOUT_KO.search(re.sub(r"^\s*(?:으로|로)", "", after)):
                continue  # "영어로 뭐라고 해?": a question about the language
            found.append((m.start(), m.group(1), m.group()))
    for start, name, words in sorted(found):
        code = _code_of(name)
        if code in languages():
            return code, _clip(words.strip(), 40)
    return None


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
    if found and users and _LANGUAGE_ONLY.match(prompt.strip()) and _LANGUAGE_NAMED.search(users[-1]) \
            and not explicit_request(users[-1]):
        found = None  # "And in Korean?" after "How do you say X in Japanese?": the same question again
    if found:
        return LanguageDecision(found[0], f"the prompt asks for {_name(found[0])} ('{found[1]}')")
    for earlier in reversed(users):
        found = explicit_request(earlier)
        if found and _STANDING.search(earlier):
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
            return LanguageDecision(said.lang, f"'{_clip(prompt, 20)}' continues the last answer, which is in "
                                               f"{_name(said.lang)}")
    back = _points_back(prompt, reading, users, answers)
    if back:
        return back
    if users and len(prompt.split()) <= 4 and _FOLLOW_UP.search(prompt):
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
