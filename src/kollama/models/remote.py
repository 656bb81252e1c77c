"""Parse references to models served over HTTP."""

from __future__ import annotations

import os
from urllib.parse import parse_qs, urlsplit, urlunsplit

from kollama.errors import KollamaError


def parse_openai_ref(spec: str) -> tuple[str, str, str | None]:
    """`URL#MODEL[?tokenizer=REF]` -> (base URL, model name, tokenizer ref).

    The optional tokenizer names a local model with the server's vocabulary, so the
    lock can be sent as token bans instead of being enforced by retry.
    """
    if "#" not in spec:
        raise KollamaError(f"bad reference 'openai:{spec}'", hint="use openai:URL#MODEL, e.g. openai:http://127.0.0.1:8000/v1#llama")
    url, model = spec.split("#", 1)
    tokenizer = None
    if "?" in model:
        model, query = model.split("?", 1)
        tokenizer = (parse_qs(query).get("tokenizer") or [None])[0]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or not model:
        raise KollamaError(f"bad reference 'openai:{spec}'", hint="use openai:URL#MODEL with an http(s) URL")
    path = parts.path.rstrip("/")
    if not path.endswith("/v1"):
        path += "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, "", "")), model, tokenizer


def ollama_host() -> str:
    host = os.environ.get("OLLAMA_HOST", "127.0.0.1:11434")
    if not host.startswith(("http://", "https://")):
        host = "http://" + host
    return host.rstrip("/")
