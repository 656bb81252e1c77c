"""`kollama tune sft`: LoRA supervised fine-tuning of a GGUF base on instruction data."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from kollama.errors import KollamaError
from kollama.progress import Progress, no_progress
from kollama.tune.base_model import Base, load_model, resolve_base
from kollama.tune.datasets import load_chats
from kollama.tune.devices import check_qlora, placement
from kollama.tune.encoding import IGNORE, ChatEncoder, Encoded
from kollama.tune.trainer import (
    Checkpoints,
    TrainSettings,
    add_lora,
    split_eval,
    train,
    write_report,
)

RUN_FILE = "tune.json"


def collate(examples: list[Encoded], pad_id: int, device: str):
    """Right-padded input ids, attention mask and labels (padding never counts in the loss)."""
    import torch

    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, example in enumerate(examples):
        n = len(example.input_ids)
        ids[row, :n] = torch.tensor(example.input_ids)
        labels[row, :n] = torch.tensor(example.labels)
        mask[row, :n] = 1
    return ids.to(device), mask.to(device), labels.to(device)


def encode_dataset(encoder: ChatEncoder, data: Path, max_len: int) -> tuple[str, list[Encoded]]:
    fmt, chats = load_chats(data)
    encoded = [encoder.encode(chat, max_len) for chat in chats]
    kept = [e for e in encoded if e.trained_tokens > 0]
    if not kept:
        raise KollamaError(f"no example in {data} has answer tokens within --max-len {max_len}",
                           hint="raise --max-len or shorten the prompts")
    return fmt, kept


def prepare_out(out: Path, identity: str, resume: bool) -> Checkpoints:
    """The run directory; refuses another base's run before the model is even loaded."""
    out.mkdir(parents=True, exist_ok=True)
    checkpoints = Checkpoints(out, identity)
    latest = checkpoints.latest()
    if latest is not None and resume:
        checkpoints.check(latest)
    return checkpoints


def run_sft(base_ref: str, data: str | Path, out: str | Path, settings: TrainSettings,
            resume: bool = False, progress: Progress = no_progress) -> dict[str, Any] | None:
    """Train a LoRA adapter on `data`; writes adapter/, checkpoints, tune.json, train_report.json, loss.png.

    Under `accelerate launch` every process trains and the first one writes; the others return None.
    """
    import torch

    if settings.qlora:
        check_qlora()
    base = resolve_base(base_ref)
    out, data = Path(out), Path(data)
    encoder = ChatEncoder(base.path)
    fmt, examples = encode_dataset(encoder, data, settings.max_len)
    checkpoints = prepare_out(out, base.identity, resume)
    train_set, eval_set = split_eval(examples, settings.eval_split, settings.seed)
    pad_id = encoder.eos_id
    place = placement()
    model = add_lora(load_model(base, settings.dtype, settings.qlora), settings)
    device = str(next(model.parameters()).device)

    def batch_loss(m, indices: list[int]):
        ids, mask, labels = collate([train_set[i] for i in indices], pad_id, device)
        return m(input_ids=ids, attention_mask=mask, labels=labels).loss

    def eval_loss() -> float:
        model.eval()
        total, count = 0.0, 0
        with torch.no_grad():
            for start in range(0, len(eval_set), settings.batch_size):
                chunk = eval_set[start:start + settings.batch_size]
                ids, mask, labels = collate(chunk, pad_id, device)
                total += float(model(input_ids=ids, attention_mask=mask, labels=labels).loss) * len(chunk)
                count += len(chunk)
        return total / count

    state = train(model, batch_loss, eval_loss if eval_set else None, [len(e.input_ids) for e in train_set],
                  settings, checkpoints, resume, place=place, progress=progress)
    if not place.is_main:
        return None
    model.save_pretrained(out / "adapter")
    write_run(out, base, kind="sft", adapters=[out / "adapter"], settings=settings)
    return write_report(out, state, {
        "kind": "sft", "base": str(base.path), "base_identity": base.identity, "data": str(data), "format": fmt,
        "train_examples": len(train_set), "eval_examples": len(eval_set),
        "trained_tokens": sum(e.trained_tokens for e in train_set), "device": device, "processes": place.processes,
        "settings": asdict(settings),
    })


def write_run(out: Path, base: Base, kind: str, adapters: list[Path], settings: TrainSettings) -> None:
    """`tune.json`: which base and which adapters (in order) make the tuned model; export reads it."""
    run = {"kind": kind, "base": str(base.path), "base_identity": base.identity,
           "architecture": base.info.architecture, "adapters": [str(Path(a).resolve()) for a in adapters],
           "settings": asdict(settings)}
    (out / RUN_FILE).write_text(json.dumps(run, ensure_ascii=False, indent=2))


def read_run(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise KollamaError(f"{run_dir} is not a finished tune run (no {RUN_FILE})",
                           hint="run `kollama tune sft BASE --data FILE --out DIR` first")
    return json.loads(path.read_text())
