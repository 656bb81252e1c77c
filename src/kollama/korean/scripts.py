"""Which writing system a character belongs to, and which ones a language may use.

One classifier serves the lock (token masks), `fidelity` and `compare`, so the three
can never disagree about what counts as a foreign character.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

from kollama.errors import KollamaError

# (first, last, script). Order matters only for overlaps, of which there are none.
_RANGES: tuple[tuple[int, int, str], ...] = (
    (0xAC00, 0xD7A3, "hangul"),
    (0x1100, 0x11FF, "hangul"),
    (0x3130, 0x318F, "hangul"),
    (0xA960, 0xA97F, "hangul"),
    (0xD7B0, 0xD7FF, "hangul"),
    (0xFFA0, 0xFFDC, "hangul"),  # halfwidth jamo
    (0x4E00, 0x9FFF, "han"),
    (0x3400, 0x4DBF, "han"),
    (0x20000, 0x3134F, "han"),
    (0xF900, 0xFAFF, "han"),
    (0x2E80, 0x2FDF, "han"),  # radicals
    (0x3005, 0x3007, "han"),  # 々 〆 〇
    (0x3040, 0x30FF, "kana"),
    (0x31F0, 0x31FF, "kana"),
    (0xFF66, 0xFF9F, "kana"),  # halfwidth katakana
    (0x3001, 0x3003, "cjk_punct"),  # 、 。 〃
    (0x0E00, 0x0E7F, "thai"),
    (0x0400, 0x052F, "cyrillic"),
    (0x0600, 0x06FF, "arabic"),
    (0x0750, 0x077F, "arabic"),
    (0x08A0, 0x08FF, "arabic"),
    (0xFB50, 0xFDFF, "arabic"),
    (0xFE70, 0xFEFF, "arabic"),
    (0x0900, 0x097F, "devanagari"),
    (0x0590, 0x05FF, "hebrew"),
    (0x0370, 0x03FF, "greek"),
    (0x1F00, 0x1FFF, "greek"),
    (0x0300, 0x036F, "latin_ext"),  # combining diacritics (Vietnamese in NFD)
    (0x00C0, 0x024F, "latin_ext"),
    (0x1E00, 0x1EFF, "latin_ext"),  # Vietnamese precomposed letters live here
    (0xFF01, 0xFF5E, "fullwidth"),
)

# Non-letters that any language may use. Symbols outside these blocks (Yijing hexagrams,
# musical notation...) count as "other": no language needs them, and allowing every symbol
# would let the lock start byte sequences that lead nowhere useful.
_COMMON_BLOCKS: tuple[tuple[int, int], ...] = (
    (0x00A0, 0x00BF), (0x02B0, 0x02FF), (0x2000, 0x206F), (0x2070, 0x209F), (0x20A0, 0x20CF),
    (0x2100, 0x214F), (0x2150, 0x218F), (0x2190, 0x21FF), (0x2200, 0x22FF), (0x2300, 0x23FF),
    (0x2460, 0x24FF), (0x2500, 0x257F), (0x2580, 0x259F), (0x25A0, 0x25FF), (0x2600, 0x26FF),
    (0x2700, 0x27BF), (0x27C0, 0x27EF), (0x2B00, 0x2BFF), (0x3000, 0x3000), (0x3008, 0x3011),
    (0x3013, 0x301F), (0x3200, 0x32FF), (0x3300, 0x33FF), (0xFE0F, 0xFE0F), (0x1F000, 0x1FAFF),
)

# Scripts that are never "foreign": digits, punctuation, symbols, whitespace.
COMMON = "common"
ALL_LETTER_SCRIPTS = (
    "hangul", "han", "kana", "latin", "latin_ext", "thai", "cyrillic", "arabic",
    "devanagari", "hebrew", "greek", "fullwidth", "cjk_punct", "other",
)


def _is_emoji_modifier(cp: int) -> bool:
    """Variation selectors (U+FE00-FE0F, U+E0100-E01EF), the combining keycap (U+20E3) and emoji tags are marks,
    but they only shape the symbol before them (`1️⃣`, `❤️`): part of the symbol, not a script."""
    return 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF or cp == 0x20E3 or 0xE0020 <= cp <= 0xE007F


@lru_cache(maxsize=65536)
def script_of(ch: str) -> str:
    """Script name of one character; `common` for digits, punctuation, symbols and space."""
    cp = ord(ch)
    if cp < 0x80:
        return "latin" if ch.isalpha() else COMMON
    for first, last, name in _RANGES:
        if first <= cp <= last:
            if name == "latin_ext" and cp in (0x00D7, 0x00F7):  # × ÷
                return COMMON
            return name
    if _is_emoji_modifier(cp):
        return COMMON
    category = unicodedata.category(ch)
    if category[0] in "LM":
        return "other"
    if category[0] == "Z" or category == "Cc":
        return COMMON
    for first, last in _COMMON_BLOCKS:
        if first <= cp <= last:
            return COMMON
    return "other"


@dataclass(frozen=True)
class Language:
    code: str
    name: str
    scripts: frozenset[str]
    strict_bans_latin: bool

    def allows(self, script: str) -> bool:
        """`script` lock: own letters, ASCII Latin (code, names, units) and common symbols."""
        return script == COMMON or script == "latin" or script in self.scripts


@lru_cache(maxsize=1)
def languages() -> dict[str, Language]:
    text = resources.files("kollama.data").joinpath("languages.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    return {
        code: Language(code, spec["name"], frozenset(spec["scripts"]), bool(spec["strict_bans_latin"]))
        for code, spec in raw.items()
    }


def language(code: str) -> Language:
    table = languages()
    if code not in table:
        raise KollamaError(
            f"unknown language '{code}'",
            hint=f"use one of: {', '.join(sorted(table))}",
        )
    return table[code]

