"""A concurrency limit with a bounded queue: past both, a request is shed at once with 429 + Retry-After
instead of piling up until the machine runs out of memory."""

from __future__ import annotations

import asyncio
import math

from kollama.serve.errors import ApiError


class Limiter:
    def __init__(self, concurrency: int, queue: int):
        self.concurrency = concurrency
        self.queue = queue
        self.active = 0
        self.waiting = 0
        self._slots: asyncio.Semaphore | None = None
        self._mean_seconds = 1.0

    def _semaphore(self) -> asyncio.Semaphore:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.concurrency)
        return self._slots

    def retry_after(self) -> int:
        """Seconds until a slot is likely free: queued work divided by parallel slots."""
        backlog = self.waiting + self.active
        return max(1, math.ceil(self._mean_seconds * backlog / self.concurrency))

    async def acquire(self) -> None:
        if self.active + self.waiting >= self.concurrency + self.queue:
            seconds = self.retry_after()
            raise ApiError(429, f"server busy: {self.active} requests running, {self.waiting} queued; "
                                f"retry in {seconds} s", code="too_many_requests",
                           headers={"Retry-After": str(seconds)})
        self.waiting += 1
        try:
            await self._semaphore().acquire()
        finally:
            self.waiting -= 1
        self.active += 1

    def release(self, seconds: float | None = None) -> None:
        self.active -= 1
        self._semaphore().release()
        if seconds is not None:
            self._mean_seconds = 0.8 * self._mean_seconds + 0.2 * seconds

    def stats(self) -> dict[str, int]:
        return {"active": self.active, "queued": self.waiting, "max_concurrency": self.concurrency, "max_queue": self.queue}
