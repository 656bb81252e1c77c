"""Progress where standard error is not a terminal (CI logs, `make compare | tee`): plain lines, at most
every PLAIN_SECONDS while work advances, none for work shorter than that."""

from __future__ import annotations

import io
import time
from types import SimpleNamespace

from rich.console import Console

from kollama import console as kconsole
from kollama.console import ProgressBar


def _pipe() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=False, width=200), buffer


def test_a_bar_on_a_pipe_prints_plain_progress_lines(monkeypatch) -> None:
    monkeypatch.setattr(kconsole, "PLAIN_SECONDS", 0.0)
    pipe, buffer = _pipe()
    with ProgressBar("naturalness (gemma3)", console=pipe) as bar:
        task = bar.add_task("gemma3", total=4)
        for _ in range(4):
            bar.advance(task)
    lines = buffer.getvalue().splitlines()
    assert lines, "nothing printed on a pipe"
    assert lines[-1].startswith("naturalness (gemma3): 4/4 (100%) 0:00 elapsed")
    assert all("\x1b" not in line and "\r" not in line for line in lines)  # no terminal control codes


def test_quick_work_on_a_pipe_prints_nothing() -> None:
    pipe, buffer = _pipe()
    with ProgressBar("files", console=pipe) as bar:
        task = bar.add_task("files", total=3)
        for _ in range(3):
            bar.advance(task)
    assert buffer.getvalue() == ""


def test_lines_come_at_most_every_plain_seconds(monkeypatch) -> None:
    """On a clock the test moves, so a loaded machine cannot make 1000 quick advances look slow."""
    now = [100.0]
    monkeypatch.setattr(kconsole, "time", SimpleNamespace(monotonic=lambda: now[0]))
    monkeypatch.setattr(kconsole, "PLAIN_SECONDS", 0.5)
    pipe, buffer = _pipe()
    with ProgressBar(console=pipe) as bar:
        task = bar.add_task("smollm2 · off · capital", total=1000)
        for _ in range(1000):
            bar.advance(task)
            now[0] += 0.0001  # 0.1 s in all: no line yet
        assert buffer.getvalue() == ""
        now[0] += 0.8
        bar.redraw()  # what the heartbeat does when it wakes
    lines = buffer.getvalue().splitlines()
    assert lines[0].startswith("smollm2 · off · capital: 1000/1000 (100%)")
    assert len(lines) == 1  # a finished task is reported once


def test_a_bar_waiting_for_its_first_item_still_prints(monkeypatch) -> None:
    """A model loading or a long first batch: lines keep coming while nothing advances."""
    monkeypatch.setattr(kconsole, "PLAIN_SECONDS", 0.1)
    pipe, buffer = _pipe()
    with ProgressBar("compare", console=pipe) as bar:
        bar.add_task("compare", total=5)
        deadline = time.monotonic() + 30  # a bound for a loaded machine: two lines come after 0.2 s on a quiet one
        while len(buffer.getvalue().splitlines()) < 2:
            assert time.monotonic() < deadline, "no second line while nothing advanced"
            time.sleep(0.05)
    assert all(line.startswith("compare: 0/5 (0%)") for line in buffer.getvalue().splitlines())


def test_a_disabled_bar_prints_nothing_anywhere(monkeypatch) -> None:
    monkeypatch.setattr(kconsole, "PLAIN_SECONDS", 0.0)
    pipe, buffer = _pipe()
    with ProgressBar("pairs", console=pipe, enabled=False) as bar:
        task = bar.add_task("pairs", total=2)
        bar.advance(task, 2)
    assert buffer.getvalue() == ""
