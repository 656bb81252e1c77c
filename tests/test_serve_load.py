"""A bounded load test on loopback: 32 concurrent clients, 200 requests. The server answers or sheds
with 429 + Retry-After, never crashes, and its memory stays flat."""

from __future__ import annotations

import threading
from collections import Counter

import httpx
import psutil
import pytest
from serve_server import Server

pytestmark = pytest.mark.slow  # starts kollama serve

CLIENTS, REQUESTS = 32, 200


def test_32_clients_200_requests(tmp_path):
    statuses: Counter[int] = Counter()
    retry_after: list[int] = []
    bad: list[str] = []
    counter = iter(range(REQUESTS))
    lock = threading.Lock()

    def client(url: str) -> None:
        with httpx.Client(base_url=url, timeout=600) as http:
            while True:
                with lock:
                    n = next(counter, None)
                if n is None:
                    return
                if n % 3 == 0:
                    r = http.post("/api/chat", json={"model": "smollm2", "stream": n % 2 == 0, "options": {
                        "num_predict": 3, "lock": "strict"}, "messages": [{"role": "user", "content": f"질문 {n}"}]})
                else:
                    r = http.post("/v1/chat/completions", json={"model": "smollm2", "max_tokens": 3, "stream": n % 2 == 0,
                                                                "messages": [{"role": "user", "content": f"안녕 {n}"}]})
                with lock:
                    statuses[r.status_code] += 1
                    if r.status_code == 429:
                        retry_after.append(int(r.headers["Retry-After"]))
                    elif r.status_code != 200 or not r.text:
                        bad.append(f"{r.status_code} {r.text[:200]}")

    def burst(url: str) -> None:
        threads = [threading.Thread(target=client, args=(url,)) for _ in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    with Server("--model", "smollm2", "--max-concurrency", "1", "--queue", "4", "--no-log",
                log=tmp_path / "load.log") as server:
        process = psutil.Process(server.process.pid)
        warm = iter(range(10))  # warm up allocators and caches before the baseline
        counter, saved = warm, counter
        burst(server.url)
        baseline = process.memory_info().rss
        counter = saved
        statuses.clear()
        burst(server.url)
        grown = process.memory_info().rss - baseline
        assert server.process.poll() is None, "the server crashed under load"
        health = server.health()
    assert not bad, bad[:3]
    assert sum(statuses.values()) == REQUESTS
    assert set(statuses) <= {200, 429} and statuses[200] >= 5 and statuses[429] >= 1, statuses
    assert min(retry_after) >= 1
    assert health["active"] == 0 and health["queued"] == 0
    assert grown < 40 * 2**20, f"memory grew {grown / 2**20:.1f} MiB over {REQUESTS} requests"
