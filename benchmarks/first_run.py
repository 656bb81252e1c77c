"""A newcomer's first `make compare`, part by part: setup (a fresh clone's `make setup`: the virtualenv,
compiling llama.cpp, installing kollama), then the comparison `make compare` runs (generation with judging,
then naturalness), each timed with the machine's load beside it.

    .venv/bin/python benchmarks/first_run.py --setup    # the setup, in a scratch virtualenv under /tmp
    .venv/bin/python benchmarks/first_run.py            # the comparison, in an empty data directory

`--setup` does what `make setup` does on a new machine (virtualenv, compiling llama.cpp's wheel with the
Makefile's flags into an empty wheel cache, installing it and kollama), in a scratch folder: nothing of this
checkout's .venv or wheel cache is touched. The comparison runs this checkout's kollama with the Makefile's
`COMPARE_ARGS`, without the answer cache. Each run keeps the other part's last figures, so the two can be
measured apart (on a shared machine, at quiet moments) and the page shows both.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from results import record  # noqa: E402

BUDGET_SECONDS = 15 * 60
RESULT = ROOT / "benchmarks" / "results" / "first-run.json"


def load1() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def compare_args() -> list[str]:
    """What `make compare` passes to `kollama compare` (the Makefile's COMPARE_ARGS)."""
    match = re.search(r"^COMPARE_ARGS \??= (.+)$", (ROOT / "Makefile").read_text(encoding="utf-8"), re.MULTILINE)
    if not match:
        raise SystemExit("no COMPARE_ARGS in the Makefile")
    return shlex.split(match.group(1))


def makefile_value(name: str) -> str:
    """A variable of the Makefile as written (`NAME ?= value`, continuation lines joined)."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8").replace("\\\n", " ")
    match = re.search(rf"^{name} \??:?= (.+)$", text, re.MULTILINE)
    if not match:
        raise SystemExit(f"no {name} in the Makefile")
    return " ".join(match.group(1).replace("$(CURDIR)", str(ROOT)).split())


def setup(work: Path) -> list[dict]:
    """What `make setup` does on a new machine, in a scratch virtualenv: create it, compile llama.cpp's wheel
    with the Makefile's flags (into an empty wheel cache), install it and kollama's core."""
    venv, python = work / "venv", work / "venv" / "bin" / "python"
    flags = makefile_value("LLAMA_CPU_FLAGS")
    env = {**os.environ, "CMAKE_ARGS": makefile_value("LLAMA_CMAKE_ARGS"), "CFLAGS": flags, "CXXFLAGS": flags}
    spec = re.search(r'"(llama-cpp-python[^"]*)"', (ROOT / "pyproject.toml").read_text(encoding="utf-8")).group(1)
    steps = [
        ("setup: virtualenv", [["python3", "-m", "venv", str(venv)],
                               [str(python), "-m", "pip", "install", "-q", "--upgrade", "pip", "setuptools", "wheel"]]),
        ("setup: compiling llama.cpp", [["bash", str(ROOT / "scripts" / "build-llama-wheel.sh"), str(python), spec,
                                        str(work / "wheels" / "key")]]),
        ("setup: installing llama-cpp-python and kollama", [
            ["bash", "-c", f"{python} -m pip install -q --no-deps {work / 'wheels' / 'key'}/llama_cpp_python-*.whl"],
            [str(python), "-m", "pip", "install", "-q", "-e", str(ROOT)]]),
    ]
    parts = []
    for label, commands in steps:
        load, start, cpu = load1(), time.perf_counter(), children_cpu()
        for command in commands:
            subprocess.run(command, check=True, env=env)
        parts.append({"part": label, "seconds": time.perf_counter() - start, "cpu_seconds": children_cpu() - cpu,
                      "load": f"{load} before, {load1()} after"})
    return parts


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def comparison(work: Path) -> list[dict]:
    out, home = work / "report", work / "home"
    load = load1()
    start, cpu = time.perf_counter(), children_cpu()
    subprocess.run([sys.executable, "-m", "kollama", "compare", *compare_args(), "--out", str(out)], check=True,
                   env={**os.environ, "KOLLAMA_HOME": str(home)})
    wall = time.perf_counter() - start
    cpu = children_cpu() - cpu
    summary = json.loads((out / "results.json").read_text(encoding="utf-8"))["summary"]
    phases = summary["phase_seconds"]
    after = load1()
    return [
        {"part": f"comparison: generation and judging ({summary['answers']} answers, {summary['failed']} failed)",
         "seconds": phases["generation"], "cpu_seconds": None, "load": f"{load} before"},
        {"part": "comparison: naturalness under " + summary["naturalness"]["reference_model"],
         "seconds": phases["naturalness"], "cpu_seconds": None, "load": f"{after} after"},
        {"part": "comparison: process start, report", "seconds": max(0.0, wall - sum(phases.values())), "cpu_seconds": None,
         "load": ""},
        {"part": "comparison: all of it", "seconds": wall, "cpu_seconds": cpu, "load": "", "aside": True},
    ]


def write(split: list[dict]) -> None:
    """Print the parts and record them; parts marked `aside` (comparisons, a second clone) are not summed."""
    for part in split:
        cpu = "" if part.get("cpu_seconds") is None else f"  (CPU {part['cpu_seconds']:.0f} s)"
        print(f"{part['seconds']:7.0f} s{cpu}  {part['part']}  (load {part['load']})")
    counted = [p for p in split if not p.get("aside")]
    seconds = {kind: sum(p["seconds"] for p in counted if p["part"].startswith(kind)) for kind in ("setup", "comparison")}
    natural = sum(p["seconds"] for p in counted if "naturalness" in p["part"])
    measured = [kind for kind in seconds if any(p["part"].startswith(kind) for p in counted)]
    total = sum(seconds.values())
    print(f"{total:7.0f} s  in all ({total / 60:.1f} min; budget {BUDGET_SECONDS / 60:.0f} min)")
    figure = (f"{total / 60:.1f} min in all: " if len(measured) == 2 else "") + "; ".join(
        f"{kind} {seconds[kind] / 60:.1f} min" + (f" (naturalness {natural / 60:.1f})" if kind == "comparison" else "")
        for kind in measured) + ("" if len(measured) == 2 else f"; {({'setup', 'comparison'} - set(measured)).pop()} "
                                 "not measured")
    cpu = {kind: sum(p.get("cpu_seconds") or 0 for p in split if p["part"].startswith(kind) or
                     (kind == "comparison" and p["part"] == "comparison: all of it")) for kind in measured}
    figure += " wall-clock at the load shown; CPU time " + ", ".join(f"{kind} {cpu[kind] / 60:.1f} min" for kind in cpu)
    loads = [float(x) for p in split for x in re.findall(r"\d+\.\d", str(p.get("load", "")))]
    record("first-run", figure, command="python benchmarks/first_run.py --setup; python benchmarks/first_run.py",
           load_during=f"{min(loads):.1f}-{max(loads):.1f} over the parts" if loads else None,
           split=split, compare_args=compare_args())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setup", action="store_true", help="time the setup in a scratch virtualenv instead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kollama-first-run-") as tmp:
        mine = setup(Path(tmp)) if args.setup else comparison(Path(tmp))
    previous = RESULT.exists() and json.loads(RESULT.read_text(encoding="utf-8"))["details"].get("split") or []
    kept = [p for p in previous if p["part"].startswith("comparison" if args.setup else "setup")]
    write([*mine, *kept] if args.setup else [*kept, *mine])


if __name__ == "__main__":
    main()
