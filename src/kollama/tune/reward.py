"""`kollama tune reward`: a reward model learnt from ranked answers (the RLHF stage's first half).

The base GGUF gets a one-output `score` head on its last token and a LoRA adapter; the loss is
Bradley-Terry's, -log sigmoid(r(chosen) - r(rejected)) (InstructGPT's reward-model loss). Ranked
lists (prompt, answers best first) become every ordered pair of the list, so a person who ranks four
answers gives six pairs. A seeded share of the pairs is held out and the report gives the pairwise
accuracy there: how often the model prefers the answer the ranking preferred.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from kollama.errors import KollamaError
from kollama.progress import Progress, no_progress
from kollama.evaluate.reward_model import (
    REWARD_FILE,
    RewardModel,
    encode_answer,
    score_rows,
    sequence_classifier,
)
from kollama.tune.base_model import cached_weights, resolve_base
from kollama.tune.datasets import read_records
from kollama.tune.trainer import TrainSettings, split_eval, train, write_report

#: the reward model's own defaults (TrainSettings' own are SFT's)
REWARD_DEFAULTS: dict[str, Any] = {"lr": 2e-4, "epochs": 1.0, "batch_size": 4, "max_len": 192, "eval_split": 0.1,
                                   "eval_every": 20, "save_every": 10, "target_modules": ["q_proj", "v_proj"]}


def reward_settings(**overrides: Any) -> TrainSettings:
    """TrainSettings for a reward model: REWARD_DEFAULTS, then `overrides` (None means: the default)."""
    return TrainSettings(**{**REWARD_DEFAULTS, **{k: v for k, v in overrides.items() if v is not None}})


def load_ranked(path: str | Path) -> list[tuple[str, str, str]]:
    """(prompt, better, worse) triples from pairs (prompt/chosen/rejected) or ranked lists (prompt/answers,
    best first); a record that is neither is refused with its file and line."""
    path = Path(path)
    triples: list[tuple[str, str, str]] = []
    for number, record in read_records(path):
        prompt = record.get("prompt")
        if not isinstance(prompt, str):
            raise KollamaError(f"{path}:{number}: missing text field 'prompt'",
                               hint="each line needs prompt + chosen/rejected, or prompt + answers (best first)")
        if "answers" in record:
            answers = record["answers"]
            if not isinstance(answers, list) or len(answers) < 2 or not all(isinstance(a, str) and a.strip()
                                                                            for a in answers):
                raise KollamaError(f"{path}:{number}: 'answers' must list at least two non-empty texts, best first")
            triples += [(prompt, answers[i], answers[j]) for i in range(len(answers)) for j in range(i + 1, len(answers))]
            continue
        chosen, rejected = record.get("chosen"), record.get("rejected")
        if not (isinstance(chosen, str) and chosen.strip() and isinstance(rejected, str) and rejected.strip()):
            raise KollamaError(f"{path}:{number}: needs non-empty 'chosen' and 'rejected' texts (or an 'answers' list)")
        triples.append((prompt, chosen, rejected))
    return triples


def pairwise_accuracy(model: RewardModel, triples: list[tuple[str, str, str]]) -> dict[str, Any]:
    """Share of pairs whose better answer gets the higher reward (ties count as wrong)."""
    if not triples:
        return {"pairs": 0, "accuracy": None}
    better = model.score([t[1] for t in triples], [t[0] for t in triples])
    worse = model.score([t[2] for t in triples], [t[0] for t in triples])
    right = sum(b > w for b, w in zip(better, worse))
    return {"pairs": len(triples), "correct": right, "accuracy": round(right / len(triples), 4),
            "mean_margin": round(sum(b - w for b, w in zip(better, worse)) / len(triples), 4)}


def _lora(settings: TrainSettings):
    """LoRA for sequence classification: PEFT trains and saves the new `score` head beside the adapter."""
    from peft import LoraConfig

    return LoraConfig(r=settings.lora_r, lora_alpha=settings.lora_alpha, lora_dropout=settings.lora_dropout,
                      target_modules=list(settings.target_modules), bias="none", task_type="SEQ_CLS")


def run_reward(base_ref: str, data: str | Path, out: str | Path, settings: TrainSettings | None = None,
               resume: bool = False, heldout: str | Path | None = None,
               progress: Progress = no_progress) -> dict[str, Any]:
    """Train the reward model; writes adapter/, reward.json, checkpoints and train_report.json in `out`.

    Pairwise accuracy is measured on the seeded hold-out of `data` and, when given, on `heldout`
    (pairs or ranked lists, e.g. ranked by a person)."""
    import torch
    from peft import get_peft_model

    from kollama.engines import load_tokenizer
    from kollama.tune.sft import prepare_out

    settings = settings or reward_settings()
    base = resolve_base(base_ref)
    out, data = Path(out), Path(data)
    triples = load_ranked(data)
    extra_eval = load_ranked(heldout) if heldout else []
    tokenizer = load_tokenizer(base.path)
    pad_id = tokenizer.eos_id
    encoded = [(encode_answer(tokenizer, p, c, settings.max_len), encode_answer(tokenizer, p, r, settings.max_len))
               for p, c, r in triples]
    keep = [i for i, (c, r) in enumerate(encoded) if c != r]  # identical after truncation: nothing to learn
    if not keep:
        raise KollamaError(f"no pair in {data} differs within --max-len {settings.max_len}", hint="raise --max-len")
    train_idx, eval_idx = split_eval(keep, settings.eval_split, settings.seed)
    checkpoints = prepare_out(out, base.identity, resume)
    weights = cached_weights(base)
    model = get_peft_model(sequence_classifier(weights, pad_id), _lora(settings))

    def batch_loss(m, indices: list[int]):
        return batch_loss_rows(m, [encoded[train_idx[i]] for i in indices], pad_id)

    def eval_loss() -> float:
        model.eval()
        with torch.no_grad():
            losses = [float(batch_loss_rows(model, [encoded[i] for i in eval_idx[s:s + 8]], pad_id))
                      for s in range(0, len(eval_idx), 8)]
        return sum(losses) / len(losses)

    lengths = [max(len(encoded[i][0]), len(encoded[i][1])) for i in train_idx]
    state = train(model, batch_loss, eval_loss if eval_idx else None, lengths, settings, checkpoints, resume,
                  progress=progress)
    model.save_pretrained(out / "adapter")
    info = {"kind": "reward", "base": str(base.path), "base_identity": base.identity, "base_weights": str(weights),
            "pad_id": pad_id, "max_len": settings.max_len, "data": str(data), "settings": asdict(settings)}
    (out / REWARD_FILE).write_text(json.dumps(info, ensure_ascii=False, indent=2), encoding="utf-8")
    tokenizer.close()
    scorer = RewardModel(out)
    accuracy = {"heldout": pairwise_accuracy(scorer, [triples[i] for i in eval_idx]),
                "train": pairwise_accuracy(scorer, [triples[i] for i in train_idx[:200]])}
    if heldout:
        accuracy["extra"] = {"file": str(heldout), **pairwise_accuracy(scorer, extra_eval)}
    scorer.close()
    info["pairwise_accuracy"] = accuracy
    (out / REWARD_FILE).write_text(json.dumps(info, ensure_ascii=False, indent=2), encoding="utf-8")
    return write_report(out, state, {**info, "pairs": len(triples), "train_pairs": len(train_idx),
                                     "eval_pairs": len(eval_idx)})


def batch_loss_rows(model, pairs: list[tuple[list[int], list[int]]], pad_id: int):
    """Bradley-Terry loss of encoded (better, worse) pairs."""
    import torch.nn.functional as F

    scores = score_rows(model, [p[0] for p in pairs] + [p[1] for p in pairs], pad_id)
    return -F.logsigmoid(scores[:len(pairs)] - scores[len(pairs):]).mean()
