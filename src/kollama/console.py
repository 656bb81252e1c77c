"""The one place that prints for the CLIs: JSON on standard output, notes and progress bars on
standard error, text arguments read from standard input.

Progress bars never run rich's refresh thread: on a 2-core machine a thread waking 10 times a
second slowed llama.cpp generation by a third (measured in `compare`). A bar redraws when work
advances, at most `REDRAW_SECONDS` apart, and once more when it closes.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable

from rich.console import Console, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from kollama.errors import KollamaError

REDRAW_SECONDS = 0.25

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

    `begin(description, total)` + `step(n)` drive one current bar (eval and score pass `bar.step` as
    a callback). `info=True` adds a free-text column (`update(task, info=...)`); `footer` renders a
    live table under the bars (compare). `enabled=False`, or a standard error that is not a
    terminal by default, draws nothing.
    """

    def __init__(self, label: str | None = None, *, info: bool = False, remaining: bool = False,
                 transient: bool = False, enabled: bool | None = None, console: Console | None = None,
                 footer: Callable[[], RenderableType] | None = None):
        console = console or stderr
        columns = [TextColumn(f"[bold]{label}" if label else "{task.description}"), BarColumn(), MofNCompleteColumn()]
        if info:
            columns.append(TextColumn("{task.fields[info]}"))
        columns.append(TimeElapsedColumn())
        if remaining:
            columns.append(TimeRemainingColumn())
        self._footer = footer
        self._info = info
        self._drawn = 0.0
        self._current = None
        super().__init__(*columns, console=console, auto_refresh=False, transient=transient,
                         disable=not (console.is_terminal if enabled is None else enabled))

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        if self._footer is not None:
            yield self._footer()

    def __exit__(self, *exc: object) -> None:
        self.refresh()
        super().__exit__(*exc)

    def add_task(self, description: str, *args, **fields):  # type: ignore[override]
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

    def begin(self, description: str, total: float | None) -> None:
        """A new current bar (under the previous ones, which stay unless transient)."""
        self._current = self.add_task(description, total=total)

    def step(self, n: float = 1) -> None:
        """Advance the current bar."""
        if self._current is not None:
            self.advance(self._current, n)

    def redraw(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._drawn >= REDRAW_SECONDS:
            self._drawn = now
            self.refresh()
