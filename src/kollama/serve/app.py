"""The FastAPI application: routes, error shapes, the guard middleware and shared state."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

from fastapi import FastAPI

from kollama import __version__
from kollama.serve.errors import install_error_handlers
from kollama.serve.guard import Guard
from kollama.serve.limiter import Limiter
from kollama.serve.options import ServeOptions, is_loopback
from kollama.serve.pool import ModelPool
from kollama.serve.state import ServerState


def create_app(options: ServeOptions, pool: ModelPool | None = None) -> FastAPI:
    """An app for these options; pass a pool to reuse models already loaded (tests, embedding)."""
    from kollama.serve import ollama_api, openai_api, web

    pool = pool or ModelPool(options.models, max_loaded=options.max_loaded, n_ctx=options.ctx,
                             parallel=options.decode_slots)
    state = ServerState(options=options, pool=pool, limiter=Limiter(options.max_concurrency, options.queue))

    async def expire_models() -> None:
        """Unload models whose keep_alive ran out, even when no request comes to notice."""
        while True:
            await asyncio.sleep(1.0)
            await asyncio.to_thread(pool.expire)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        reaper = asyncio.create_task(expire_models())
        yield
        reaper.cancel()
        pool.close()

    app = FastAPI(title="kollama", version=__version__, lifespan=lifespan,
                  description="kollama's models with the Korean language lock, over OpenAI- and Ollama-compatible HTTP.")
    app.state.kollama = state
    install_error_handlers(app)
    app.include_router(openai_api.router)
    app.include_router(ollama_api.router)
    _install_rag(app, state)
    web.install_web(app)
    app.add_middleware(Guard, api_key=options.api_key, max_body=options.max_body_bytes,
                       max_upload=options.max_upload_bytes, loopback_only=is_loopback(options.host))
    return app


def _install_rag(app: FastAPI, state: ServerState) -> None:
    """RAG routes, when the rag package is importable and the server was not told --no-rag."""
    if not state.options.rag:
        return
    try:
        from kollama.serve import rag_api
    except ImportError:
        return
    rag_api.install(app, state)
