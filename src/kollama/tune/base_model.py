"""The base model for training: a GGUF de-quantised by transformers, cached as safetensors.

`from_pretrained(dir, gguf_file=name)` de-quantises every tensor (about 20 s for SmolLM2);
the result is saved once under $KOLLAMA_HOME/tune/base/<fingerprint> and reloaded in about a second.
Only architectures that `kollama tune export` can write back are accepted, so a run never trains
a model it cannot export.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from kollama.config import subdir
from kollama.errors import KollamaError
from kollama.models.gguf_file import GGUFInfo, read_gguf_info
from kollama.models.reference import ModelRef, resolve

# architecture -> tensors whose rows llama.cpp stores permuted (rotary halves interleaved)
EXPORTABLE = {"llama": {"attn_q": "n_head", "attn_k": "n_head_kv"}}


@dataclass
class Base:
    ref: ModelRef
    path: Path
    info: GGUFInfo

    @property
    def identity(self) -> str:
        return self.ref.identity()


def resolve_base(model: str) -> Base:
    """A local GGUF base whose architecture export supports; refused before any training starts."""
    ref = resolve(model)
    if ref.kind != "gguf" or ref.path is None:
        raise KollamaError(f"{model} is a {ref.kind} model; tuning needs local weights",
                           hint="pass a GGUF file or a built-in model such as smollm2")
    info = read_gguf_info(ref.path)
    if info.architecture not in EXPORTABLE:
        raise KollamaError(
            f"architecture '{info.architecture}' of {ref.path.name} is not supported by `kollama tune export`",
            hint=f"supported: {', '.join(sorted(EXPORTABLE))} (e.g. smollm2, Llama, KoAlpaca, Bllossom)",
        )
    return Base(ref, ref.path, info)


def load_model(base: Base, dtype: str = "auto", qlora: bool = False):
    """The de-quantised PyTorch model (cached), in float32 on CPU or bfloat16 on CUDA (4-bit NF4 with qlora)."""
    import torch
    from transformers import AutoModelForCausalLM

    from kollama.tune.devices import local_device, qlora_config

    cache = cached_weights(base)
    torch_dtype = resolve_dtype(dtype)
    if qlora:
        from peft import prepare_model_for_kbit_training

        model = AutoModelForCausalLM.from_pretrained(str(cache), quantization_config=qlora_config(),
                                                     device_map={"": local_device()}, dtype=torch.bfloat16)
        return prepare_model_for_kbit_training(model)
    model = AutoModelForCausalLM.from_pretrained(str(cache), dtype=torch_dtype)
    return model.to(local_device())


def cached_weights(base: Base) -> Path:
    """The de-quantised base as a plain transformers directory (made once per base file, then reused)."""
    import torch
    from transformers import AutoModelForCausalLM

    cache = subdir("tune") / "base" / base.identity.replace(":", "-")
    if not (cache / "config.json").is_file():
        model = AutoModelForCausalLM.from_pretrained(str(base.path.parent), gguf_file=base.path.name,
                                                     dtype=torch.float32)
        tmp = cache.with_name(f"{cache.name}.partial-{os.getpid()}")
        save_plain(model, tmp)
        try:
            tmp.rename(cache)
        except OSError:  # another process cached the same base first
            shutil.rmtree(tmp, ignore_errors=True)
    return cache


def save_plain(model, directory: Path) -> None:
    """Weights and config without the GGUF marker (transformers refuses to re-save GGUF-loaded models)."""
    from safetensors.torch import save_model

    directory.mkdir(parents=True, exist_ok=True)
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.save_pretrained(directory)
    save_model(model, str(directory / "model.safetensors"), metadata={"format": "pt"})


def resolve_dtype(dtype: str):
    import torch

    if dtype == "auto":
        return torch.bfloat16 if torch.cuda.is_available() else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
