"""Loading GGUF files with llama-cpp-python: whole models, or the tokenizer alone (vocab-only).

The one place that constructs `llama_cpp.Llama`; everything else asks for a `Tokenizer` or a
loaded engine.
"""

from __future__ import annotations

import contextlib
import os

from kollama.errors import KollamaError
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


def default_threads() -> int:
    """llama.cpp's threads: `KOLLAMA_THREADS`, else one per core. On a machine that other work keeps
    busy, fewer threads are faster (each of llama.cpp's many barriers per step waits for every thread
    to be scheduled; measured at load 9 on 2 cores: 1 thread 4.6-6.3 s, 2 threads 7.2-10.9 s for the
    same answer) — like llama.cpp's `-t` or Ollama's `num_thread`."""
    value = os.environ.get("KOLLAMA_THREADS", "").strip()
    if not value:
        return os.cpu_count() or 1
    if not value.isdigit() or int(value) < 1:
        raise KollamaError(f"KOLLAMA_THREADS must be a whole number of threads, 1 or more (got '{value}')",
                           hint="unset it to use one thread per core")
    return int(value)


def load_llama(path: str, n_ctx: int, **kwargs):
    """Load a GGUF with llama-cpp-python, turning its load failures into one clear line."""
    from llama_cpp import Llama

    n_threads = kwargs.pop("n_threads", None) or default_threads()
    try:
        with quiet_stderr():
            return Llama(model_path=path, n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads, verbose=False,
                         **kwargs)
    except ValueError as exc:
        raise CorruptModel(f"llama.cpp could not load {path} ({exc})",
                           hint="the file may be corrupt or its architecture unsupported by this llama.cpp") from exc


def load_vocab_only(path: str):
    """The file's tokenizer without its weights: loads in about a second even for large models."""
    return load_llama(path, n_ctx=512, vocab_only=True)
