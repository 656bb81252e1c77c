"""Where each benchmark leaves its current figure: `benchmarks/results/NAME.json`, one file per benchmark,
replaced by every run. `benchmarks/report.py` renders docs/benchmarks.md from these files (`make bench-report`),
so the page is never typed by hand.

    from results import record
    record("generation", "smollm2 1.02x, gemma3 0.98x", command="benchmarks/generation.py --rounds 3")
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> str:
    """The CPU model and the cores this process may use, e.g. `Intel Xeon ... , 2 cores`."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{model}, {cores} cores"


def load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def record(name: str, figure: str, command: str | None = None, load_before: str | None = None,
           load_during: str | None = None, **details: object) -> Path:
    """Write the current figure of benchmark `name`: `figure` is the one line docs/benchmarks.md shows.
    `command` defaults to the command line that ran the script; `load_during` replaces the load averages read
    now (for figures put together from parts measured apart); `details` are kept in the JSON."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    if command is None:
        command = " ".join(["python", f"benchmarks/{Path(sys.argv[0]).name}", *sys.argv[1:]])
    data = {"benchmark": name, "figure": figure, "command": command, "machine": machine(),
            "load": load_during or (f"{load_before} before, {load()} after" if load_before else load()),
            "date": time.strftime("%Y-%m-%d", time.gmtime()), "details": details}
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"recorded in {path.relative_to(RESULTS.parent.parent)}; `make bench-report` renders docs/benchmarks.md")
    return path
