"""Foreign-script risk per token: the lock baked into a model file (`kollama tune smooth`)."""

from __future__ import annotations

import numpy as np

from kollama.korean.lock.vocabulary import Vocabulary, allowed_suffixes, cached_prefixes, split_piece
from kollama.korean.scripts import language, script_of


def foreign_risk(vocab: Vocabulary, lang_code: str) -> np.ndarray:
    """Tokens that can only put characters `lang_code` forbids into the text (True = at risk).

    A token is at risk when its whole characters include a forbidden one, when its open tail
    (an unfinished character) can only be completed into forbidden characters, or when its leading
    continuation bytes can only finish a forbidden character. Used to bake the lock into a model's
    output layer (`kollama tune smooth`); special tokens (empty pieces) and impossible byte
    sequences are never at risk.
    """
    lang = language(lang_code)
    prefixes, suffixes = cached_prefixes(lang), allowed_suffixes(lang)
    risk = np.zeros(len(vocab.pieces), dtype=bool)
    for tid, data in enumerate(vocab.pieces):
        if not data:
            continue
        piece = split_piece(data)
        if not piece.valid or len(piece.lead) > 3:
            continue
        risk[tid] = ((bool(piece.lead) and piece.lead not in suffixes)
                     or (bool(piece.tail) and piece.tail not in prefixes)
                     or any(not lang.allows(script_of(ch)) for ch in piece.text))
    return risk
