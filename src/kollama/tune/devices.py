"""Where training runs: the CPU, one CUDA GPU, or several processes started by a launcher.

The same command works everywhere. Alone it trains in one process (CUDA when present, bf16 there).
Under `accelerate launch --multi_gpu --num_processes N` (or `torchrun --nproc_per_node N`, which also
runs several CPU processes over gloo) each process takes its own share of every step's batches and gradients are averaged by
DistributedDataParallel; only the first process writes checkpoints, the adapter and the report.
QLoRA (4-bit NF4 base through bitsandbytes) needs CUDA and is refused up front without it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from kollama.errors import KollamaError


@dataclass
class Placement:
    accelerator: Any  # accelerate.Accelerator
    processes: int
    rank: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def device(self) -> str:
        return str(self.accelerator.device)

    def prepare(self, model, optimizer):
        """DDP-wrap the model when several processes train; the optimizer learns to skip sync steps."""
        return self.accelerator.prepare(model, optimizer)

    def backward(self, loss) -> None:
        self.accelerator.backward(loss)

    def wait(self) -> None:
        self.accelerator.wait_for_everyone()


def placement() -> Placement:
    import torch
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    return Placement(accelerator, accelerator.num_processes, accelerator.process_index)


def local_device() -> str:
    """The device this process loads the model onto (its own GPU under a launcher)."""
    import torch

    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
    return "cpu"


def unwrap(model):
    """The PeftModel inside a DistributedDataParallel wrapper (or the model itself)."""
    return getattr(model, "module", model)


def check_qlora() -> None:
    """Refuse --qlora before anything loads when this machine cannot do it."""
    import torch

    if not torch.cuda.is_available():
        raise KollamaError("--qlora needs a CUDA GPU (bitsandbytes 4-bit kernels); this machine has none",
                           hint="leave out --qlora: LoRA on the CPU works for small models such as smollm2")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise KollamaError("--qlora needs the bitsandbytes package", hint="pip install bitsandbytes") from None


def qlora_config():
    """NF4 weights with double quantisation, bf16 compute (Dettmers et al. 2023)."""
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16)
