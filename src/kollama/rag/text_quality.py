"""How good a page's text layer is: the signals that decide OCR and that `rag doctor` reports."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MIN_CHARS = 50  # fewer visible characters than this on a page: treat it as a scan
GARBAGE_LIMIT = 0.3  # more than this share of garbage characters: the font has no usable Unicode map

_CID = re.compile(r"\(cid:\d+\)")
MAX_MEAN_WORD = 10  # Korean words (eojeol) average 3-4 characters; much longer means lost spaces


def _is_garbage(ch: str) -> bool:
    code = ord(ch)
    if ch == "\ufffd" or 0xE000 <= code <= 0xF8FF or code >= 0xF0000:
        return True
    category = unicodedata.category(ch)
    return category in ("Cc", "Co", "Cn", "Cs") and ch not in "\r\n\t"


@dataclass
class TextQuality:
    chars: int  # visible characters
    garbage_ratio: float
    nfd: bool  # text layer carries decomposed jamo
    missing_spaces: bool  # words far longer than Korean words are: a text layer that lost its spaces

    @property
    def unusable(self) -> bool:
        """The text layer cannot be trusted: mostly garbage (fonts without a Unicode map)."""
        return self.garbage_ratio > GARBAGE_LIMIT

    def needs_ocr(self, has_images: bool) -> bool:
        """Garbage text, or (almost) no text over a picture: a scan. A short page without images is just short."""
        return self.unusable or (self.chars < MIN_CHARS and has_images)


def measure(raw_text: str) -> TextQuality:
    """Measure the text as extracted, before NFC, so NFD and garbage are still visible."""
    cids = len(_CID.findall(raw_text))
    text = _CID.sub("", raw_text)
    visible = [ch for ch in text if not ch.isspace()]
    garbage = sum(1 for ch in visible if _is_garbage(ch)) + cids
    total = len(visible) + cids
    nfd = not unicodedata.is_normalized("NFC", text) and any(0x1100 <= ord(ch) <= 0x11FF for ch in text)
    composed = unicodedata.normalize("NFC", text)
    words = [w for w in composed.split() if any("가" <= ch <= "힣" for ch in w)]
    mean_word = sum(map(len, words)) / len(words) if words else 0.0
    return TextQuality(
        chars=len(unicodedata.normalize("NFC", "".join(visible))),
        garbage_ratio=round(garbage / total, 3) if total else 0.0,
        nfd=nfd,
        missing_spaces=(len(words) >= 2 and mean_word > MAX_MEAN_WORD) or (len(words) == 1 and mean_word > 3 * MAX_MEAN_WORD),
    )
