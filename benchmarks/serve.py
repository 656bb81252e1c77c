"""Serving throughput: `kollama serve` (lock on) against `python -m llama_cpp.server`, same model and settings.

Short chat completions at 1, 4 and 16 concurrent clients; requests per second and p50/p95 latency,
and the ratios kollama / llama_cpp.server, in one run. Two workloads: `repeated` (4 questions asked
over and over, as an FAQ bot sees) and `distinct` (every question different; only the chat template
is shared), so the gain from kollama's per-slot prompt cache and from batched decoding show apart. Both servers get the same GGUF, context size,
thread count, prompt, max_tokens, temperature and seed; kollama runs with the `script` lock.
Targets: >= 1.0x throughput at 1 client; >= 2x at 16 clients with no worse p95.

Structured outputs: `structured` asks both servers for a JSON-schema answer (the same schema,
in llama-cpp-python's `{"type": "json_object", "schema": ...}` spelling, which kollama also reads), kollama
with the `script` lock inside the string values; `structured-nolock` the same with kollama's lock off.
JSON-schema answers per second (`valid/s`: answers that parse and validate; one cut off by the token cap
does not), and the ratios of both. Targets: >= 1.0x at 1 client, >= 1.5x at 16.

    python benchmarks/serve.py [--model smollm2] [--requests 32] [--max-tokens 16] [--clients 1 4 16] [--rounds 2]
    python benchmarks/serve.py --workloads structured structured-nolock --clients 1 16 --requests 16 --rounds 1

Needs llama-cpp-python's server extras (fastapi, sse-starlette, starlette-context, pydantic-settings).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import httpx
from rich.console import Console
from rich.table import Table

os.environ.setdefault("KOLLAMA_HOME", tempfile.mkdtemp(prefix="kollama-bench-"))

from kollama.models.reference import resolve  # noqa: E402

SCHEMA = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 16},
                                       "country": {"type": "string", "maxLength": 16}},
          "required": ["city", "country"], "additionalProperties": False}
PROMPTS = ["한국의 수도는 어디인가요?", "김치는 어떻게 만드나요?", "서울의 봄 날씨를 설명해 주세요.", "한글은 누가 만들었나요?"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(command: list[str], url: str, health: str) -> subprocess.Popen:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{command[:4]} exited with {process.returncode}")
        try:
            if httpx.get(url + health, timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.kill()
    raise SystemExit(f"{command[:4]} did not start")


def prompt_for(n: int, workload: str) -> str:
    question = PROMPTS[n % len(PROMPTS)]
    if workload.startswith("structured"):
        return f"{question} 도시와 나라를 JSON으로 답하세요."
    return question if workload == "repeated" else f"질문 {n}번. {question}"


def run_load(url: str, clients: int, requests: int, body: dict, workload: str = "repeated",
             offset: int = 0) -> dict[str, float]:
    """`requests` chat completions from `clients` threads; rps over the wall time, latency percentiles."""
    latencies: list[float] = []
    tokens = 0  # completion tokens, so unequal work (one server stopping early) shows
    errors = 0
    invalid = 0  # structured answers that do not parse or match the schema
    counter = iter(range(requests))
    lock = threading.Lock()

    def client() -> None:
        nonlocal errors, tokens, invalid
        with httpx.Client(base_url=url, timeout=600) as http:
            while True:
                with lock:
                    n = next(counter, None)
                if n is None:
                    return
                payload = {**body, "messages": [{"role": "user", "content": prompt_for(offset + n, workload)}]}
                started = time.perf_counter()
                response = http.post("/v1/chat/completions", json=payload)
                elapsed = time.perf_counter() - started
                with lock:
                    if response.status_code == 200:
                        latencies.append(elapsed)
                        tokens += response.json()["usage"]["completion_tokens"]
                        if "response_format" in body:
                            invalid += not _valid(response.json()["choices"][0]["message"]["content"])
                    else:
                        errors += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    latencies.sort()
    p95 = latencies[min(len(latencies) - 1, int(round(0.95 * (len(latencies) - 1))))] if latencies else float("nan")
    return {"rps": len(latencies) / wall, "p50": statistics.median(latencies) if latencies else float("nan"),
            "p95": p95, "errors": errors, "tokens": tokens / max(1, len(latencies)), "invalid": invalid,
            "valid_rps": (len(latencies) - invalid) / wall}


def _valid(text: str | None) -> bool:
    import json

    import jsonschema

    try:
        jsonschema.validate(json.loads(text or ""), SCHEMA)
        return True
    except (ValueError, jsonschema.ValidationError):
        return False


def _workload(workload: str, args) -> dict:
    """What a workload adds to every request: a JSON schema for the structured ones (kollama's lock off in
    structured-nolock)."""
    if not workload.startswith("structured"):
        return {}
    extra = {"response_format": {"type": "json_object", "schema": SCHEMA}, "max_tokens": args.json_tokens}
    return {**extra, "lock": "off"} if workload == "structured-nolock" else extra


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--requests", type=int, default=32, help="requests per concurrency level")
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--json-tokens", type=int, default=64,
                        help="token cap of the structured workloads (Korean values take 2-3 tokens a character)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--ctx", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per level; the best counts")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--workloads", nargs="+", default=["repeated", "distinct"], choices=["repeated", "distinct", "structured", "structured-nolock"])
    args = parser.parse_args()

    path = str(resolve(args.model).path)
    body = {"model": args.model, "max_tokens": args.max_tokens, "temperature": 0.0, "seed": 7}
    env_threads = {"OMP_NUM_THREADS": str(args.threads)}
    os.environ.update(env_threads)

    llama_port, kollama_port = free_port(), free_port()
    llama_url, kollama_url = f"http://127.0.0.1:{llama_port}", f"http://127.0.0.1:{kollama_port}"
    contenders = {
        "llama_cpp.server": (
            [sys.executable, "-m", "llama_cpp.server", "--model", path, "--n_ctx", str(args.ctx), "--n_threads",
             str(args.threads), "--port", str(llama_port), "--host", "127.0.0.1"], llama_url, "/v1/models", {}),
        "kollama serve (lock script)": (
            [sys.executable, "-m", "kollama", "serve", "--model", args.model, "--ctx", str(args.ctx), "--port",
             str(kollama_port), "--max-concurrency", str(max(args.clients)), "--queue", str(4 * max(args.clients)),
             "--lock", "script", "--no-log"], kollama_url, "/health", {"lock": "script"}),
    }
    results: dict[tuple[str, str], dict[int, dict[str, float]]] = {}
    console = Console()
    # both servers run at once and take turns per level and round (the order alternates), and each
    # keeps its best round: on a shared machine this cancels most of the background-load noise
    processes = [start(command, url, health) for command, url, health, _ in contenders.values()]
    asked = 0  # distinct questions are never repeated, across levels and rounds
    try:
        for name, (_, url, _, extra) in contenders.items():
            run_load(url, 1, 2, {**body, **extra})  # warm-up: first request pays one-time costs
        for workload in args.workloads:
            for clients in args.clients:
                for round_ in range(args.rounds):
                    order = list(contenders.items())
                    for name, (_, url, _, extra) in (order if round_ % 2 == 0 else order[::-1]):
                        console.print(f"[dim]{workload}: {name}: {clients} clients x {args.requests} requests "
                                      f"(round {round_ + 1})[/dim]")
                        r = run_load(url, clients, args.requests, {**body, **extra, **_workload(workload, args)},
                                     workload, asked)
                        asked += args.requests
                        best = results.setdefault((workload, name), {})
                        if clients not in best or r["rps"] > best[clients]["rps"]:
                            best[clients] = r
    finally:
        for process in processes:
            process.terminate()
            process.wait(30)

    base, ours = list(contenders)
    for workload in args.workloads:
        cap = args.json_tokens if workload.startswith("structured") else args.max_tokens
        table = Table(title=f"{workload} questions: {args.model}, at most {cap} tokens per answer, "
                            f"{args.requests} requests per level, {args.threads} threads")
        for column in ("clients", "server", "req/s", "valid/s", "p50 s", "p95 s", "tokens/answer", "errors",
                       "invalid JSON"):
            table.add_column(column)
        for clients in args.clients:
            for name in (base, ours):
                r = results[(workload, name)][clients]
                table.add_row(str(clients), name, f"{r['rps']:.2f}", f"{r['valid_rps']:.2f}", f"{r['p50']:.2f}",
                              f"{r['p95']:.2f}", f"{r['tokens']:.1f}", str(r["errors"]), str(r["invalid"]))
            a, b = results[(workload, base)][clients], results[(workload, ours)][clients]
            valid = f"{b['valid_rps'] / a['valid_rps']:.2f}x" if a["valid_rps"] else "-"
            table.add_row("", "[bold]ratio kollama / llama_cpp.server[/bold]", f"[bold]{b['rps'] / a['rps']:.2f}x[/bold]",
                          f"[bold]{valid}[/bold]", f"{b['p50'] / a['p50']:.2f}x", f"{b['p95'] / a['p95']:.2f}x", "", "",
                          "")
        console.print(table)
        unequal = [c for c in args.clients if abs(results[(workload, base)][c]["tokens"] - results[(workload, ours)][c]["tokens"])
                   > 0.2 * max(1.0, results[(workload, ours)][c]["tokens"])]
        if unequal:
            console.print(f"[red]the servers generated different amounts of text at {unequal} clients "
                          "(one stops early, e.g. a chat template ending the turn at once): the ratios compare unequal work[/red]")
    from results import record

    record("serve", "requests/s, kollama / llama_cpp.server: " + "; ".join(
        f"{workload}: " + ", ".join(f"{c} client{'s' if c > 1 else ''} "
                                    f"{results[(workload, ours)][c]['rps'] / results[(workload, base)][c]['rps']:.2f}x"
                                    for c in args.clients) for workload in args.workloads))


if __name__ == "__main__":
    main()
