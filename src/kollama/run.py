"""`kollama run`: the options, and one answer with its pieces handed on as they come (the CLI streams them
to the terminal, and holds the interactive chat)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kollama.engines import Engine, GenerationParams, Response, load_engine
from kollama.korean.answer_language import AUTO, LanguageDecision, check_lang, resolve_answer_language
from kollama.korean.lock import default_lock
from kollama.logs import log_response


@dataclass
class RunOptions:
    model: str
    system: str | None = None
    temperature: float = GenerationParams.temperature
    top_p: float = GenerationParams.top_p
    seed: int | None = None
    max_tokens: int = GenerationParams.max_tokens
    ctx: int | None = None
    lock: str | None = None  # None: default_lock(lang), gated for Korean
    lang: str = GenerationParams.lang  # or "auto": inferred from each prompt (kollama.korean.answer_language)
    logprobs: int | None = None  # per-token log-probabilities and this many alternatives (0: none)
    log: bool = True  # write each answer to the SQLite log (`kollama logs`)

    def __post_init__(self) -> None:
        """A bad --lang, sampling setting or lock fails here, before the model loads."""
        check_lang(self.lang)
        self.params()

    def params(self, lang: str | None = None) -> GenerationParams:
        """Validated by GenerationParams itself (the server builds the same object). `lang`: the language
        decided for this prompt when --lang is auto."""
        lang = lang or (self.lang if self.lang != AUTO else GenerationParams.lang)
        return GenerationParams(temperature=self.temperature, top_p=self.top_p, seed=self.seed,
                                max_tokens=self.max_tokens, lock=self.lock or default_lock(lang), lang=lang,
                                top_logprobs=self.logprobs)


def conversation(system: str | None, history: list[dict[str, str]]) -> list[dict[str, str]]:
    """The conversation as the engine takes it: the system prompt (if any) first."""
    return ([{"role": "system", "content": system}] if system else []) + history


def answer(engine: Engine, messages: list[dict[str, str]], params: GenerationParams, log: bool,
           on_piece: Callable[[str], None] | None = None) -> Response:
    """One answer: each piece of text goes to `on_piece` as it is decoded, the whole answer to the SQLite
    log (unless `log` is False)."""
    generation = engine.chat(messages, params)
    try:
        for piece in generation:
            if on_piece is not None:
                on_piece(piece)
    finally:
        generation.close()
    assert generation.response is not None
    response = generation.response
    if log:
        log_response(response)
    return response


def decide_language(options: RunOptions, prompt: str) -> LanguageDecision:
    """The answer language for `prompt`: --lang as given, or for auto the one the prompt asks for."""
    return resolve_answer_language(options.lang, prompt, system=options.system)


def run_once(options: RunOptions, prompt: str, on_piece: Callable[[str], None] | None = None,
             decision: LanguageDecision | None = None) -> tuple[Response, LanguageDecision]:
    """One answer, and the answer language it was locked to (with why, for --lang auto)."""
    decision = decision or decide_language(options, prompt)
    params = options.params(decision.lang)
    with load_engine(options.model, n_ctx=options.ctx) as engine:
        response = answer(engine, conversation(options.system, [{"role": "user", "content": prompt}]), params,
                          options.log, on_piece)
        return response, decision
