"""What `kollama eval` is asked to do: one validated dataclass with its defaults written once (the CLI's flags
read them; `kollama tune report` and the benchmarks build it directly). Light: the CLI imports it at start."""

from __future__ import annotations

from dataclasses import dataclass

from kollama.errors import KollamaError


@dataclass
class EvalOptions:
    model: str
    tasks: list[str]
    data: str | dict[str, str] | None = None  # one path for every task, or task name -> path
    split: str | None = None
    limit: int | None = None
    num_fewshot: int = 0
    ctx: int | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.num_fewshot < 0 or (self.limit is not None and self.limit < 1):
            raise KollamaError("--num-fewshot must be >= 0 and --limit >= 1")
