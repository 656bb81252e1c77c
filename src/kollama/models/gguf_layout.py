"""Where everything sits in a GGUF file: the key/value block, the tensor table, the tensor data.

`kollama tune smooth` rewrites one tensor and copies everything else byte for byte, so it needs
byte offsets rather than decoded values (`gguf.GGUFReader` decodes every value and takes 9 s on
Gemma's 262k-token vocabulary). Value types and tensor sizes come from the `gguf` package.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType

from kollama.models.gguf_file import CorruptModel

_SCALARS = {
    GGUFValueType.UINT8: "<B", GGUFValueType.INT8: "<b", GGUFValueType.UINT16: "<H",
    GGUFValueType.INT16: "<h", GGUFValueType.UINT32: "<I", GGUFValueType.INT32: "<i",
    GGUFValueType.FLOAT32: "<f", GGUFValueType.BOOL: "<?", GGUFValueType.UINT64: "<Q",
    GGUFValueType.INT64: "<q", GGUFValueType.FLOAT64: "<d",
}
_NUMPY = {GGUFValueType.INT32: np.int32, GGUFValueType.UINT32: np.uint32, GGUFValueType.FLOAT32: np.float32}
_KEEP_ARRAY_ITEMS = 64


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
    metadata: dict[str, Any]  # scalars, short arrays, and the long arrays asked for
    tensors: list[TensorInfo]
    alignment: int
    data_start: int

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", "unknown"))

    def tensor(self, name: str) -> TensorInfo | None:
        return next((t for t in self.tensors if t.name == name), None)


class _Cursor:
    def __init__(self, buf: mmap.mmap, path: Path):
        self.buf, self.pos, self.path = buf, 0, path

    def take(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise CorruptModel(f"{self.path} is truncated (header ends early)", hint="download the file again")
        value = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return value[0] if len(value) == 1 else value

    def raw_string(self) -> bytes:
        length = self.take("<Q")
        if length > 1 << 30 or self.pos + length > len(self.buf):
            raise CorruptModel(f"{self.path} is corrupt (string of {length} bytes in header)",
                               hint="download the file again")
        data = self.buf[self.pos:self.pos + length]
        self.pos += length
        return data

    def value(self, vtype: GGUFValueType, keep_long: bool) -> Any:
        if vtype == GGUFValueType.STRING:
            return self.raw_string().decode("utf-8", errors="replace")
        if vtype != GGUFValueType.ARRAY:
            return self.take(_SCALARS[vtype])
        item = GGUFValueType(self.take("<I"))
        count = self.take("<Q")
        if item == GGUFValueType.STRING:
            if count <= _KEEP_ARRAY_ITEMS or keep_long:
                return [self.raw_string().decode("utf-8", errors="replace") for _ in range(count)]
            for _ in range(count):
                length = self.take("<Q")
                self.pos += length
            return {"array_length": count}
        if item == GGUFValueType.ARRAY:
            raise CorruptModel(f"{self.path} nests arrays, which kollama cannot read")
        size = struct.calcsize(_SCALARS[item]) * count
        if count <= _KEEP_ARRAY_ITEMS or keep_long:
            dtype = _NUMPY.get(item)
            if dtype is not None:
                values = np.frombuffer(self.buf, dtype=dtype, count=count, offset=self.pos).copy()
            else:
                values = [struct.unpack_from(_SCALARS[item], self.buf, self.pos + i * (size // max(count, 1)))[0]
                          for i in range(count)]
            self.pos += size
            return values
        self.pos += size
        return {"array_length": count}


def read_layout(path: str | Path, arrays: tuple[str, ...] = ()) -> GGUFLayout:
    """Parse header, key/values and tensor table; long arrays are skipped unless named in `arrays`."""
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
    if size < 24 or r.buf[:4] != b"GGUF":
        raise CorruptModel(f"{path} is not a GGUF file (bad magic bytes)", hint="pass a .gguf model file")
    r.pos = 4
    version, n_tensors, n_kv = r.take("<I"), r.take("<Q"), r.take("<Q")
    if version not in (2, 3):
        raise CorruptModel(f"{path} has unsupported GGUF version {version}")
    kv_start = r.pos
    metadata: dict[str, Any] = {}
    try:
        for _ in range(n_kv):
            key = r.raw_string().decode("utf-8", errors="replace")
            metadata[key] = r.value(GGUFValueType(r.take("<I")), key in arrays)
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
        except ValueError as exc:
            raise CorruptModel(f"{path} has an unknown tensor type {kind_id}") from exc
        tensors.append(TensorInfo(name, dims, kind, int(offset)))
    alignment = int(metadata.get("general.alignment", 32))
    data_start = (r.pos + alignment - 1) // alignment * alignment
    end = max((data_start + t.offset + t.nbytes for t in tensors), default=r.pos)
    if size < end:
        raise CorruptModel(f"{path} is truncated: {size} bytes, tensors need {end}", hint="download the file again")
    return GGUFLayout(path, version, n_kv, (kv_start, kv_end), metadata, tensors, alignment, data_start)


_TOKEN_NORMAL, _TOKEN_UNKNOWN, _TOKEN_CONTROL, _TOKEN_USER_DEFINED, _TOKEN_UNUSED, _TOKEN_BYTE = 1, 2, 3, 4, 5, 6


def _gpt2_unicode_to_byte() -> dict[str, int]:
    """The inverse of GPT-2's bytes_to_unicode: byte-level BPE spells every byte as one printable character."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    table, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            table[chr(byte)] = byte
        else:
            table[chr(256 + extra)] = byte
            extra += 1
    return table


def token_bytes(layout: GGUFLayout) -> list[bytes]:
    """Each token's raw bytes as llama.cpp's `token_to_piece(special=False)` renders them (control tokens: b"").

    Needs `read_layout(path, arrays=TOKEN_ARRAYS)`. SentencePiece vocabularies ("llama") spell a space
    as U+2581 and single bytes as <0xNN>; byte-level BPE ("gpt2") maps every byte to a printable character.
    """
    tokens = layout.metadata.get("tokenizer.ggml.tokens")
    if not isinstance(tokens, list):
        raise CorruptModel(f"{layout.path} has no tokenizer.ggml.tokens (read it with arrays=TOKEN_ARRAYS)")
    types = layout.metadata.get("tokenizer.ggml.token_type")
    kinds = np.asarray(types, dtype=np.int64) if isinstance(types, (list, np.ndarray)) else np.full(len(tokens), 1)
    model = str(layout.metadata.get("tokenizer.ggml.model", "llama"))
    if model not in ("llama", "gpt2"):
        raise CorruptModel(f"{layout.path} uses a '{model}' tokenizer, which kollama cannot decode",
                           hint="SentencePiece (llama) and byte-level BPE (gpt2) vocabularies are supported")
    to_byte = _gpt2_unicode_to_byte() if model == "gpt2" else {}
    pieces: list[bytes] = []
    for text, kind in zip(tokens, kinds.tolist()):
        if kind in (_TOKEN_CONTROL, _TOKEN_UNKNOWN):
            pieces.append(b"")
        elif kind == _TOKEN_USER_DEFINED:
            pieces.append(text.encode("utf-8"))
        elif kind == _TOKEN_BYTE:
            if model == "llama" and text.startswith("<0x") and text.endswith(">"):
                pieces.append(bytes([int(text[3:-1], 16)]))
            else:
                pieces.append(bytes(to_byte.get(ch, 0) for ch in text[:1]))
        elif kind == _TOKEN_NORMAL:
            if model == "llama":
                pieces.append(text.replace("\u2581", " ").encode("utf-8"))
            else:
                pieces.append(bytes(to_byte[ch] for ch in text) if all(ch in to_byte for ch in text) else text.encode())
        else:  # unused and unknown token types are suppressed like control tokens
            pieces.append(b"")
    return pieces


TOKEN_ARRAYS = ("tokenizer.ggml.tokens", "tokenizer.ggml.token_type")
