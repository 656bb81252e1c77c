"""One shared Kiwi instance (loading it takes about a second) and the few things we ask of it."""

from __future__ import annotations

import threading
import unicodedata
from functools import lru_cache

_lock = threading.Lock()


@lru_cache(maxsize=1)
def kiwi():
    from kiwipiepy import Kiwi

    return Kiwi()


def nfc(text: str) -> str:
    """Some PDFs and models emit decomposed jamo (NFD); everything kollama compares is NFC."""
    return unicodedata.normalize("NFC", text)


def tokenize(text: str):
    """Kiwi tokens (form, tag, start, len); Kiwi is not documented thread-safe, so calls are serialised."""
    with _lock:
        return kiwi().tokenize(text)


def split_sentences(text: str) -> list[str]:
    with _lock:
        return [s.text for s in kiwi().split_into_sents(text)]


# Nouns, verb/adjective stems, foreign words, Hanja, numbers: what sparse retrieval matches on.
CONTENT_TAGS = ("NNG", "NNP", "NNB", "NR", "NP", "VV", "VA", "MAG", "XR", "SL", "SH", "SN", "W_")
