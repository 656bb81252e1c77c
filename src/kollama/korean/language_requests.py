"""Explicit requests for an answer language, as people write them in English, Korean, Japanese and Chinese.

"answer in English", "Respond in Japanese", "Korean, please", "Translate into Korean: ...", "한국어로 답해줘",
"영어로 번역해줘", "영문으로 이메일 작성해줘", "답변은 항상 한국어", "日本語で答えて", "用中文回答". Not requests: a question
about a language ("How do I say X in Korean?", "'보고 싶어'를 영어로 뭐라고 해?"), an adjective ("in Korean culture"),
a negation ("not in Korean", "영어로 말고"), a condition ("영어로 말하면"), a part of the answer ("comments in Korean").
Quoted text and code are content, never a request. Used by `answer_language`.
"""

from __future__ import annotations

import re

from kollama.korean import prompt_language as pl
from kollama.korean.scripts import languages

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
# a word after "in Korean" that keeps it a request ("in Korean please"); any other word is a noun it describes
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
LANGUAGE_ONLY = re.compile(rf"(?i)^\W*(?:and|or|what\s+about|how\s+about)?\s*(?:in\s+)?(?:{_EN})\s*\??\W*$"
                            rf"|^\W*(?:{_KO})(?:으로는|로는|는)\s*\??\W*$")
LANGUAGE_NAMED = re.compile(rf"(?i)\b(?:{_EN})\b|{_KO}")
# a language asked for a part of the answer (the comments of code), not for the answer
_PART_EN = re.compile(r"(?i)\b(?:comments?|variable\s+names?|labels?|keys?|column\s+names?|docstrings?|commit\s+messages?|"
                      r"log\s+messages?|identifiers?)\s+$")
_PART_KO = re.compile(r"(?:주석|변수명|변수\s*이름|커밋\s*메시지|로그|키\s*이름)(?:은|는|을|를|도|만)?\s*$")
FOLLOW_UP = re.compile(r"(?i)그럼|이건|이거는|이것도|저건|\b(?:and\s+this|this\s+one|what\s+about|how\s+about|another|"
                        r"next\s+one|same\s+for)\b")
STANDING = re.compile(r"(?i)\bfrom\s+now\s+on\b|\blet'?s\s+(?:talk|speak|chat|continue|switch|keep)\b|\bfrom\s+here\b|\bgoing\s+forward\b|\balways\b|\bfor\s+the\s+rest\b|\bevery\s+(?:answer|"
                       r"reply|response|time)\b|\ball\s+(?:your\s+)?(?:answers|replies|responses)\b|앞으로|이제부터|"
                       r"지금부터|항상|계속|늘|모든\s*(?:답|대답)")
_NAMES = {"ko": "Korean", "en": "English", "ja": "Japanese", "zh": "Chinese"}


def language_name(code: str) -> str:
    """English name of a language code, for reasons people read."""
    if code in _NAMES:
        return _NAMES[code]
    return languages()[code].name if code in languages() else code


def clip(text: str, size: int = 48) -> str:
    """`text` on one line, cut to `size` characters (for reasons)."""
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
            return code, clip(words.strip(), 40)
    return None
