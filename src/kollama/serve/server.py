"""`kollama serve`: load the named models (the options checked themselves), run uvicorn."""

from __future__ import annotations

from rich.console import Console

from kollama.serve.options import ServeOptions

console = Console(stderr=True, highlight=False)


def serve(options: ServeOptions) -> None:
    import uvicorn

    from kollama.serve.app import create_app
    from kollama.serve.pool import ModelPool

    pool = ModelPool(options.models, max_loaded=options.max_loaded, n_ctx=options.ctx, parallel=options.decode_slots)
    app = create_app(options, pool)  # opens the RAG store first: a store another process holds fails fast
    with console.status(f"loading {', '.join(options.models) or 'no models'}..."):
        pool.preload()
    host = f"[{options.host}]" if ":" in options.host else options.host
    console.print(f"kollama serving on [bold]http://{host}:{options.port}[/bold] · models: "
                  f"{', '.join(pool.offered)} · key {'required' if options.api_key else 'off (loopback only)'} · "
                  f"concurrency {options.max_concurrency} + queue {options.queue}")
    uvicorn.run(app, host=options.host, port=options.port, log_level="warning", timeout_graceful_shutdown=5)
