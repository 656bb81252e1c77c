"""`kollama tune dpo` and `kollama tune orpo`: preference optimisation on a fresh LoRA adapter.

DPO: the reference policy is the same network with the adapter disabled (`model.disable_adapter()`),
so no second model is held in memory. Starting from an SFT run, its adapters are merged into the
base first: the reference is then the SFT model, and the new adapter learns only the preference.

ORPO (Hong et al. 2024) needs no reference model: the loss is the chosen answer's NLL plus
lambda times -log sigmoid of the log odds ratio between chosen and rejected (length-averaged
log-likelihoods), so it also teaches the chosen answers, which DPO alone does not.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from kollama.errors import KollamaError
from kollama.progress import Progress, no_progress
from kollama.tune.base_model import load_model, resolve_base
from kollama.tune.devices import check_qlora, placement, unwrap
from kollama.tune.datasets import load_pairs
from kollama.tune.encoding import IGNORE, ChatEncoder, Encoded
from kollama.tune.sft import RUN_FILE, collate, prepare_out, read_run, write_run
from kollama.tune.trainer import TrainSettings, add_lora, preference_settings, train, write_report


def encode_pair(encoder: ChatEncoder, prompt: list[dict[str, str]], answer: str, max_len: int) -> Encoded:
    prompt_ids = encoder.encode_prompt(prompt)
    answer_ids = encoder.encode_answer(answer)
    ids = (prompt_ids + answer_ids)[:max_len]
    labels = ([IGNORE] * len(prompt_ids) + answer_ids)[:max_len]
    return Encoded(ids, labels)


def sequence_logprobs(model, ids, mask, labels):
    """Sum of log p(answer token) per row; prompt and padding excluded."""
    return answer_logprobs(model, ids, mask, labels)[0]


def dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta: float):
    """-log sigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r))), Rafailov et al. 2023."""
    import torch.nn.functional as F

    margin = (policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)
    return -F.logsigmoid(beta * margin).mean()


def answer_logprobs(model, ids, mask, labels):
    """(sum of log p(answer token), answer token count) per row; prompt and padding excluded."""
    import torch

    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    targets = labels[:, 1:]
    keep = targets != IGNORE
    picked = torch.log_softmax(logits, dim=-1).gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (picked * keep).sum(-1), keep.sum(-1)


def orpo_loss(chosen_sum, chosen_count, rejected_sum, rejected_count, lam: float):
    """NLL(chosen) + lam * -log sigmoid(log odds(chosen) - log odds(rejected)), odds of the mean token log-prob."""
    import torch
    import torch.nn.functional as F

    chosen = chosen_sum / chosen_count.clamp(min=1)
    rejected = rejected_sum / rejected_count.clamp(min=1)
    log_odds = (chosen - rejected) - (torch.log1p(-torch.exp(chosen).clamp(max=1 - 1e-6))
                                      - torch.log1p(-torch.exp(rejected).clamp(max=1 - 1e-6)))
    nll = -chosen_sum.sum() / chosen_count.sum().clamp(min=1)
    return nll - lam * F.logsigmoid(log_odds).mean()


def run_dpo(start: str, data: str | Path, out: str | Path, settings: TrainSettings | None = None,
            resume: bool = False, objective: str = "dpo", progress: Progress = no_progress) -> dict[str, Any] | None:
    """Train a preference adapter (`objective` dpo or orpo) on top of a base GGUF or a finished SFT
    run directory (None on the processes after the first under `accelerate launch`). Without
    `settings`, the objective's own defaults (`PREFERENCE_DEFAULTS`), never SFT's."""
    import torch
    from peft import PeftModel

    settings = settings if settings is not None else preference_settings(objective)

    if settings.qlora:
        check_qlora()
    prior: list[str] = []
    if Path(start).is_dir() and (Path(start) / RUN_FILE).is_file():
        run = read_run(start)
        base, prior = resolve_base(run["base"]), list(run["adapters"])
    elif Path(start).is_dir():
        raise KollamaError(f"{start} is not a finished tune run (no {RUN_FILE})")
    else:
        base = resolve_base(start)
    out, data = Path(out), Path(data)
    encoder = ChatEncoder(base.path)
    pairs = load_pairs(data)
    encoded = [(encode_pair(encoder, p.prompt, p.chosen, settings.max_len),
                encode_pair(encoder, p.prompt, p.rejected, settings.max_len)) for p in pairs]
    encoded = [(c, r) for c, r in encoded if c.trained_tokens and r.trained_tokens]
    if not encoded:
        raise KollamaError(f"no pair in {data} fits --max-len {settings.max_len}", hint="raise --max-len")
    checkpoints = prepare_out(out, "+".join([base.identity, *prior]), resume)
    place = placement()
    model = load_model(base, settings.dtype, settings.qlora)
    for adapter in prior:
        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    model = add_lora(model, settings)
    device = str(next(model.parameters()).device)
    pad_id = encoder.eos_id

    def batch_loss(m, indices: list[int]):
        chosen = [encoded[i][0] for i in indices]
        rejected = [encoded[i][1] for i in indices]
        ids, mask, labels = collate(chosen + rejected, pad_id, device)
        n = len(indices)
        if objective == "orpo":
            sums, counts = answer_logprobs(m, ids, mask, labels)
            return orpo_loss(sums[:n], counts[:n], sums[n:], counts[n:], settings.beta)
        policy = sequence_logprobs(m, ids, mask, labels)
        with torch.no_grad(), unwrap(m).disable_adapter():
            reference = sequence_logprobs(unwrap(m), ids, mask, labels)
        return dpo_loss(policy[:n], policy[n:], reference[:n], reference[n:], settings.beta)

    lengths = [max(len(c.input_ids), len(r.input_ids)) for c, r in encoded]
    state = train(model, batch_loss, None, lengths, settings, checkpoints, resume, place=place, progress=progress)
    if not place.is_main:
        return None
    model.save_pretrained(out / "adapter")
    write_run(out, base, kind=objective, adapters=[*map(Path, prior), out / "adapter"], settings=settings)
    return write_report(out, state, {
        "kind": objective, "base": str(base.path), "base_identity": base.identity, "start": start, "data": str(data),
        "pairs": len(encoded), "device": device, "processes": place.processes, "settings": asdict(settings),
    })
