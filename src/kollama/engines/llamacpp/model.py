"""Loading GGUF files with llama-cpp-python: whole models, or the tokenizer alone (vocab-only).

The one place that constructs `llama_cpp.Llama`; everything else asks for a `Tokenizer` or a
loaded engine.
"""

from __future__ import annotations

import contextlib
import os

from kollama.models.gguf_file import CorruptModel


@contextlib.contextmanager
def quiet_stderr():
    """llama.cpp prints load logs to fd 2 even with verbose=False; keep the terminal clean."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def load_llama(path: str, n_ctx: int, **kwargs):
    """Load a GGUF with llama-cpp-python, turning its load failures into one clear line."""
    from llama_cpp import Llama

    try:
        with quiet_stderr():
            return Llama(model_path=path, n_ctx=n_ctx, n_threads=kwargs.pop("n_threads", None) or os.cpu_count(),
                         verbose=False, **kwargs)
    except ValueError as exc:
        raise CorruptModel(f"llama.cpp could not load {path} ({exc})",
                           hint="the file may be corrupt or its architecture unsupported by this llama.cpp") from exc


def load_vocab_only(path: str):
    """The file's tokenizer without its weights: loads in about a second even for large models."""
    return load_llama(path, n_ctx=512, vocab_only=True)
