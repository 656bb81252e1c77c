"""Turning (context, continuation) text into token requests exactly as lm-evaluation-harness does.

Trailing whitespace of the context moves to the front of the continuation; the continuation's
tokens are tokens(context + continuation) minus the first len(tokens(context)); the model's BOS
is added when its tokenizer adds one (Gemma does). An empty context becomes the BOS token alone.
"""

from __future__ import annotations

from kollama.engines.scoring import Request


def encode_pair(engine, context: str, continuation: str) -> Request:
    """The harness's `_encode_pair` (causal models) on a kollama llama.cpp engine."""
    tokenizer = engine.tokenizer
    bos = tokenizer.adds_bos
    if context == "":
        tokens = engine.tokenize(continuation, add_bos=False)
        return Request((tokenizer.prefix_token,), tuple(tokens))
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    whole = engine.tokenize(context + continuation, add_bos=bos)
    context_tokens = engine.tokenize(context, add_bos=bos)
    if not context_tokens:  # a whitespace-only context on a model without BOS
        context_tokens = [tokenizer.prefix_token]
        whole = context_tokens + whole
    return Request(tuple(context_tokens), tuple(whole[len(context_tokens):]))


def sentence_request(engine, text: str) -> Request:
    """A whole sentence scored from the start of the text (after BOS when the model has one)."""
    return encode_pair(engine, "", text)


def raw_sentence_request(engine, text: str) -> Request | None:
    """The sentence as llama-cpp-python scores it from the tokenizer's own output: the same request as
    `sentence_request` when the tokenizer adds BOS; otherwise the first token is context, not scored
    (None for a one-token sentence). kollama scores that first token after the EOS-as-BOS prefix instead."""
    if engine.tokenizer.adds_bos:
        return sentence_request(engine, text)
    tokens = engine.tokenize(text, add_bos=False)
    return Request((tokens[0],), tuple(tokens[1:])) if len(tokens) > 1 else None
