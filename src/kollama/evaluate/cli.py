"""The `eval`, `score` and `tokens` commands: parse, call one function, print.
Registered on the main app by `register(app)`; heavy imports happen inside the commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from kollama.errors import KollamaError
from kollama.evaluate.options import EvalOptions


def eval_command(
    model: Annotated[Optional[str], typer.Argument(help="Model: gemma3, smollm2, FILE.gguf, ollama:NAME.")] = None,
    task: Annotated[Optional[list[str]], typer.Option("--task", "-t", help="Task name or task YAML (repeatable).")] = None,
    data: Annotated[Optional[list[str]], typer.Option(help="Data: JSONL, CSV, Parquet or a save_to_disk directory; one per --task, or TASK=PATH.")] = None,
    split: Annotated[Optional[str], typer.Option(help="Split of a save_to_disk DatasetDict (default: test).")] = EvalOptions.split,
    limit: Annotated[Optional[int], typer.Option(help="Only the first N items.")] = EvalOptions.limit,
    num_fewshot: Annotated[int, typer.Option("--num-fewshot", help="Solved examples in each prompt.")] = EvalOptions.num_fewshot,
    out: Annotated[Optional[Path], typer.Option(help="Write results.json, samples_<task>.jsonl, report.html here.")] = None,
    ctx: Annotated[Optional[int], typer.Option(help="Context window in tokens.")] = EvalOptions.ctx,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads for llama.cpp (default: all cores).")] = EvalOptions.threads,
    list_tasks: Annotated[bool, typer.Option("--list-tasks", help="List available tasks and exit.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON {results, samples}.")] = False,
) -> None:
    """Evaluate a model on log-likelihood tasks (KoBEST, Korean grammar and spelling pairs) like lm-evaluation-harness."""
    from kollama.console import print_json
    from kollama.evaluate.tasks import list_tasks as all_tasks

    if list_tasks:
        rows = all_tasks()
        if as_json:
            print_json(rows)
        else:
            from rich.console import Console
            from rich.table import Table

            table = Table(title="tasks (add your own: a YAML in $KOLLAMA_HOME/tasks/)")
            for col in ("task", "metrics", "data", "description"):
                table.add_column(col)
            for r in rows:
                table.add_row(r["task"], ", ".join(r["metrics"]), Path(r["data"]).name if r["data"] != "--data needed" else r["data"], r["summary"])
            Console().print(table)
        return
    if not model:
        raise KollamaError("no model given", hint="kollama eval MODEL --task NAME (see --list-tasks)")
    if not task:
        raise KollamaError("no task given", hint="pass --task NAME; `kollama eval --list-tasks` lists them")
    from kollama.console import ProgressBar
    from kollama.evaluate.report import eval_payload, write_outputs
    from kollama.evaluate.runner import pair_data, run_eval

    options = EvalOptions(model=model, tasks=task, data=pair_data(task, data or []), split=split, limit=limit, num_fewshot=num_fewshot, ctx=ctx, threads=threads)
    with ProgressBar(transient=True) as progress:
        name, runs, load_seconds = run_eval(options, progress.report)
    payload = eval_payload(name, runs, {"tasks": task, "data": data, "limit": limit, "num_fewshot": num_fewshot,
                                        "load_seconds": round(load_seconds, 4)})
    if out:
        write_outputs(out, payload)
    if as_json:
        print_json({"results": payload["results"], "samples": payload["samples"]})
    else:
        _print_results(payload)
        if out:
            typer.echo(f"wrote {out}/results.json, samples_<task>.jsonl, report.html")


def _print_results(payload: dict) -> None:
    """The metrics per task, as lm-evaluation-harness prints them."""
    from rich.console import Console
    from rich.table import Table

    from kollama.evaluate.report import METRIC_ORDER

    table = Table(title=f"kollama eval · {payload['config']['model']}")
    for col in ("Task", "n", "Metric", "Value", "± Stderr"):
        table.add_column(col, justify="right" if col in ("n", "Value", "± Stderr") else "left")
    for task, res in payload["results"].items():
        first = True
        for metric in METRIC_ORDER:
            if metric in res:
                err = res.get(f"{metric}_stderr")
                table.add_row(task if first else "", str(res["n"]) if first else "", metric,
                              f"{res[metric]:.4f}", f"{err:.4f}" if err is not None else "")
                first = False
    Console().print(table)


def score_command(
    model: Annotated[str, typer.Argument(help="Model: gemma3, smollm2, FILE.gguf, ollama:NAME.")],
    sentences: Annotated[Optional[list[str]], typer.Argument(help="Sentences to score and rank.")] = None,
    file: Annotated[Optional[Path], typer.Option("--file", "-f", help="One sentence per line, or a TSV: each line a group of alternatives.")] = None,
    perplexity: Annotated[bool, typer.Option("--perplexity", help="Perplexity of the whole --file (sliding window).")] = False,
    window: Annotated[Optional[int], typer.Option(help="Sliding-window size in tokens for --perplexity.")] = None,
    ctx: Annotated[Optional[int], typer.Option(help="Context window in tokens.")] = None,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads for llama.cpp (default: all cores).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    raw_reference: Annotated[bool, typer.Option("--raw-reference", help="Also show llama-cpp-python's own number for "
                                                                        "the tokenizer's tokens (differs only where "
                                                                        "the tokenizer adds no BOS; see docs/scoring.md).")] = False,
    reward: Annotated[Optional[Path], typer.Option("--reward", help="Score the texts with a reward model from "
                                                                    "`kollama tune reward` DIR (then MODEL is the first text).")] = None,
) -> None:
    """Log-probability of sentences (BOS first when the model has one), ranked; or a file's perplexity; or, with
    --reward DIR, each text's reward."""
    if reward is not None:
        _reward_scores(reward, [model, *(sentences or [])], as_json)
        return
    from kollama.console import print_json
    from kollama.engines import load_engine
    from kollama.console import ProgressBar
    from kollama.evaluate.score import perplexity as text_perplexity
    from kollama.evaluate.score import read_groups, score_groups

    if perplexity:
        if not file:
            raise KollamaError("--perplexity needs --file", hint="kollama score MODEL --perplexity --file TEXT.txt")
        if not file.is_file():
            raise KollamaError(f"file not found: {file}")
        text = file.read_text(encoding="utf-8-sig")
        if not text.strip():
            raise KollamaError(f"{file} is empty", hint="pass a file with text")
    else:
        groups = read_groups(file) if file else []
        if sentences:
            groups.append(list(sentences))
        if not groups:
            raise KollamaError("no sentences given", hint="kollama score MODEL \"문장 하나\" \"문장 둘\" or --file F")
    engine = load_engine(model, n_ctx=ctx)
    if not engine.supports_scoring:
        raise KollamaError(f"{model} is served over HTTP; scoring needs a local GGUF model", hint="use a .gguf file or a built-in model")
    try:
        with ProgressBar(transient=True) as progress:
            if perplexity:
                result = text_perplexity(engine, text, window=window, progress=progress.report, threads=threads)
            else:
                scored = score_groups(engine, groups, progress=progress.report, threads=threads,
                                      raw_reference=raw_reference)
    finally:
        engine.close()
    if perplexity:
        if as_json:
            print_json(result)
        else:
            typer.echo(f"{result['model']}: perplexity {result['perplexity']:.3f} over {result['tokens']} tokens "
                       f"(log-prob {result['logprob']:.2f}, {result['bits_per_byte']:.3f} bits/byte, window {result['window']})")
    elif as_json:
        print_json({"model": engine.name, "groups": [g.to_json() for g in scored]})
    else:
        _print_groups(scored)


def _print_groups(groups: list) -> None:
    """Each group's sentences ranked by log-probability, the likeliest in bold."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for gi, g in enumerate(groups):
        table = Table(title=f"group {gi + 1}" if len(groups) > 1 else None)
        raw = g.raw_logprob is not None
        for col in ("rank", "logprob", "tokens", "avg", *(("raw logprob", "raw tokens") if raw else ()), "sentence"):
            table.add_column(col, justify="left" if col == "sentence" else "right")
        order = sorted(range(len(g.sentences)), key=lambda i: -g.logprob[i])
        for rank, i in enumerate(order, start=1):
            extra = (f"{g.raw_logprob[i]:.3f}", str(g.raw_tokens[i])) if raw else ()
            table.add_row(str(rank), f"{g.logprob[i]:.3f}", str(g.tokens[i]), f"{g.logprob[i] / g.tokens[i]:.3f}",
                          *extra, g.sentences[i], style="bold" if rank == 1 else None)
        console.print(table)


def _reward_scores(directory: Path, texts: list[str], as_json: bool) -> None:
    from kollama.console import print_json
    from kollama.evaluate.reward_model import RewardModel

    scorer = RewardModel(directory)
    try:
        scores = scorer.score(texts)
    finally:
        scorer.close()
    if as_json:
        print_json({"reward_model": str(directory), "scores": [{"text": t, "reward": round(s, 4)}
                                                               for t, s in zip(texts, scores)]})
    else:
        for text, score in zip(texts, scores):
            typer.echo(f"{score:+.4f}  {text}")


def tokens_command(
    models: Annotated[list[str], typer.Argument(help="One or more models, then optionally the TEXT ('-' reads standard input).")],
    file: Annotated[Optional[Path], typer.Option("--file", "-f", help="Count the tokens of this file.")] = None,
    ctx: Annotated[Optional[int], typer.Option(help="Context window to measure the fill against (default: each model's).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    export_tokenizer: Annotated[Optional[Path], typer.Option("--export-tokenizer", help="Write the model's tokenizer, converted from its GGUF, as a Hugging Face tokenizer folder (for lm-evaluation-harness against kollama serve).")] = None,
) -> None:
    """Token counts, characters/bytes per token, byte-fallback share and context fill, per model."""
    from kollama.console import print_json, read_text_arg
    from kollama.evaluate.tokens import compare_tokens
    from kollama.models import resolve

    if export_tokenizer is not None:
        from kollama.evaluate.hf_tokenizer import export_tokenizer as export

        if len(models) != 1:
            raise KollamaError("--export-tokenizer takes one model", hint="kollama tokens smollm2 --export-tokenizer DIR")
        result = export(models[0], export_tokenizer)
        if as_json:
            print_json(result)
        else:
            typer.echo(f"wrote {result['dir']} ({result['class']}, {result['vocab_size']} tokens); "
                       f"same tokens as llama.cpp on the check text: {'yes' if result['matches_llama_cpp'] else 'NO'}")
        return
    names, text = list(models), None
    if file:
        if not file.is_file():
            raise KollamaError(f"file not found: {file}")
        text = file.read_text(encoding="utf-8-sig")
    elif len(names) > 1 and (names[-1] == "-" or not _is_model(names[-1], resolve)):
        text = read_text_arg(names.pop())
    else:
        text = read_text_arg(None)
    stats = compare_tokens(names, text, context=ctx)
    if as_json:
        print_json({"models": [s.to_json() for s in stats]})
    else:
        _print_token_table(stats)


def _print_token_table(stats: list) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="kollama tokens", caption="chr, B, 한 = characters, UTF-8 bytes, Hangul syllables per token; "
                  "byte = share of byte-level tokens; fill = share of the context window (ctx)")
    for col in ("model", "vocab", "tokens", "chr/tok", "B/tok", "한/tok", "byte", "ctx", "fill"):
        table.add_column(col, justify="left" if col == "model" else "right", no_wrap=True)
    fewest = min(s.tokens for s in stats)
    for s in stats:
        ratio = f" ×{s.tokens / fewest:.2f}" if len(stats) > 1 and fewest else ""
        table.add_row(s.model, f"{s.vocab_size // 1000}k", f"{s.tokens:,}{ratio}", f"{s.chars_per_token:.2f}",
                      f"{s.bytes_per_token:.2f}", f"{s.hangul_per_token:.2f}", f"{s.byte_fallback_share:.0%}",
                      f"{s.context // 1024}k" if s.context % 1024 == 0 else f"{s.context:,}", f"{s.context_fill:.1%}")
    Console().print(table)


def _is_model(arg: str, resolve) -> bool:
    try:
        resolve(arg)
        return True
    except KollamaError:
        return False


def register(app: typer.Typer) -> None:
    """Add `kollama eval`, `score` and `tokens` to the main command."""
    app.command("eval")(eval_command)
    app.command("score")(score_command)
    app.command("tokens")(tokens_command)
