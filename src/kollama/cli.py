"""The `kollama` command: parse arguments, call one function, print. No logic lives here.

The foundation's commands (run, models, fidelity, logs, serve) are here; each capability package
adds its own with `register(app)` from its `cli.py` (compare, eval/score/tokens, rag, tune). Nothing
imports this module back: printing helpers live in `kollama.console`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from kollama import __version__
from kollama.console import print_json, read_text_arg
from kollama.console import stderr as notes
from kollama.console import stdout as console
from kollama.engines.base import GenerationParams
from kollama.errors import KollamaError
from kollama.korean.fidelity_options import BatchOptions
from kollama.logs import RECENT
from kollama.run import RunOptions
from kollama.serve.options import ServeOptions

app = typer.Typer(
    help="kollama: a Korean-first workbench for local Llama-family models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kollama {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """kollama: a Korean-first workbench for local Llama-family models."""


@app.command()
def run(
    model: Annotated[str, typer.Argument(help="Model reference: smollm2, gemma3, FILE.gguf, ollama:NAME, hf:..., openai:URL#MODEL, ollama-server:NAME")],
    prompt: Annotated[Optional[str], typer.Argument(help="The prompt; '-' reads standard input; omit for an interactive chat.")] = None,
    system: Annotated[Optional[str], typer.Option(help="System prompt.")] = RunOptions.system,
    temperature: Annotated[float, typer.Option(help="Sampling temperature (0 = greedy).")] = RunOptions.temperature,
    top_p: Annotated[float, typer.Option("--top-p", help="Nucleus sampling.")] = RunOptions.top_p,
    seed: Annotated[Optional[int], typer.Option(help="Random seed, for answers you can reproduce.")] = RunOptions.seed,
    max_tokens: Annotated[int, typer.Option("--max-tokens", help="Most tokens to generate.")] = RunOptions.max_tokens,
    ctx: Annotated[Optional[int], typer.Option(help="Context window in tokens (default: min(4096, model's)).")] = RunOptions.ctx,
    lock: Annotated[Optional[str], typer.Option(help="Language lock: off, script, strict, gated (default: gated for --lang ko, script otherwise).")] = RunOptions.lock,
    lang: Annotated[str, typer.Option(help="Answer language (ISO 639-1), or auto: decided from the prompt (docs/lang-auto.md).")] = RunOptions.lang,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of streaming text.")] = False,
    logprobs: Annotated[Optional[int], typer.Option("--logprobs", help="With --json: each token's log-probability and its N likeliest alternatives (0-20).")] = RunOptions.logprobs,
    no_log: Annotated[bool, typer.Option("--no-log", help="Do not log the answer to SQLite.")] = False,
) -> None:
    """Run a model: one answer for PROMPT, or an interactive chat (like `ollama run`), under the language lock."""
    from kollama.korean.answer_language import AUTO
    from kollama.run import decide_language, run_once

    options = RunOptions(model=model, system=system, temperature=temperature, top_p=top_p, seed=seed,
                         max_tokens=max_tokens, ctx=ctx, lock=lock, lang=lang, logprobs=logprobs,
                         log=not no_log)
    if prompt is None and sys.stdin.isatty() and not as_json:
        _chat(options)
        return
    text = read_text_arg(prompt)
    if as_json:
        response, decision = run_once(options, text)
        print_json({**response.to_json(), **decision.to_json()})
        return
    decision = decide_language(options, text)
    if options.lang == AUTO:
        notes.print(f"[dim](lang {decision.lang}: {decision.reason})[/dim]")
    response, _ = run_once(options, text, on_piece=_write, decision=decision)
    _answer_ends(response, options.params(decision.lang).lock.value)


def _write(piece: str) -> None:
    sys.stdout.write(piece)
    sys.stdout.flush()


def _answer_ends(response, lock: str) -> None:
    """The streamed answer's last line, and how the lock held where the backend cannot ban tokens."""
    _write("\n")
    if response.lock_enforcement == "retry":
        outcome = (f"still {response.lock_violations} foreign spans after {response.retries + 1} attempts"
                   if response.lock_violations else f"{response.retries} retries")
        notes.print(f"[dim](lock '{lock}' enforced by detect-and-retry with the fidelity v2 judgment, "
                    f"not by decoding: this backend cannot "
                    f"ban tokens; {outcome})[/dim]")


CHAT_HELP = """/lock off|script|strict|gated   change the language lock
/lang auto|ko|en|...      change the answer language (auto: decided from each prompt)
/system TEXT              set the system prompt
/clear                    forget the conversation
/bye                      leave"""


def _chat(options: RunOptions) -> None:
    """Interactive chat with history, like `ollama run`; slash commands change settings between turns."""
    from kollama.engines import load_engine
    from kollama.korean.answer_language import AUTO, check_lang, resolve_answer_language
    from kollama.korean.lock import default_lock, parse_lock
    from kollama.run import answer, conversation

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
                    console.print(CHAT_HELP)
                continue
            decision = resolve_answer_language(lang, line, system=system, history=history)
            params.lang = decision.lang
            if not lock_chosen:
                params.lock = default_lock(decision.lang)
            if lang == AUTO:
                console.print(f"[dim]lang {decision.lang} · {decision.reason}[/dim]")
            history.append({"role": "user", "content": line})
            try:
                response = answer(engine, conversation(system, history), params, options.log, on_piece=_write)
            except KeyboardInterrupt:
                history.pop()
                console.print("\n[dim](interrupted)[/dim]")
                continue
            _answer_ends(response, params.lock.value)
            history.append({"role": "assistant", "content": response.text})


@app.command()
def models(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List local models with size, quantisation, context, vocabulary and memory needed."""
    from kollama.models.catalog import list_local_models

    found = list_local_models()
    if as_json:
        print_json(found)
    else:
        _print_models(found)


def _print_models(found: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="local models")
    for column in ("model", "arch", "params", "quant", "size", "context", "vocab", "chat template", "memory"):
        table.add_column(column)
    for m in found:
        if "error" in m:
            table.add_row(m["reference"], f"[red]{m['error']}[/red]", *[""] * 7)
            continue
        table.add_row(m["reference"], m["architecture"], f"{m['parameters'] / 1e6:.0f}M", m["quantization"],
                      _human_size(m["file_size"]), str(m["context_length"]), str(m["vocab_size"]),
                      "yes" if m["has_chat_template"] else "no (plain format)", _human_size(m["memory_bytes"]))
    Console().print(table)


def _human_size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


@app.command()
def fidelity(
    text: Annotated[Optional[str], typer.Argument(help="Text to check; '-' reads standard input.")] = None,
    lang: Annotated[str, typer.Option(help="Expected language (ISO 639-1), or auto: the language --prompt (with --file: each line's --prompt-field) asks for.")] = BatchOptions.lang,
    prompt: Annotated[Optional[str], typer.Option(help="The prompt: Latin words it used are not code-switching.")] = None,
    file: Annotated[Optional[Path], typer.Option("--file", help="JSONL of answers: judge every line, then summarise.")] = None,
    field: Annotated[str, typer.Option("--field", help="With --file: the field holding the answer.")] = BatchOptions.field,
    prompt_field: Annotated[Optional[str], typer.Option("--prompt-field", help="With --file: the field holding the prompt.")] = None,
    group_by: Annotated[Optional[str], typer.Option("--group-by", help="With --file: summarise per value of this field.")] = None,
    jobs: Annotated[int, typer.Option("--jobs", min=1, help="With --file: worker processes for big files.")] = BatchOptions.jobs,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (with --file: one object per line, then the summary).")] = False,
) -> None:
    """Check that a text is in the expected language, by the policy in docs/fidelity.md: flagged spans with their
    kind and reason, exempt spans with why, and LCB's own verdict."""
    if file is not None:
        if text is not None:
            raise KollamaError("give a TEXT or --file, not both", hint="kollama fidelity --file answers.jsonl")
        _fidelity_batch(file, lang, field, prompt_field, group_by, as_json, jobs)
        return
    from kollama.korean.fidelity import fidelity_report

    decision = _auto_lang(lang, prompt, None)
    report = fidelity_report(read_text_arg(text), lang=decision.lang, prompt=prompt)
    if as_json:
        print_json({**report.to_json(), **(decision.to_json() if lang == "auto" else {})})
    else:
        _print_fidelity(report)
    if not report.passed:
        raise typer.Exit(2)


def _print_fidelity(report) -> None:
    from rich.table import Table

    from kollama.korean.fidelity import SCRIPT_COLOURS

    verdict = "[green]pass[/green]" if report.passed else "[red]fail[/red]"
    console.print(f"{verdict} · expected {report.lang} · dominant {report.dominant or '-'} · "
                  f"hangul ratio {report.hangul_ratio:.2f} · code-switch words {report.code_switch_words}")
    console.print("characters: " + ", ".join(f"{k} {v}" for k, v in sorted(report.chars.items())))
    if report.foreign:
        table = Table("text", "kind", "script", "reason", title="flagged")
        for span in report.foreign:
            colour = SCRIPT_COLOURS.get(span.script, "white")
            shown = span.text if len(span.text) <= 60 else span.text[:57] + "..."
            table.add_row(f"[{colour}]{shown}[/{colour}]", span.kind, span.script, span.reason)
        console.print(table)
    if report.exempt:
        by_why: dict[str, list[str]] = {}
        for span in report.exempt:
            by_why.setdefault(span.why, []).append(span.text if len(span.text) <= 30 else span.text[:27] + "...")
        console.print("accepted: " + "; ".join(f"{why}: {', '.join(dict.fromkeys(t.strip() for t in texts))}"
                                               for why, texts in by_why.items()))
    if report.lcb is not None:
        lcb = report.lcb
        state = "skipped (no line of 5+ tokens)" if lcb["skipped"] else (
            f"line error {lcb['line_error']} · word error {lcb['word_error']} · lines {lcb['line_languages']}")
        console.print(f"LCB: {state}")


def _auto_lang(lang: str, prompt: str | None, system: str | None):
    """The expected language: --lang as given, or for `auto` the one the prompt asks for (said on stderr)."""
    from kollama.korean.answer_language import AUTO, resolve_answer_language

    if lang == AUTO and not (prompt or system):
        raise KollamaError("--lang auto decides the language from the prompt: give --prompt",
                           hint="or give the language, e.g. --lang ko")
    decision = resolve_answer_language(lang, prompt or "", system=system)
    if lang == AUTO:
        typer.secho(f"lang {decision.lang}: {decision.reason}", err=True, dim=True)
    return decision


def _fidelity_batch(file: Path, lang: str, field: str, prompt_field: str | None, group_by: str | None,
                    as_json: bool, jobs: int) -> None:
    from kollama.console import ProgressBar
    from kollama.korean.batch import judge_file

    options = BatchOptions(field=field, prompt_field=prompt_field, group_by=group_by, lang=lang, jobs=jobs)
    flagged: list[tuple[int, dict]] = []
    seen = [0]

    def emit(judged: dict) -> None:
        seen[0] += 1
        if as_json:
            typer.echo(json.dumps(judged, ensure_ascii=False))
        elif not judged["fidelity"]["pass"]:
            flagged.append((seen[0], judged["fidelity"]))

    def problem(found) -> None:
        typer.secho(f"skipped {found}", err=True, fg=typer.colors.YELLOW)

    if as_json:
        summary = judge_file(file, options, emit, problem)
        typer.echo(json.dumps(summary, ensure_ascii=False))
    else:
        with ProgressBar(transient=True) as progress:
            summary = judge_file(file, options, emit, problem, progress.report)
        _print_batch(summary, flagged, group_by)
    if summary["skipped_lines"]:
        raise typer.Exit(1)


def _print_batch(summary: dict, flagged: list[tuple[int, dict]], group_by: str | None) -> None:
    """The failing answers (first 20) and the summary per group."""
    from rich.table import Table

    if flagged:
        table = Table("#", "dominant", "kinds", "first flagged spans", title=f"failing answers ({len(flagged)})")
        for index, report in flagged[:20]:
            spans = "; ".join(s["text"][:30] for s in report["foreign"][:3])
            table.add_row(str(index), report["dominant"] or "-", ", ".join(f"{k} {n}" for k, n in report["kinds"].items()),
                          spans)
        console.print(table)
    table = Table(group_by or "group", "answers", "pass", "LPR", "WPR", "LCPR", "flagged by kind", title="summary")

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.1%}"

    for row in summary["summary"]:
        table.add_row(row["group"], str(row["answers"]), pct(row["pass_rate"]), pct(row["lpr"]), pct(row["wpr"]),
                      pct(row["lcpr"]), ", ".join(f"{k} {n}" for k, n in row["kinds"].items()) or "-")
    console.print(table)


@app.command()
def logs(
    count: Annotated[int, typer.Option("-n", "--count", help="How many recent responses.")] = RECENT,
    model: Annotated[Optional[str], typer.Option(help="Only this model.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show logged prompts and responses (every run is logged to SQLite in the data directory)."""
    from kollama.logs import recent

    rows = recent(count, model)
    if as_json:
        print_json(rows)
    else:
        _print_logs(rows)


def _print_logs(rows: list[dict]) -> None:
    import time

    if not rows:
        console.print("no logged responses yet")
    for row in rows:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row["created"]))
        console.rule(f"#{row['id']} {when} · {row['model']} · lock {row['lock']} ({row['lock_enforcement']})")
        console.print(f"[bold]prompt[/bold]: {row['prompt']}")
        console.print(f"[bold]response[/bold]: {row['response']}")
        console.print(f"[dim]{row['prompt_tokens']} + {row['completion_tokens']} tokens, {row['seconds']:.2f} s[/dim]")


lock_app = typer.Typer(help="The language lock: see what it would ban.", no_args_is_help=True)


@lock_app.command("check")
def lock_check(
    text: Annotated[Optional[str], typer.Argument(help="The answer to replay; '-' reads standard input.")] = None,
    model: Annotated[str, typer.Option("--model", "-m", help="Model whose tokens (and, for gated, logits) to use.")] = "smollm2",
    lock: Annotated[str, typer.Option(help="Lock mode: script, strict, gated.")] = "strict",
    prompt: Annotated[Optional[str], typer.Option(help="The prompt the answer replied to (its words may be repeated).")] = None,
    system: Annotated[Optional[str], typer.Option(help="The system prompt.")] = None,
    lang: Annotated[str, typer.Option(help="Answer language (ISO 639-1), or auto: the language --prompt asks for.")] = GenerationParams.lang,
    ctx: Annotated[Optional[int], typer.Option(help="Context window in tokens.")] = None,
    explain: Annotated[bool, typer.Option("--explain", help="Show every token's decision and its reason "
                                          "(for gated: the gate's signal at that step).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Replay an answer token by token through the lock and list each token it would have banned (exit 2 if any)."""
    from kollama.lock_check import lock_check as run_check

    decision = _auto_lang(lang, prompt, system)
    result = run_check(model, read_text_arg(text), lock, prompt=prompt, system=system, lang=decision.lang, ctx=ctx,
                       explain=explain)
    if as_json:
        print_json({**result.to_json(), **(decision.to_json() if lang == "auto" else {})})
    else:
        _print_lock_check(result)
    if result.banned:
        raise typer.Exit(2)


def _print_lock_check(result) -> None:
    from rich.table import Table

    verdict = "[green]nothing banned[/green]" if not result.banned else f"[red]{len(result.banned)} banned[/red]"
    console.print(f"{verdict} · lock {result.lock} · {result.tokens} tokens · {result.model}")
    if result.steps is not None:
        table = Table("position", "offset", "token", "decision", "reason")
        for step in result.steps:
            table.add_row(str(step.position), str(step.offset), repr(step.token),
                          "[red]banned[/red]" if step.banned else "allowed", step.reason)
        console.print(table)
    elif result.banned:
        table = Table("position", "offset", "token", "reason")
        for b in result.banned:
            table.add_row(str(b.position), str(b.offset), repr(b.token), b.reason)
        console.print(table)


app.add_typer(lock_app, name="lock")

@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on; anything but loopback needs --api-key.")] = ServeOptions.host,
    port: Annotated[int, typer.Option(help="TCP port.")] = ServeOptions.port,
    model: Annotated[Optional[list[str]], typer.Option("--model", "-m", help="Model to load at start: REF, or NAME=REF to serve REF (e.g. openai:URL#MODEL) as NAME. Repeatable.")] = None,
    api_key: Annotated[Optional[str], typer.Option("--api-key", help="Require 'Authorization: Bearer KEY' (default: $KOLLAMA_API_KEY).")] = ServeOptions.api_key,
    max_concurrency: Annotated[int, typer.Option("--max-concurrency", help="Requests answered at once.")] = ServeOptions.max_concurrency,
    parallel: Annotated[Optional[int], typer.Option("--parallel", help="Answers decoded together in one llama.cpp batch per local model (default: --max-concurrency).")] = ServeOptions.parallel,
    queue: Annotated[int, typer.Option(help="Requests waiting beyond that; more get 429 with Retry-After.")] = ServeOptions.queue,
    max_loaded: Annotated[int, typer.Option("--max-loaded", help="Models kept in memory (least recently used leaves).")] = ServeOptions.max_loaded,
    max_tokens: Annotated[int, typer.Option("--max-tokens", help="Most tokens any request may generate.")] = ServeOptions.max_tokens,
    max_n: Annotated[int, typer.Option("--max-n", help="Most answers one request may ask for with `n`.")] = ServeOptions.max_n,
    ctx: Annotated[Optional[int], typer.Option(help="Context window for loaded models.")] = ServeOptions.ctx,
    lock: Annotated[str, typer.Option(help="Lock for requests that do not choose: off, script, strict, gated.")] = ServeOptions.lock,
    collection: Annotated[str, typer.Option(help="RAG collection the /v1/rag routes use.")] = ServeOptions.collection,
    qdrant_url: Annotated[Optional[str], typer.Option("--qdrant-url", help="Qdrant server or cluster for RAG (default: the embedded store).")] = ServeOptions.qdrant_url,
    reports: Annotated[Optional[list[str]], typer.Option("--reports", help="Folder of compare reports to list on the web page. Repeatable.")] = None,
    no_log: Annotated[bool, typer.Option("--no-log", help="Do not log responses to SQLite.")] = False,
    no_rag: Annotated[bool, typer.Option("--no-rag", help="No /v1/rag routes (leaves the RAG store to other processes).")] = False,
) -> None:
    """Serve models over OpenAI- and Ollama-compatible HTTP, with the language lock and a web page."""
    from kollama.serve.options import parse_model_args
    from kollama.serve.server import serve as run_server

    options = ServeOptions(host=host, port=port, models=parse_model_args(model or []), api_key=api_key,
                           max_concurrency=max_concurrency, parallel=parallel, queue=queue, max_loaded=max_loaded,
                           max_tokens=max_tokens, ctx=ctx, lock=lock, collection=collection, qdrant_url=qdrant_url,
                           log=not no_log, rag=not no_rag, max_n=max_n,
                           **({"reports": [Path(r) for r in reports]} if reports else {}))
    run_server(options)


def _register_capabilities() -> None:
    """Each capability's CLI module is light (typer only); its commands import their work lazily."""
    from kollama.compare.cli import register as compare
    from kollama.evaluate.cli import register as evaluate
    from kollama.rag.cli import register as rag
    from kollama.tune.cli import register as tune

    for register in (compare, evaluate, rag, tune):
        register(app)


_register_capabilities()


def main() -> None:
    """Entry point: the one place where user-facing errors become a message and an exit code."""
    try:
        app()
    except KollamaError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("", err=True)
        sys.exit(130)
