"""`kollama tune ...`: self-instruct data, LoRA SFT, DPO pairs and training, GGUF export, before/after report.

Needs the `kollama[tune]` extra (torch, transformers, peft); heavy imports happen inside commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kollama.engines.base import GenerationParams
from kollama.tune import defaults
from kollama.tune.reward import REWARD_DEFAULTS
from kollama.tune.rl import RL_DEFAULTS, RLOptions
from kollama.tune.trainer import PREFERENCE_DEFAULTS, TrainSettings

tune_app = typer.Typer(help="Tune a model: self-instruct data, LoRA SFT, DPO/ORPO, reward model and RL, export to GGUF, "
                            "smooth, before/after report.",
                       no_args_is_help=True)


def _echo_json(data: object) -> None:
    from kollama.console import print_json

    print_json(data)


def _settings(**values):
    from kollama.tune.trainer import TrainSettings

    return TrainSettings(**{k: v for k, v in values.items() if v is not None})


def _summary(report: dict) -> dict:
    keys = ("kind", "steps", "seconds", "steps_per_second", "peak_memory_mb", "first_loss", "last_loss", "evals")
    return {k: report.get(k) for k in keys}


@tune_app.command("data")
def data_cmd(
    teacher: Annotated[str, typer.Option(help="Teacher model: smollm2, FILE.gguf, ollama-server:NAME, openai:URL#MODEL.")],
    out: Annotated[Path, typer.Option(help="Alpaca JSONL to write (a .report.json goes beside it).")],
    n: Annotated[int, typer.Option(help="Instructions to keep.")] = 50,
    seeds: Annotated[Path | None, typer.Option(help="Seed tasks (Alpaca JSONL); default: kollama's Korean seeds.")] = None,
    max_requests: Annotated[int | None, typer.Option("--max-requests", help="Most teacher prompts (default 4n).")] = None,
    max_tokens: Annotated[int, typer.Option("--max-tokens", help="Most tokens per teacher answer.")] = defaults.TEACHER_MAX_TOKENS,
    seed: Annotated[int, typer.Option(help="Random seed.")] = defaults.SEED,
) -> None:
    """Self-instruct: grow Korean instruction data from seed tasks with any kollama engine as teacher."""
    from kollama.console import ProgressBar
    from kollama.tune.selfinstruct import DEFAULT_SEEDS, generate

    with ProgressBar("self-instruct", info=True) as bar:
        report = generate(teacher, seeds or DEFAULT_SEEDS, n, out, seed=seed, max_requests=max_requests,
                          max_tokens=max_tokens, progress=bar.report)
    _echo_json({**report.to_json(), "out": str(out)})


def _training(label: str):
    """The training steps' bar: the latest loss beside it, and the time left (no refresh thread: a thread
    waking 10 times a second slows torch's spinning CPU threads)."""
    from kollama.console import ProgressBar

    return ProgressBar(label, info=True, remaining=True)


@tune_app.command("sft")
def sft_cmd(
    base: Annotated[str, typer.Argument(help="Base model: smollm2 or a llama-architecture FILE.gguf.")],
    data: Annotated[Path, typer.Option(help="Alpaca, KoAlpaca, ShareGPT/ChatML or DPO JSONL.")],
    out: Annotated[Path, typer.Option(help="Run directory (adapter, checkpoints, train_report.json, loss.png).")],
    lora_r: Annotated[int, typer.Option("--lora-r")] = TrainSettings.lora_r,
    lora_alpha: Annotated[int, typer.Option("--lora-alpha")] = TrainSettings.lora_alpha,
    epochs: Annotated[float, typer.Option()] = TrainSettings.epochs,
    lr: Annotated[float, typer.Option()] = TrainSettings.lr,
    max_steps: Annotated[int | None, typer.Option("--max-steps", help="Stop after this many steps.")] = TrainSettings.max_steps,
    batch_size: Annotated[int, typer.Option("--batch-size")] = TrainSettings.batch_size,
    grad_accum: Annotated[int, typer.Option("--grad-accum")] = TrainSettings.grad_accum,
    max_len: Annotated[int, typer.Option("--max-len", help="Tokens per example.")] = TrainSettings.max_len,
    eval_split: Annotated[float, typer.Option("--eval-split")] = TrainSettings.eval_split,
    eval_every: Annotated[int, typer.Option("--eval-every")] = TrainSettings.eval_every,
    save_every: Annotated[int, typer.Option("--save-every")] = TrainSettings.save_every,
    seed: Annotated[int, typer.Option()] = TrainSettings.seed,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the latest checkpoint in --out.")] = False,
    qlora: Annotated[bool, typer.Option("--qlora", help="4-bit NF4 base (QLoRA); needs CUDA and bitsandbytes.")] = TrainSettings.qlora,
    compare: Annotated[bool, typer.Option("--compare", help="Afterwards, compare base vs tuned on held-out prompts.")] = False,
) -> None:
    """LoRA supervised fine-tuning on the CPU (or CUDA when present); loss only on the answers."""
    from kollama.tune.sft import run_sft

    settings = _settings(lora_r=lora_r, lora_alpha=lora_alpha, epochs=epochs, lr=lr, max_steps=max_steps,
                         batch_size=batch_size, grad_accum=grad_accum, max_len=max_len, eval_split=eval_split,
                         eval_every=eval_every, save_every=save_every, seed=seed, qlora=qlora)
    with _training("sft") as bar:
        report = run_sft(base, data, out, settings, resume=resume, progress=bar.report)
    if report is None:  # not the first process under `accelerate launch`: it writes and reports
        return
    _echo_json(_summary(report))
    if compare:
        _report(out)


@tune_app.command("dpo")
def dpo_cmd(
    start: Annotated[str, typer.Argument(help="A base model, or an SFT run directory to improve.")],
    data: Annotated[Path, typer.Option(help="DPO pairs JSONL (prompt/chosen/rejected).")],
    out: Annotated[Path, typer.Option(help="Run directory.")],
    beta: Annotated[float, typer.Option()] = PREFERENCE_DEFAULTS["dpo"]["beta"],
    epochs: Annotated[float, typer.Option()] = PREFERENCE_DEFAULTS["dpo"]["epochs"],
    lr: Annotated[float, typer.Option()] = PREFERENCE_DEFAULTS["dpo"]["lr"],
    max_steps: Annotated[int | None, typer.Option("--max-steps")] = TrainSettings.max_steps,
    batch_size: Annotated[int, typer.Option("--batch-size")] = PREFERENCE_DEFAULTS["dpo"]["batch_size"],
    max_len: Annotated[int, typer.Option("--max-len")] = PREFERENCE_DEFAULTS["dpo"]["max_len"],
    save_every: Annotated[int, typer.Option("--save-every")] = PREFERENCE_DEFAULTS["dpo"]["save_every"],
    resume: Annotated[bool, typer.Option("--resume")] = False,
    qlora: Annotated[bool, typer.Option("--qlora", help="4-bit NF4 base (QLoRA); needs CUDA and bitsandbytes.")] = TrainSettings.qlora,
) -> None:
    """DPO on a fresh LoRA adapter, with the adapter-disabled model as the reference."""
    from kollama.tune.dpo import run_dpo
    from kollama.tune.trainer import preference_settings

    settings = preference_settings("dpo", beta=beta, epochs=epochs, lr=lr, max_steps=max_steps,
                                   batch_size=batch_size, max_len=max_len, save_every=save_every, qlora=qlora)
    with _training("dpo") as bar:
        report = run_dpo(start, data, out, settings, resume=resume, progress=bar.report)
    if report is not None:  # None: not the first process under `accelerate launch`
        _echo_json(_summary(report))


@tune_app.command("orpo")
def orpo_cmd(
    start: Annotated[str, typer.Argument(help="A base model, or an SFT run directory to improve.")],
    data: Annotated[Path, typer.Option(help="Pairs JSONL (prompt/chosen/rejected), e.g. from `tune pairs --confusion`.")],
    out: Annotated[Path, typer.Option(help="Run directory.")],
    beta: Annotated[float, typer.Option(help="ORPO's lambda: weight of the odds-ratio term next to the chosen NLL.")] = PREFERENCE_DEFAULTS["orpo"]["beta"],
    epochs: Annotated[float, typer.Option()] = PREFERENCE_DEFAULTS["orpo"]["epochs"],
    lr: Annotated[float, typer.Option()] = PREFERENCE_DEFAULTS["orpo"]["lr"],
    max_steps: Annotated[int | None, typer.Option("--max-steps")] = PREFERENCE_DEFAULTS["orpo"]["max_steps"],
    batch_size: Annotated[int, typer.Option("--batch-size")] = PREFERENCE_DEFAULTS["orpo"]["batch_size"],
    max_len: Annotated[int, typer.Option("--max-len")] = PREFERENCE_DEFAULTS["orpo"]["max_len"],
    save_every: Annotated[int, typer.Option("--save-every")] = PREFERENCE_DEFAULTS["orpo"]["save_every"],
    resume: Annotated[bool, typer.Option("--resume")] = False,
    qlora: Annotated[bool, typer.Option("--qlora", help="4-bit NF4 base (QLoRA); needs CUDA and bitsandbytes.")] = TrainSettings.qlora,
) -> None:
    """ORPO on a fresh LoRA adapter (no reference model): keeps answers in Korean where SFT alone does not."""
    from kollama.tune.dpo import run_dpo
    from kollama.tune.trainer import preference_settings

    settings = preference_settings("orpo", beta=beta, epochs=epochs, lr=lr, max_steps=max_steps,
                                   batch_size=batch_size, max_len=max_len, save_every=save_every, qlora=qlora)
    with _training("orpo") as bar:
        report = run_dpo(start, data, out, settings, resume=resume, objective="orpo", progress=bar.report)
    if report is not None:
        _echo_json(_summary(report))


@tune_app.command("reward")
def reward_cmd(
    data: Annotated[Path, typer.Argument(help="Pairs JSONL (prompt/chosen/rejected) or ranked lists (prompt/answers, best first).")],
    base: Annotated[str, typer.Option(help="Base model: smollm2 or a llama-architecture FILE.gguf.")],
    out: Annotated[Path, typer.Option(help="Reward-model directory (adapter with score head, reward.json, checkpoints).")],
    heldout: Annotated[Path | None, typer.Option("--heldout", help="Extra held-out pairs (e.g. ranked by a person): "
                                                                  "pairwise accuracy is reported on them too.")] = None,
    epochs: Annotated[float, typer.Option()] = REWARD_DEFAULTS["epochs"],
    lr: Annotated[float, typer.Option()] = REWARD_DEFAULTS["lr"],
    max_steps: Annotated[int | None, typer.Option("--max-steps")] = TrainSettings.max_steps,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Pairs per step.")] = REWARD_DEFAULTS["batch_size"],
    max_len: Annotated[int, typer.Option("--max-len")] = REWARD_DEFAULTS["max_len"],
    eval_split: Annotated[float, typer.Option("--eval-split", help="Share of pairs held out for the accuracy.")] = REWARD_DEFAULTS["eval_split"],
    eval_every: Annotated[int, typer.Option("--eval-every")] = REWARD_DEFAULTS["eval_every"],
    save_every: Annotated[int, typer.Option("--save-every")] = REWARD_DEFAULTS["save_every"],
    seed: Annotated[int, typer.Option()] = TrainSettings.seed,
    resume: Annotated[bool, typer.Option("--resume")] = False,
) -> None:
    """Train a reward model from ranked answers (Bradley-Terry loss on a LoRA base with a score head)."""
    from kollama.tune.reward import reward_settings, run_reward

    settings = reward_settings(epochs=epochs, lr=lr, max_steps=max_steps, batch_size=batch_size, max_len=max_len,
                               eval_split=eval_split, eval_every=eval_every, save_every=save_every, seed=seed)
    with _training("reward") as bar:
        report = run_reward(base, data, out, settings, resume=resume, heldout=heldout, progress=bar.report)
    _echo_json({**_summary(report), "pairs": report["pairs"], "pairwise_accuracy": report["pairwise_accuracy"]})


@tune_app.command("rl")
def rl_cmd(
    start: Annotated[str, typer.Argument(help="A base model, or an SFT/ORPO run directory to improve.")],
    prompts: Annotated[Path, typer.Option(help="Training prompts: JSONL ('prompt' or 'instruction') or one per line.")],
    out: Annotated[Path, typer.Option(help="Run directory (adapter, checkpoints, rewards.jsonl, train_report.json).")],
    reward: Annotated[str, typer.Option(help="Weighted rewards NAME[=WEIGHT],...: fidelity, naturalness, length, "
                                             "reward-model:DIR.")] = RLOptions.rewards,
    group: Annotated[int, typer.Option(help="Answers sampled per prompt (GRPO's group).")] = RLOptions.group,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", help="Most tokens per sampled answer.")] = RLOptions.max_new_tokens,
    temperature: Annotated[float, typer.Option(help="Sampling temperature.")] = RLOptions.temperature,
    beta: Annotated[float, typer.Option(help="Weight of the KL to the reference (the model without the new adapter).")] = RL_DEFAULTS["beta"],
    epochs: Annotated[float, typer.Option()] = RL_DEFAULTS["epochs"],
    lr: Annotated[float, typer.Option()] = RL_DEFAULTS["lr"],
    max_steps: Annotated[int | None, typer.Option("--max-steps", help="Stop after this many steps (0: epochs decide).")] = RL_DEFAULTS["max_steps"],
    batch_size: Annotated[int, typer.Option("--batch-size", help="Prompts per step.")] = RL_DEFAULTS["batch_size"],
    max_len: Annotated[int, typer.Option("--max-len", help="Longest prompt in tokens (longer ones are skipped).")] = RL_DEFAULTS["max_len"],
    save_every: Annotated[int, typer.Option("--save-every")] = RL_DEFAULTS["save_every"],
    lora_r: Annotated[int, typer.Option("--lora-r")] = TrainSettings.lora_r,
    lora_alpha: Annotated[int, typer.Option("--lora-alpha")] = TrainSettings.lora_alpha,
    reference_model: Annotated[str | None, typer.Option("--reference-model", help="The naturalness scorer "
                                                                                   "(default: kollama compare's, gemma3).")] = None,
    seed: Annotated[int, typer.Option()] = TrainSettings.seed,
    resume: Annotated[bool, typer.Option("--resume")] = False,
) -> None:
    """Reinforcement learning (GRPO) on a fresh LoRA adapter with Korean rewards; guards flag a collapsed run."""
    from kollama.tune.rl import rl_settings, run_rl

    settings = rl_settings(beta=beta, epochs=epochs, lr=lr, max_steps=max_steps or None, batch_size=batch_size,
                           max_len=max_len, save_every=save_every, lora_r=lora_r, lora_alpha=lora_alpha, seed=seed)
    options = RLOptions(rewards=reward, group=group, max_new_tokens=max_new_tokens, temperature=temperature,
                        reference_model=reference_model)
    with _training("rl") as bar:
        report = run_rl(start, prompts, out, settings, options, resume=resume, progress=bar.report)
    keys = ("steps_per_minute", "reward_first", "reward_last", "rewards", "guards")
    _echo_json({**_summary(report), **{k: report.get(k) for k in keys}})


@tune_app.command("pairs")
def pairs_cmd(
    data: Annotated[Path, typer.Option(help="Instruction data with reference answers.")],
    out: Annotated[Path, typer.Option(help="Pairs JSONL to write.")],
    model: Annotated[str | None, typer.Argument(help="The model whose answers become 'rejected' (base or exported GGUF); "
                                                     "optional with --confusion.")] = None,
    confusion: Annotated[bool, typer.Option("--confusion", help="Rejected = a rule-made language-confused copy of the "
                                                                 "Korean answer (for ORPO); see OUT.report.json.")] = False,
    limit: Annotated[int | None, typer.Option(help="Use only the first N records.")] = None,
    max_tokens: Annotated[int, typer.Option("--max-tokens")] = defaults.PAIRS_MAX_TOKENS,
    min_rouge: Annotated[float, typer.Option("--min-rouge", help="Below this ROUGE-L vs the reference = rejected.")] = defaults.MIN_ROUGE,
    swap_rate: Annotated[float, typer.Option("--swap-rate", help="--confusion: share of glossary nouns put in English.")] = defaults.SWAP_RATE,
    seed: Annotated[int, typer.Option(help="--confusion / --rank-by: random seed.")] = defaults.SEED,
    rank_by: Annotated[str | None, typer.Option("--rank-by", help="Sample several answers per prompt from MODEL and rank "
                                                                 "them by these rewards (e.g. fidelity,naturalness; "
                                                                 "names as in `tune rl --reward`).")] = None,
    samples: Annotated[int, typer.Option(help="--rank-by: answers sampled per prompt.")] = defaults.SAMPLES,
    temperature: Annotated[float, typer.Option(help="--rank-by: sampling temperature.")] = defaults.SAMPLE_TEMPERATURE,
    ranked: Annotated[bool, typer.Option("--ranked", help="--rank-by: write every answer best first "
                                                         "(prompt/answers) instead of best-vs-worst pairs.")] = False,
) -> None:
    """Build DPO/ORPO/reward pairs: chosen = reference answer, rejected = the model's failing answer, (--confusion) a
    confused copy, or (--rank-by) the model's own answers ranked by kollama's judgments (a file a person can edit)."""
    if rank_by:
        from kollama.console import ProgressBar
        from kollama.errors import KollamaError
        from kollama.tune.ranking import build_ranked_pairs

        if model is None:
            raise KollamaError("tune pairs --rank-by needs a MODEL to sample answers from", hint="e.g. smollm2")
        with ProgressBar("rank") as bar:
            ranked_pairs = build_ranked_pairs(model, data, out, rank_by, samples=samples, limit=limit,
                                              max_tokens=max_tokens, temperature=temperature, seed=seed, ranked=ranked,
                                              progress=bar.report)
        _echo_json(ranked_pairs)
        return
    if confusion:
        from kollama.tune.confusion import build_confusion_pairs

        _echo_json(build_confusion_pairs(data, out, limit=limit, seed=seed, swap_rate=swap_rate, model=model,
                                         max_tokens=max_tokens))
        return
    if model is None:
        from kollama.errors import KollamaError

        raise KollamaError("tune pairs needs a MODEL whose answers become 'rejected'",
                           hint="pass MODEL, or --confusion for rule-made confused copies")
    from kollama.console import ProgressBar
    from kollama.tune.pairs import build_pairs

    with ProgressBar("pairs") as bar:
        pairs = build_pairs(model, data, out, limit=limit, max_tokens=max_tokens, min_rouge=min_rouge,
                            progress=bar.report)
    _echo_json(pairs)


@tune_app.command("smooth")
def smooth_cmd(
    model: Annotated[str, typer.Argument(help="Model to smooth: built-in name, FILE.gguf or ollama:NAME (llama, gemma3, qwen2).")],
    lang: Annotated[str, typer.Option("--lang", help="The answer language whose foreign scripts are scaled down.")] = GenerationParams.lang,
    strength: Annotated[str, typer.Option(help="How much to scale the foreign tokens' output rows down, in (0, 1]; "
                                               "a comma list (0.3,0.5,0.8) writes one file per value and a report.")] = str(defaults.DEFAULT_STRENGTH),
    out: Annotated[Path | None, typer.Option(help="GGUF to write (default MODEL.smooth-LANG.gguf); a .Modelfile goes beside it.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing --out.")] = False,
    check: Annotated[int, typer.Option("--check", help="Also answer this many Korean prompts (lock off) with the "
                                                        "original and each smoothed file and count foreign-script answers.")] = defaults.SMOOTH_CHECK,
) -> None:
    """Bake the language lock into the weights: scale down the output rows of tokens that can only write foreign scripts.

    Needs no torch: the new GGUF differs from MODEL only in output.weight, so Ollama, LM Studio and
    llama.cpp users get the effect without kollama.
    """
    from kollama.tune.smooth import parse_strengths, smooth, sweep_report

    results = smooth(model, lang, parse_strengths(strength), out, force=force)
    _echo_json(sweep_report(model, lang, results, check))


@tune_app.command("export")
def export_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A finished sft/dpo/orpo run directory.")],
    out: Annotated[Path, typer.Option(help="GGUF file to write (an Ollama .Modelfile goes beside it).")],
    quant: Annotated[str, typer.Option(help="f16, q8_0 or q4_1.")] = defaults.EXPORT_QUANT,
    adapter_only: Annotated[bool, typer.Option("--adapter-only", help="Write a llama.cpp LoRA adapter GGUF.")] = False,
    verify: Annotated[bool, typer.Option("--verify", help="Compare next-token log-probs with the merged PyTorch model.")] = False,
) -> None:
    """Merge the LoRA weights into a GGUF (metadata and tokenizer from the base), or write an adapter GGUF."""
    from kollama.console import ProgressBar
    from kollama.tune.export import export_run

    with ProgressBar("export") as bar:
        result = export_run(run_dir, out, quant=quant, adapter_only=adapter_only, progress=bar.report)
    if verify and not adapter_only:
        from kollama.tune.logprobs import compare
        from kollama.compare.suites import load_suite
        from kollama.tune.report import HELDOUT

        result["verify"] = compare(run_dir, out, [p.prompt for p in load_suite(str(HELDOUT)).prompts[:3]])
    _echo_json(result)


def _report(run_dir: Path, suite: str | None, max_tokens: int, tasks: list[str] | None, limit: int | None) -> None:
    from kollama.compare.cli import LiveView
    from kollama.console import ProgressBar
    from kollama.tune.report import EVAL_TASKS, tune_report, tuned_gguf

    with ProgressBar("export") as bar:  # the tuned model as a GGUF, once
        tuned = tuned_gguf(run_dir, bar.report)
    with LiveView() as view:
        report = tune_report(run_dir, suite, max_tokens=max_tokens, tasks=tuple(tasks or EVAL_TASKS), limit=limit,
                             tuned=tuned, progress=view.report, on_record=view.add)
    _print_report(report)


def _print_report(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"base vs tuned: {report['prompts']} held-out prompts (lock off), eval tasks")
    for column, justify in (("metric", "left"), ("base", "right"), ("tuned", "right"), ("change", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in report["metrics"]:
        fmt = (lambda v: "–" if v is None else f"{v:.0%}")  # noqa: E731
        change = "–" if row["change"] is None else f"{row['change']:+.0%}"
        table.add_row(row["metric"], fmt(row["base"]), fmt(row["tuned"]), change)
    training = report.get("training") or {}
    if training.get("first_loss") is not None:
        table.add_row("train loss", f"{training['first_loss']:.3f}", f"{training['last_loss']:.3f}",
                      f"{training['last_loss'] - training['first_loss']:+.3f}")
    console = Console()
    console.print(table)
    console.print(f"answers side by side: {report['compare_report']}")


@tune_app.command("report")
def report_cmd(
    run_dir: Annotated[Path | None, typer.Argument(help="A finished run directory (base vs tuned).")] = None,
    suite: Annotated[str | None, typer.Option("--suite", "--prompts", help="Compare suite (name, YAML or JSONL); default: held-out Korean prompts.")] = None,
    max_tokens: Annotated[int, typer.Option("--max-tokens")] = defaults.REPORT_MAX_TOKENS,
    task: Annotated[list[str] | None, typer.Option("--task", help="Eval task (repeatable); default: ko_grammar, ko_spelling.")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N items of each eval task.")] = None,
    model: Annotated[list[str] | None, typer.Option("--model", help="LABEL=MODEL (repeatable): compare these side by side "
                                                                    "(base, smoothed GGUF, ORPO run...) instead of RUN_DIR.")] = None,
    prompt_file: Annotated[list[Path] | None, typer.Option("--prompt-file", help="--model: extra prompts (JSONL, 'prompt' "
                                                                                 "field) after ko-basic, e.g. LCB's lcb_ko.jsonl.")] = None,
    prompt_limit: Annotated[int, typer.Option("--prompt-limit", help="--model: first N prompts of each --prompt-file.")] = defaults.PROMPT_LIMIT,
    temperature: Annotated[str, typer.Option(help="--model: comma-separated temperatures (lock off).")] = ",".join(map(str, defaults.BAKE_IN_TEMPERATURES)),
    out: Annotated[Path | None, typer.Option(help="--model: write the report JSON here.")] = None,
    reference_model: Annotated[str | None, typer.Option("--reference-model", help="--model: the model that scores "
                                                                                   "naturalness (log-probability per character); "
                                                                                   "default: kollama compare's, gemma3.")] = None,
    no_naturalness: Annotated[bool, typer.Option("--no-naturalness", help="--model: skip naturalness (no reference "
                                                                          "model is loaded).")] = False,
) -> None:
    """Base vs tuned with `kollama compare` and `kollama eval`; or, with --model, several models side by side
    (fidelity with the lock off, foreign-script answers, eval accuracy)."""
    from kollama.errors import KollamaError

    if model:
        from kollama.console import ProgressBars
        from kollama.tune.report import EVAL_TASKS, NATURALNESS_REFERENCE, bake_in_report

        pairs = [m.split("=", 1) if "=" in m else [m, m] for m in model]
        try:
            temperatures = tuple(float(t) for t in temperature.split(",") if t.strip())
        except ValueError:
            raise KollamaError(f"--temperature {temperature} is not a comma-separated list of numbers") from None
        with ProgressBars() as progress:
            report = bake_in_report({label: ref for label, ref in pairs}, prompt_file, prompt_limit, temperatures,
                                    max_tokens, tuple(task or EVAL_TASKS), limit, out,
                                    reference=None if no_naturalness else reference_model or NATURALNESS_REFERENCE,
                                    progress=progress)
        _print_bake_in(report)
        return
    if run_dir is None:
        raise KollamaError("tune report needs a RUN_DIR or --model LABEL=MODEL options",
                           hint="e.g. kollama tune report --model base=gemma3 --model smooth=gemma3-ko.gguf")
    _report(run_dir, suite, max_tokens, task, limit)
    _print_guards(run_dir)


def _print_bake_in(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    labels = list(report["models"])
    table = Table(title=f"lock off, {report['prompts']} Korean prompts; eval tasks")
    table.add_column("metric")
    for label in labels:
        table.add_column(label, justify="right")
    for t in report["temperatures"]:
        for key, name in (("fidelity", "fidelity pass"), ("intrusion_rate", "foreign-script answers")):
            table.add_row(f"{name} @ t={t}", *[f"{report['models'][m]['fidelity'][str(t)][key]:.0%}" for m in labels])
        table.add_row(f"malformed-byte answers @ t={t}",
                      *[str(report["models"][m]["fidelity"][str(t)].get("malformed_answers", "–")) for m in labels])
        if report.get("naturalness"):
            table.add_row(f"naturalness @ t={t}", *[_nat(report["models"][m]["fidelity"][str(t)]) for m in labels])
    for task in report["tasks"]:
        table.add_row(f"{task} accuracy", *[f"{report['models'][m]['accuracy'][task]:.1%}" for m in labels])
    console = Console()
    console.print(table)
    if report.get("naturalness"):
        console.print(f"naturalness: mean log-probability per character under {report['naturalness']['reference_model']} "
                      "(higher reads more fluently; kollama compare's metric)")


def _nat(row: dict) -> str:
    return "–" if row.get("naturalness") is None else f"{row['naturalness']:.3f}"


def _print_guards(run_dir: Path) -> None:
    """An RL run's guards against reward hacking, before and after, and whether the run collapsed."""
    import json

    from rich.console import Console
    from rich.table import Table

    path = run_dir / "train_report.json"
    guards = json.loads(path.read_text()).get("guards") if path.is_file() else None
    if not guards:
        return
    table = Table(title="RL guards: sampled answers, first vs last steps")
    for column in ("guard", "before", "after"):
        table.add_column(column, justify="left" if column == "guard" else "right")
    for key, label in (("mean_chars", "mean answer length (chars)"), ("distinct_2", "distinct word bigrams"),
                       ("short_share", "answers under 20 chars"), ("naturalness", "naturalness (nats/char)")):
        table.add_row(label, *[str(guards[side].get(key, "–")) for side in ("before", "after")])
    console = Console()
    console.print(table)
    verdict = "COLLAPSED: " + "; ".join(guards["reasons"]) if guards["collapsed"] else "no collapse"
    console.print(verdict, style="bold red" if guards["collapsed"] else "green")


def register(app: typer.Typer) -> None:
    """Add `kollama tune ...` to the main command."""
    app.add_typer(tune_app, name="tune")
