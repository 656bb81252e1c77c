"""`/v1/completions` as evaluation tools use it: several prompts per request, prompts as token ids, and
`echo` with log-probabilities of the prompt's own tokens (lm-evaluation-harness's `local-completions`
scores a choice by echoing context + choice with `max_tokens` 0 or 1 and summing the choice's tokens).

Scoring a prompt is the model's own judgement: no language lock applies to it (the lock bans tokens
while generating; a prompt is not generated). Echoed tokens are exactly the prompt's: a BOS the model
needs is put in front for the scoring and not echoed; the first echoed token's log-probability is null,
as OpenAI sends it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kollama.engines import Engine, TokenLogprob
from kollama.serve.errors import ApiError

Prompt = str | list[int]


def prompt_list(prompt: str | list[str] | list[int] | list[list[int]]) -> list[Prompt]:
    """One entry per prompt: text, or token ids."""
    if isinstance(prompt, str):
        return [prompt]
    if prompt and all(isinstance(p, int) for p in prompt):
        return [list(prompt)]  # type: ignore[arg-type]
    return list(prompt)  # type: ignore[arg-type]


@dataclass
class ScoredPrompt:
    """A prompt's text and tokens as the model reads them, with the echoed tokens' log-probabilities."""

    text: str
    tokens: list[int]  # the prompt's own tokens (no added BOS)
    n_evaluated: int  # tokens the model reads (with BOS when it needs one)
    logprobs: list[TokenLogprob] | None = None  # one per token; the first has top=None (no probability)


def _llama(engine: Engine):
    if not engine.supports_scoring:
        raise ApiError(400, f"{engine.name}: prompt tokens and their log-probabilities need a local GGUF model "
                            "(this one is served by another server)", param="prompt")
    return engine


def read_prompt(engine: Engine, prompt: Prompt) -> ScoredPrompt:
    """The prompt as text and token ids; token ids are checked against the vocabulary."""
    engine = _llama(engine) if not isinstance(prompt, str) else engine
    if isinstance(prompt, str):
        tokens = engine.tokenize(prompt, add_bos=False) if engine.supports_scoring else []
        text = prompt
    else:
        vocab = engine.tokenizer.n_vocab
        bad = next((t for t in prompt if not 0 <= t < vocab), None)
        if bad is not None:
            raise ApiError(400, f"prompt: token id {bad} is outside {engine.name}'s vocabulary (0-{vocab - 1})",
                           param="prompt")
        # special tokens as their text, so generating from it reads the same tokens back
        tokens, text = list(prompt), engine.tokenizer.detokenize(list(prompt), special=True)
    bos = _bos(engine)
    return ScoredPrompt(text, tokens, len(tokens) + (1 if bos is not None and tokens[:1] != [bos] else 0))


def _bos(engine: Engine) -> int | None:
    tokenizer = engine.tokenizer
    return tokenizer.bos_id if tokenizer is not None and tokenizer.adds_bos else None


def score_prompt(engine: Engine, prompt: ScoredPrompt, top: int) -> ScoredPrompt:
    """Fill in the echoed tokens' log-probabilities (and the `top` likeliest at each), unconstrained.
    Blocks; the caller holds the model's lock (the scorer uses the engine's own llama.cpp context)."""
    engine = _llama(engine)
    if not prompt.tokens:
        prompt.logprobs = []
        return prompt
    bos = _bos(engine)
    added = bos is not None and prompt.tokens[0] != bos
    full = ([bos] if added else []) + prompt.tokens
    scorer = engine.scorer()
    try:
        scored = scorer.prompt_logprobs(full, top) if len(full) > 1 else []
    finally:
        scorer.close()
    pieces = engine.vocabulary.pieces
    # scored[i] is full[i + 1]'s; with an added BOS that is prompt.tokens[i]
    own = scored if added else [(math.nan, None), *scored]
    entries = [TokenLogprob(pieces[t], lp, [(pieces[i], v) for i, v in best] if best is not None else None, id=t)
               for t, (lp, best) in zip(prompt.tokens, own)]
    entries[0] = TokenLogprob(entries[0].token, math.nan, None, id=entries[0].id)  # null, as OpenAI's first token
    prompt.logprobs = entries
    return prompt
