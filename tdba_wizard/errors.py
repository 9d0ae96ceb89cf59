"""The one error base class of the project and the process exit codes.

Every error a user may see carries a short French title and a French message that says what to
do. The CLI and the TUI show them the same way; no traceback reaches the user.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of the ordinary commands (``add``, ``remove``, ``list``, ``sandbox``...)."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    INTERRUPTED = 130


class NagiosCode(IntEnum):
    """Exit codes of ``--check``, with monitoring-plugin semantics."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


class TdbaError(Exception):
    """An error the user can act on: a French title and a French message."""

    title = "Erreur"

    def __init__(self, message: str, *, title: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if title is not None:
            self.title = title

    def __str__(self) -> str:
        return self.message


class InputError(TdbaError):
    """A value typed or passed by the user is not acceptable."""

    title = "Saisie invalide"


def exit_code_for(error: BaseException) -> int:
    """Return the exit code of a command that stopped on ``error``: the one place that maps
    errors to codes (``--check`` has its own, monitoring-plugin, codes)."""
    if isinstance(error, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    if isinstance(error, TdbaError):
        return int(getattr(error, "exit_code", ExitCode.FAILURE))
    return ExitCode.FAILURE
