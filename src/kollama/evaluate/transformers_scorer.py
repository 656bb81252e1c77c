"""The same log-likelihoods through transformers (a GGUF de-quantised to fp32), to cross-check
the llama.cpp numbers. Optional: torch and transformers are imported only when it is used."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kollama.errors import KollamaError
from kollama.engines.scoring import Request, Result


class TransformersScorer:
    """A causal LM loaded from a GGUF file by transformers; scores the same token requests."""

    def __init__(self, gguf_path: str | Path):
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:
            raise KollamaError("the transformers cross-check needs torch and transformers",
                               hint="pip install 'kollama[tune]'") from exc
        path = Path(gguf_path)
        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        self.model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name,
                                                          torch_dtype=torch.float32)
        self.model.eval()

    def loglikelihood(self, requests: Sequence[Request]) -> list[Result]:
        """One forward pass per request over context + continuation (no cache tricks: a reference)."""
        torch = self._torch
        results = []
        with torch.no_grad():
            for req in requests:
                ids = torch.tensor([list(req.context) + list(req.continuation)[:-1]])
                logits = self.model(ids).logits[0, len(req.context) - 1:].double()
                logprobs = torch.log_softmax(logits, dim=-1)
                target = torch.tensor(req.continuation)
                picked = logprobs[torch.arange(len(target)), target]
                greedy = bool((logits.argmax(dim=-1) == target).all())
                results.append(Result(float(picked.sum()), len(target), greedy))
        return results
