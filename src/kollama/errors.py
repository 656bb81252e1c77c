"""User-facing errors: one line saying what is wrong and what to do.

Raised anywhere, caught once at the CLI and server edges.
"""

from __future__ import annotations


class KollamaError(Exception):
    """A problem the user can fix; `str()` is the full one-line message."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ModelNotFound(KollamaError):
    pass


class BackendUnavailable(KollamaError):
    pass
