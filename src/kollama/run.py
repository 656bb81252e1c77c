"""`kollama run`: one answer streamed to the terminal, or an interactive chat like `ollama run`."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from rich.console import Console

from kollama.engines import Engine, GenerationParams, Response, load_engine
from kollama.errors import KollamaError
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
    lang: str = "ko"
    logprobs: int | None = None  # per-token log-probabilities and this many alternatives (0: none)
    log: bool = True  # write each answer to the SQLite log (`kollama logs`)

    def params(self) -> GenerationParams:
        """Validated by GenerationParams itself (the server builds the same object)."""
        return GenerationParams(temperature=self.temperature, top_p=self.top_p, seed=self.seed,
                                max_tokens=self.max_tokens, lock=self.lock or default_lock(self.lang), lang=self.lang,
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


def run_once(options: RunOptions, prompt: str, stream: bool = True) -> Response:
    params = options.params()
    with load_engine(options.model, n_ctx=options.ctx) as engine:
        return _answer(engine, _messages(options.system, [{"role": "user", "content": prompt}]), params, stream,
                       options.log)


HELP = """/lock off|script|strict|gated   change the language lock
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
    history: list[dict[str, str]] = []
    with load_engine(options.model, n_ctx=options.ctx) as engine:
        console.print(f"[bold]{engine.name}[/bold] · lock {params.lock.value} · lang {params.lang} · /? for help")
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
                        console.print(f"[dim]lock: {params.lock.value}[/dim]")
                    except KollamaError as exc:
                        console.print(f"[red]{exc}[/red]")
                else:
                    console.print(HELP)
                continue
            history.append({"role": "user", "content": line})
            try:
                response = _answer(engine, _messages(system, history), params, stream=True, log=options.log)
            except KeyboardInterrupt:
                history.pop()
                console.print("\n[dim](interrupted)[/dim]")
                continue
            history.append({"role": "assistant", "content": response.text})
