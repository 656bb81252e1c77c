"""`kollama tune rl`: GRPO on a LoRA policy with Korean rewards (the RLHF stage's second half).

Each step takes `batch_size` prompts, samples `group` answers to each from the policy as it is now,
scores them with the weighted rewards (`kollama.tune.rewards`), and turns each answer's reward into an
advantage against its own group (reward minus the group mean, over the group's standard deviation), as
GRPO does (Shao et al. 2024). One update per batch of samples, so the policy ratio is 1 and the loss is
-advantage * log p(answer) per token, averaged per answer, plus beta times the k3 estimate of the KL to
the reference: the same network with the adapter disabled (the base, or the SFT/ORPO model a run starts
from), so no second model is held in memory.

Answers are sampled by the training framework (transformers' `generate` on the policy being trained):
the weights change every step, and llama.cpp would need a fresh GGUF export each step. The log
(`rewards.jsonl`) times each step's sampling, rewards and update separately so that choice stays measured.
The run is driven by `kollama.tune.trainer.train`, so it checkpoints, resumes and reports like SFT, and
`kollama tune export` writes its GGUF.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kollama.errors import KollamaError
from kollama.progress import Progress, no_progress
from kollama.tune.base_model import load_model, resolve_base
from kollama.tune.guards import answer_stats, guard_report
from kollama.tune.rewards import NaturalnessReward, build_rewards, close_all, combine
from kollama.tune.trainer import TrainSettings, add_lora, train, write_report

LOG_FILE = "rewards.jsonl"
RL_DEFAULTS: dict[str, Any] = {"lr": 5e-5, "epochs": 1.0, "max_steps": 40, "batch_size": 2, "max_len": 256,
                               "save_every": 5, "eval_split": 0.0, "warmup_steps": 2, "beta": 0.04}


@dataclass
class RLOptions:
    rewards: str = "fidelity,naturalness,length"
    group: int = 4  # answers sampled per prompt
    max_new_tokens: int = 64
    temperature: float = 1.0
    lang: str = "ko"
    reference_model: str | None = None  # naturalness's scorer (None: compare's default, gemma3)

    def __post_init__(self) -> None:
        if self.group < 2:
            raise KollamaError("--group must be at least 2", hint="GRPO compares each answer with its group")


def rl_settings(**overrides: Any) -> TrainSettings:
    """TrainSettings for RL: RL_DEFAULTS, then `overrides` (None means: the default)."""
    return TrainSettings(**{**RL_DEFAULTS, **{k: v for k, v in overrides.items() if v is not None}})


def load_prompts(path: str | Path) -> list[str]:
    """Prompts from JSONL (`prompt`, or `instruction` + optional `input`) or plain text (one per line).

    A file with no usable prompt is refused in one line naming the file and the line it looked at."""
    from kollama.json_records import read_json_records

    path = Path(path)
    if not path.is_file():
        raise KollamaError(f"prompts file {path} not found", hint="pass JSONL with a 'prompt' field or a text file")
    if path.suffix in (".jsonl", ".json"):
        prompts, first = [], None
        for record in read_json_records(path):
            first = first or record.number
            fields = record.fields
            text = fields.get("prompt") if isinstance(fields.get("prompt"), str) else fields.get("instruction")
            if isinstance(text, str) and text.strip():
                extra = fields.get("input") if isinstance(fields.get("input"), str) else ""
                prompts.append(f"{text.strip()}\n\n{extra.strip()}" if extra.strip() else text.strip())
        if not prompts:
            raise KollamaError(f"{path}:{first or 1}: no usable prompt in the file (no record has a non-empty "
                               "'prompt' or 'instruction')", hint="give each line a 'prompt' text")
        return prompts
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    prompts = [line.strip() for line in lines if line.strip()]
    if not prompts:
        raise KollamaError(f"{path}:{len(lines) or 1}: no usable prompt in the file (every line is empty)",
                           hint="write one prompt per line")
    return prompts


class Sampler:
    """Samples groups of answers from the policy and scores their tokens (transformers on the training device)."""

    def __init__(self, tokenizer, options: RLOptions, device: str):
        self.tokenizer = tokenizer
        self.options = options
        self.device = device
        self.pad_id = tokenizer.eos_id
        self.stop_ids = [t for t in range(tokenizer.n_vocab) if tokenizer.is_eog(t)]

    def prompt_ids(self, prompt: str) -> list[int]:
        return self.tokenizer.prompt(self.tokenizer.render([{"role": "user", "content": prompt}], True)[0])

    def sample(self, model, prompt_rows: list[list[int]], seed: int) -> list[list[int]]:
        """`group` answers per prompt: token ids up to and including the end-of-turn token when one came."""
        import torch

        rows = [r for r in prompt_rows for _ in range(self.options.group)]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, r in enumerate(rows):  # left padding: every answer starts at the same column
            ids[i, width - len(r):] = torch.tensor(r)
            mask[i, width - len(r):] = 1
        torch.manual_seed(seed)
        with torch.no_grad():
            out = model.generate(input_ids=ids.to(self.device), attention_mask=mask.to(self.device), do_sample=True,
                                 temperature=self.options.temperature, top_k=0, top_p=1.0,
                                 max_new_tokens=self.options.max_new_tokens, pad_token_id=self.pad_id,
                                 eos_token_id=self.stop_ids)
        answers = []
        for row in out[:, width:].tolist():
            cut = next((i + 1 for i, t in enumerate(row) if t in self.stop_ids), len(row))
            answers.append(row[:cut])
        return answers

    def text(self, answer: list[int]) -> str:
        return self.tokenizer.detokenize([t for t in answer if t not in self.stop_ids]).strip()


def token_logprobs(model, rows: list[list[int]], starts: list[int], pad_id: int):
    """(log p of every answer token, mask of answer tokens), right-padded; rows are prompt + answer."""
    import torch

    device = str(next(model.parameters()).device)
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention = torch.zeros_like(ids)
    answer = torch.zeros((len(rows), width - 1), dtype=torch.float32)
    for i, (row, start) in enumerate(zip(rows, starts)):
        ids[i, :len(row)] = torch.tensor(row)
        attention[i, :len(row)] = 1
        answer[i, start - 1:len(row) - 1] = 1
    ids, attention, answer = ids.to(device), attention.to(device), answer.to(device)
    logits = model(input_ids=ids, attention_mask=attention).logits[:, :-1].float()
    picked = torch.log_softmax(logits, dim=-1).gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    return picked, answer


def group_advantages(rewards: list[float], group: int) -> list[float]:
    """Reward minus its group's mean, over the group's standard deviation (0 where the group agrees)."""
    out = []
    for start in range(0, len(rewards), group):
        chunk = rewards[start:start + group]
        mean = sum(chunk) / len(chunk)
        std = (sum((r - mean) ** 2 for r in chunk) / max(1, len(chunk) - 1)) ** 0.5
        out += [(r - mean) / (std + 1e-4) for r in chunk]
    return out


def grpo_loss(policy, reference, mask, advantages, beta: float):
    """Per-answer mean of -A * ratio + beta * k3 KL, then the mean over answers (ratio = 1, gradient of log p)."""
    import torch

    ratio = torch.exp(policy - policy.detach())
    per_token = -advantages.unsqueeze(-1) * ratio
    kl = torch.zeros_like(policy)
    if reference is not None:
        delta = reference - policy
        kl = torch.exp(delta) - delta - 1
        per_token = per_token + beta * kl
    counts = mask.sum(-1).clamp(min=1)
    loss = ((per_token * mask).sum(-1) / counts).mean()
    return loss, float(((kl.detach() * mask).sum(-1) / counts).mean())


def run_rl(start: str, prompts_file: str | Path, out: str | Path, settings: TrainSettings | None = None,
           options: RLOptions | None = None, resume: bool = False, progress: Progress = no_progress) -> dict[str, Any]:
    """GRPO from a base model or a finished SFT/ORPO run; writes adapter/, tune.json, rewards.jsonl,
    checkpoints and train_report.json (with the guards) in `out`."""
    import torch
    from peft import PeftModel

    from kollama.engines import load_tokenizer
    from kollama.tune.devices import unwrap
    from kollama.tune.sft import RUN_FILE, prepare_out, read_run, write_run

    settings, options = settings or rl_settings(), options or RLOptions()
    prior: list[str] = []
    if Path(start).is_dir() and (Path(start) / RUN_FILE).is_file():
        run = read_run(start)
        base, prior = resolve_base(run["base"]), list(run["adapters"])
    else:
        base = resolve_base(start)
    out = Path(out)
    prompts = load_prompts(prompts_file)
    identity = "+".join([base.identity, *prior])
    rewards = build_rewards(options.rewards, base.identity, options.lang, options.reference_model,
                            base_name=base.path.name)
    tokenizer = load_tokenizer(base.path)
    checkpoints = prepare_out(out, identity, resume)
    latest = checkpoints.latest()
    done = checkpoints.check(latest)["step"] if latest is not None and resume else 0
    model = load_model(base, settings.dtype)
    for adapter in prior:
        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    model = add_lora(model, settings)
    device = str(next(model.parameters()).device)
    sampler = Sampler(tokenizer, options, device)
    encoded = [sampler.prompt_ids(p) for p in prompts]
    usable = [i for i, ids in enumerate(encoded) if len(ids) <= settings.max_len]
    if not usable:
        raise KollamaError(f"{prompts_file}: every prompt is longer than --max-len {settings.max_len} tokens",
                           hint="raise --max-len or shorten the prompts")
    log_path = out / LOG_FILE
    kept = [line for line in (log_path.read_text(encoding="utf-8").splitlines() if log_path.is_file() else [])
            if json.loads(line)["step"] <= done]
    log_path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
    step = {"n": done}

    def batch_loss(m, indices: list[int]):
        chosen = [usable[i] for i in indices]
        step["n"] += 1
        began, cpu = time.perf_counter(), time.process_time()
        m.eval()
        answers = sampler.sample(unwrap(m), [encoded[i] for i in chosen], seed=settings.seed * 100003 + step["n"])
        m.train()
        sampled = time.perf_counter()
        group_prompts = [prompts[i] for i in chosen for _ in range(options.group)]
        texts = [sampler.text(a) for a in answers]
        combined, each = combine(rewards, group_prompts, texts)
        scored = time.perf_counter()
        rows = [encoded[i] + a for i, a in zip([c for c in chosen for _ in range(options.group)], answers)]
        starts = [len(encoded[c]) for c in chosen for _ in range(options.group)]
        nonempty = [i for i, a in enumerate(answers) if a]
        rows, starts = [rows[i] for i in nonempty], [starts[i] for i in nonempty]
        advantages = torch.tensor([group_advantages(combined, options.group)[i] for i in nonempty], device=device)
        policy, mask = token_logprobs(m, rows, starts, sampler.pad_id)
        reference = None
        if settings.beta > 0:
            with torch.no_grad(), unwrap(m).disable_adapter():
                reference, _ = token_logprobs(unwrap(m), rows, starts, sampler.pad_id)
        loss, kl = grpo_loss(policy, reference, mask, advantages, settings.beta)
        record = {"step": step["n"], "reward": round(sum(combined) / len(combined), 4),
                  "rewards": {k: round(sum(v) / len(v), 4) for k, v in each.items()}, "kl": round(kl, 5),
                  "mean_chars": round(sum(len(t) for t in texts) / len(texts), 1),
                  "seconds": {"sample": round(sampled - began, 2), "rewards": round(scored - sampled, 2),
                              "update_forward": round(time.perf_counter() - scored, 2),
                              "cpu_before_backward": round(time.process_time() - cpu, 2)},
                  "prompts": chosen, "answers": texts}
        with log_path.open("a", encoding="utf-8") as log:
            log.write(json.dumps(record, ensure_ascii=False) + "\n")
        return loss

    try:
        state = train(model, batch_loss, None, [len(encoded[i]) for i in usable], settings, checkpoints, resume,
                      progress=progress)
    except (torch.OutOfMemoryError, MemoryError):
        kept_at = checkpoints.latest()
        raise KollamaError(f"out of memory at RL step {step['n']}; the last checkpoint "
                           f"({kept_at.name if kept_at else 'none yet'}) is kept in {out}",
                           hint="use a smaller --group, --max-new-tokens or --batch-size, then --resume") from None
    finally:
        close_all(rewards)
    model.save_pretrained(out / "adapter")
    write_run(out, base, kind="rl", adapters=[*map(Path, prior), out / "adapter"], settings=settings)
    tokenizer.close()
    log = [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines()]
    return write_report(out, state, {
        "kind": "rl", "algorithm": "grpo", "base": str(base.path), "base_identity": base.identity, "start": start,
        "prompts_file": str(prompts_file), "prompts": len(usable), "device": device, "settings": asdict(settings),
        "options": asdict(options), "rewards": [{"name": r.name, "weight": r.weight} for r in rewards],
        "steps_per_minute": round(60 * state.step / state.seconds, 3) if state.seconds else None,
        "reward_first": log[0]["reward"] if log else None, "reward_last": log[-1]["reward"] if log else None,
        "guards": guards_from_log(log, options.reference_model),
    })


def guards_from_log(log: list[dict[str, Any]], reference: str | None) -> dict[str, Any] | None:
    """Guards over the first and the last steps' samples (a quarter of the run each, at most 3 steps)."""
    if not log:
        return None
    k = max(1, min(3, len(log) // 4))
    first = [a for r in log[:k] for a in r["answers"]]
    last = [a for r in log[-k:] for a in r["answers"]]
    scorer = NaturalnessReward(reference)
    try:
        natural = scorer.nats_per_char(first + last)
    except KollamaError:
        natural = [None] * (len(first) + len(last))
    finally:
        scorer.close()
    return guard_report(answer_stats(first, natural[:len(first)]), answer_stats(last, natural[len(first):]))
