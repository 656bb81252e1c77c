"""`kollama lock check`: replay an answer token by token through the lock (teacher forcing) and list each
token the lock would have banned, with its position and the reason.

It answers "why did the lock change my answer?", and it is the lock's test oracle: on answers a Korean
reader accepts, `strict` must ban nothing. `script` and `strict` need only the model's tokenizer; `gated`
runs the model to see its own logits at every step.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from kollama.engines.base import GenerationParams
from kollama.errors import KollamaError
from kollama.korean.lock import LockMode, LockState, parse_lock, script_reason_for
from kollama.korean.scripts import language


@dataclass
class BannedToken:
    position: int  # index of the token in the answer
    offset: int  # character offset in the answer where the token starts
    token: str
    reason: str


@dataclass
class TokenDecision:
    """One step of the replay, for `--explain`: what the lock decided about this token, and why."""

    position: int
    offset: int
    token: str
    banned: bool
    reason: str  # why banned, or why allowed (for gated: why the gate stayed shut)
    gate: dict[str, Any] | None = None  # gated: the signal it weighed at this step


@dataclass
class LockCheck:
    model: str
    lock: str
    lang: str
    tokens: int
    banned: list[BannedToken] = field(default_factory=list)
    steps: list[TokenDecision] | None = None  # every token's decision, with --explain

    def to_json(self) -> dict[str, Any]:
        data = {"model": self.model, "lock": self.lock, "lang": self.lang, "tokens": self.tokens,
                "banned": [asdict(b) for b in self.banned]}
        if self.steps is not None:
            data["steps"] = [asdict(s) for s in self.steps]
        return data


def _messages(prompt: str | None, system: str | None) -> list[dict[str, str]]:
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt or ""}]


def _gate_quiet_reason(state: LockState) -> str:
    """Why the gate did not even look at this step."""
    if state.pending:
        return "allowed: the rest of a character already begun (the gate waits for whole characters)"
    if state.scanner.exempt():
        return "allowed: inside code, a URL, a quote or a gloss (exempt from the gate)"
    return f"allowed: finishing the Latin word '{state.scanner.word}' already begun (the gate acts where words start)"


def check_tokens(state: LockState, tokens: list[int], logits=None,
                 steps: list[TokenDecision] | None = None) -> list[BannedToken]:
    """Feed `tokens` through `state`; `logits` (gated) yields the model's row before each token.
    With a `steps` list, every token's decision and reason is appended to it (`--explain`)."""
    banned: list[BannedToken] = []
    pieces = state.masks.vocab.pieces
    offset = 0
    rows = iter(logits) if logits is not None else None
    for position, token in enumerate(tokens):
        before = len(state.text)
        reason = None
        signal = None
        if state.mode == LockMode.gated:
            assert rows is not None
            row = np.array(next(rows), dtype=np.float32)
            state.apply(row)
            signal = state.last_gate
            if not np.isfinite(row[token]):
                reason = script_reason_for(state, token)
                if reason is None and signal is not None and signal.fired:
                    best = pieces[signal.best_target] if signal.best_target >= 0 else None
                    reason = "gated: the model was switching language here; " + signal.describe(best)
                reason = reason or "gated"
        elif state.mode == LockMode.strict:  # the scanner's verdict on this one token (the mask agrees with it)
            reason = script_reason_for(state, token) or state.strict_reason(token)
        else:
            reason = script_reason_for(state, token)
        continuing = bool(state.pending) and bool(banned) and banned[-1].position == position - 1
        text = pieces[token].decode("utf-8", "replace")
        if reason is not None and not continuing:  # the rest of a banned character is the same ban
            banned.append(BannedToken(position, offset, text, reason))
        if steps is not None:
            if reason is not None:
                why = reason
            elif signal is not None:
                best = pieces[signal.best_target] if signal.best_target >= 0 else None
                why = "allowed: " + signal.describe(best)
            elif state.mode == LockMode.gated:
                why = _gate_quiet_reason(state)
            else:
                why = "allowed"
            gate = None
            if signal is not None:
                gate = {"fired": signal.fired, "opening": signal.opening, "switch_p": round(signal.switch_mass, 4),
                        "target_p": round(signal.target_mass, 5), "needs": signal.need,
                        "best_target": pieces[signal.best_target].decode("utf-8", "replace")
                        if signal.best_target >= 0 else None, "best_target_p": round(signal.best_target_p, 5)}
            steps.append(TokenDecision(position, offset, text, reason is not None, why, gate))
        state.feed(token)
        offset += len(state.text) - before
    return banned


def lock_check(model: str, text: str, lock: str, prompt: str | None = None, system: str | None = None,
               lang: str = GenerationParams.lang, ctx: int | None = None, explain: bool = False) -> LockCheck:
    mode = parse_lock(lock)
    if mode == LockMode.off:
        raise KollamaError("--lock off bans nothing", hint="use --lock script, strict or gated")
    language(lang)
    if not text:
        raise KollamaError("the answer to check is empty", hint="pass TEXT or pipe it in with '-'")
    from kollama.engines import load_engine

    with load_engine(model, n_ctx=ctx) as engine:
        if not engine.supports_scoring:
            raise KollamaError(f"{engine.name}: lock check needs the model's tokens and logits",
                               hint="use a local GGUF model (smollm2, gemma3, FILE.gguf, ollama:NAME)")
        tokens = engine.tokenize(text)
        state = LockState(engine.lock_masks(lang), mode, prompt=prompt, system=system, min_target_chars=0,
                          explain=explain)
        logits = engine.replay_logits(_messages(prompt, system), tokens) if mode == LockMode.gated else None
        steps: list[TokenDecision] | None = [] if explain else None
        banned = check_tokens(state, tokens, logits, steps)
        return LockCheck(engine.name, mode.value, lang, len(tokens), banned, steps)
