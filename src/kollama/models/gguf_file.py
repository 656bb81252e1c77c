"""The one GGUF reader: header, key/values and tensor table, parsed from a memory map without touching the
weights or decoding what nobody asked for.

`gguf.GGUFReader` materialises every value as a numpy view (9 s for Gemma's 262k-token vocabulary); this
reader skips long arrays unless they are named (`arrays=`, or every one with `arrays=ALL`), so `kollama
models` and the validity checks read only scalars, `kollama tune smooth` gets byte offsets and the
vocabulary, and `kollama tune export` gets every value with its type and the tensors' bytes. Value types,
tensor types and their sizes come from the `gguf` package.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType, LlamaFileType

from kollama.errors import KollamaError

_SCALARS = {
    GGUFValueType.UINT8: "<B", GGUFValueType.INT8: "<b", GGUFValueType.UINT16: "<H",
    GGUFValueType.INT16: "<h", GGUFValueType.UINT32: "<I", GGUFValueType.INT32: "<i",
    GGUFValueType.FLOAT32: "<f", GGUFValueType.BOOL: "<?", GGUFValueType.UINT64: "<Q",
    GGUFValueType.INT64: "<q", GGUFValueType.FLOAT64: "<d",
}
_NUMPY = {GGUFValueType.INT32: np.int32, GGUFValueType.UINT32: np.uint32, GGUFValueType.FLOAT32: np.float32}
_KEEP_ARRAY_ITEMS = 64  # longer arrays (vocabularies, merges) are counted, not kept, unless asked for
ALL: Final = ("*",)  # `read_layout(path, arrays=ALL)`: keep every array


class CorruptModel(KollamaError):
    """A file that is not a whole GGUF model: the fix is another file or a fresh download."""


@dataclass(frozen=True)
class TensorInfo:
    """One tensor-table entry. `dims` are in GGML order: dims[0] is the length of a row."""

    name: str
    dims: tuple[int, ...]
    kind: GGMLQuantizationType
    offset: int  # from the start of the data section

    @property
    def row_bytes(self) -> int:
        block, size = GGML_QUANT_SIZES[self.kind]
        return self.dims[0] // block * size

    @property
    def n_rows(self) -> int:
        return int(np.prod(self.dims[1:], dtype=np.int64)) if len(self.dims) > 1 else 1

    @property
    def nbytes(self) -> int:
        return self.row_bytes * self.n_rows

    def encode(self, offset: int) -> bytes:
        """This entry as the file stores it, at a new data offset."""
        name = self.name.encode("utf-8")
        return (struct.pack("<Q", len(name)) + name + struct.pack("<I", len(self.dims))
                + struct.pack(f"<{len(self.dims)}Q", *self.dims) + struct.pack("<IQ", int(self.kind), offset))


@dataclass
class GGUFLayout:
    path: Path
    version: int
    n_kv: int
    kv_span: tuple[int, int]  # [start, end) of the key/value block in the file
    metadata: dict[str, Any]  # scalars, short arrays (lists), and the long arrays asked for
    types: dict[str, tuple[GGUFValueType, GGUFValueType | None]]  # each key's type (and an array's item type)
    tensors: list[TensorInfo]
    alignment: int
    data_start: int

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", "unknown"))

    def tensor(self, name: str) -> TensorInfo | None:
        return next((t for t in self.tensors if t.name == name), None)

    def tensor_bytes(self, tensor: TensorInfo) -> np.ndarray:
        """A tensor's stored bytes, memory-mapped read-only, shaped (..., rows, bytes per row) in numpy order:
        what `gguf.quants.dequantize` takes for every tensor type."""
        shape = (*reversed(tensor.dims[1:]), tensor.row_bytes)
        return np.memmap(self.path, dtype=np.uint8, mode="r", offset=self.data_start + tensor.offset, shape=shape)


class _Cursor:
    def __init__(self, buf: mmap.mmap, path: Path):
        self.buf, self.pos, self.path = buf, 0, path

    def take(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise self.truncated()
        value = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return value[0] if len(value) == 1 else value

    def truncated(self) -> CorruptModel:
        return CorruptModel(f"{self.path} is truncated (header ends early)", hint="download the file again")

    def raw_string(self) -> bytes:
        length = self.take("<Q")
        if length > 1 << 30:
            raise CorruptModel(f"{self.path} is corrupt (string of {length} bytes in header)",
                               hint="download the file again")
        if self.pos + length > len(self.buf):
            raise self.truncated()
        data = self.buf[self.pos:self.pos + length]
        self.pos += length
        return data

    def array_type(self) -> GGUFValueType:
        item = GGUFValueType(self.take("<I"))
        if item == GGUFValueType.ARRAY:
            raise CorruptModel(f"{self.path} nests arrays, which kollama cannot read")
        return item

    def value(self, vtype: GGUFValueType, item: GGUFValueType | None, keep_long: bool) -> Any:
        """A scalar or string; an array (after its `item` type) as a list, a long one asked for as a numpy
        array where its items are 32-bit numbers, else `{"array_length": n}`."""
        if vtype == GGUFValueType.STRING:
            return self.raw_string().decode("utf-8", errors="replace")
        if vtype != GGUFValueType.ARRAY:
            return self.take(_SCALARS[vtype])
        count = self.take("<Q")
        if item == GGUFValueType.STRING:
            if count <= _KEEP_ARRAY_ITEMS or keep_long:
                return [self.raw_string().decode("utf-8", errors="replace") for _ in range(count)]
            for _ in range(count):
                length = self.take("<Q")
                self.pos += length
            return {"array_length": count}
        width = struct.calcsize(_SCALARS[item])
        size = width * count
        if count <= _KEEP_ARRAY_ITEMS or keep_long:
            if self.pos + size > len(self.buf):
                raise self.truncated()
            dtype = _NUMPY.get(item)
            if keep_long and dtype is not None:
                values = np.frombuffer(self.buf, dtype=dtype, count=count, offset=self.pos).copy()
            else:
                values = [struct.unpack_from(_SCALARS[item], self.buf, self.pos + i * width)[0] for i in range(count)]
            self.pos += size
            return values
        self.pos += size
        return {"array_length": count}


def read_layout(path: str | Path, arrays: tuple[str, ...] = ()) -> GGUFLayout:
    """Parse header, key/values and tensor table; long arrays are skipped unless named in `arrays` (`ALL`:
    every one). Raises `CorruptModel` for anything that is not a whole GGUF file."""
    path = Path(path)
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise CorruptModel(f"cannot read {path}: {exc.strerror or exc}", hint="check the path and its permissions") from exc
    with handle:
        try:
            buf = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as exc:
            raise CorruptModel(f"{path} is empty or unreadable", hint="pass a .gguf model file") from exc
        with buf:
            return _parse(_Cursor(buf, path), path, arrays, len(buf))


def _parse(r: _Cursor, path: Path, arrays: tuple[str, ...], size: int) -> GGUFLayout:
    if r.buf[:4] != b"GGUF"[:size]:
        raise CorruptModel(f"{path} is not a GGUF file (bad magic bytes)", hint="pass a .gguf model file")
    if size < 4:
        raise r.truncated()
    r.pos = 4
    version, n_tensors, n_kv = r.take("<I"), r.take("<Q"), r.take("<Q")
    if version not in (2, 3):
        raise CorruptModel(f"{path} has unsupported GGUF version {version}")
    kv_start = r.pos
    metadata: dict[str, Any] = {}
    types: dict[str, tuple[GGUFValueType, GGUFValueType | None]] = {}
    keep_all = arrays == ALL
    try:
        for _ in range(n_kv):
            key = r.raw_string().decode("utf-8", errors="replace")
            vtype = GGUFValueType(r.take("<I"))
            item = r.array_type() if vtype == GGUFValueType.ARRAY else None
            types[key] = (vtype, item)
            metadata[key] = r.value(vtype, item, keep_all or key in arrays)
    except ValueError as exc:  # an unknown value-type number
        raise CorruptModel(f"{path} is corrupt ({exc})", hint="download the file again") from exc
    kv_end = r.pos
    tensors = []
    for _ in range(n_tensors):
        name = r.raw_string().decode("utf-8", errors="replace")
        n_dims = r.take("<I")
        if n_dims > 8:
            raise CorruptModel(f"{path} is corrupt (tensor {name} has {n_dims} dimensions)")
        dims = tuple(int(r.take("<Q")) for _ in range(n_dims))
        kind_id, offset = r.take("<I"), r.take("<Q")
        try:
            kind = GGMLQuantizationType(kind_id)
        except ValueError:
            kind = None
        if kind not in GGML_QUANT_SIZES:  # a type llama.cpp knows but no size is known for is as unreadable
            raise CorruptModel(f"{path} has an unknown tensor type {kind_id}")
        tensors.append(TensorInfo(name, dims, kind, int(offset)))
    alignment = int(metadata.get("general.alignment", 32))
    data_start = (r.pos + alignment - 1) // alignment * alignment
    end = max((data_start + t.offset + t.nbytes for t in tensors), default=r.pos)
    if size < end:
        raise CorruptModel(f"{path} is truncated: {size} bytes, tensors need {end}", hint="download the file again")
    return GGUFLayout(path, version, n_kv, (kv_start, kv_end), metadata, types, tensors, alignment, data_start)


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
    layout = read_layout(path)
    meta = layout.metadata
    params = sum(math.prod(t.dims) for t in layout.tensors)
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
    template = read_layout(path).metadata.get("tokenizer.chat_template")
    return template if isinstance(template, str) else None
