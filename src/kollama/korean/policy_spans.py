"""The fidelity policy's parenthesised glosses and quotes (docs/fidelity.md): foreign text a Korean reader accepts
because of the brackets around it, as regions of a whole answer, and while decoding (`inside_open_gloss`)."""

from __future__ import annotations

import re

from kollama.korean.policy import policy

_PARENS = re.compile(r"\(([^()\n]{1,200})(?:\)|\Z)")  # also a gloss cut off by the end of the answer
_QUOTES = re.compile(r"\"([^\"\n]{1,400})\"|“([^”\n]{1,400})”|‘([^’\n]{1,400})’|(?<![A-Za-z])'([^'\n]{1,400})'(?![A-Za-z])"
                     r"|「([^」\n]{1,400})」|『([^』\n]{1,400})』|《([^》\n]{1,400})》|〈([^〉\n]{1,400})〉|«([^»\n]{1,400})»")


def _word_count(text: str) -> int:
    return len(text.split())


def _anchored(before: str, is_anchor) -> bool:
    """Can a gloss follow this text? A target-language (or Han) letter, a digit or an acronym ends it, also inside
    closing quotes: `'코스모스 인스티튜트'(Cosmos Institute)`."""
    before = before.rstrip("'\"’”」』》〉 ")
    return bool(before) and (is_anchor(before[-1]) or before[-1].isdigit()
                             or bool(re.search(r"\b[A-Z][A-Z0-9&]+s?$", before)))


def gloss_regions(text: str, is_target_letter, is_anchor) -> list[tuple[int, int]]:
    """Parenthesised glosses in either direction, as (start, end) of the foreign part.

    `실사(due diligence)`, `법의학(法醫學)`, `CRM(Customer Relationship Management)`: short foreign text in parentheses
    right after a target-language word (or an acronym it spells out); `(Limited Liability Company, 유한책임회사)`:
    each comma-separated part is either target-language or a short foreign gloss.
    `Infineon(인피니언)`: a foreign run right before parentheses that hold only target-language text.
    `is_anchor` says which letter may carry a gloss (target letters, and Han for `法醫學(Forensic Science)`).
    """
    regions = []
    limit = policy().gloss_max_words
    for match in _PARENS.finditer(text):
        inner_start = match.start(1)
        inner = match.group(1)
        before = text[: match.start()].rstrip(" ")
        anchored = _anchored(before, is_anchor)
        parts = [(m.start() + inner_start, m.group(0)) for m in re.finditer(r"[^,;/]+", inner)]
        pure = all(not (any(is_target_letter(ch) for ch in part) and re.search(r"[A-Za-zÀ-ɏ]{2}", part))
                   for _, part in parts)
        foreign = [(start, part) for start, part in parts if not any(is_target_letter(ch) for ch in part)]
        has_target = len(foreign) < len(parts)
        if anchored and pure and foreign and all(_word_count(part) <= limit for _, part in foreign):
            for start, part in foreign:
                stripped = part.strip()
                if stripped:
                    begin = start + part.index(stripped)
                    regions.append((begin, begin + len(stripped)))
        elif has_target and not foreign and before:
            run = re.search(r"((?:[A-Za-zÀ-ɏ0-9][\w'’.&+-]*[ ]?){1,%d})$" % limit, before)
            glued = run is not None and run.start(1) > 0 and is_target_letter(before[run.start(1) - 1])
            if run and re.search(r"[A-Za-zÀ-ɏ]", run.group(1)) and not glued:  # not `디ên(디너)`: a broken word
                regions.append((run.start(1), run.start(1) + len(run.group(1).rstrip())))
    return regions


def inside_open_gloss(prefix: str, is_target_letter, is_anchor) -> bool:
    """While decoding: does `prefix` end inside a parenthesis that can still become a gloss (`실사(due dil`)?

    The streaming counterpart of `gloss_regions`: the parenthesis is open, follows an anchor letter, holds no
    target-language letter yet and no more words than a gloss may have."""
    open_at = prefix.rfind("(")
    if open_at < 0 or ")" in prefix[open_at:] or "\n" in prefix[open_at:]:
        return False
    before = prefix[:open_at].rstrip(" ")
    inner = prefix[open_at + 1:]
    return _anchored(before, is_anchor) and not any(is_target_letter(ch) for ch in inner) and _word_count(inner) <= policy().gloss_max_words


def quote_regions(text: str, is_target_letter) -> list[tuple[int, int, str]]:
    """Quoted titles inside target-language lines (`quote`) and JSON keys (`json_key`): (start, end, why).

    A quote only counts as a title when it holds no target-language letter and its line has target-language text
    outside it: an English JSON value, an all-English line or a Korean phrase with an English word inside quotes
    (`'인터active 모델'`) is still judged."""
    regions = []
    limit = policy().quote_max_words
    for match in _QUOTES.finditer(text):
        group = next(i for i in range(1, match.re.groups + 1) if match.group(i) is not None)
        start, end = match.span(group)
        after = text[match.end(): match.end() + 3]
        if match.group(0)[0] == '"' and after.lstrip(" ").startswith(":"):
            regions.append((start, end, "json_key"))
            continue
        line_start = text.rfind("\n", 0, match.start()) + 1
        line_end = text.find("\n", match.end())
        line_end = len(text) if line_end < 0 else line_end
        outside = text[line_start: match.start()] + text[match.end(): line_end]
        inner = match.group(group)
        if (_word_count(inner) <= limit and any(is_target_letter(ch) for ch in outside)
                and not any(is_target_letter(ch) for ch in inner)):
            regions.append((start, end, "quote"))
    return regions
