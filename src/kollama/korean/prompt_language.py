"""Which language one text is written in, as a reader of code-switched Korean and English judges it.

The language that supplies the grammar is the text's language; inserted words are content. Korean grammar
is particles and endings glued to a word (`function의`, `None이야`), and Korean is head-final, so a Korean
sentence ends in a Korean predicate. English grammar is function words (`what`, `does`, `the`, `in`) and an
English sentence starts and ends with English words. Where an instruction and pasted content are in
different languages, the instruction's task decides (`implicit_language`). Used by `answer_language`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kollama.korean.morphology import nfc, tokenize

# Latin words that carry English grammar rather than content.
FUNCTION_WORDS = frozenset("""
a an the is are was were be been being am do does did done have has had can could will would should shall may
might must i you he she it we they me him her us them my your his its our their mine yours this that these those
what which who whom whose when where why how of in on at to for with from by about into over under between
through during before after and or but if because so than then not no there here please some any all each every
more most very just also too as like up out off again only such both either neither nor whether while until
i'm i've i'd i'll you're you've don't doesn't didn't isn't aren't wasn't can't won't what's it's that's there's
let's how's where's who's shouldn't wouldn't couldn't
""".split())

# Words that open an English sentence of a request or question (imperatives of tasks among them).
EN_OPENERS = FUNCTION_WORDS | frozenset("""
translate summarize summarise reply respond write explain tell give make show list describe rewrite rephrase fix
correct proofread continue help check compare draft compose suggest recommend find create generate convert edit
polish improve shorten expand answer read review define name is are does do did can could would should will
""".split())

_DISCOURSE = frozenset("""so basically honestly well ok okay please pls btw actually anyway anyways like yeah yes no hmm oh
wow lol but and hey hi guys also plus seriously literally sorry thanks wait then""".split())
_NUMBERS = frozenset("one two three four five six seven eight nine ten".split())
_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
_SYLLABLE = re.compile(r"[\uac00-\ud7a3]")
SYLLABLE_WORD = re.compile(r"\S*[\uac00-\ud7a3]\S*")
_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff]")
_HAN = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]")
CJK = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f\u3040-\u30ff\u31f0-\u31ff\u4e00-\u9fff\u3400-\u4dbf]")
_LATIN_WORD = re.compile(r"^[A-Za-z][A-Za-z']*$")
_LAUGH = re.compile(r"^[ㄱ-ㅎㅏ-ㅣ~^.!?]+$")  # ㅋㅋ, ㅎㅎ, ㅠㅠ: mood, not grammar
_GRAMMAR_TAGS = ("J", "E", "XSV", "XSA", "VCP", "VCN")
_PUNCT_STRIP = "\"'“”‘’()[]{}<>.,!?;:~…-—·*#|"

CODE_FENCE = re.compile(r"```.*?(?:```|\Z)", re.S)
INLINE_CODE = re.compile(r"`[^`\n]+`")
URL = re.compile(r"https?://\S+|www\.\S+|[\w.+-]+@[\w-]+\.[\w.]+")
QUOTE = re.compile(r'"[^"\n]{1,400}"|“[^”]{1,400}”|「[^」]{1,400}」|『[^』]{1,400}』|‘[^’\n]{1,400}’'
                   r"|(?<![\w'])'[^'\n]{1,200}'(?![\w'])")
PLACEHOLDER = "◇"  # stands where quoted content was: neutral, so `◇가 무슨 뜻이야` keeps its grammar

# Tasks of an instruction over pasted content (lower-cased text, both languages).
TRANSLATE = re.compile(r"\btranslat|\binterpret|번역|통역|해석|옮겨|옮기|의역|직역")
SUMMARISE = re.compile(r"\bsummar|\btl;?dr\b|\bgist\b|요약|간추|줄거리|핵심만")
ADVICE = re.compile(r"\b(?:how|what)\s+(?:should|do|would|can|could)\s+(?:i|we)\b|\bwhat\s+to\s+(?:say|reply|write)\b"
                    r"|\bcheck\s+(?:if|whether)\b|\b(?:is|are)\s+(?:this|it|my|these)\b[^?]*\b(?:correct|right|natural|ok)\b"
                    r"|맞는지|맞나요|맞아\?|어색한지|자연스러운지"
                    r"|뭐라고|어떻게\s*(?:답|대답|말|반응)|무슨\s*(?:말|뜻|의미)|뭐라는|무슨\s*뜻")
SAME_AS_CONTENT = re.compile(
    r"\brepl(?:y|ies)\b|\brespon(?:d|se)\s+to\b|\bwrite\s+(?:a\s+)?(?:response|reply|back|an?\s+answer\s+to)"
    r"|\bcontinue\b|\bkeep\s+(?:writing|going)\b|\bfinish\b|\bcomplete\b|\bre-?write\b|\brephrase\b|\bparaphrase\b"
    r"|\bproof-?read\b|\bcorrect\b|\bfix\b|\bpolish\b|\bedit\b|\bimprove\b|\bshorten\b|\bexpand\b"
    r"|\bclean\s+(?:up|this|it)\b|\btidy\b|\btweak\b|\breword\b|\brestructure\b|\bcondense\b|\bpunch\s+up\b|\brefine\b"
    r"|\brevise\b|\bsoften\b|\btone\s+down\b|\badjust\b|\bpunchier\b|\bsmoother\b|\bmake\s+(?:this|it|my|the\s+\w+)\b|\bformat\b|\bturn\s+(?:this|it|these|those|my|the)\b|\bconvert\s+(?:this|it|these|my)\b"
    r"|\bsame\s+language\b|같은\s*언어|\bversion\b|\bshorter\b|\blonger\b|버전"
    r"|\bsound\s+more\b|\bmore\s+(?:natural|formal|polite|casual)|\bnext\s+(?:paragraph|line|part|chapter|verse|scene)"
    r"|\bsame\s+(?:style|tone|voice)|바꿔|바꾸|더\s+\S+\s*있게"
    r"|답장|회신|이어서|이어\s*(?:써|쓰|가)|이어가|마저|계속\s*써|고쳐|다듬|교정|첨삭|수정해|바꿔\s*써|다시\s*써|재작성"
    r"|맞춤법|문법\s*(?:확인|체크|검사)|자연스럽게|줄여|늘려|완성해|답글|댓글"
    r"|\bcomeback\b|\bretort\b|\bwrite\s+(?:a|an|my)?\s*\w*\s*(?:to|for)\s+(?:this|that|the|her|his|my)\s+"
    r"(?:comment|message|text|email|post|tweet|review|letter|dm)\b"
    r"|더\s*써|한\s*(?:절|문단|단락|줄|장|편)\s*더|하나\s*더\s*써|살려서|(?:톤|스타일|분위기)\s*(?:유지|그대로)"
    r"|\banswer\s+(?:this|that|the|her|his|my)\s+(?:customer\s+)?(?:review|message|comment|email|text|letter|dm|"
    r"inquiry|post|tweet)\b|(?:더|좀)\s*(?:짧|길|간단|간결|공손|정중|부드럽|캐주얼|격식|친근|귀엽|딱딱)\S*")
EXPLAIN = re.compile(r"\bexplain|\bmean(?:s|ing)?\b|\bwhy\b|\bwhat\b|\bhow\b|\banswer\b|설명|뜻|의미|왜|뭐|무엇|어떻게|알려")
_DEIXIS = re.compile(r"\b(?:this|these|following|below|above|the\s+(?:text|message|email|sentence|paragraph|article))\b|이거|이것|이\s*(?:글|문장|메시지|메일|말|문단|텍스트|표현)|다음|아래|위\s*(?:글|문장)|밑에")
_ADDRESS = re.compile(r"\b(?:you|please|pls|plz)\b|줘|주세요|줄래|주실|해봐|하시오|하세요|해라|부탁")
QUESTION = re.compile(r"^\W*(?:is|are|was|were|does|do|did|what|why|how|which|who|where|when)\b[^\n]*\?"
                      r"|(?:맞아|맞나요|맞니|맞는지|맞아요|인가요|이야|일까|뭐야|뭐지|어때|어때요|괜찮아)\s*\??\s*$", re.M)
_TASK_ANY = re.compile("|".join(p.pattern for p in (TRANSLATE, SUMMARISE, SAME_AS_CONTENT, EXPLAIN)))


@dataclass
class Unit:
    """A sentence, a line, or a quoted span: the smallest piece with a language of its own."""

    text: str
    content: bool = False  # quoted, or after an opener ("...:"), so pasted rather than asked
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def lang(self) -> str | None:
        if not self.scores:
            return None
        best = max(self.scores, key=self.scores.get)  # type: ignore[arg-type]
        return best if self.scores[best] >= 1.0 else None

    @property
    def weight(self) -> float:
        return max(self.scores.values(), default=0.0)


# a line of code pasted without a fence: SQL, a statement ending in ; { }, a definition, a shell or REPL prompt
CODE_LINE = re.compile(r"^(?![^\n]*[\uac00-\ud7a3])\s*(?:(?:SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP|WITH)\s.*|.*[=(\[{<].*[;{}]\s*|[{}]\s*|"
                       r"(?:def|class|import|from\s+\S+\s+import|function|const|let|var|return|public|private|"
                       r"#include|package|fn|func)\s.*|(?:\$|>>>)\s.*|at\s+[\w.$]+\(.*\)|File\s+\".*)$", re.M)


def strip_code(text: str) -> str:
    """Code and addresses are content in any language: they carry no grammar of the answer."""
    return CODE_LINE.sub(" ", URL.sub(" ", INLINE_CODE.sub(" ", CODE_FENCE.sub("\n", nfc(text)))))


def _code_like(word: str) -> bool:
    return bool(re.search(r"[a-z][A-Z]|_|\d|\.\w|\(|\)|/|=|<|>", word)) or (word.isupper() and len(word) > 1)


def _word_scores(word: str, first: bool) -> tuple[str, float]:
    """('en', weight) for a Latin word: function words 1, ordinary words 0.5, names 0.25, code 0."""
    bare = word.strip(_PUNCT_STRIP)
    if not bare or not _LATIN_WORD.match(bare) or _code_like(bare):
        return "", 0.0
    low = bare.lower()
    if low in FUNCTION_WORDS:
        return "en", 1.0
    if bare[0].isupper() and not first:
        return "en", 0.25
    return "en", 0.5


def _korean_grammar_words(text: str) -> dict[int, bool]:
    """Start offset of each whitespace word holding Hangul -> whether a particle or ending is glued to it.

    A particle standing alone (`은/는`, a word about grammar) is a mention, not grammar."""
    words = {m.start(): m.end() for m in re.finditer(r"\S+", text) if _HANGUL.search(m.group())}
    if not words:
        return {}
    glued = dict.fromkeys(words, False)
    starts = sorted(words)
    for token in tokenize(text):
        if not token.tag.startswith(_GRAMMAR_TAGS):
            continue
        for start in starts:
            if start <= token.start < words[start]:
                if token.start > start or token.tag.startswith("E"):
                    glued[start] = True
                break
    return glued


def score_text(text: str) -> dict[str, float]:
    """Evidence for each language's grammar in one sentence: {'ko': .., 'en': .., 'ja': .., 'zh': ..}."""
    scores: dict[str, float] = {}
    kana, han = len(_KANA.findall(text)), len(_HAN.findall(text))
    if kana >= 2:
        scores["ja"] = 2.0 + kana / 4
    elif han >= 2 and not _SYLLABLE.search(text):
        scores["zh"] = 1.0 + han / 2
    words = [m for m in re.finditer(r"\S+", text)]
    glued = _korean_grammar_words(text) if _SYLLABLE.search(text) else {}
    if glued:  # "So basically 이건 ...": English discourse markers open many Korean sentences
        while words and words[0].group().strip(_PUNCT_STRIP).lower() in _DISCOURSE:
            words.pop(0)
    ko = en = 0.0
    kinds: list[str] = []
    for i, m in enumerate(words):
        word = m.group()
        if m.start() in glued:
            if _LAUGH.match(word):
                kinds.append("")
                continue
            ko += 1.0 if glued[m.start()] else 0.5
            kinds.append("ko")
            continue
        lang, weight = _word_scores(word, first=i == 0)
        en += weight
        kinds.append(lang)
    signed = [(k, m.group()) for k, m in zip(kinds, words) if k]
    if signed:
        (first_kind, first_word), (last_kind, last_word) = signed[0], signed[-1]
        english_start = first_kind == "en" and first_word.strip(_PUNCT_STRIP).lower() in EN_OPENERS
        if last_kind == "ko":  # head-final: a Korean sentence ends in its predicate
            last_start = next(m.start() for m in reversed(words) if m.group() == last_word)
            ko += (2.0 if glued.get(last_start) else 1.0) - (1.0 if english_start else 0.0)
        if english_start:
            en += 1.0 + (1.0 if last_kind == "en" else 0.0)
    if ko:
        scores["ko"] = ko
    if en:
        scores["en"] = en
    return scores


def _split_switch(text: str) -> list[str]:
    """An English request followed by a Korean passage (`Reply to 자기야 뭐해?`), or a finished Korean request
    followed by an English passage (`번역해줘 I love you`): two pieces, one language each."""
    words = text.split()
    kinds = ["ko" if _HANGUL.search(w) else ("en" if _word_scores(w, i == 0)[1] else "") for i, w in enumerate(words)]
    marked = [(i, k) for i, k in enumerate(kinds) if k]
    switches = [j for j in range(1, len(marked)) if marked[j][1] != marked[j - 1][1]]
    if len(switches) != 1:
        return [text]
    cut = marked[switches[0]][0]
    head, tail = words[:cut], words[cut:]
    head_kind = marked[0][1]
    if head_kind == "en":
        if len(head) >= 2 and head[0].strip(_PUNCT_STRIP).lower() in EN_OPENERS and len(tail) >= 2:
            return [" ".join(head), " ".join(tail)]
    elif len([k for k in kinds[cut:] if k == "en"]) >= 2 and _korean_grammar_words(" ".join(head)).get(
            len(" ".join(head)) - len(head[-1]), False):
        return [" ".join(head), " ".join(tail)]
    return [text]


_SOURCE = re.compile(r"(?i)\b(?:message|text|email|e-mail|sentence|sent|wrote|writes|said|says|texted|asked|posted|"
                     r"replied|commented|review|comment|post|tweet|lyrics|note|letter)\b|보냈|왔는데|라고|이렇게|댓글|리뷰|"
                     r"문자|카톡|메시지|메일|편지|가사")
CONTINUE = re.compile(r"(?i)^\W*(?:continue|go\s+on|keep\s+going|more|next|계속|이어서|이어\s*써|계속\s*해|더|다음)"
                      r"(?:\s+\S+)?\W*$")


def _opener(before: str) -> bool:
    """A line's head before a colon introduces pasted content (`Reply to this:`, `다음 문장 번역해줘:`)."""
    short = len(before.split()) <= 14
    return bool(before.strip()) and short and bool(_TASK_ANY.search(before.lower()) or _DEIXIS.search(before.lower())
                                                   or _SOURCE.search(before))


def units_of(text: str) -> list[Unit]:
    """The text cut into units: quoted spans and whatever follows an opener are content."""
    quoted: list[Unit] = []

    def keep(match: re.Match) -> str:
        inner = match.group()[1:-1].strip()
        if inner:
            quoted.append(Unit(inner, content=True))
        return PLACEHOLDER

    body = QUOTE.sub(keep, strip_code(text)).strip()
    units: list[Unit] = []
    after_opener = False
    first, gap, rest_of_text = body.partition("\n\n")
    if gap and rest_of_text.strip() and len(first.split()) <= 25 and instruction_score(first) >= 3:
        body = first.rstrip(":") + ":\n" + rest_of_text  # a request, a blank line, then what it is about
    for line in body.splitlines():
        line = line.strip()
        if not line:
            continue
        head, colon, rest = line.partition(":")
        if colon and not after_opener and _opener(head) and not re.match(r"\s*//", rest):
            units.append(Unit(head))
            after_opener = True
            line = rest.strip()
            if not line:
                continue
        for sentence in re.split(r"(?<=[.!?。？！])\s+", line):
            for piece in _split_switch(sentence) if not after_opener else [sentence]:
                if piece.strip(_PUNCT_STRIP + " " + PLACEHOLDER):
                    units.append(Unit(piece, content=after_opener))
    for unit in units + quoted:
        unit.scores = score_text(unit.text)
    heads = [u.lang for u in units if not u.content]
    for unit in units[1:]:  # "...:\n<pasted>\nWrite a response." asks again after the paste
        if unit.content and heads and unit.lang == heads[-1] and instruction_score(unit.text) >= 3 \
                and _TASK_ANY.search(unit.text.lower()):
            unit.content = False
    return units + quoted


def too_short(text: str) -> bool:
    """Two words or fewer and no Korean grammar (`ok`, `계속`, `go on`, a bare term): too short to tell alone."""
    body = QUOTE.sub(" ", strip_code(text))
    words = [w for i, w in enumerate(body.split()) if _HANGUL.search(w) or _word_scores(w, i == 0)[1]]
    if len(words) > 2:
        return False
    hangul = " ".join(w for w in words if _SYLLABLE.search(w))
    return not (hangul and any(_korean_grammar_words(hangul).values()))


def has_grammar(text: str) -> bool:
    """Any function word, request verb, glued particle or ending, or kana: something beyond bare terms
    (`Python list vs tuple`, `Kubernetes 설정 방법` have none)."""
    body = QUOTE.sub(" ", strip_code(text))
    if _KANA.search(body) or (len(_HAN.findall(body)) >= 2 and not _SYLLABLE.search(body)):
        return True
    for i, word in enumerate(body.split()):
        bare = word.strip(_PUNCT_STRIP).lower()
        if bare in FUNCTION_WORDS or (i == 0 and bare in EN_OPENERS):
            return True
    hangul = " ".join(w for w in body.split() if _SYLLABLE.search(w))
    return bool(hangul) and any(_korean_grammar_words(hangul).values())


def instruction_score(text: str) -> float:
    """How much a unit reads as the request itself rather than pasted material."""
    low = text.lower()
    score = 2.0 * bool(_TASK_ANY.search(low)) + 2.0 * bool(_DEIXIS.search(low)) + bool(_ADDRESS.search(low))
    score += bool(text.rstrip().endswith(("?", ":"))) + (len(text.split()) <= 15)
    return score


def total(units: list[Unit]) -> dict[str, float]:
    sums: dict[str, float] = {}
    for unit in units:
        for lang, value in unit.scores.items():
            sums[lang] = sums.get(lang, 0.0) + value
    return sums


def leader(scores: dict[str, float]) -> tuple[str | None, float]:
    """The language with most evidence and its margin over the next (None when nothing speaks)."""
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    if not ranked or ranked[0][1] < 1.0:
        return None, 0.0
    return ranked[0][0], ranked[0][1] - (ranked[1][1] if len(ranked) > 1 else 0.0)
