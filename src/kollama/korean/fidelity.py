"""Is this text in the language we asked for, as a reader of that language judges it? Which spans are foreign
(and what kind of fault each is), and which foreign-looking spans are fine (and why)?

The policy is written in docs/fidelity.md; its rule primitives live in `kollama.korean.policy`, shared with the
`strict` lock. One implementation serves `kollama fidelity`, `compare`, the tune report, serve's `/v1/fidelity`
and the lock's tests. LCB's own metric (`kollama.korean.lcb`) is reported beside the verdict, never instead.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from kollama.korean import policy as rules
from kollama.korean import policy_spans as spans
from kollama.korean.morphology import nfc
from kollama.korean.scripts import COMMON, language, script_of

_LATIN_WORD = re.compile(r"[A-Za-zÀ-ɏ]+(?:['’][A-Za-z]+)*")
# Two Latin words belong to one phrase when only spaces, a hyphen, '&' or '.' in an abbreviation separate them.
_PHRASE_GAP = re.compile(r"[ \t]?[-&]?[ \t]?")
_LABEL = re.compile(r"^[ \t#>*_\-+\d.)]*((?:[A-Za-z][A-Za-z'’]*[ \t]?){1,3}?)[*_ \t]*:[*_]*(?=\s|$)", re.M)
_SCRIPT_TO_LANG = {"hangul": "ko", "thai": "th", "devanagari": "hi", "hebrew": "he", "greek": "el"}
_LANGID_CANDIDATES = {
    "latin": ("en", "es", "fr", "de", "it", "pt", "pl", "nl", "tr", "id", "sw", "vi", "ms", "ro", "cs", "sv",
              "da", "no", "fi", "hu", "ca", "tl", "zu", "xh", "rw"),
    "cyrillic": ("ru", "uk", "bg", "sr", "mk", "be", "kk"),
    "arabic": ("ar", "fa", "ur"),
}
# Letters of an alphabet carry less than a syllable block or a Han character.
_ALPHABETIC_WEIGHT = 0.25
_SYLLABIC = {"hangul", "han", "kana", "thai", "cjk_punct"}


@dataclass
class ForeignSpan:
    """A fault a reader of the target language would see: `kind` says which, `reason` says why."""

    text: str
    kind: str  # script | code_switch | wrong_language_line | label
    script: str
    start: int
    end: int
    reason: str = ""


@dataclass
class ExemptSpan:
    """Foreign-looking text the policy accepts, and why (name, gloss, code, prompt, ...)."""

    text: str
    why: str
    start: int
    end: int


REPLACEMENT = "\ufffd"


def _malformed(text: str) -> bool:
    return bool(text) and set(text) == {REPLACEMENT}


@dataclass
class FidelityReport:
    lang: str
    dominant: str
    passed: bool
    chars: dict[str, int]
    hangul_ratio: float
    words: int
    code_switch_words: int
    foreign: list[ForeignSpan] = field(default_factory=list)
    exempt: list[ExemptSpan] = field(default_factory=list)
    lcb: dict[str, Any] | None = None

    def scripts_intruding(self) -> Counter:
        """Foreign scripts in the answer. U+FFFD is not one: it is bytes that form no character (a byte-level
        model with the lock off can write a Hangul lead byte and then an English word), counted by `malformed`."""
        return Counter(span.script for span in self.foreign if span.kind == "script" and not _malformed(span.text))

    def malformed(self) -> int:
        """Replacement characters: bytes the model wrote that decode to no character."""
        return sum(span.text.count(REPLACEMENT) for span in self.foreign if span.kind == "script")

    def kinds(self) -> Counter:
        return Counter(span.kind for span in self.foreign)

    def to_json(self) -> dict[str, Any]:
        return {
            "lang": self.lang, "dominant": self.dominant, "pass": self.passed, "chars": self.chars,
            "hangul_ratio": self.hangul_ratio, "words": self.words, "code_switch_words": self.code_switch_words,
            "foreign": [vars(s).copy() for s in self.foreign],
            "exempt": [{"text": s.text, "why": s.why, "start": s.start, "end": s.end} for s in self.exempt],
            "kinds": dict(self.kinds()),
            **({"lcb": self.lcb} if self.lcb is not None else {}),
        }


# --- helpers --------------------------------------------------------------------------------------------------
def _blank(text: str, regions: list[tuple[int, int]]) -> str:
    chars = list(text)
    for start, end in regions:
        for i in range(start, end):
            if chars[i] != "\n":
                chars[i] = " "
    return "".join(chars)


def _overlaps(start: int, end: int, regions: list[tuple[int, int]]) -> bool:
    return any(s < end and start < e for s, e in regions)


def _crosses(start: int, end: int, regions: list[tuple[int, int]]) -> bool:
    """Overlaps a region without holding it whole: a JSON key `"1st advice"` holds its number `1st`."""
    return any(s < end and start < e and not (start <= s and e <= end) for s, e in regions)


def _foreign_script(ch: str, allowed: frozenset[str]) -> str | None:
    """The script of `ch` if it intrudes; Latin letters with accents other than Vietnamese ones are Latin."""
    script = script_of(ch)
    if script == COMMON or script in allowed or script == "latin":
        return None
    if script == "latin_ext" and not rules.is_vietnamese(ch) and not 0x0300 <= ord(ch) <= 0x036F:
        return None
    return script


def _script_spans(text: str, allowed: frozenset[str]) -> tuple[list[ForeignSpan], list[ExemptSpan]]:
    spans: list[ForeignSpan] = []
    symbols: list[ExemptSpan] = []
    current: ForeignSpan | None = None
    for i, ch in enumerate(text):
        script = _foreign_script(ch, allowed)
        if script is None:
            continue
        if script == "greek" and not (0 < i < len(text) - 1 and text[i - 1].isalpha() and text[i + 1].isalpha()):
            symbols.append(ExemptSpan(ch, "symbol", i, i + 1))  # π, Ξ, α used as a symbol
            continue
        gap = text[current.end: i] if current else ""
        if current and len(gap) <= 3 and "\n" not in gap and all(script_of(c) == COMMON for c in gap):
            current.end = i + 1  # one run of foreign text, even if it mixes kana and Han
        else:
            current = ForeignSpan("", "script", script, i, i + 1)
            spans.append(current)
    for span in spans:
        counts = Counter(script_of(c) for c in text[span.start: span.end])
        counts.pop(COMMON, None)
        span.script = counts.most_common(1)[0][0]
        if span.script == "latin_ext":  # widen to the whole word: "tiếng", not "ế"
            while span.start > 0 and script_of(text[span.start - 1]) in ("latin", "latin_ext"):
                span.start -= 1
            while span.end < len(text) and script_of(text[span.end]) in ("latin", "latin_ext"):
                span.end += 1
            span.reason = "Vietnamese letters"
        else:
            span.reason = f"{span.script} characters outside a gloss"
    merged: list[ForeignSpan] = []
    for span in spans:  # "ứng dụng" is one Vietnamese phrase
        if (merged and span.script == merged[-1].script == "latin_ext" and span.start >= merged[-1].end
                and text[merged[-1].end: span.start].strip(" ") == ""):
            merged[-1].end = span.end
        elif not merged or span.start >= merged[-1].end:
            merged.append(span)
    return merged, symbols


def _phrases(text: str, words: list[re.Match]) -> list[list[re.Match]]:
    """Latin words grouped into runs that only spaces or hyphens separate (`Royal College of Art`)."""
    groups: list[list[re.Match]] = []
    for match in words:
        if groups and _PHRASE_GAP.fullmatch(text[groups[-1][-1].end(): match.start()]):
            groups[-1].append(match)
        else:
            groups.append([match])
    return groups


def _is_named(word: str) -> bool:
    return word[:1].isupper() or word.isupper() or any(ch.isdigit() for ch in word)


def _namey(word: str, prompt_words: frozenset[str]) -> bool:
    """A word that only a name would be: a proper noun, not English, an acronym, digits, camel case, the prompt's."""
    return (any(ch.isdigit() for ch in word) or word.isupper() or bool(re.search(r"[a-z][A-Z]", word))
            or (not rules.is_function_word(word) and (rules.is_proper_noun(word) or not rules.is_english_word(word)))
            or rules.in_prompt(word, prompt_words))


def _spelled_as_name(word: str) -> bool:
    """Acronym, digits, camel case, or not an English word: `SAP Concur:` is a name, not a label."""
    return (any(ch.isdigit() for ch in word) or (word.isupper() and len(word) > 1)
            or bool(re.search(r"[a-z][A-Z]", word)) or not rules.is_english_word(word))


def _phrase_contexts(text: str, words: list[re.Match], prompt_words: frozenset[str], repeated: frozenset[str],
                     is_target_letter, prompt_text: str = "",
                     code_words: frozenset[str] = frozenset()) -> dict[int, rules.WordContext]:
    contexts: dict[int, rules.WordContext] = {}
    phrases = _phrases(text, words)
    for index, phrase in enumerate(phrases):
        tokens = [m.group(0) for m in phrase]
        named = [_is_named(t) and not rules.is_function_word(t) for t in tokens]
        inner_joiners = all(n or (0 < i < len(tokens) - 1 and rules.is_name_joiner(t))
                            for i, (t, n) in enumerate(zip(tokens, named)))
        named_words = [t for t, n in zip(tokens, named) if n]
        title = (len(tokens) >= 2 and len(named_words) >= 2 and inner_joiners
                 and (any(_namey(t, prompt_words) for i, t in enumerate(tokens) if named[i]
                          and not (t.isupper() and i and rules.is_name_joiner(tokens[i - 1])))  # not `... and AI`
                      # an institution, a law, a work: Royal College of Art (not Effective Workplace Strategies)
                      or (len(named_words) >= 3 and not any(rules.has_derivational_ending(t) for t in named_words))
                      or " ".join(tokens).lower() in prompt_text)  # a thing the prompt named: Spring State Machine
                 ) or (all(named) and (rules.named_by_its_head(text[phrase[-1].end():])  # Medium 같은 블로그 플랫폼
                                       or _listed_with_a_name(text, phrases, index, prompt_words)))  # Vingle, Interest Network
        for i, match in enumerate(phrase):
            species = (i == 1 and len(tokens) == 2 and tokens[0][:1].isupper() and tokens[0][1:].islower()
                       and tokens[1].islower() and not rules.is_function_word(tokens[0]))  # not `In ava`
            inside = match.start() > 0 and is_target_letter(text[match.start() - 1])
            glued = inside or (match.end() < len(text) and is_target_letter(text[match.end()]))
            numbered = re.match(r" \d", text[match.end(): match.end() + 2]) is not None
            contexts[match.start()] = rules.WordContext(prompt_words, repeated, in_name_phrase=title,
                                                        species_after_genus=species, glued_to_target=glued,
                                                        code_words=code_words, after_target_letter=inside,
                                                        before_number=numbered)
    return contexts


def _listed_with_a_name(text: str, phrases: list[list[re.Match]], index: int, prompt_words: frozenset[str]) -> bool:
    """Is this phrase an item of a comma list whose neighbouring item is spelled as a name (`Vingle, Interest
    Network`)? Items of one list are things of one kind, so a reader takes the others as names too."""
    for other in (index - 1, index + 1):
        if not 0 <= other < len(phrases):
            continue
        first, second = sorted((phrases[index], phrases[other]), key=lambda p: p[0].start())
        if not re.fullmatch(r"\s*,\s*", text[first[-1].end(): second[0].start()]):
            continue
        neighbour = [m.group(0) for m in phrases[other]]
        if all(_is_named(t) for t in neighbour) and any(_namey(t, prompt_words) for t in neighbour):
            return True
    return False


def _repeated_names(words: list[re.Match]) -> frozenset[str]:
    """Words the text writes capitalised at least three times and never in lower case."""
    capitalised = Counter(m.group(0).lower() for m in words if m.group(0)[:1].isupper())
    lower = {m.group(0) for m in words if m.group(0).islower()}
    return frozenset(w for w, n in capitalised.items() if n >= 3 and w not in lower and not rules.is_function_word(w))


def _dominant(letters: Counter, text: str) -> str:
    if not letters:
        return ""
    weights = {s: n * (1.0 if s in _SYLLABIC else _ALPHABETIC_WEIGHT) for s, n in letters.items()}
    han, kana = letters.get("han", 0), letters.get("kana", 0)
    if kana:
        weights["kana"] = weights.get("kana", 0) + han  # Japanese writes with both
        weights.pop("han", None)
    top = max(weights, key=weights.get)
    if top == "kana":
        return "ja"
    if top in ("han", "cjk_punct"):
        return "zh"
    if top in _SCRIPT_TO_LANG:
        return _SCRIPT_TO_LANG[top]
    family = "latin" if top in ("latin", "latin_ext") else top
    candidates = _LANGID_CANDIDATES.get(family)
    if not candidates:
        return "und"
    from kollama.korean.lcb import rank_languages  # fastText lid.176, already loaded for LCB's verdict

    for code in rank_languages(text):
        if code in candidates:
            return code
    return candidates[0]


def _line_spans(text: str) -> list[tuple[int, int]]:
    out, pos = [], 0
    for line in text.split("\n"):
        out.append((pos, pos + len(line)))
        pos += len(line) + 1
    return out


# --- the report -----------------------------------------------------------------------------------------------
def fidelity_report(text: str, lang: str = "ko", prompt: str | None = None, system: str | None = None,
                    with_lcb: bool = True) -> FidelityReport:
    """Judge `text` against the expected language `lang` by the written policy. `prompt` and `system` exempt
    the words they use and the languages they ask for; `with_lcb` adds LCB's own line/word verdict."""
    target = language(lang)
    text = nfc(text)
    asked = rules.asked_languages(prompt, system) - {lang}
    prompt_words = rules.prompt_vocabulary(prompt, system)
    allowed = frozenset(target.scripts).union(*(language(code).scripts for code in asked)) if asked else frozenset(target.scripts)
    latin_asked = bool(asked) and any("latin" in language(code).scripts for code in asked)

    def is_target_letter(ch: str) -> bool:
        return script_of(ch) in target.scripts

    def is_gloss_anchor(ch: str) -> bool:
        return script_of(ch) in target.scripts or script_of(ch) == "han"

    exempt: list[ExemptSpan] = [ExemptSpan(text[s:e], why, s, e) for s, e, why in rules.exempt_regions(text)]
    taken = [(s.start, s.end) for s in exempt]
    if target.strict_bans_latin:
        for start, end in spans.gloss_regions(text, is_target_letter, is_gloss_anchor):
            if not _overlaps(start, end, taken) and any(not is_target_letter(ch) and ch.isalpha() for ch in text[start:end]):
                exempt.append(ExemptSpan(text[start:end], "gloss", start, end))
                taken.append((start, end))
        for start, end, why in spans.quote_regions(text, is_target_letter):
            if not _crosses(start, end, taken) and any(not is_target_letter(ch) and ch.isalpha() for ch in text[start:end]):
                exempt = [s for s in exempt if not start <= s.start < s.end <= end]  # the key holds them
                taken = [(s, e) for s, e in taken if not start <= s < e <= end] + [(start, end)]
                exempt.append(ExemptSpan(text[start:end], why, start, end))
    analysed = _blank(text, taken)

    foreign, symbols = _script_spans(analysed, allowed)
    exempt.extend(symbols)
    cut = len(text.rstrip())  # bytes of a character cut off by a token limit decode to U+FFFD at the very end
    while cut and text[cut - 1] == REPLACEMENT:
        cut -= 1
    if cut < len(text.rstrip()):
        cut_spans = [s for s in foreign if s.start >= cut and _malformed(text[s.start:s.end])]
        exempt.extend(ExemptSpan(text[s.start:s.end], "cut_character", s.start, s.end) for s in cut_spans)
        foreign = [s for s in foreign if s not in cut_spans]
    prompt_text = " ".join(p for p in (prompt, system) if p)
    if prompt_text:  # Han, kana or IPA the prompt itself used
        quoted = [s for s in foreign if analysed[s.start:s.end].strip() and analysed[s.start:s.end].strip() in prompt_text]
        exempt.extend(ExemptSpan(text[s.start:s.end], "prompt", s.start, s.end) for s in quoted)
        foreign = [s for s in foreign if s not in quoted]
    if asked:
        for span in _script_spans(analysed, frozenset(target.scripts))[0]:
            if span.script in allowed:
                exempt.append(ExemptSpan(text[span.start:span.end], "asked_language", span.start, span.end))
    script_taken = [(s.start, s.end) for s in foreign]

    words = [m for m in _LATIN_WORD.finditer(analysed) if not _overlaps(m.start(), m.end(), script_taken)]
    flagged_words = 0
    if target.strict_bans_latin and words:
        if latin_asked:
            exempt.extend(ExemptSpan(m.group(0), "asked_language", m.start(), m.end()) for m in words)
        else:
            flagged_words = _judge_latin(text, analysed, words, prompt_words, is_target_letter, foreign, exempt,
                                         prompt_text)

    for span in foreign:
        span.text = text[span.start: span.end]
    foreign.sort(key=lambda span: span.start)
    exempt.sort(key=lambda span: span.start)

    exempt_words = [(s.start, s.end) for s in exempt if s.why not in ("code", "url", "email", "path", "number", "formula")]
    counted = _blank(analysed, exempt_words)
    chars: Counter = Counter(script_of(ch) for ch in counted if not ch.isspace())
    letters = Counter({s: n for s, n in chars.items() if s != COMMON})
    total_letters = sum(letters.values())
    if not letters and exempt_words and any(ch.isalpha() for ch in analysed):
        # nothing but names, the prompt's words and glosses: no Korean to read, so judge the language of those
        counted = analysed
        letters = Counter({s: n for s, n in Counter(script_of(ch) for ch in counted if not ch.isspace()).items()
                           if s != COMMON})
    dominant = _dominant(letters, counted)
    has_content = bool(total_letters) or any(s.why in ("code", "url", "email", "path") for s in exempt) or bool(exempt_words)
    passed = bool(not foreign and has_content and (dominant in (lang, "") or dominant in asked))
    return FidelityReport(
        lang=lang,
        dominant=dominant,
        passed=passed,
        chars=dict(chars),
        hangul_ratio=round(letters.get("hangul", 0) / total_letters, 4) if total_letters else 0.0,
        words=len(analysed.split()),
        code_switch_words=flagged_words,
        foreign=foreign,
        exempt=exempt,
        lcb=_lcb(text, lang) if with_lcb else None,
    )


def _lcb(text: str, lang: str) -> dict[str, Any]:
    from kollama.korean.lcb import lcb_verdict

    return lcb_verdict(text, lang).to_json()


def _judge_latin(text: str, analysed: str, words: list[re.Match], prompt_words: frozenset[str], is_target_letter,
                 foreign: list[ForeignSpan], exempt: list[ExemptSpan], prompt_text: str = "") -> int:
    """Lines in another language, English labels, then each remaining Latin word; returns the flagged word count."""
    repeated = _repeated_names(words)
    code_words = frozenset(w.lower() for s in exempt if s.why == "code" for w in _LATIN_WORD.findall(s.text))
    contexts = _phrase_contexts(text, words, prompt_words, repeated, is_target_letter,
                                " ".join(prompt_text.lower().split()), code_words)
    flagged_words = 0
    judged_lines: list[tuple[int, int]] = []
    by_line: dict[int, list[re.Match]] = {}
    line_starts = [start for start, _ in _line_spans(analysed)]
    for match in words:
        by_line.setdefault(bisect.bisect_right(line_starts, match.start()) - 1, []).append(match)
    for index, line_words in by_line.items():
        start = line_starts[index]
        end = analysed.find("\n", start)
        end = len(analysed) if end < 0 else end
        tokens = [m.group(0) for m in line_words]
        target_tokens = sum(1 for tok in analysed[start:end].split() if any(is_target_letter(ch) for ch in tok))
        from_prompt_title = all(rules.in_prompt(t, prompt_words) for t in tokens) and all(
            _is_named(t) or rules.is_function_word(t) for t in tokens)
        if (len(tokens) >= 3 and len(tokens) > target_tokens and rules.looks_like_sentence(tokens)
                and not from_prompt_title):
            first, last = line_words[0].start(), line_words[-1].end()
            foreign.append(ForeignSpan("", rules.KIND_WRONG_LINE, "latin", first, last,
                                       "a whole line in another language"))
            judged_lines.append((start, end))
            flagged_words += len(tokens)
            continue
        label = _LABEL.match(analysed, start, end)
        if label and label.group(1).strip():
            head = label.group(1).strip().split()
            last = head[-1]
            if (len(last) > 1 and rules.is_english_word(last) and not rules.is_proper_noun(last)
                    and not rules.in_prompt(last, prompt_words) and not any(_spelled_as_name(w) for w in head)):
                s = label.start(1)
                foreign.append(ForeignSpan("", rules.KIND_LABEL, "latin", s, s + len(label.group(1).rstrip()),
                                           "an English label in front of the text"))
                judged_lines.append((s, s + len(label.group(1))))
                flagged_words += len(head)
    for match in words:
        if _overlaps(match.start(), match.end(), judged_lines):
            continue
        verdict = rules.judge_latin_word(match.group(0), contexts.get(match.start()))
        if verdict.flagged:
            foreign.append(ForeignSpan("", verdict.kind, "latin", match.start(), match.end(), verdict.why))
            flagged_words += 1
        else:
            exempt.append(ExemptSpan(match.group(0), verdict.why, match.start(), match.end()))
    return flagged_words


SCRIPT_COLOURS = {"han": "red", "kana": "magenta", "thai": "yellow", "cyrillic": "cyan", "latin_ext": "blue",
                  "latin": "green", "arabic": "bright_red", "devanagari": "bright_yellow"}
