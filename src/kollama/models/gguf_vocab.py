"""Each token of a GGUF vocabulary as the bytes llama.cpp renders it, read from the file alone (no llama.cpp
context): what `kollama tune smooth` measures foreign-script risk on.
"""

from __future__ import annotations

import numpy as np

from kollama.models.gguf_file import CorruptModel, GGUFLayout

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
