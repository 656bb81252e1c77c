"""Which engine serves a model kind: kollama's own backends in BACKENDS, third-party ones through entry points.

A built-in backend's module is imported only when a model of its kind is loaded, so `kollama` starts
without llama-cpp-python or the OpenAI client. A package adds a backend the way `llm` plugins do, with an
entry point in the `kollama.engines` group (`models.reference.ENGINE_ENTRY_POINTS`):

    [project.entry-points."kollama.engines"]
    mykind = "my_package.engine:MyEngine"

Its name is the model kind (`kollama run mykind:NAME` reaches it), its value a callable taking
`(ref, **options)` (options: `n_ctx`, `parallel`, `exact`, each possibly None) and returning an `Engine`.
Built-in kinds cannot be taken over.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kollama.engines.base import Engine
from kollama.errors import KollamaError
from kollama.models.reference import ENGINE_ENTRY_POINTS, ModelRef
from kollama.plugins import Registry

EngineLoader = Callable[..., Engine]


def _llamacpp(ref: ModelRef, n_ctx: int | None = None, parallel: int | None = None,
              exact: bool | None = None) -> Engine:
    from kollama.engines.llamacpp import LlamaCppEngine

    return LlamaCppEngine(ref, n_ctx=n_ctx, parallel=parallel or 1, exact=exact if exact is not None else not parallel)


def _openai(ref: ModelRef, **options: Any) -> Engine:
    from kollama.engines.openai_http import OpenAIEngine

    return OpenAIEngine(ref)


def _ollama(ref: ModelRef, **options: Any) -> Engine:
    from kollama.engines.ollama_http import OllamaEngine

    return OllamaEngine(ref)


#: kollama's own backends, by the ModelRef kind each serves
BACKENDS: dict[str, EngineLoader] = {"gguf": _llamacpp, "openai": _openai, "ollama-server": _ollama}


ENGINES: Registry[Engine] = Registry(ENGINE_ENTRY_POINTS, BACKENDS)


def loader_for(kind: str) -> EngineLoader:
    """The loader of `kind`'s engine: built-in first, then the installed `kollama.engines` entry points."""
    loader = ENGINES.factory(kind)
    if loader is None:
        raise KollamaError(f"no engine serves model kind '{kind}'",
                           hint=f"known kinds: {', '.join(ENGINES.names())}; install the package that provides it")
    return loader


def load_engine(ref: ModelRef, n_ctx: int | None = None, parallel: int | None = None,
                exact: bool | None = None) -> Engine:
    """The engine for a resolved reference, from its kind's loader."""
    engine = loader_for(ref.kind)(ref, n_ctx=n_ctx, parallel=parallel, exact=exact)
    if not isinstance(engine, Engine):
        raise KollamaError(f"the engine for model kind '{ref.kind}' is not a kollama Engine "
                           f"(got {type(engine).__name__})", hint="its loader must return an Engine subclass")
    return engine
