"""What `kollama fidelity` (one text or a JSONL file) and POST /v1/fidelity are asked to do, with the defaults
written once. A module of its own, with nothing heavy imported, so the CLI's flags and the server's request
schema read these defaults at start without loading the judge."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class BatchOptions:
    field: str = "completion"  # the field of each JSONL line holding the answer
    prompt_field: str | None = None
    group_by: str | None = None
    lang: str = "ko"  # the expected language (or auto: the one each prompt asks for)
    jobs: int = 1  # worker processes; a file of one chunk or less is judged in this process
