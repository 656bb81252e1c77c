"""`kollama run`: one answer streamed to the terminal, or an interactive chat like `ollama run`."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from rich.console import Console

from kollama.engines import Engine, GenerationParams, Response, load_engine
from kollama.errors import KollamaError
from kollama.korean.answer_language import AUTO, LanguageDecision, check_lang, resolve_answer_language
from kollama.korean.lock import default_lock, parse_lock
from kollama.logs import log_response

console = Console(highlight=False)
notes = Console(highlight=False, stderr=True)


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


def _messages(system: str | None, history: list[dict[str, str]]) -> list[dict[str, str]]:
    return ([{"role": "system", "content": system}] if system else []) + history


def _answer(engine: Engine, messages: list[dict[str, str]], params: GenerationParams, stream: bool,
            log: bool) -> Response:
    generation = engine.chat(messages, params)
    try:
        for piece in generation:
            if stream:
                sys.stdout.write(piece)
                sys.stdout.flush()
    finally:
        generation.close()
    if stream:
        sys.stdout.write("\n")
        sys.stdout.flush()
    assert generation.response is not None
    response = generation.response
    if log:
        log_response(response)
    if stream and response.lock_enforcement == "retry":
        outcome = (f"still {response.lock_violations} foreign spans after {response.retries + 1} attempts"
                   if response.lock_violations else f"{response.retries} retries")
        notes.print(f"[dim](lock '{params.lock.value}' enforced by detect-and-retry with the fidelity v2 judgment, "
                    f"not by decoding: this backend cannot "
                    f"ban tokens; {outcome})[/dim]")
    return response


def run_once(options: RunOptions, prompt: str, stream: bool = True) -> tuple[Response, LanguageDecision]:
    """One answer, and the answer language it was locked to (with why, for --lang auto)."""
    decision = resolve_answer_language(options.lang, prompt, system=options.system)
    params = options.params(decision.lang)
    if stream and options.lang == AUTO:
        notes.print(f"[dim](lang {decision.lang}: {decision.reason})[/dim]")
    with load_engine(options.model, n_ctx=options.ctx) as engine:
        response = _answer(engine, _messages(options.system, [{"role": "user", "content": prompt}]), params, stream,
                           options.log)
        return response, decision


HELP = """/lock off|script|strict|gated   change the language lock
/lang auto|ko|en|...      change the answer language (auto: decided from each prompt)
/system TEXT              set the system prompt
/clear                    forget the conversation
/bye                      leave"""


def chat_loop(options: RunOptions) -> None:
    """Interactive chat with history; slash commands change settings between turns."""
    try:
        import readline  # noqa: F401  (arrow keys and history in input())
    except ImportError:
        pass
    params = options.params()
    system = options.system
    lang, lock_chosen = options.lang, options.lock is not None
    history: list[dict[str, str]] = []
    with load_engine(options.model, n_ctx=options.ctx) as engine:
        lock_shown = params.lock.value if lock_chosen or lang != AUTO else "by language"
        console.print(f"[bold]{engine.name}[/bold] · lock {lock_shown} · lang {lang} · /? for help")
        while True:
            try:
                line = input(">>> ").strip()
            except EOFError:
                break
            if not line:
                continue
            if line.startswith("/"):
                command, _, arg = line.partition(" ")
                if command in ("/bye", "/exit", "/quit"):
                    break
                if command == "/clear":
                    history.clear()
                    console.print("[dim]conversation cleared[/dim]")
                elif command == "/system":
                    system = arg or None
                    console.print(f"[dim]system prompt {'set' if system else 'removed'}[/dim]")
                elif command == "/lock":
                    try:
                        params.lock = parse_lock(arg.strip())
                        lock_chosen = True
                        console.print(f"[dim]lock: {params.lock.value}[/dim]")
                    except KollamaError as exc:
                        console.print(f"[red]{exc}[/red]")
                elif command == "/lang":
                    try:
                        lang = check_lang(arg.strip())
                        console.print(f"[dim]lang: {lang}[/dim]")
                    except KollamaError as exc:
                        console.print(f"[red]{exc}[/red]")
                else:
                    console.print(HELP)
                continue
            decision = resolve_answer_language(lang, line, system=system, history=history)
            params.lang = decision.lang
            if not lock_chosen:
                params.lock = default_lock(decision.lang)
            if lang == AUTO:
                console.print(f"[dim]lang {decision.lang} · {decision.reason}[/dim]")
            history.append({"role": "user", "content": line})
            try:
                response = _answer(engine, _messages(system, history), params, stream=True, log=options.log)
            except KeyboardInterrupt:
                history.pop()
                console.print("\n[dim](interrupted)[/dim]")
                continue
            history.append({"role": "assistant", "content": response.text})
