"""BM25 term vectors for Qdrant's sparse index; Qdrant applies IDF at query time (Modifier.IDF).

Two analysers: Kiwi content morphemes (so "서울은" matches "서울") and plain whitespace words, the
baseline that `rag eval` shows beside it.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter

from kollama.korean.morphology import CONTENT_TAGS, nfc, tokenize

K1 = 1.2
B = 0.75
AVG_TERMS = 60.0  # typical terms per chunk at the default chunk budget; only shapes length normalisation

_PUNCT = re.compile(r"^[\W_]+|[\W_]+$")
_CODE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{1,6}[-_]?\d+[A-Za-z0-9-]*")


NOUNS = ("NNG", "NNP")


def _compounds(run: list) -> list[str]:
    """The whole terms of one run of morphemes written together: a prefix ('재'), nouns, suffixes ('권').
    Kiwi cuts the same word differently by context ('광업권' is one noun in one sentence, '광업'+'권' in
    the next), so besides the whole run ('쟁점광업권') come its parts a reader would also search for:
    the nouns alone ('쟁점광업'), the last noun with its suffix ('광업권'), the prefix with the first noun
    ('재조사')."""
    if len(run) < 2:
        return []
    forms = [t.form for t in run]
    nouns = [i for i, t in enumerate(run) if t.tag in NOUNS]
    found = ["".join(forms)]
    if len(nouns) >= 2:
        found.append("".join(forms[nouns[0]:nouns[-1] + 1]))
    if run[-1].tag == "XSN":
        found.append("".join(forms[nouns[-1]:]))
    if run[0].tag == "XPN":
        found.append("".join(forms[:nouns[0] + 1]))
    return [term for term in dict.fromkeys(found) if len(term) > 1 and term not in forms]


def kiwi_terms(text: str) -> list[str]:
    """Content morphemes (unknown words passed through), plus two kinds of whole terms Kiwi would split:
    words written without a space ('연차휴가' besides '연차', '휴가'; '재조사' besides '조사'; '연차를' ->
    '연차' even when Kiwi cuts it into '연'+'차'), and model codes such as 'AP-500'."""
    text = nfc(text)
    tokens = tokenize(text)
    terms = [t.form.lower() for t in tokens if t.tag.startswith(CONTENT_TAGS) or t.tag == "UN"]
    run: list = []
    for token in [*tokens, None]:
        joined = token is not None and run and token.start == run[-1].start + run[-1].len
        if joined and (token.tag in NOUNS and run[-1].tag != "XSN" or token.tag == "XSN" and any(t.tag in NOUNS for t in run)):
            run.append(token)
            continue
        if any(t.tag in NOUNS for t in run):
            terms.extend(term.lower() for term in _compounds(run))
        run = [token] if token is not None and token.tag in (*NOUNS, "XPN") else []
    return terms + [code.lower().replace("_", "-") for code in _CODE.findall(text)]


def whitespace_terms(text: str) -> list[str]:
    words = (_PUNCT.sub("", word) for word in nfc(text).lower().split())
    return [word for word in words if word]


ANALYSERS = {"bm25": kiwi_terms, "bm25_ws": whitespace_terms}


def term_id(term: str) -> int:
    return zlib.crc32(term.encode("utf-8"))


def document_vector(terms: list[str]) -> tuple[list[int], list[float]]:
    """BM25 term-frequency part per term; hashing collisions are summed."""
    weights: dict[int, float] = {}
    length_norm = K1 * (1 - B + B * len(terms) / AVG_TERMS)
    for term, tf in Counter(terms).items():
        index = term_id(term)
        weights[index] = weights.get(index, 0.0) + tf * (K1 + 1) / (tf + length_norm)
    return list(weights), list(weights.values())


def query_vector(terms: list[str]) -> tuple[list[int], list[float]]:
    indices = sorted({term_id(term) for term in terms})
    return indices, [1.0] * len(indices)
