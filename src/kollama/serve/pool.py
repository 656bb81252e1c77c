"""Loaded models: the ones named at start stay warm, others load on first use, and at most
`max_loaded` stay in memory (least recently used goes first, never one that is answering).

Clients may only name models the server offers (named with --model, or found locally by
`kollama models`): a request cannot make the server open an arbitrary path or URL.

One copy per model: a request's context size (Ollama's `options.num_ctx`) chooses the size only when
the model is not loaded yet, so it never loads a second copy nor evicts another model. A request's
`keep_alive` (Ollama's) says how long the model stays after it: 0 unloads it once idle, a duration
unloads it that long after its last use, negative keeps it; without one a model stays until the
least-recently-used rule needs its room.
"""

from __future__ import annotations

import asyncio
import math
import threading
from concurrent.futures import ThreadPoolExecutor
import time
from dataclasses import dataclass, field
from typing import Any

from kollama.engines import Engine, load_engine
from kollama.errors import KollamaError, ModelNotFound


@dataclass
class Offered:
    """A model clients can ask for by `name`."""

    name: str
    ref: str
    details: dict[str, Any] = field(default_factory=dict)  # GGUF summary for local files


@dataclass
class Loaded:
    offered: Offered
    engine: Engine
    n_ctx: int | None
    # one llama.cpp context is not thread-safe: without batching, generations on one model take turns,
    # always on the same OS thread (llama.cpp's OpenMP keeps a spinning thread team per calling thread; fresh
    # threads per request leave idle teams burning CPU and slow decoding several times over)
    lock: threading.Lock = field(default_factory=threading.Lock)
    worker: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="model"))
    users: int = 0
    last_used: float = field(default_factory=time.monotonic)
    loaded_at: float = field(default_factory=time.time)
    keep_alive: float = math.inf  # seconds to stay loaded after the last use
    expires: float | None = None  # wall-clock time it will be unloaded (None: not scheduled)


def _details(ref: str) -> dict[str, Any]:
    from kollama.models.gguf_file import read_gguf_info
    from kollama.models.reference import resolve

    try:
        resolved = resolve(ref)
        if resolved.path is not None:
            summary = read_gguf_info(resolved.path).summary()
            summary["path"] = str(resolved.path)
            return summary
        return {"url": resolved.url, "remote_model": resolved.name, "kind": resolved.kind}
    except KollamaError as exc:
        return {"error": str(exc)}


def offered_models(named: dict[str, str]) -> dict[str, Offered]:
    """The models named on the command line first, then every local model `kollama models` finds."""
    from kollama.models.catalog import list_local_models

    offered = {name: Offered(name, ref, _details(ref)) for name, ref in named.items()}
    for entry in list_local_models():
        ref = entry["reference"]
        if ref not in offered and "error" not in entry:
            offered[ref] = Offered(ref, ref, {k: v for k, v in entry.items() if k != "reference"})
    return offered


class ModelPool:
    def __init__(self, named: dict[str, str], max_loaded: int = 2, n_ctx: int | None = None, parallel: int = 4):
        self.named = named
        self.max_loaded = max_loaded
        self.n_ctx = n_ctx
        self.parallel = parallel
        self.offered = offered_models(named)
        self.loaded: dict[str, Loaded] = {}
        self._loading: dict[str, asyncio.Lock] = {}
        self._mutex = threading.Lock()

    def find(self, name: str) -> Offered:
        """The offered model a client means; Ollama clients add ':latest' to bare names."""
        for candidate in (name, name.removesuffix(":latest")):
            if candidate in self.offered:
                return self.offered[candidate]
        raise ModelNotFound(f"model '{name}' not found", hint=f"this server offers: {', '.join(self.offered) or 'nothing'}")

    def preload(self) -> None:
        """Load every model named on the command line now, so the first request is fast."""
        for name in self.named:
            self._load_now(self.offered[name], self.n_ctx)

    def _context_size(self, offered: Offered, n_ctx: int | None) -> int | None:
        """The server's --ctx, or a request's, never past what the model was trained for."""
        wanted = n_ctx or self.n_ctx
        trained = offered.details.get("context_length")
        return min(wanted, trained) if wanted and trained else wanted

    async def acquire(self, name: str, n_ctx: int | None = None, keep_alive: float | None = None) -> Loaded:
        """The loaded model (loading it in a worker thread if needed), marked as in use.

        `n_ctx` only matters when the model is not loaded yet; `keep_alive` (seconds, inf: forever) applies
        from the moment the model is idle again."""
        offered = self.find(name)
        lock = self._loading.setdefault(offered.name, asyncio.Lock())
        async with lock:
            with self._mutex:
                entry = self.loaded.get(offered.name)
                if entry is not None:
                    self._use(entry, keep_alive)
                    return entry
            entry = await asyncio.to_thread(self._load_now, offered, self._context_size(offered, n_ctx))
            with self._mutex:
                self._use(entry, keep_alive)
            return entry

    @staticmethod
    def _use(entry: Loaded, keep_alive: float | None) -> None:
        entry.users += 1
        entry.last_used = time.monotonic()
        entry.expires = None
        entry.keep_alive = math.inf if keep_alive is None else keep_alive  # each request sets it, as in Ollama

    def release(self, entry: Loaded) -> None:
        with self._mutex:
            entry.users -= 1
            entry.last_used = time.monotonic()
            if entry.users == 0 and math.isfinite(entry.keep_alive):
                entry.expires = time.time() + entry.keep_alive
        self.expire()
        self._evict()

    def unload(self, name: str) -> bool:
        """Unload a model now (Ollama's keep_alive 0 with nothing to answer), or once its answers end.
        False when it was not loaded."""
        offered = self.find(name)
        with self._mutex:
            entry = self.loaded.get(offered.name)
            if entry is None:
                return False
            entry.keep_alive = 0.0
            entry.expires = time.time()
        self.expire()
        return True

    def expire(self) -> None:
        """Unload idle models whose keep-alive time has passed."""
        now = time.time()
        with self._mutex:
            due = [e for e in self.loaded.values() if e.users == 0 and e.expires is not None and e.expires <= now]
            for entry in due:
                self.loaded.pop(entry.offered.name)
        self._close(due)

    def _load_now(self, offered: Offered, n_ctx: int | None) -> Loaded:
        with self._mutex:
            if offered.name in self.loaded:
                return self.loaded[offered.name]
        engine = load_engine(offered.ref, n_ctx=n_ctx, parallel=self.parallel)
        # a batching engine takes several answers at once: each has a reader thread (waiting on its
        # tokens, never calling llama.cpp); the others answer one at a time on their one thread
        readers = self.parallel if engine.concurrent else 1
        entry = Loaded(offered, engine, n_ctx, worker=ThreadPoolExecutor(readers, thread_name_prefix="model"))
        with self._mutex:
            self.loaded[offered.name] = entry
        self._evict()
        return entry

    def _evict(self) -> None:
        """Close least recently used idle models until at most max_loaded remain."""
        victims = []
        with self._mutex:
            idle = sorted((e for e in self.loaded.values() if e.users == 0), key=lambda e: e.last_used)
            while len(self.loaded) > self.max_loaded and idle:
                victim = idle.pop(0)
                self.loaded.pop(victim.offered.name)
                victims.append(victim)
        self._close(victims)

    @staticmethod
    def _close(victims: list[Loaded]) -> None:
        for victim in victims:
            with victim.lock:
                victim.engine.close()
            victim.worker.shutdown(wait=False)

    def close(self) -> None:
        with self._mutex:
            entries, self.loaded = list(self.loaded.values()), {}
        for entry in entries:
            with entry.lock:
                entry.engine.close()
            entry.worker.shutdown(wait=False)
