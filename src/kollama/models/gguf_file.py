"""Read a GGUF file's metadata and tensor table without touching the weights.

`gguf.GGUFReader` materialises every vocabulary string as a numpy view (9 s for Gemma's
262k tokens); this reader seeks past large arrays and keeps the scalars, which is all
`kollama models` and the validity checks need. Types and sizes come from the `gguf` package.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType, LlamaFileType

from kollama.errors import KollamaError

_SCALARS = {
    GGUFValueType.UINT8: "<B", GGUFValueType.INT8: "<b", GGUFValueType.UINT16: "<H",
    GGUFValueType.INT16: "<h", GGUFValueType.UINT32: "<I", GGUFValueType.INT32: "<i",
    GGUFValueType.FLOAT32: "<f", GGUFValueType.BOOL: "<?", GGUFValueType.UINT64: "<Q",
    GGUFValueType.INT64: "<q", GGUFValueType.FLOAT64: "<d",
}
_KEEP_ARRAY_ITEMS = 64  # longer arrays (vocabularies, merges) are counted, not kept


class CorruptModel(KollamaError):
    pass


@dataclass
class GGUFInfo:
    path: str
    architecture: str
    name: str
    parameters: int
    quantization: str
    file_size: int
    context_length: int
    vocab_size: int
    has_chat_template: bool
    n_layers: int
    n_embd: int
    n_head: int
    n_head_kv: int
    head_dim_k: int
    head_dim_v: int
    bos_token_id: int | None
    add_bos_token: bool
    general_type: str
    metadata: dict[str, Any] = field(default_factory=dict, repr=False)

    def memory_bytes(self, n_ctx: int | None = None) -> int:
        """Weights plus an f16 KV cache at `n_ctx` (default: the model's own context length)."""
        n_ctx = n_ctx or self.context_length
        kv = self.n_layers * n_ctx * self.n_head_kv * (self.head_dim_k + self.head_dim_v) * 2
        return self.file_size + kv

    def summary(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("metadata")
        out["memory_bytes"] = self.memory_bytes()
        return out


class _Reader:
    def __init__(self, handle: BinaryIO, path: Path):
        self.f = handle
        self.path = path

    def read(self, n: int) -> bytes:
        data = self.f.read(n)
        if len(data) != n:
            raise CorruptModel(f"{self.path} is truncated (header ends early)", hint="download the file again")
        return data

    def scalar(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        length = self.scalar("<Q")
        if length > 1 << 30:
            raise CorruptModel(f"{self.path} is corrupt (string of {length} bytes in header)", hint="download the file again")
        return self.read(length).decode("utf-8", errors="replace")

    def value(self, vtype: int) -> Any:
        vtype = GGUFValueType(vtype)
        if vtype == GGUFValueType.STRING:
            return self.string()
        if vtype == GGUFValueType.ARRAY:
            item_type = GGUFValueType(self.scalar("<I"))
            count = self.scalar("<Q")
            if count <= _KEEP_ARRAY_ITEMS:
                return [self.value(item_type) for _ in range(count)]
            if item_type == GGUFValueType.STRING:
                for _ in range(count):
                    self.f.seek(self.scalar("<Q"), os.SEEK_CUR)
            else:
                self.f.seek(struct.calcsize(_SCALARS[item_type]) * count, os.SEEK_CUR)
            return {"array_length": count}
        return self.scalar(_SCALARS[vtype])


def _read(path: Path) -> tuple[dict[str, Any], int, int]:
    """Metadata, parameter count, and the byte offset where tensor data must end."""
    with open(path, "rb") as handle:
        r = _Reader(handle, path)
        if r.read(4) != b"GGUF":
            raise CorruptModel(f"{path} is not a GGUF file (bad magic bytes)", hint="pass a .gguf model file")
        version = r.scalar("<I")
        if version not in (2, 3):
            raise CorruptModel(f"{path} has unsupported GGUF version {version}")
        n_tensors, n_kv = r.scalar("<Q"), r.scalar("<Q")
        meta: dict[str, Any] = {}
        try:
            for _ in range(n_kv):
                key = r.string()
                meta[key] = r.value(r.scalar("<I"))
        except ValueError as exc:  # unknown value type enum
            raise CorruptModel(f"{path} is corrupt ({exc})", hint="download the file again") from exc
        params, data_end = 0, 0
        for _ in range(n_tensors):
            r.string()
            n_dims = r.scalar("<I")
            dims = [r.scalar("<Q") for _ in range(n_dims)]
            ttype = r.scalar("<I")
            offset = r.scalar("<Q")
            n = 1
            for d in dims:
                n *= d
            params += n
            try:
                block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(ttype)]
            except (ValueError, KeyError) as exc:
                raise CorruptModel(f"{path} has an unknown tensor type {ttype}") from exc
            data_end = max(data_end, offset + n // block * type_size)
        alignment = int(meta.get("general.alignment", 32))
        header_end = handle.tell()
        data_start = (header_end + alignment - 1) // alignment * alignment
    return meta, params, data_start + data_end


def _quant_name(meta: dict[str, Any]) -> str:
    file_type = meta.get("general.file_type")
    if file_type is None:
        return "unknown"
    try:
        return LlamaFileType(file_type).name.removeprefix("MOSTLY_")
    except ValueError:
        return str(file_type)


def read_gguf_info(path: str | Path) -> GGUFInfo:
    """Parse and validate a GGUF file; cached by (path, size, mtime) because it runs on every command."""
    path = Path(path)
    if not path.is_file():
        raise KollamaError(f"model file not found: {path}", hint="check the path, or run 'kollama models'")
    stat = path.stat()
    from kollama.config import subdir

    cache = subdir("cache") / "gguf-info.json"
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    cached: dict[str, Any] = {}
    if cache.exists():
        try:
            cached = json.loads(cache.read_text())
        except (OSError, json.JSONDecodeError):
            cached = {}
    if key in cached:
        return GGUFInfo(**cached[key])
    meta, params, data_end = _read(path)
    if stat.st_size < data_end:
        raise CorruptModel(
            f"{path} is truncated: {stat.st_size} bytes, tensors need {data_end}",
            hint="download the file again",
        )
    arch = str(meta.get("general.architecture", "unknown"))

    def arch_key(name: str, default: Any = 0) -> Any:
        return meta.get(f"{arch}.{name}", default)

    n_head = int(arch_key("attention.head_count", 1) or 1)
    n_embd = int(arch_key("embedding_length", 0))
    head_dim = n_embd // n_head if n_head else 0
    tokens = meta.get("tokenizer.ggml.tokens")
    vocab = int(arch_key("vocab_size", 0)) or (tokens["array_length"] if isinstance(tokens, dict) else len(tokens or []))
    bos = meta.get("tokenizer.ggml.bos_token_id")
    small_meta = {k: v for k, v in meta.items() if not isinstance(v, dict) and k != "tokenizer.chat_template"}
    info = GGUFInfo(
        path=str(path),
        architecture=arch,
        name=str(meta.get("general.name", path.stem)),
        parameters=params,
        quantization=_quant_name(meta),
        file_size=stat.st_size,
        context_length=int(arch_key("context_length", 2048)),
        vocab_size=vocab,
        has_chat_template="tokenizer.chat_template" in meta,
        n_layers=int(arch_key("block_count", 0)),
        n_embd=n_embd,
        n_head=n_head,
        n_head_kv=int(arch_key("attention.head_count_kv", n_head) or n_head),
        head_dim_k=int(arch_key("attention.key_length", head_dim)),
        head_dim_v=int(arch_key("attention.value_length", head_dim)),
        bos_token_id=int(bos) if bos is not None else None,
        add_bos_token=bool(meta.get("tokenizer.ggml.add_bos_token", True)),
        general_type=str(meta.get("general.type", "model")),
        metadata={k: v for k, v in small_meta.items() if isinstance(v, (str, int, float, bool))},
    )
    cached[key] = asdict(info)
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps(cached))
    os.replace(tmp, cache)
    return info


def chat_template(path: str | Path) -> str | None:
    """The Jinja chat template stored in the file, if any (not cached: it can be long)."""
    meta, _, _ = _read(Path(path))
    template = meta.get("tokenizer.chat_template")
    return template if isinstance(template, str) else None
