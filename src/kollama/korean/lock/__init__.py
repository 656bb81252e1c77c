"""The language lock: forbid tokens that would put a foreign-script character into the answer.

A token is judged by its raw bytes (`vocabulary`). Masks over the vocabulary are computed once per (model
vocabulary, language) and cached on disk (`masks`); `strict` follows the answer with a scanner (`scanner`,
`words`) and judges most tokens by lookups over a per-vocabulary table (`table`, `strict_mask`); `LockState`
(`state`) is what a decoding loop holds per request. `risk` bakes the lock into a model file.
"""

from kollama.korean.lock.masks import MASK_VERSION, LockMasks, build_masks
from kollama.korean.lock.modes import LOCK_CHOICES, LockMode, default_lock, parse_lock
from kollama.korean.lock.risk import foreign_risk
from kollama.korean.lock.scanner import StrictScanner
from kollama.korean.lock.gate import GATE_MASS, GATE_OPENING_MASS, GATE_SWITCH_MASS, GateSignal, gate_signal
from kollama.korean.lock.state import LockState, script_reason_for
from kollama.korean.lock.table import TokenKind, TokenTable
from kollama.korean.lock.vocabulary import Piece, Vocabulary, split_piece
from kollama.korean.lock.words import WordPolicy, known_acronyms, request_texts

__all__ = [
    "GATE_MASS", "GATE_OPENING_MASS", "GATE_SWITCH_MASS", "GateSignal", "LOCK_CHOICES", "MASK_VERSION",
    "LockMasks", "LockMode", "LockState", "Piece", "StrictScanner", "TokenKind", "TokenTable", "Vocabulary",
    "WordPolicy", "build_masks", "default_lock", "foreign_risk", "gate_signal", "known_acronyms", "parse_lock",
    "request_texts", "script_reason_for", "split_piece",
]
