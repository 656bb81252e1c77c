"""The one place that prints for the CLIs: JSON on standard output, notes and progress bars on
standard error, text arguments read from standard input.

Progress bars never run rich's refresh thread: on a 2-core machine a thread waking 10 times a
second slowed llama.cpp generation by a third (measured in `compare`). A bar redraws when work
advances, at most `REDRAW_SECONDS` apart, and once more when it closes.

Where standard error is not a terminal (CI logs, `make compare | tee`), a bar prints plain lines instead:
`label: 120/528 (23%) 0:41 elapsed`, every `PLAIN_SECONDS` while it is open (a thread that wakes that
rarely costs nothing), and a last one when it closes. Work shorter than `PLAIN_SECONDS` prints nothing; the
clock starts with the bar's first task (a CLI opens its bar before the model loads).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from typing import Any

from rich.console import Console, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

from kollama.errors import KollamaError

REDRAW_SECONDS = 0.25
PLAIN_SECONDS = 10.0

stdout = Console(highlight=False)
stderr = Console(stderr=True, highlight=False)


def print_json(data: object) -> None:
    """One JSON document on standard output, Korean left readable."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()


def read_text_arg(text: str | None) -> str:
    """A TEXT argument, or standard input when it is '-' or missing."""
    if text is None or text == "-":
        if sys.stdin.isatty():
            raise KollamaError("no text given", hint="pass TEXT or pipe it in with '-'")
        return sys.stdin.read()
    return text


class ProgressBar(Progress):
    """rich's Progress on standard error, redrawn only when work advances (no refresh thread).

        with ProgressBar("files") as bar:              # rich's API: add_task / advance / update
            task = bar.add_task("files", total=len(files))
            for f in files:
                ...
                bar.advance(task)

    `report` is the core's progress callback (`kollama.progress`): pass `bar.report` where a function
    takes `progress`. `info=True` adds a free-text column (`update(task, info=...)`); `footer` renders a
    live table under the bars (compare). `enabled=False` prints nothing; on a standard error that is
    not a terminal the bar becomes plain progress lines (see the module's docstring).
    """

    def __init__(self, label: str | None = None, *, info: bool = False, remaining: bool = False,
                 transient: bool = False, enabled: bool | None = None, console: Console | None = None,
                 footer: Callable[[], RenderableType] | None = None):
        console = console or stderr
        columns = [TextColumn(f"[bold]{label}" if label else "{task.description}"), BarColumn(), MofNCompleteColumn()]
        self._label = label
        if info:
            columns.append(TextColumn("{task.fields[info]}"))
        columns.append(TimeElapsedColumn())
        if remaining:
            columns.append(TimeRemainingColumn())
        self._footer = footer
        self._info = info
        self._drawn = 0.0
        self._current = None
        self._note: str | None = None  # what `report` was last told, and how far
        self._done = 0
        self._plain = enabled is not False and not console.is_terminal
        self._plain_started = time.monotonic()
        self._plain_printed = 0.0
        self._plain_finished: set = set()  # tasks whose last line is out
        self._plain_stop = threading.Event()
        self._plain_lock = threading.Lock()
        self._plain_thread: threading.Thread | None = None
        super().__init__(*columns, console=console, auto_refresh=False, transient=transient,
                         disable=self._plain or enabled is False)

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        if self._footer is not None:
            yield self._footer()

    def __enter__(self) -> ProgressBar:
        if self._plain and self._plain_thread is None:
            self._plain_thread = threading.Thread(target=self._heartbeat, name="progress-lines", daemon=True)
            self._plain_thread.start()
        return super().__enter__()

    def _heartbeat(self) -> None:
        """Plain lines while work runs between advances (a model loading, a long first batch)."""
        while not self._plain_stop.wait(PLAIN_SECONDS / 2 or 0.01):
            self.redraw()

    def __exit__(self, *exc: object) -> None:
        self._plain_stop.set()
        if self._plain_thread is not None:
            self._plain_thread.join()
        if self._plain:
            if time.monotonic() - self._plain_started >= PLAIN_SECONDS or self._plain_printed:
                self._print_lines()
        else:
            self.refresh()
        super().__exit__(*exc)

    def add_task(self, description: str, *args, **fields):  # type: ignore[override]
        if not self.tasks:  # the plain lines' clock starts with the first work to report, not with the bar
            self._plain_started = time.monotonic()
        if self._info:
            fields.setdefault("info", "")
        task = super().add_task(description, *args, **fields)
        self.redraw(force=True)
        return task

    def advance(self, task_id, advance: float = 1) -> None:  # type: ignore[override]
        super().advance(task_id, advance)
        self.redraw()

    def update(self, task_id, *args, refresh: bool = False, **kwargs) -> None:  # type: ignore[override]
        super().update(task_id, *args, **kwargs)
        self.redraw(force=refresh)

    def report(self, done: int, total: int | None, note: str) -> None:
        """The core's `kollama.progress.Progress` callback: a new bar for each piece of work (a count that
        starts again), its description the latest `note`; with `info=True` the note fills the info column
        (a loss, what was dropped) under the bar's label instead."""
        if self._current is None or done < self._done or (not self._info and done == 0 and note != self._note):
            self._current = self.add_task(self._label or note, total=total, completed=done)
        self._note, self._done = note, done
        shown = {"info": note} if self._info else {"description": note}
        self.update(self._current, completed=done, total=total, **shown)

    def redraw(self, force: bool = False) -> None:
        now = time.monotonic()
        if self._plain:
            with self._plain_lock:
                if now - max(self._plain_printed, self._plain_started) >= PLAIN_SECONDS and self.tasks:
                    self._plain_printed = now
                    self._print_lines()
            return
        if force or now - self._drawn >= REDRAW_SECONDS:
            self._drawn = now
            self.refresh()

    def plain_lines(self) -> list[str]:
        """One line per task not yet reported finished: label, done/total, share, elapsed and (with
        `info=True`) the info field."""
        lines = []
        for task in self.tasks:
            if task.id in self._plain_finished:
                continue
            if task.finished:
                self._plain_finished.add(task.id)
            label = Text.from_markup(self._label or task.description).plain
            done = f"{task.completed:g}/{task.total:g}" if task.total else f"{task.completed:g}"
            share = f" ({task.completed / task.total:.0%})" if task.total else ""
            elapsed = int(task.elapsed or 0)
            info = f" {task.fields.get('info')}" if self._info and task.fields.get("info") else ""
            lines.append(f"{label}: {done}{share} {elapsed // 60}:{elapsed % 60:02d} elapsed{info}")
        return lines

    def _print_lines(self) -> None:
        for line in self.plain_lines():
            self.console.print(line, markup=False, highlight=False, soft_wrap=True)


class ProgressBars:
    """The core's progress callback drawn as one `ProgressBar` per piece of work (a count that starts again),
    each closed when the next begins, so each piece keeps its own clock for the plain lines.

        with ProgressBars() as progress:
            report = bake_in_report(..., progress=progress)
    """

    def __init__(self, **options: Any):
        self._options = options
        self._stack = ExitStack()  # the bar open now
        self._bar: ProgressBar | None = None
        self._task: Any = None
        self._note: str | None = None
        self._done = 0

    def __enter__(self) -> ProgressBars:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def __call__(self, done: int, total: int | None, note: str) -> None:
        if self._bar is None or done < self._done or (done == 0 and note != self._note):
            self._stack.close()
            self._bar = self._stack.enter_context(ProgressBar(note, **self._options))
            self._task = self._bar.add_task(note, total=total)
        self._note, self._done = note, done
        self._bar.update(self._task, completed=done, total=total, description=note)
