"""What `kollama serve` was asked to do: one validated dataclass with its defaults written once (the CLI's
flags read them), checked before anything binds a socket."""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from kollama.errors import KollamaError
from kollama.korean.lock import parse_lock
from kollama.rag.store import DEFAULT_COLLECTION

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
MAX_N = 128  # the most --max-n allows: the request schemas' bound on `n` and `best_of`


def is_loopback(host: str) -> bool:
    """True when `host` only accepts connections from this machine."""
    host = host.strip("[]")
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_model_args(values: list[str]) -> dict[str, str]:
    """`--model smollm2` serves it as "smollm2"; `--model big=openai:URL#MODEL` routes the name "big" there."""
    named: dict[str, str] = {}
    for value in values:
        name, sep, ref = value.partition("=")
        if not sep:
            name, ref = value, value
        name, ref = name.strip(), ref.strip()
        if not name or not ref:
            raise KollamaError(f"bad --model '{value}'", hint="use REF or NAME=REF, e.g. --model big=openai:http://gpu:8000/v1#llama")
        named[name] = ref
    return named


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 11435
    models: dict[str, str] = field(default_factory=dict)  # served name -> model reference
    api_key: str | None = None
    max_concurrency: int = 4
    queue: int = 32
    max_loaded: int = 2
    max_tokens: int = 2048  # the most any request may generate
    max_body_bytes: int = 1 << 20
    max_upload_bytes: int = 50 << 20
    collection: str = DEFAULT_COLLECTION
    qdrant_url: str | None = None  # a Qdrant server or cluster for RAG instead of the embedded store
    lock: str = "script"  # for requests that do not say
    reports: list[Path] = field(default_factory=lambda: [Path("kollama-report")])  # compare report folders
    ctx: int | None = None
    parallel: int | None = None  # answers decoded together per local model (default: max_concurrency)
    max_n: int = 8  # most answers one request may ask for (`n`)
    log: bool = True
    rag: bool = True  # the /v1/rag routes and uploads
    check_rag: bool = True  # open the RAG store at start (off for apps built in-process by tests)

    @property
    def decode_slots(self) -> int:
        return self.parallel or self.max_concurrency

    def __post_init__(self) -> None:
        """Refuse settings that would expose models to the network without a key, or make no sense, before
        anything binds a socket or loads a model."""
        if self.api_key is None:
            self.api_key = os.environ.get("KOLLAMA_API_KEY") or None
        parse_lock(self.lock)
        if not 0 < self.port < 65536:
            raise KollamaError(f"--port {self.port} is not a TCP port", hint="use 1-65535")
        if self.max_concurrency < 1 or self.queue < 0 or self.max_loaded < 1 or self.max_tokens < 1:
            raise KollamaError("--max-concurrency, --max-loaded and --max-tokens must be at least 1, --queue at least 0")
        if not 1 <= self.max_n <= MAX_N:
            raise KollamaError(f"--max-n {self.max_n} is out of range", hint=f"use 1-{MAX_N}")
        if self.parallel is not None and not 1 <= self.parallel <= 64:
            raise KollamaError(f"--parallel {self.parallel} is out of range", hint="use 1-64 (default: --max-concurrency)")
        if not is_loopback(self.host) and not self.api_key:
            raise KollamaError(
                f"refusing to listen on {self.host} without an API key: anyone on the network could use the models",
                hint="pass --api-key KEY (or set KOLLAMA_API_KEY), or keep the default --host 127.0.0.1",
            )
        if self.api_key is not None and len(self.api_key) < 8:
            raise KollamaError("the API key is too short", hint="use at least 8 characters, e.g. `openssl rand -hex 16`")
        try:
            socket.getaddrinfo(self.host, self.port)
        except socket.gaierror as exc:
            raise KollamaError(f"cannot resolve --host {self.host} ({exc.strerror})") from exc
