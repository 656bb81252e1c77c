"""How slow work in the core says how far it has got, without printing: the edges show it.

A core function that runs long takes a `progress: Progress = no_progress` argument and calls it as work
advances; the CLIs pass a callback that draws a bar on a terminal and plain lines elsewhere
(`kollama.console.ProgressBar.report`), other callers pass nothing and see nothing.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """`done` of `total` units (None: not known) finished so far; `note` names the work or the item under
    way. A count that starts again (0, or less than the last `done`) is the next piece of work: the edges
    draw it as a new bar."""

    def __call__(self, done: int, total: int | None, note: str) -> None: ...


def no_progress(done: int, total: int | None, note: str) -> None:
    """The default: nobody is watching."""


class Steps:
    """Turns "n more done" steps into `Progress` calls, for loops that count rather than index."""

    def __init__(self, progress: Progress, total: int | None, note: str):
        self.progress, self.total, self.note, self.done = progress, total, note, 0
        progress(0, total, note)

    def step(self, n: int = 1) -> None:
        self.done += n
        self.progress(self.done, self.total, self.note)
