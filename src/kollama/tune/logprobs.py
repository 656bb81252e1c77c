"""Next-token log-probabilities from the merged PyTorch model and from an exported GGUF.

`kollama tune export --verify` and the tests use these to show the GGUF reproduces the tuned
model: same prompt tokens (the base file's own tokenizer and chat template) into both.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kollama.engines.scoring import log_softmax
from kollama.tune.encoding import ChatEncoder
from kollama.tune.sft import read_run


def prompt_ids(run_dir: str | Path, prompts: list[str]) -> list[list[int]]:
    encoder = ChatEncoder(read_run(run_dir)["base"])
    return [encoder.encode_prompt([{"role": "user", "content": p}]) for p in prompts]


def merged_model(run_dir: str | Path):
    """Base + every adapter of the run, merged, in float32 on CPU."""
    from peft import PeftModel

    from kollama.tune.base_model import load_model, resolve_base

    run = read_run(run_dir)
    model = load_model(resolve_base(run["base"]), dtype="float32").to("cpu")
    for adapter in run["adapters"]:
        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    return model.eval()


def torch_logprobs(model, ids: list[list[int]]) -> list[np.ndarray]:
    import torch

    out = []
    with torch.no_grad():
        for seq in ids:
            logits = model(input_ids=torch.tensor([seq])).logits[0, -1].float().numpy()
            out.append(log_softmax(logits))
    return out


def gguf_logprobs(path: str | Path, ids: list[list[int]]) -> list[np.ndarray]:
    from kollama.engines import next_token_logprobs

    return next_token_logprobs(path, ids)


def compare(run_dir: str | Path, gguf_path: str | Path, prompts: list[str], top: int = 20) -> dict[str, float]:
    """Max |logprob difference| over the whole vocabulary and over the merged model's `top` tokens."""
    ids = prompt_ids(run_dir, prompts)
    reference = torch_logprobs(merged_model(run_dir), ids)
    exported = gguf_logprobs(gguf_path, ids)
    full, best, agree = 0.0, 0.0, 0
    for ref, got in zip(reference, exported):
        keep = np.argsort(-ref)[:top]
        full = max(full, float(np.abs(ref - got).max()))
        best = max(best, float(np.abs(ref[keep] - got[keep]).max()))
        agree += int(ref.argmax() == got.argmax())
    return {"max_abs_diff": round(full, 5), f"max_abs_diff_top{top}": round(best, 5),
            "same_argmax": agree, "prompts": len(prompts)}
