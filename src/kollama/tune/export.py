"""`kollama tune export`: a tune run back to GGUF (merged model or llama.cpp LoRA adapter) + Ollama Modelfile.

Merging happens in GGUF space: every base tensor is de-quantised from the source file and the
LoRA delta `scale * B @ A` is added, re-permuted for llama Q/K (transformers un-permutes them on
load; llama.cpp stores rotary halves interleaved). All metadata and the tokenizer are copied from
the base file. The file is written under a temporary name and renamed at the end, so a failed or
out-of-disk write never leaves a half-written file under the final name.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kollama.errors import KollamaError
from kollama.models.gguf_file import ALL, GGUFLayout, read_gguf_info, read_layout
from kollama.progress import Progress, no_progress
from kollama.tune.base_model import EXPORTABLE
from kollama.tune.defaults import EXPORT_QUANT
from kollama.tune.sft import read_run

QUANTS = {"f16": "F16", "q8_0": "Q8_0", "q4_1": "Q4_1"}
FILE_TYPES = {"f16": "MOSTLY_F16", "q8_0": "MOSTLY_Q8_0", "q4_1": "MOSTLY_Q4_1"}


@dataclass
class LoraDelta:
    """One adapted weight: GGUF tensor name, A (r x in), B (out x r) in llama.cpp's row order, and the scale."""

    tensor: str
    a: np.ndarray
    b: np.ndarray
    scale: float

    def delta(self) -> np.ndarray:
        return self.scale * (self.b @ self.a)


def permute_rows(w: np.ndarray, n_head: int) -> np.ndarray:
    """Hugging Face llama Q/K row order -> GGUF order (convert_hf_to_gguf's `permute`)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def read_adapter(adapter_dir: Path, architecture: str, n_blocks: int, heads: dict[str, int]) -> list[LoraDelta]:
    """A peft adapter directory as GGUF-named LoRA factors."""
    import gguf
    from safetensors.numpy import load_file

    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    weights = load_file(str(adapter_dir / "adapter_model.safetensors"))
    r, alpha = config["r"], config["lora_alpha"]
    scale = alpha / math.sqrt(r) if config.get("use_rslora") else alpha / r
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH[architecture.upper()], n_blocks)
    permuted = EXPORTABLE[architecture]
    deltas = []
    for key in sorted(k for k in weights if k.endswith("lora_A.weight")):
        module = key.removeprefix("base_model.model.").removesuffix(".lora_A.weight")
        target = names.get_name(module)
        if target is None:
            raise KollamaError(f"adapter weight {module} has no GGUF tensor for {architecture}")
        a = weights[key].astype(np.float32)
        b = weights[key.replace("lora_A", "lora_B")].astype(np.float32)
        kind = target.split(".")[-1]
        if kind in permuted:
            b = permute_rows(b, heads[permuted[kind]])
        deltas.append(LoraDelta(f"{target}.weight", a, b, scale))
    unknown = [k for k in weights if "lora_" not in k]
    if unknown:
        raise KollamaError(f"adapter in {adapter_dir} also trains {unknown[0]}, which export cannot merge",
                           hint="train LoRA on linear projections only")
    return deltas


def atomic_gguf(out: Path, write: Callable[[Path], None]) -> None:
    """Run `write(tmp)` then rename tmp to `out`; on any failure remove tmp and report one line."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise KollamaError(f"could not write {out}: {exc.strerror or exc}",
                           hint="free disk space or choose another --out; nothing was left under that name") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _target_type(name: str, shape: tuple[int, ...], quant: str):
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    if len(shape) < 2:
        return GGMLQuantizationType.F32
    wanted = GGMLQuantizationType[QUANTS[quant]]
    if quant == "q4_1" and name.startswith(("token_embd", "output.")):
        wanted = GGMLQuantizationType.Q8_0  # embeddings/head lose most from 4 bits (llama.cpp keeps them higher)
    if shape[-1] % GGML_QUANT_SIZES[wanted][0]:
        return GGMLQuantizationType.F16
    return wanted


def _copy_metadata(layout: GGUFLayout, writer, overrides: dict[str, tuple[Any, Any]]) -> None:
    import gguf

    for key, value in layout.metadata.items():
        if key == gguf.Keys.General.ARCHITECTURE or key in overrides:
            continue
        kind, sub = layout.types[key]
        writer.add_key_value(key, value.tolist() if isinstance(value, np.ndarray) else value, kind, sub_type=sub)
    for key, (value, kind) in overrides.items():
        writer.add_key_value(key, value, kind)


def _merged_tensors(layout: GGUFLayout, deltas: list[LoraDelta], quant: str) -> Iterator[tuple[str, np.ndarray, Any]]:
    """(name, array to write, GGML type) per base tensor, de-quantised, merged and re-quantised."""
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize, quantize

    by_tensor: dict[str, list[LoraDelta]] = {}
    for d in deltas:
        by_tensor.setdefault(d.tensor, []).append(d)
    for tensor in layout.tensors:
        w = dequantize(layout.tensor_bytes(tensor), tensor.kind).astype(np.float32)
        for d in by_tensor.pop(tensor.name, []):
            w = w + d.delta()
        kind = _target_type(tensor.name, w.shape, quant)
        if kind == GGMLQuantizationType.F32:
            yield tensor.name, w, kind
        elif kind == GGMLQuantizationType.F16:
            yield tensor.name, w.astype(np.float16), kind
        else:
            yield tensor.name, quantize(w, kind), kind
    if by_tensor:
        raise KollamaError(f"the base file has no tensor {next(iter(by_tensor))} for this adapter")


def write_merged(base_path: Path, deltas: list[LoraDelta], out: Path, quant: str,
                 progress: Progress = no_progress) -> None:
    import gguf

    layout = read_layout(base_path, arrays=ALL)
    arch = layout.architecture
    file_type = int(gguf.LlamaFileType[FILE_TYPES[quant]])

    def write(tmp: Path) -> None:
        # Two passes over the tensors: sizes first (the header precedes the data), then the data.
        writer = gguf.GGUFWriter(str(tmp), arch=arch)
        _copy_metadata(layout, writer, {gguf.Keys.General.FILE_TYPE: (file_type, gguf.GGUFValueType.UINT32)})
        for tensor in layout.tensors:
            shape = tuple(reversed(tensor.dims))
            kind = _target_type(tensor.name, shape, quant)
            byte_shape = gguf.quants.quant_shape_to_byte_shape(shape, kind) if kind not in (
                gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16) else shape
            dtype = {gguf.GGMLQuantizationType.F32: np.float32, gguf.GGMLQuantizationType.F16: np.float16}.get(kind, np.uint8)
            nbytes = int(np.prod(byte_shape)) * np.dtype(dtype).itemsize
            writer.add_tensor_info(tensor.name, byte_shape, np.dtype(dtype), nbytes, kind)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        progress(0, len(layout.tensors), "export")
        for done, (_, data, _) in enumerate(_merged_tensors(layout, deltas, quant), start=1):
            writer.write_tensor_data(data)
            progress(done, len(layout.tensors), "export")
        writer.close()

    atomic_gguf(out, write)


def write_adapter(base_path: Path, deltas: list[LoraDelta], out: Path, alpha: float) -> None:
    """A llama.cpp LoRA adapter GGUF (`--lora FILE`): general.type=adapter, lora_a/lora_b tensors."""
    import gguf

    arch = read_layout(base_path).architecture

    def write(tmp: Path) -> None:
        writer = gguf.GGUFWriter(str(tmp), arch=arch)
        writer.add_string(gguf.Keys.General.TYPE, gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
        for d in deltas:
            writer.add_tensor(f"{d.tensor}.lora_a", d.a)
            writer.add_tensor(f"{d.tensor}.lora_b", d.b)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()

    atomic_gguf(out, write)


def modelfile_text(gguf_name: str, base_path: Path | None, stops: list[str], plain: bool) -> str:
    """An Ollama Modelfile next to the export (`ollama create NAME -f FILE`)."""
    lines = [f"FROM {base_path}" if base_path else f"FROM ./{gguf_name}"]
    if base_path:
        lines.append(f"ADAPTER ./{gguf_name}")
    if plain:  # base models without a chat template were tuned on kollama's plain format
        lines.append('TEMPLATE """{{ if .System }}{{ .System }}\n\n{{ end }}### 질문:\n{{ .Prompt }}\n\n### 답변:\n"""')
    lines += [f'PARAMETER stop "{s}"' for s in stops if s.strip()]
    return "\n".join(lines) + "\n"


def export_run(run_dir: str | Path, out: str | Path, quant: str = EXPORT_QUANT, adapter_only: bool = False,
               progress: Progress = no_progress) -> dict[str, Any]:
    """Export a finished tune run; returns what was written."""
    from kollama.tune.encoding import ChatEncoder

    if quant not in QUANTS:
        raise KollamaError(f"unknown --quant {quant}", hint=f"choose one of {', '.join(QUANTS)}")
    run = read_run(run_dir)
    out = Path(out)
    if out.suffix != ".gguf":
        raise KollamaError(f"--out {out} must end in .gguf")
    base_path = Path(run["base"])
    if not base_path.is_file():
        raise KollamaError(f"the base model {base_path} of this run is gone", hint="restore the file and export again")
    info = read_gguf_info(base_path)
    if info.architecture not in EXPORTABLE:
        raise KollamaError(f"architecture '{info.architecture}' cannot be exported",
                           hint=f"supported: {', '.join(sorted(EXPORTABLE))}")
    heads = {"n_head": info.n_head, "n_head_kv": info.n_head_kv}
    adapters = [Path(a) for a in run["adapters"]]
    deltas = [d for a in adapters for d in read_adapter(a, info.architecture, info.n_layers, heads)]
    if adapter_only:
        if len(adapters) != 1:
            raise KollamaError("this run stacks several adapters (SFT then DPO); an adapter file holds one",
                               hint="export the merged model instead (drop --adapter-only)")
        config = json.loads((adapters[0] / "adapter_config.json").read_text())
        r, alpha = config["r"], config["lora_alpha"]
        write_adapter(base_path, deltas, out, alpha * math.sqrt(r) if config.get("use_rslora") else alpha)
    else:
        write_merged(base_path, deltas, out, quant, progress)
    encoder = ChatEncoder(base_path)
    _, stops = encoder.render_with_stops([{"role": "user", "content": "x"}])
    modelfile = out.with_suffix(".Modelfile")
    modelfile.write_text(modelfile_text(out.name, base_path.resolve() if adapter_only else None, stops,
                                        plain=not encoder.has_template), encoding="utf-8")
    return {"gguf": str(out), "bytes": out.stat().st_size, "quant": None if adapter_only else quant,
            "adapter_only": adapter_only, "modelfile": str(modelfile), "base": str(base_path)}
