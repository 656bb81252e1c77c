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
class LockCheck:
    model: str
    lock: str
    lang: str
    tokens: int
    banned: list[BannedToken] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "lock": self.lock, "lang": self.lang, "tokens": self.tokens,
                "banned": [asdict(b) for b in self.banned]}


def _messages(prompt: str | None, system: str | None) -> list[dict[str, str]]:
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt or ""}]


def check_tokens(state: LockState, tokens: list[int], logits=None) -> list[BannedToken]:
    """Feed `tokens` through `state`; `logits` (gated) yields the model's row before each token."""
    banned: list[BannedToken] = []
    pieces = state.masks.vocab.pieces
    offset = 0
    rows = iter(logits) if logits is not None else None
    for position, token in enumerate(tokens):
        before = len(state.text)
        reason = None
        if state.mode == LockMode.gated:
            assert rows is not None
            row = np.array(next(rows), dtype=np.float32)
            state.apply(row)
            if not np.isfinite(row[token]):
                reason = script_reason_for(state, token)
                if reason is None and state.last_gate is not None:
                    _, choice, prob, window = state.last_gate
                    reason = (f"gated: the model was switching language here; "
                              f"{pieces[choice].decode('utf-8', 'replace')!r} (p={prob:.3f}) was in its top "
                              f"{window}")
                reason = reason or "gated"
        elif state.mode == LockMode.strict:  # the scanner's verdict on this one token (the mask agrees with it)
            reason = script_reason_for(state, token) or state.strict_reason(token)
        else:
            reason = script_reason_for(state, token)
        continuing = bool(state.pending) and bool(banned) and banned[-1].position == position - 1
        if reason is not None and not continuing:  # the rest of a banned character is the same ban
            banned.append(BannedToken(position, offset, pieces[token].decode("utf-8", "replace"), reason))
        state.feed(token)
        offset += len(state.text) - before
    return banned


def lock_check(model: str, text: str, lock: str, prompt: str | None = None, system: str | None = None,
               lang: str = "ko", ctx: int | None = None) -> LockCheck:
    mode = parse_lock(lock)
    if mode == LockMode.off:
        raise KollamaError("--lock off bans nothing", hint="use --lock script, strict or gated")
    language(lang)
    if not text:
        raise KollamaError("the answer to check is empty", hint="pass TEXT or pipe it in with '-'")
    from kollama.engines import load_engine
    from kollama.engines.llamacpp import LlamaCppEngine

    with load_engine(model, n_ctx=ctx) as engine:
        if not isinstance(engine, LlamaCppEngine):
            raise KollamaError(f"{engine.name}: lock check needs the model's tokens and logits",
                               hint="use a local GGUF model (smollm2, gemma3, FILE.gguf, ollama:NAME)")
        tokens = engine.tokenize(text)
        state = LockState(engine.lock_masks(lang), mode, prompt=prompt, system=system, min_target_chars=0)
        logits = engine.replay_logits(_messages(prompt, system), tokens) if mode == LockMode.gated else None
        banned = check_tokens(state, tokens, logits)
        return LockCheck(engine.name, mode.value, lang, len(tokens), banned)


def print_lock_check(result: LockCheck) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    verdict = "[green]nothing banned[/green]" if not result.banned else f"[red]{len(result.banned)} banned[/red]"
    console.print(f"{verdict} · lock {result.lock} · {result.tokens} tokens · {result.model}")
    if result.banned:
        table = Table("position", "offset", "token", "reason")
        for b in result.banned:
            table.add_row(str(b.position), str(b.offset), repr(b.token), b.reason)
        console.print(table)
