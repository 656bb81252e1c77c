"""The fidelity policy's rule primitives (docs/fidelity.md): what foreign text a Korean reader accepts.

Small functions that judge one region or one word in its context, shared by `fidelity_report` (whole answers)
and the `strict` language lock (while decoding). They use no Kiwi and no whole-text statistics, so a streaming
state machine can call them on the word it has just finished.

Signals, none of them a list of cases: where the text sits (code, URL, path, number with unit, parenthesised
gloss, quote, JSON key), how the word is written (capitals, camel case, digits, Vietnamese letters), the English
word list (`kollama.korean.english`: ordinary words, proper nouns), the words the prompt used and the languages it
asked for, and whether the text repeats a capitalised word as a name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

from kollama.korean.english import is_english_word, is_proper_noun

# --- kinds and reasons, the vocabulary of every report and lock decision ------------------------------------
KIND_SCRIPT = "script"  # a character of a script the target language does not use (Han, kana, Thai, ...)
KIND_CODE_SWITCH = "code_switch"  # a foreign word in place of a Korean word inside a Korean sentence
KIND_WRONG_LINE = "wrong_language_line"  # a whole line (sentence, preface, translation) in another language
KIND_LABEL = "label"  # an English label in front of Korean text: `Title:`, `Introduction:`
FLAG_KINDS = (KIND_SCRIPT, KIND_CODE_SWITCH, KIND_WRONG_LINE, KIND_LABEL)

# Why a foreign-looking span is accepted (ExemptSpan.why).
EXEMPT_REASONS = (
    "code", "url", "email", "path", "number", "formula", "acronym", "name", "gloss", "quote", "json_key",
    "scientific_name", "prompt", "asked_language", "symbol", "cut_character",
)


@dataclass(frozen=True)
class Policy:
    function_words: frozenset[str]
    name_joiners: frozenset[str]
    name_heads: tuple[str, ...]
    korean_abbreviations: frozenset[str]
    units: frozenset[str]
    asked_language_names: dict[str, tuple[str, ...]]
    gloss_max_words: int
    quote_max_words: int
    acronym_max_length: int


@lru_cache(maxsize=1)
def policy() -> Policy:
    raw = yaml.safe_load(resources.files("kollama.data").joinpath("fidelity_policy.yaml").read_text(encoding="utf-8"))
    return Policy(
        function_words=frozenset(str(w).lower() for w in raw["function_words"]),
        name_joiners=frozenset(str(w).lower() for w in raw["name_joiners"]),
        name_heads=tuple(sorted((str(w) for w in raw["name_heads"]), key=len, reverse=True)),
        korean_abbreviations=frozenset(str(w).lower() for w in raw["korean_abbreviations"]),
        units=frozenset(str(w).lower() for w in raw["units"]),
        asked_language_names={code: tuple(names) for code, names in raw["asked_language_names"].items()},
        gloss_max_words=int(raw["gloss_max_words"]),
        quote_max_words=int(raw["quote_max_words"]),
        acronym_max_length=int(raw["acronym_max_length"]),
    )


# --- regions that are never judged as language ------------------------------------------------------------
@lru_cache(maxsize=1)
def _number_with_unit() -> re.Pattern[str]:
    units = "|".join(sorted(policy().units, key=len, reverse=True))
    return re.compile(r"\d+(?:[.,]\d+)*\s?(?:%s)(?:/(?:%s))?(?![A-Za-z])" % (units, units), re.I)


_REGION_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("code", re.compile(r"```[^\n]*\n?.*?(?:```|\Z)", re.S)),  # fenced code, also unterminated at the end
    ("code", re.compile(r"`[^`\n]+`")),  # inline code
    ("url", re.compile(r"\b(?:https?://|ftp://|www\.)[^\s<>\"')\]]+", re.I)),
    ("email", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")),
    ("url", re.compile(r"\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|org|net|io|ai|dev|kr|co|gov|edu)(?:/[^\s]*)?\b", re.I)),
    ("path", re.compile(r"(?:~|\.{1,2})?(?:/[\w.-]+){2,}/?|\b[A-Za-z]:\\[^\s]+")),  # /usr/bin/x, C:\x
    ("path", re.compile(r"\b[\w-]+\.(?:py|js|ts|tsx|jsx|java|c|cpp|h|hpp|cs|go|rs|rb|php|sh|md|txt|csv|tsv|json|ya?ml|"
                        r"xml|html?|css|pdf|docx?|xlsx?|pptx?|hwp|png|jpe?g|gif|svg|mp3|mp4|wav|zip|gz|tar|ipynb|"
                        r"gguf|bin|exe|dll|so|log|ini|cfg|toml|sql|db)\b", re.I)),
    ("code", re.compile(r"\b[a-z_]\w*(?:\.[A-Za-z_]\w*)*\([\x21-\x7e]{0,40}?\)")),  # print(), len(x), np.mean(a)
    ("code", re.compile(r"\b[A-Za-z]\w*_\w+\b|\b[a-z]+\.[a-z_]\w*\b")),  # snake_case, module.attr
    ("code", re.compile(r"(?<=[:\[,])[ \t]*(?:true|false|null)\b")),  # JSON literals
    ("code", re.compile(r"\{\{?[A-Za-z_][\w.]*\}\}?")),  # template placeholders: {fans}, {{name}}
    ("number", re.compile(r"\b\d+[xX]{1,4}(?![A-Za-z])")),  # 20xx년, 19XX
)


_FORMULA = re.compile(r"[A-Za-z0-9(²³√π][A-Za-z0-9 ()+\-*/^×÷·²³√π.,]*[=<>≤≥≈][A-Za-z0-9 ()+\-*/^×÷·²³√π.,=]*[A-Za-z0-9)²³π]")


def formula_regions(text: str) -> list[tuple[int, int]]:
    """Formulas such as `E = mc^2`, `F=ma`, `y = sin(x) + 1`: symbols and short names around a relation sign."""
    out: list[tuple[int, int]] = []
    if not any(sign in text for sign in "=<>≤≥≈"):
        return out
    for match in _FORMULA.finditer(text):
        runs = re.findall(r"[A-Za-z]+", match.group(0))
        if runs and all(len(run) <= 3 for run in runs):
            out.append(match.span())
    return out


_DATA_FENCES = {"json", "jsonc", "json5", "csv", "tsv", "text", "txt", "plaintext", "markdown", "md", "yaml", "yml", ""}
_CODE_SIGNS = re.compile(r"[=;(){}<>]|\b(?:def|import|return|function|class|var|let|const|public|SELECT|print)\b")


def fence_kind(tag: str) -> str:
    """What a fence's tag says its block holds: `json` (keys and syntax are not language, values are), `text`
    (CSV, YAML, Markdown, prose: read like the rest) or `code` (exempt). An untagged block is `code` here; the
    judge, which sees the whole block, also reads one that shows no sign of code (`is_data_fence`)."""
    tag = tag.strip().lower()
    if tag in ("json", "jsonc", "json5"):
        return "json"
    return "text" if tag and tag in _DATA_FENCES else "code"


def is_data_fence(block: str) -> bool:
    """A fenced block that holds data or text (JSON, a table, prose), not a program: its values are still read.

    JSON, CSV, TSV, YAML, Markdown or text by its tag; untagged, when it starts like JSON or shows no sign of code."""
    first, _, body = block[3:].partition("\n")
    tag = first.strip().lower()
    if tag not in _DATA_FENCES:
        return False
    content = body.rstrip("`").strip()
    return tag != "" or content[:1] in "{[" or not _CODE_SIGNS.search(content)


def exempt_regions(text: str) -> list[tuple[int, int, str]]:
    """Code, URLs, e-mail addresses, paths, file names and numbers with units: (start, end, why), sorted.
    A fenced block of data (JSON, a table) is not exempt as a whole: only its fences, so its values are judged."""
    regions: list[tuple[int, int, str]] = []
    patterns = _REGION_PATTERNS + (("number", _number_with_unit()),)  # numbers last: `under_18s` is one identifier
    for why, pattern in patterns:
        for match in pattern.finditer(text):
            start, end = match.span()
            if end <= start or any(s < end and start < e for s, e, _ in regions):
                continue
            block = match.group(0)
            if block.startswith("```") and is_data_fence(block):
                open_end = start + (block.find("\n") + 1 if "\n" in block else len(block))
                regions.append((start, open_end, "code"))
                if block.endswith("```") and end - 3 >= open_end:
                    regions.append((end - 3, end, "code"))
                continue
            regions.append((start, end, why))
    for start, end in formula_regions(text):  # after URLs and code: `?v=abc` is part of a URL
        if not any(s < end and start < e for s, e, _ in regions):
            regions.append((start, end, "formula"))
    return sorted(regions)


# --- the prompt --------------------------------------------------------------------------------------------
_LATIN_WORD = re.compile(r"[A-Za-zÀ-ɏ]+(?:['’][A-Za-z]+)?")


def _word_keys(word: str) -> tuple[str, str]:
    """A word as the prompt test compares it: lower case, one apostrophe, and without a possessive 's."""
    lower = word.lower().replace("’", "'")
    return lower, re.sub(r"'s$", "", lower)


_SENTENCE_START = re.compile(r"(?:^|[.!?:;\n])[\s\"'“‘(*#\-\d.)]*$")  # only this before a word: it opens a sentence
_PROMPT_TERM = re.compile(r"[\"“‘'`「『]([^\"”’'`」』\n]{1,80})[\"”’'`」』]")


def _english_framed(prompt: str) -> bool:
    """Is the prompt written in English (its Latin words are its grammar), not Korean with English terms?
    Counted in words, not letters: `Large Language Model이 뭐야? transformer 기반이야?` is a Korean question,
    `What does 눈치 mean in Korean culture?` an English one."""
    words = prompt.split()
    korean = sum(any("\uac00" <= ch <= "\ud7a3" for ch in w) for w in words)
    latin = sum(any(ch.isascii() and ch.isalpha() for ch in w) for w in words) - korean
    letters = sum(ch.isascii() and ch.isalpha() for ch in prompt)
    return letters >= 20 and latin > 2 * korean


@lru_cache(maxsize=4096)  # one prompt is judged against many answers
def prompt_vocabulary(*prompts: str | None) -> frozenset[str]:
    """Lower-cased Latin words of the prompt (and system prompt): using them is not code-switching.

    A Korean prompt lends every Latin word it writes: inside Korean grammar an English word is a term or a
    mention (`could의 뜻`), never English prose. A prompt written in English (an English prompt asking for a Korean answer) is English throughout,
    so there only the terms it introduces count: capitalised words and acronyms, words that are not ordinary English,
    and quoted words; a function word only inside a name (`The Beatles`), not when a capital opens a sentence
    (`In lay-person's terms, ...`). Its ordinary words (`stabbing`, `tasks`) stay code-switching in a Korean answer."""
    words: set[str] = set()
    for prompt in prompts:
        if not prompt:
            continue
        if not _english_framed(prompt):
            chosen = _LATIN_WORD.findall(prompt)
        else:
            quoted = [w for q in _PROMPT_TERM.findall(prompt) for w in _LATIN_WORD.findall(q)]
            chosen = [m.group(0) for m in _LATIN_WORD.finditer(prompt)
                      if (not m.group(0).islower() or not is_english_word(m.group(0)))
                      and not (is_function_word(m.group(0)) and _SENTENCE_START.search(prompt[:m.start()]))] + quoted
        for word in chosen:
            words.update(_word_keys(word))
    return frozenset(words)


def in_prompt(word: str, vocabulary: frozenset[str]) -> bool:
    """The prompt used this word (`Reputation's` matches `Reputation’s`, `tasks` matches `tasks`)."""
    return any(key in vocabulary for key in _word_keys(word))


# An English prompt asks for a language only in a request ("answer in English", "what is X in Japanese"), not
# where its content mentions one ("fluent in English and Mandarin" in a résumé).
_REQUEST = (r"\b(?:answer|reply|respond|response|write|rewrite|written|translate|translated|explain|say|said|summari[sz]e"
            r"|describe|tell|give|list|provide|express|output|speak|draft|compose|paraphrase|present|called|what(?:'s| is| are)"
            r"|how)\b")


@lru_cache(maxsize=4096)
def asked_languages(*prompts: str | None) -> frozenset[str]:
    """Languages the prompt asks for besides the target: 'answer in English', 'into Japanese', '영어로', '영문 번역'."""
    asked: set[str] = set()
    text = " ".join(p for p in prompts if p)
    if not text:
        return frozenset()
    for code, names in policy().asked_language_names.items():
        for name in names:
            if re.match(r"[A-Za-z]", name):
                pattern = (rf"\binto\s+{name}\b|\bboth\s+{name}\b|\b{name}\s+(?:translation|version|word|term|name)s?\b"
                           rf"|{_REQUEST}[^.?!\n]{{0,60}}?\b(?:in|to)\s+(?:\w+\s+(?:and|or|&)\s+)?{name}\b")
            else:
                pattern = rf"{name}(?:로|으로|\s*번역|\s*표현|\s*단어|\s*이름|\s*제목|\s*원문|\s*병기|와|과|도)"
            if re.search(pattern, text, re.I):
                asked.add(code)
    return frozenset(asked)


# --- one Latin word --------------------------------------------------------------------------------------
_VIETNAMESE = re.compile(r"[\u1EA0-\u1EF9ƠơƯưĐđĂă]")
_INFLECTED = re.compile(r"(?:ing|ed|ly|tion|tions|ment|ments|ness|ity|ies)$")


def is_vietnamese(word: str) -> bool:
    """Letters only Vietnamese uses (ứ, ộ, ơ, đ): a script intrusion, not a Latin word."""
    return bool(_VIETNAMESE.search(word))


def is_function_word(word: str) -> bool:
    return word.lower() in policy().function_words


def is_name_joiner(word: str) -> bool:
    return word.lower() in policy().name_joiners


_PARTICLES = r"(?:들)?(?:에서|에게|으로|로|은|는|이|가|을|를|에|의|와|과|도|만|이나|나|처럼|이다|입니다|이며|이고)?"


@lru_cache(maxsize=1)
def _name_head() -> re.Pattern[str]:
    heads = "|".join(map(re.escape, policy().name_heads))
    return re.compile(r"[\"'”’]?(?:\s|(?:이)?라는\s|같은\s)\s*(?:[가-힣]+\s+)?(?:%s)%s(?![가-힣])" % (heads, _PARTICLES))


def named_by_its_head(after: str) -> bool:
    """Does a Korean noun saying what kind of thing it is follow a capitalised phrase (`Medium 같은 블로그 플랫폼`,
    `Interest Network 사이트는`)? Then the phrase is that thing's name, whatever its words."""
    return _name_head().match(after) is not None


def has_derivational_ending(word: str) -> bool:
    """-ing, -ed, -ly, -tion, -ment, -ness, -ity, -ies: the endings of ordinary words, rare in names."""
    return bool(_INFLECTED.search(word.lower())) and len(word) >= 5


def looks_inflected(word: str) -> bool:
    """An ordinary word's ending (Stabbing, Levels, Introduction) rather than a name's."""
    lower = word.lower()
    if _INFLECTED.search(lower) and len(lower) >= 5:
        return True
    return lower.endswith("s") and len(lower) > 4 and is_english_word(lower[:-1]) and not is_proper_noun(lower[:-1])


@dataclass
class WordContext:
    """What the judge of one Latin word may know about its surroundings (all cheap to keep while streaming)."""

    prompt_words: frozenset[str] = frozenset()
    repeated_names: frozenset[str] = frozenset()  # lower-cased words the text writes capitalised 3+ times, never lower
    in_name_phrase: bool = False  # in a run of capitalised words with a name in it: `Jira Servicedesk`, `Monza SP1`
    species_after_genus: bool = False  # lower-case word right after a capitalised one: `Allium cepa`
    glued_to_target: bool = False  # written against a target-language letter: `pvc관`
    code_words: frozenset[str] = frozenset()  # lower-cased identifiers of the answer's own code: `numpy`, `df`
    after_target_letter: bool = False  # written right after a target-language letter, inside a word: `권oga`
    before_number: bool = False  # a number follows after one space: `Connect 2021`


@dataclass
class WordJudgement:
    flagged: bool
    why: str  # the exempt reason, or the flag's reason
    kind: str = ""  # the flag's kind (code_switch)


_CONTRACTION_START = re.compile(r"([a-z]+'(?:m|s|ve|re|ll|d|t))(?:[a-z]|$)")


def _contraction_start(word: str) -> str | None:
    """The listed contraction this word begins with (`i'm` of `I'mhappy`), if it is followed by a letter or nothing."""
    head = _CONTRACTION_START.match(word.lower().replace("’", "'"))
    return head.group(1) if head and head.group(1) in policy().function_words else None


def runs_on_from_contraction(lower: str) -> bool:
    """An English contraction with more letters glued on (`i'mhappy`, `it'sfun`, `what'sn't`): English run
    together, never a name (`O'Brien`, `McDonald's`, `L'Oréal` do not start with one)."""
    head = _contraction_start(lower)
    return head is not None and len(lower) > len(head)


@lru_cache(maxsize=1)
def contraction_stems() -> frozenset[str]:
    """What comes before the apostrophe of the listed contractions: `i`, `it`, `don`, ..."""
    return frozenset(w.split("'")[0] for w in policy().function_words if "'" in w)


@lru_cache(maxsize=1)
def contraction_stem_prefixes() -> frozenset[str]:
    """Every beginning of a contraction's stem (`t`, `th`, `tha`, `that`): a lead may finish the stem."""
    return frozenset(stem[:i] for stem in contraction_stems() for i in range(1, len(stem) + 1))


_HUMPS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+")


def camel_humps(word: str) -> list[str]:
    """A camel-case word's parts: `IntroductionToGender` -> Introduction, To, Gender; `iPhone` -> i, Phone."""
    return _HUMPS.findall(word)


def camel_runs_english_together(word: str) -> bool:
    """A camel-case word that is English written without spaces, not a name: a function word between two parts
    (`IntroductionToGender`, `NormsInClass`), or a lower-case function word glued to a capital (`beO`, `isThe`).
    Names keep their shape, however many ordinary words they join: `YouTubeTitleOptimizer`, `LinkedIn` (a
    function word at the end), `iPhone` (one letter before the capital)."""
    humps = camel_humps(word)
    if len(humps) < 2:
        return False
    if any(is_function_word(h) and len(h) >= 2 for h in humps[1:-1]):
        return True
    return humps[0].islower() and len(humps[0]) >= 2 and is_function_word(humps[0])


def ends_only_in_english(prefix: str) -> bool:
    """A word begun like this (`I'm`, `It'sf`) can only end as English: the contraction itself (a function word)
    or English run together. `strict` stops such a word before it starts, rather than at its end."""
    return _contraction_start(prefix) is not None


def judge_latin_word(word: str, ctx: WordContext | None = None) -> WordJudgement:
    """Is this Latin word (outside code, URLs, glosses and quotes) code-switching inside target-language text?"""
    ctx = ctx or WordContext()
    lower, core = _word_keys(word)
    letters = re.sub(r"[^A-Za-zÀ-ɏ]", "", word)
    if in_prompt(word, ctx.prompt_words):
        return WordJudgement(False, "prompt")
    if lower in ctx.code_words:
        return WordJudgement(False, "code")  # the library or identifier its code uses: `numpy 배열`
    if runs_on_from_contraction(lower):
        return WordJudgement(True, "English words run together", KIND_CODE_SWITCH)  # I'mhappy, It'sfun
    if not word.isascii() and not word[0].isupper():
        if ctx.species_after_genus:
            return WordJudgement(False, "scientific_name")
        return WordJudgement(True, "a foreign word", KIND_CODE_SWITCH)  # cafetière, så, ó
    if len(letters) <= 1:
        return WordJudgement(False, "symbol")  # option letters (A안), variables (x, y)
    if lower in policy().korean_abbreviations:
        return WordJudgement(False, "acronym")  # 한국 vs 일본
    if any(ch.isdigit() for ch in word):
        return WordJudgement(False, "name")  # GPT-4, SP1, mp3
    if ctx.before_number and word[0].isupper() and not is_function_word(word):
        return WordJudgement(False, "name")  # a product, release or event with its number: Connect 2021, Windows 11
    if word.isupper():
        if len(letters) <= policy().acronym_max_length or not is_english_word(lower):
            return WordJudgement(False, "acronym")
        return WordJudgement(True, "an ordinary English word in capitals", KIND_CODE_SWITCH)
    if re.search(r"[a-z][A-Z]|^[A-Z]{2,}[a-z]", word):
        if camel_runs_english_together(word):
            return WordJudgement(True, "English words run together", KIND_CODE_SWITCH)  # IntroductionToGender, beO
        return WordJudgement(False, "name")  # camel case: YouTube, PepsiCo, iPhone, LaFerrari, SKTelecom, LinkedIn
    if ctx.in_name_phrase:
        return WordJudgement(False, "name")  # `of` in `Royal College of Art`
    if core in policy().function_words:
        return WordJudgement(True, "an English function word", KIND_CODE_SWITCH)
    if word[0].isupper():
        if ctx.in_name_phrase or is_proper_noun(core) or not is_english_word(core):
            return WordJudgement(False, "name")  # Brexit, Jira, Infineon, Jira Servicedesk
        if (core in ctx.repeated_names or len(core) <= 4) and not looks_inflected(core):
            return WordJudgement(False, "name")  # written as a name throughout, or a short brand: Meta, Zoom
        return WordJudgement(True, "an ordinary English word, capitalised", KIND_CODE_SWITCH)  # Weapon의, Based로
    if ctx.species_after_genus and not is_english_word(core):
        return WordJudgement(False, "scientific_name")
    if is_english_word(core):
        return WordJudgement(True, "an ordinary English word", KIND_CODE_SWITCH)
    if len(letters) <= 3 and ctx.after_target_letter and any(ch in "aeiou" for ch in lower):
        return WordJudgement(True, "Latin letters inside a Korean word", KIND_CODE_SWITCH)  # 권oga와, 마시ne, 한bok
    if len(letters) <= 3 and (ctx.glued_to_target or sum(ch in "aeiou" for ch in lower) <= 1):
        return WordJudgement(False, "acronym")  # pvc관, bmw, nfc (but not French `ou`)
    return WordJudgement(True, "a foreign word", KIND_CODE_SWITCH)  # mentale, hybride, entren


def looks_like_sentence(words: list[str]) -> bool:
    """A run of Latin words that reads as a sentence or phrase, not a name: two function words, or three
    ordinary words that are not all capitalised names."""
    function = sum(1 for w in words if is_function_word(w))
    if function >= 2:
        return True
    ordinary = sum(1 for w in words if not is_function_word(w) and is_english_word(w)
                   and not (w[:1].isupper() and is_proper_noun(w)) and not w.isupper())
    return ordinary >= 3 or (function >= 1 and ordinary >= 2)
