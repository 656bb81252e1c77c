"""Run a blocking generation (llama.cpp holds the thread) in a worker thread and read it from asyncio.

The worker takes the model's lock, so generations on one model take turns; the request holds a
concurrency slot until the worker ends. Cancelling (client gone) stops at the next token and
closes the Generation, which stops llama.cpp.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable

from fastapi import Request

from kollama.engines import Engine, Generation, Response
from kollama.logs import log_response
from kollama.serve.errors import ClientGone
from kollama.serve.limiter import Limiter
from kollama.serve.pool import Loaded, ModelPool

_END = object()


class Answer:
    def __init__(self, entry: Loaded, make: Callable[[Engine], Generation], on_done: Callable[[float], None],
                 log: bool = True):
        self.entry = entry
        self.log = log
        self._make = make
        self._on_done = on_done
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue = asyncio.Queue()
        self._cancelled = threading.Event()
        self._pushed_back: list[object] = []
        self.response: Response | None = None
        self.error: BaseException | None = None
        self.finished = False

    def start(self) -> None:
        self.entry.worker.submit(self._work)

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def _put(self, item: object) -> None:
        with contextlib.suppress(RuntimeError):  # the event loop is gone: the server is stopping
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)

    def _work(self) -> None:
        started = time.perf_counter()
        try:
            exclusive = contextlib.nullcontext() if self.entry.engine.concurrent else self.entry.lock
            with exclusive:
                if self._cancelled.is_set():
                    return
                generation = self._make(self.entry.engine)
                try:
                    for piece in generation:
                        if self._cancelled.is_set():
                            break
                        self._put(piece)
                finally:
                    generation.close()
                self.response = generation.response
                if self.log and self.response is not None:  # engines never log: the server does, unless --no-log
                    log_response(self.response)
        except BaseException as exc:  # handed to the request, which turns it into a 4xx or a 500
            self.error = exc
        finally:
            self.finished = True
            self._put(_END)
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._on_done, time.perf_counter() - started)

    async def ready(self) -> None:
        """Wait for the first piece, so a bad request (prompt too long...) fails before any 200 is sent."""
        item = await self._queue.get()
        if item is _END and self.error is not None:
            raise self.error
        self._pushed_back.append(item)

    async def pieces(self) -> AsyncIterator[str]:
        while True:
            item = self._pushed_back.pop() if self._pushed_back else await self._queue.get()
            if item is _END:
                if self.error is not None:
                    raise self.error
                return
            yield item  # type: ignore[misc]

    async def collect(self, request: Request | None = None) -> Response | None:
        """The whole answer; None when the client left (then the generation was cancelled)."""
        watcher = asyncio.create_task(self._watch(request)) if request is not None else None
        try:
            async for _ in self.pieces():
                pass
        finally:
            if watcher is not None:
                watcher.cancel()
        return None if self.cancelled else self.response

    async def _watch(self, request: Request) -> None:
        while not self.finished:
            if await request.is_disconnected():
                self.cancel()
                return
            await asyncio.sleep(0.2)


async def start_answer(pool: ModelPool, limiter: Limiter, model: str, n_ctx: int | None,
                       make: Callable[[Engine], Generation], request: Request | None = None,
                       keep_alive: float | None = None, log: bool = True) -> Answer:
    """Take a concurrency slot (or 429), get the model (loading it if needed), start generating."""
    await limiter.acquire()
    try:
        if request is not None and await request.is_disconnected():
            raise ClientGone()  # waited in the queue, then left: do not generate for nobody
        entry = await pool.acquire(model, n_ctx, keep_alive)
    except BaseException:
        limiter.release()
        raise

    def done(seconds: float) -> None:
        limiter.release(seconds)

    def release_model(seconds: float) -> None:
        done(seconds)
        # closing an evicted model blocks: never on the event loop
        threading.Thread(target=pool.release, args=(entry,), daemon=True).start()

    answer = Answer(entry, make, release_model, log=log)
    answer.start()
    try:
        await answer.ready()
    except BaseException:
        answer.cancel()
        raise
    return answer


async def start_answers(pool: ModelPool, limiter: Limiter, model: str, makes: list[Callable[[Engine], Generation]],
                        request: Request | None = None, log: bool = True) -> list[Answer]:
    """Several answers to one request (n > 1, a list of prompts): one concurrency slot for the request,
    the answers started together so the batched engine decodes them side by side."""
    if len(makes) == 1:
        return [await start_answer(pool, limiter, model, None, makes[0], request, log=log)]
    await limiter.acquire()
    left = [len(makes)]
    started = time.perf_counter()

    def one_done() -> None:
        left[0] -= 1
        if left[0] == 0:
            limiter.release(time.perf_counter() - started)

    entries: list[Loaded] = []
    answers: list[Answer] = []
    try:
        if request is not None and await request.is_disconnected():
            raise ClientGone()
        for make in makes:
            entry = await pool.acquire(model)
            entries.append(entry)

            def finished(seconds: float, entry: Loaded = entry) -> None:
                one_done()
                threading.Thread(target=pool.release, args=(entry,), daemon=True).start()

            answers.append(Answer(entry, make, finished, log=log))
    except BaseException:
        for entry in entries:
            pool.release(entry)
        limiter.release()
        raise
    for answer in answers:
        answer.start()
    try:
        for answer in answers:
            await answer.ready()
    except BaseException:
        for answer in answers:
            answer.cancel()
        raise
    return answers


async def collect_all(answers: list[Answer], request: Request | None = None) -> list[Response] | None:
    """Every answer's response, in order; None (and every answer cancelled) when the client went away."""
    responses = []
    for answer in answers:
        response = await answer.collect(request)
        if response is None:
            for other in answers:
                other.cancel()
            return None
        responses.append(response)
    return responses
