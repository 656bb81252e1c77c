"""`gated`: stop a switch of language where the model is about to make one and the target language is a real
option, and leave the model alone everywhere else.

The signal is probability mass, not rank. At each step where a new word may start, the gate weighs two sets of
candidates: the tokens that would open off-language text here (what `strict` would ban, plus Latin words it lets
through only as possible names), and the tokens that carry a target-language letter. Sampling can pick any
candidate, not only the top one, so the gate acts whenever the off-language words are likely enough to be
sampled and the target language holds enough mass to go on in: it then bans the off-language words for this
step. Where the target language has (almost) no mass, as for a name or a term the model can only write in Latin
letters, the word stays.

A line's first word sets the language of the whole line (an answer that opens with `**Title:**` goes on in
English), so there a much smaller target mass is enough.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GATE_MASS = 0.01  # inside a line: the target language must hold this much probability for the gate to act
GATE_OPENING_MASS = 1e-4  # at the first word of the answer or of a line (after `1. `, `- `, `## `, `**`)
GATE_SWITCH_MASS = 1e-3  # off-language words less likely than this are not a switch worth acting on


@dataclass(frozen=True)
class GateSignal:
    """What the gate saw at one step, and whether it acted (`kollama lock check --explain` prints it)."""

    fired: bool
    opening: bool  # the first word of the answer or of a line
    switch_mass: float  # probability of the tokens that would open off-language text
    target_mass: float  # probability of the tokens with a target-language letter
    need: float  # the target mass the gate required here
    top: int  # the model's most likely token
    best_target: int  # the most likely target-language token (-1: none)
    best_target_p: float

    def describe(self, piece: bytes | None = None) -> str:
        where = "line start" if self.opening else "inside a line"
        best = "" if piece is None else f", best Korean-way token {piece.decode('utf-8', 'replace')!r}"
        verdict = "fired" if self.fired else "stayed shut"
        return (f"gate {verdict} ({where}): off-language p={self.switch_mass:.3f}, target p={self.target_mass:.4f} "
                f"(needs {self.need:g}){best} p={self.best_target_p:.4f}")


def gate_signal(row: np.ndarray, switches: np.ndarray, target: np.ndarray, opening: bool,
                detail: bool = False) -> GateSignal:
    """Weigh one logits row (forbidden tokens already -inf). `switches`, `target`: 0/1 float32 weights over the
    row, so each mass is one dot product. The best target-language token is looked up only where the gate fires
    or `detail` asks for it."""
    top = int(np.argmax(row))
    probs = np.exp(row - row[top])  # -inf becomes 0
    total = float(probs.sum())
    switch_mass = float(np.dot(probs, switches)) / total
    target_mass = float(np.dot(probs, target)) / total
    need = GATE_OPENING_MASS if opening else GATE_MASS
    fired = switch_mass >= GATE_SWITCH_MASS and target_mass >= need
    best, best_p = -1, 0.0
    if target_mass > 0 and (fired or detail):
        best = int(np.argmax(np.where(target > 0, row, -np.inf)))
        best_p = float(probs[best]) / total
    return GateSignal(fired, opening, switch_mass, target_mass, need, top, best, best_p)
