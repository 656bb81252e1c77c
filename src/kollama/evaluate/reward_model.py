"""A reward model trained by `kollama tune reward`, as a scorer: an answer in, one number out.

The directory holds `reward.json` (which base GGUF, its de-quantised weights, how texts were encoded) and
`adapter/` (LoRA on the base plus the linear `score` head). It lives here, below `tune`, because scoring a
text is evaluation: `kollama score --reward DIR` and the RL rewards of `kollama tune rl` both load it.
Higher means a person would more likely prefer the answer; only differences between answers mean anything.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kollama.errors import KollamaError

REWARD_FILE = "reward.json"


def read_reward_dir(directory: str | Path) -> dict[str, Any]:
    """`reward.json` of a finished reward-model run, refused in one line when it is something else."""
    path = Path(directory) / REWARD_FILE
    if not path.is_file():
        raise KollamaError(f"{directory} is not a reward model (no {REWARD_FILE})",
                           hint="train one with `kollama tune reward PAIRS --base MODEL --out DIR`")
    return json.loads(path.read_text(encoding="utf-8"))


def encode_answer(tokenizer, prompt: str, answer: str, max_len: int) -> list[int]:
    """The chat (user prompt, assistant answer) as the base's template renders it; the last `max_len` tokens,
    so the answer's end, where the score is read, is always inside."""
    messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]
    ids = tokenizer.prompt(tokenizer.render(messages, add_generation_prompt=False)[0])
    return ids[-max_len:]


def batch_tensors(rows: list[list[int]], pad_id: int, device: str):
    """Right-padded ids and attention mask."""
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = torch.tensor(row)
        mask[i, :len(row)] = 1
    return ids.to(device), mask.to(device)


def score_rows(model, rows: list[list[int]], pad_id: int):
    """Scores (one per row) from the `score` head at each row's last token that is not `pad_id`."""
    device = str(next(model.parameters()).device)
    ids, mask = batch_tensors(rows, pad_id, device)
    return model(input_ids=ids, attention_mask=mask).logits.squeeze(-1).float()


def sequence_classifier(weights: str | Path, pad_id: int):
    """The base with a fresh one-output `score` head, in float32 (training and scoring alike).

    Built from the causal model's own backbone: loading the classifier straight from the directory would
    leave tied input embeddings (smollm2 stores them once, as lm_head) freshly random."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    causal = AutoModelForCausalLM.from_pretrained(str(weights), dtype=torch.float32)
    config = causal.config
    config.num_labels, config.pad_token_id = 1, pad_id
    model = AutoModelForSequenceClassification.from_config(config, dtype=torch.float32)
    model.base_model.load_state_dict(causal.base_model.state_dict())
    return model


class RewardModel:
    """Loads once, then scores answers in small batches without gradients."""

    def __init__(self, directory: str | Path):
        from peft import PeftModel

        from kollama.engines import load_tokenizer

        self.directory = Path(directory)
        self.info = read_reward_dir(directory)
        weights = Path(self.info["base_weights"])
        if not (weights / "config.json").is_file():
            raise KollamaError(f"the base weights of {directory} are gone ({weights})",
                               hint="run `kollama tune reward` again, or restore $KOLLAMA_HOME/tune/base")
        self.tokenizer = load_tokenizer(self.info["base"])
        self.pad_id = int(self.info["pad_id"])
        model = sequence_classifier(weights, self.pad_id)
        self.model = PeftModel.from_pretrained(model, str(self.directory / "adapter")).eval()

    @property
    def base_identity(self) -> str:
        return self.info["base_identity"]

    def score(self, answers: list[str], prompts: list[str] | None = None, batch_size: int = 8) -> list[float]:
        import torch

        prompts = prompts if prompts is not None else [""] * len(answers)
        max_len = int(self.info.get("max_len", 256))
        rows = [encode_answer(self.tokenizer, p, a, max_len) for p, a in zip(prompts, answers)]
        out: list[float] = []
        with torch.no_grad():
            for start in range(0, len(rows), batch_size):
                out += score_rows(self.model, rows[start:start + batch_size], self.pad_id).tolist()
        return out

    def close(self) -> None:
        self.tokenizer.close()
