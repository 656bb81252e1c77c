"""The LoRA training loop shared by SFT and DPO: batches, steps, eval, checkpoints, resume, report.

A plain PyTorch loop (no `Trainer`): it groups examples of similar length into a batch so little
compute goes to padding, and its data order is a pure function of the seed, so a resumed run
continues with exactly the batches the interrupted one would have seen.
"""

from __future__ import annotations

import json
import math
import os
import random
import resource
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kollama.errors import KollamaError
from kollama.progress import Progress, no_progress
from kollama.tune.devices import Placement, placement


@dataclass
class TrainSettings:
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])
    lr: float = 3e-4
    epochs: float = 3.0
    max_steps: int | None = None
    batch_size: int = 8
    grad_accum: int = 1
    max_len: int = 256
    eval_split: float = 0.05
    eval_every: int = 20
    save_every: int = 50
    warmup_steps: int = 5
    seed: int = 0
    beta: float = 0.1  # DPO only
    dtype: str = "auto"
    qlora: bool = False  # 4-bit NF4 base (CUDA + bitsandbytes)

    def __post_init__(self) -> None:
        """Sizes and intervals a run divides by are refused in one line here, not as a crash mid-run."""
        for name in ("lora_r", "batch_size", "grad_accum", "max_len", "eval_every", "save_every"):
            if getattr(self, name) < 1:
                raise KollamaError(f"--{name.replace('_', '-')} must be at least 1 (got {getattr(self, name)})")
        if self.max_steps is not None and self.max_steps < 0:
            raise KollamaError(f"--max-steps must be at least 0 (got {self.max_steps})")
        if not 0 <= self.eval_split < 1:
            raise KollamaError(f"--eval-split must be at least 0 and below 1 (got {self.eval_split})")


#: the linear projections of a llama, gemma3 or qwen2 block (LoRA on all of them; export merges each)
ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

#: each preference objective's own defaults (TrainSettings' own are SFT's), written once: the CLI shows them,
#: and `run_dpo` starts from them when a Python caller passes no settings
PREFERENCE_DEFAULTS: dict[str, dict[str, Any]] = {
    "dpo": {"beta": 0.1, "epochs": 1.0, "lr": 1e-4, "batch_size": 4, "max_len": 256, "save_every": 50,
            "eval_split": 0.0},
    # ORPO's NLL term does SFT's work, so it gets SFT's budget (3 epochs of batch 8: 92 steps over the 243
    # built-in pairs) with a higher rate and LoRA on every linear projection; 30 steps of 4 pairs at 3e-4 on
    # q/v only barely moves the loss (1.50 -> 1.43) and leaves smollm2's fidelity where it is
    "orpo": {"beta": 0.1, "epochs": 3.0, "lr": 5e-4, "max_steps": None, "batch_size": 8, "max_len": 192,
             "save_every": 10, "eval_split": 0.0, "target_modules": list(ALL_LINEAR)},
}


def preference_settings(objective: str, **overrides: Any) -> TrainSettings:
    """TrainSettings for DPO or ORPO: the objective's defaults, then `overrides` (None means: the default)."""
    values = {**PREFERENCE_DEFAULTS[objective], **{k: v for k, v in overrides.items() if v is not None}}
    return TrainSettings(**values)


def add_lora(model, settings: TrainSettings):
    """Wrap `model` with a fresh LoRA adapter (Alpaca-LoRA defaults: r=8, alpha=16, q/v projections)."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=settings.lora_r, lora_alpha=settings.lora_alpha, lora_dropout=settings.lora_dropout,
                        target_modules=list(settings.target_modules), bias="none", task_type="CAUSAL_LM")
    return get_peft_model(model, config)


def split_eval(items: list, fraction: float, seed: int) -> tuple[list, list]:
    """(train, eval): a seeded hold-out of at least one example when there is room for it."""
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    n_eval = min(len(items) - 1, max(1, round(len(items) * fraction))) if fraction > 0 and len(items) > 1 else 0
    return [items[i] for i in order[n_eval:]], [items[i] for i in order[:n_eval]]


def plan_batches(lengths: Sequence[int], settings: TrainSettings, total_steps: int,
                 processes: int = 1) -> list[list[int]]:
    """Index batches for the whole run: per epoch a seeded shuffle, length-grouped in windows of 16 batches.

    A step takes grad_accum batches per process; process r of N takes every N-th batch from r.
    """
    per_step = settings.grad_accum * processes
    needed = total_steps * per_step
    batches: list[list[int]] = []
    epoch = 0
    while len(batches) < needed:
        rng = random.Random(settings.seed * 1000 + epoch)
        order = list(range(len(lengths)))
        rng.shuffle(order)
        window = settings.batch_size * 16
        epoch_batches = []
        for start in range(0, len(order), window):
            chunk = sorted(order[start:start + window], key=lambda i: lengths[i])
            epoch_batches += [chunk[i:i + settings.batch_size] for i in range(0, len(chunk), settings.batch_size)]
        rng.shuffle(epoch_batches)
        batches += epoch_batches
        epoch += 1
    return batches[:needed]


def steps_for(n_train: int, settings: TrainSettings, processes: int = 1) -> int:
    if settings.max_steps:
        return settings.max_steps
    per_epoch = math.ceil(n_train / (settings.batch_size * settings.grad_accum * processes))
    return max(1, math.ceil(per_epoch * settings.epochs))


def choose_threads(processes: int = 1) -> int:
    """CPU threads for torch: all cores on a quiet machine, one when others keep them busy.

    Measured on 2 shared cores at load 12: one thread ran a SmolLM2 step in 25 s, two threads in
    110-137 s (torch's threads spin waiting for each other when the OS keeps preempting them).
    $KOLLAMA_TUNE_THREADS overrides.
    """
    if os.environ.get("KOLLAMA_TUNE_THREADS"):
        return max(1, int(os.environ["KOLLAMA_TUNE_THREADS"]))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if processes > 1:  # several training processes share the cores
        return max(1, cores // processes)
    busy = busy_cores()
    return cores if busy < cores * 0.75 else max(1, cores - round(busy))


def busy_cores(window: float = 0.5) -> float:
    """How many cores other work keeps busy right now (from /proc/stat over `window` seconds).

    Not the load average: its minute-long memory would still count a job that just ended.
    """
    def sample() -> tuple[int, int]:
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
        return sum(values), values[3] + values[4]  # total, idle + iowait

    try:
        total0, idle0 = sample()
        time.sleep(window)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    cores = os.cpu_count() or 1
    return cores * (1 - (idle1 - idle0) / max(1, total1 - total0))


def peak_memory_mb() -> float:
    """Peak resident memory of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class RunState:
    step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    evals: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


class Checkpoints:
    """`out/checkpoint-<step>/`: the adapter, optimizer and schedule, and which base they belong to."""

    def __init__(self, out: Path, base_identity: str, keep: int = 2):
        self.out = out
        self.base_identity = base_identity
        self.keep = keep

    def latest(self) -> Path | None:
        found = sorted(self.out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
        found = [p for p in found if (p / "state.json").is_file()]
        return found[-1] if found else None

    def save(self, model, optimizer, scheduler, state: RunState) -> None:
        import torch

        target = self.out / f"checkpoint-{state.step}"
        tmp = self.out / f".checkpoint-{state.step}.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp)
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, tmp / "optimizer.pt")
        (tmp / "state.json").write_text(json.dumps({"base_identity": self.base_identity, **asdict(state)}))
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
        for old in sorted(self.out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))[:-self.keep]:
            shutil.rmtree(old, ignore_errors=True)

    def check(self, checkpoint: Path) -> dict[str, Any]:
        """The checkpoint's saved state, refused when it was trained from another base model."""
        saved = json.loads((checkpoint / "state.json").read_text())
        if saved.get("base_identity") != self.base_identity:
            raise KollamaError(
                f"{checkpoint} was trained from a different base model ({saved.get('base_identity')}, "
                f"this run uses {self.base_identity})",
                hint="resume with the same BASE, or choose a new --out directory",
            )
        return saved

    def restore(self, checkpoint: Path, model, optimizer, scheduler) -> RunState:
        import torch
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        saved = self.check(checkpoint)
        set_peft_model_state_dict(model, load_file(str(checkpoint / "adapter_model.safetensors")))
        states = torch.load(checkpoint / "optimizer.pt", weights_only=False)
        optimizer.load_state_dict(states["optimizer"])
        scheduler.load_state_dict(states["scheduler"])
        return RunState(step=saved["step"], history=saved["history"], evals=saved["evals"], seconds=saved["seconds"])


LossFn = Callable[[Any, list[int]], Any]  # (model, example indices) -> scalar loss tensor


def train(model, loss_fn: LossFn, eval_fn: Callable[[], float] | None, lengths: Sequence[int],
          settings: TrainSettings, checkpoints: Checkpoints, resume: bool,
          place: Placement | None = None, progress: Progress = no_progress) -> RunState:
    """Run the optimisation; returns the history of losses and evals. `progress` counts the steps, its note
    the latest loss.

    `loss_fn` gets the model as it trains (DDP-wrapped under several processes); `eval_fn` runs on
    the first process only. Checkpoints and progress are the first process's too.
    """
    import torch

    place = place or placement()
    torch.manual_seed(settings.seed)
    if not torch.cuda.is_available():
        torch.set_num_threads(choose_threads(place.processes))
    total = steps_for(len(lengths), settings, place.processes)
    batches = plan_batches(lengths, settings, total, place.processes)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.lr, weight_decay=0.0)
    warmup = min(settings.warmup_steps, max(0, total - 1))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / (warmup + 1) if s < warmup else max(0.0, (total - s) / max(1, total - warmup)))
    state = RunState()
    latest = checkpoints.latest()
    if latest is not None:
        if not resume:
            raise KollamaError(f"{checkpoints.out} already holds a run ({latest.name})",
                               hint="pass --resume to continue it, or choose a new --out directory")
        state = checkpoints.restore(latest, model, optimizer, scheduler)
    trained, optimizer = place.prepare(model, optimizer)
    model.train()
    per_step = settings.grad_accum * place.processes
    report = progress if place.is_main else no_progress
    report(state.step, total, "")
    while state.step < total:
        started = time.perf_counter()
        loss_sum, examples = 0.0, 0
        for micro in batches[state.step * per_step + place.rank:(state.step + 1) * per_step:place.processes]:
            loss = loss_fn(trained, micro) / settings.grad_accum
            place.backward(loss)
            loss_sum += float(loss.detach())
            examples += len(micro)
        if place.processes > 1:  # the report shows the loss and examples over every process's batches
            loss_sum = float(place.accelerator.reduce(torch.tensor(loss_sum, device=place.device), "mean"))
            examples = int(place.accelerator.reduce(torch.tensor(examples, device=place.device), "sum"))
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        state.step += 1
        state.seconds += time.perf_counter() - started
        state.history.append({"step": state.step, "loss": round(loss_sum, 5), "lr": scheduler.get_last_lr()[0],
                              "examples": examples})
        if place.is_main and eval_fn is not None and (state.step % settings.eval_every == 0 or state.step == total):
            state.evals.append({"step": state.step, "eval_loss": round(eval_fn(), 5)})
            model.train()
        if place.is_main and (state.step % settings.save_every == 0 or state.step == total):
            checkpoints.save(model, optimizer, scheduler, state)
        report(state.step, total,
               f"loss {loss_sum:.3f}" + (f" · eval {state.evals[-1]['eval_loss']:.3f}" if state.evals else ""))
    place.wait()
    return state


def write_report(out: Path, state: RunState, extra: dict[str, Any]) -> dict[str, Any]:
    """`train_report.json` and `loss.png` in the run directory."""
    losses = [h["loss"] for h in state.history]
    window = max(1, min(5, len(losses) // 4 or 1))
    report = {
        **extra,
        "steps": state.step,
        "seconds": round(state.seconds, 2),
        "steps_per_second": round(state.step / state.seconds, 4) if state.seconds else None,
        "peak_memory_mb": round(peak_memory_mb(), 1),
        "first_loss": round(sum(losses[:window]) / window, 4) if losses else None,
        "last_loss": round(sum(losses[-window:]) / window, 4) if losses else None,
        "history": state.history,
        "evals": state.evals,
    }
    (out / "train_report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2))
    plot_losses(out / "loss.png", state)
    return report


def plot_losses(path: Path, state: RunState) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([h["step"] for h in state.history], [h["loss"] for h in state.history], label="train loss")
    if state.evals:
        ax.plot([e["step"] for e in state.evals], [e["eval_loss"] for e in state.evals], "o-", label="eval loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
