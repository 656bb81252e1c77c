"""User-facing errors: one line saying what is wrong and what to do.

Raised anywhere, caught once at the CLI and server edges. Each class says how each edge reports
it: `exit_code` for the CLI, `http_status` for the server (a client's mistake is a 4xx, a backend
that is down or a model being unloaded a 5xx the client may retry).

Exit codes (README, "Exit codes"): 0 done; 1 a bad request or input; 2 a check that ran and failed
(`kollama fidelity`, `lock check`) or a command-line usage error; 3 no such model; 4 the upstream server
is down or failed; 5 the model was unloaded mid-request; 130 interrupted.
"""

from __future__ import annotations


class KollamaError(Exception):
    """A problem the user can fix (a bad request); `str()` is the full one-line message."""

    exit_code = 1
    http_status = 400

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class PromptTooLong(KollamaError):
    """The prompt does not fit the model's context: a batch measurement may skip it and say so."""


class ModelNotFound(KollamaError):
    """No such model (locally, or on the upstream server)."""

    exit_code = 3
    http_status = 404


class BackendUnavailable(KollamaError):
    """The upstream server (Ollama, vLLM, llama-server) cannot be reached or failed."""

    exit_code = 4
    http_status = 502


class ModelUnloaded(KollamaError):
    """The model was unloaded (or is being unloaded) while a request waited or ran: send it again."""

    exit_code = 5
    http_status = 503
