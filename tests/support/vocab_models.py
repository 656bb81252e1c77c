"""Tiny models with real tokenizers: llama.cpp's vocab-only GGUFs turned into loadable 2-layer models.

llama-cpp-python's source distribution ships the vocabularies of real model families
(`vendor/llama.cpp/models/ggml-vocab-*.gguf`: Llama 3, Llama 2, Qwen2, Gemma 4, Command-R, ...) and
real chat templates (`vendor/llama.cpp/models/templates/*.jinja`), but no weights. This module
downloads that archive once (`pip download --no-deps --no-binary :all: llama-cpp-python==<the
installed version>`) into a cache folder outside the repository, and writes llama-architecture GGUFs
with random weights and the real tokenizer (every `tokenizer.ggml.*` key copied unchanged).

Random weights sample from the whole vocabulary, which is the hardest case for the language lock:
every odd byte token, every foreign script, every half of a UTF-8 character gets its turn.

    from support.vocab_models import vocab_model
    path = vocab_model("llama-bpe", template="meta-llama-Llama-3.2-3B-Instruct")

The cache folder is `$KOLLAMA_TEST_CACHE`, default `~/.cache/kollama-tests`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from importlib import metadata
from pathlib import Path

import numpy as np

CACHE = Path(os.environ.get("KOLLAMA_TEST_CACHE", Path.home() / ".cache" / "kollama-tests"))
FORMAT = 1  # bump when the written models change, so stale cached files are rebuilt

# Vocabularies the suite uses: llama.cpp's file stem -> what it is.
VOCABULARIES = {
    "llama-bpe": "Llama 3 (byte-level BPE, 128k)",
    "llama-spm": "Llama 2 (SentencePiece with byte fallback, 32k)",
    "qwen2": "Qwen2 (byte-level BPE, 151k)",
    "gemma-4": "Gemma 4 (262k)",
    "command-r": "Command-R (byte-level BPE, 256k)",
    "phi-3": "Phi-3 (SentencePiece, 32k)",
}


class FixtureUnavailable(RuntimeError):
    """The source archive could not be fetched or does not hold the file asked for."""


def llama_cpp_version() -> str:
    return metadata.version("llama-cpp-python")


def _sdist_dir() -> Path:
    """The extracted models/ folder of the installed llama-cpp-python's source archive (fetched once)."""
    version = llama_cpp_version()
    root = CACHE / f"llama-cpp-python-{version}"
    models = root / "models"
    if (models / ".complete").exists():
        return models
    archive_dir = CACHE / "sdist"
    archive_dir.mkdir(parents=True, exist_ok=True)
    archives = sorted(archive_dir.glob(f"llama_cpp_python-{version}.tar.gz"))
    if not archives:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-q",
             f"llama-cpp-python=={version}", "-d", str(archive_dir)],
            capture_output=True, text=True,
        )
        archives = sorted(archive_dir.glob(f"llama_cpp_python-{version}.tar.gz"))
        if done.returncode != 0 or not archives:
            raise FixtureUnavailable(f"could not download the llama-cpp-python {version} source archive: "
                                     f"{done.stderr.strip()[-400:]}")
    models.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archives[0]) as tar:
        for member in tar.getmembers():
            parts = member.name.split("/")
            if "models" not in parts or not member.isfile():
                continue
            rel = parts[parts.index("models") + 1:]
            wanted = (len(rel) == 1 and rel[0].startswith("ggml-vocab-") and rel[0].endswith(".gguf")) or (
                len(rel) == 2 and rel[0] == "templates" and rel[1].endswith(".jinja"))
            if not wanted or "vendor/llama.cpp/models" not in member.name:
                continue
            target = models.joinpath(*rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            assert source is not None
            target.write_bytes(source.read())
    (models / ".complete").touch()
    return models


def vocab_only(name: str) -> Path:
    """llama.cpp's vocab-only GGUF for `name` (e.g. 'llama-bpe')."""
    path = _sdist_dir() / f"ggml-vocab-{name}.gguf"
    if not path.exists():
        raise FixtureUnavailable(f"no ggml-vocab-{name}.gguf in llama-cpp-python {llama_cpp_version()}")
    return path


def chat_template(name: str) -> str:
    """A real chat template from llama.cpp's models/templates (e.g. 'meta-llama-Llama-3.2-3B-Instruct')."""
    path = _sdist_dir() / "templates" / f"{name}.jinja"
    if not path.exists():
        raise FixtureUnavailable(f"no template {name}.jinja in llama-cpp-python {llama_cpp_version()}")
    return path.read_text(encoding="utf-8")


def _copy_field(writer, field) -> None:
    """Copy one metadata key exactly (strings as raw bytes: token texts need not be valid UTF-8)."""
    from gguf import GGUFValueType

    vtype = GGUFValueType(int(field.types[0]))
    if vtype == GGUFValueType.ARRAY:
        sub = GGUFValueType(int(field.types[-1]))
        if sub == GGUFValueType.STRING:
            values = [bytes(field.parts[i]) for i in field.data]
        else:
            values = [field.parts[i][0].item() for i in field.data]
        writer.add_key_value(field.name, values, vtype, sub_type=sub)
    elif vtype == GGUFValueType.STRING:
        writer.add_key_value(field.name, bytes(field.parts[field.data[0]]), vtype)
    else:
        writer.add_key_value(field.name, field.parts[field.data[0]][0].item(), vtype)


def vocab_model(name: str, template: str | None = None, n_embd: int = 64, n_layer: int = 2, n_head: int = 4,
                n_ff: int = 128, n_ctx: int = 2048, logit_scale: float = 2.0, seed: int = 0) -> Path:
    """A loadable 2-layer llama GGUF with random weights and the tokenizer of `ggml-vocab-<name>.gguf`.

    `template`: a file stem under models/templates whose text becomes `tokenizer.chat_template`.
    `logit_scale`: standard deviation of the output logits, so sampling is random but not flat.
    Written once into the cache folder and reused.
    """
    from gguf import GGUFReader, GGUFWriter

    source = vocab_only(name)
    tag = f"{name}-{template or 'notemplate'}-e{n_embd}l{n_layer}h{n_head}f{n_ff}c{n_ctx}s{logit_scale}r{seed}"
    out = CACHE / "models" / f"v{FORMAT}-{llama_cpp_version()}" / f"{tag}.gguf"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    reader = GGUFReader(str(source))
    tokens = reader.fields["tokenizer.ggml.tokens"]
    n_vocab = len(tokens.data)
    tmp = out.with_suffix(".tmp")
    writer = GGUFWriter(str(tmp), "llama")
    writer.add_name(f"kollama test model ({name} vocabulary)")
    writer.add_context_length(n_ctx)
    writer.add_embedding_length(n_embd)
    writer.add_block_count(n_layer)
    writer.add_feed_forward_length(n_ff)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head)
    writer.add_rope_dimension_count(n_embd // n_head)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(n_vocab)
    writer.add_file_type(1)  # mostly F16
    for field in reader.fields.values():
        if field.name.startswith("tokenizer.") and field.name != "tokenizer.chat_template":
            _copy_field(writer, field)
    if template is not None:
        writer.add_chat_template(chat_template(template))
    elif "tokenizer.chat_template" in reader.fields:
        _copy_field(writer, reader.fields["tokenizer.chat_template"])

    rng = np.random.default_rng(seed)

    def matrix(rows: int, cols: int, std: float) -> np.ndarray:
        return (rng.standard_normal((rows, cols), dtype=np.float32) * std).astype(np.float16)

    # The output layer is tied to the token embeddings (llama.cpp's fallback when output.weight is absent):
    # after the final RMS norm the hidden state has unit scale, so std logit_scale/sqrt(n_embd) gives logits
    # of standard deviation about logit_scale.
    writer.add_tensor("token_embd.weight", matrix(n_vocab, n_embd, logit_scale / np.sqrt(n_embd)))
    writer.add_tensor("output_norm.weight", np.ones(n_embd, dtype=np.float32))
    for layer in range(n_layer):
        prefix = f"blk.{layer}."
        writer.add_tensor(prefix + "attn_norm.weight", np.ones(n_embd, dtype=np.float32))
        for part in ("attn_q", "attn_k", "attn_v", "attn_output"):
            writer.add_tensor(prefix + part + ".weight", matrix(n_embd, n_embd, 0.2))
        writer.add_tensor(prefix + "ffn_norm.weight", np.ones(n_embd, dtype=np.float32))
        writer.add_tensor(prefix + "ffn_gate.weight", matrix(n_ff, n_embd, 0.2))
        writer.add_tensor(prefix + "ffn_up.weight", matrix(n_ff, n_embd, 0.2))
        writer.add_tensor(prefix + "ffn_down.weight", matrix(n_embd, n_ff, 0.2))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.replace(out)
    return out
