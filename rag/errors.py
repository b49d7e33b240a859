"""Errors a user can repair with one command: the command travels as a field, not as text."""

from __future__ import annotations


class FixableError(Exception):
    """``reason`` says what is wrong, ``fix`` is the command that repairs it (or None).

    ``str(err)`` is the reason followed by "; run `fix`", as the CLI prints it;
    the UI shows ``err.reason`` and ``err.fix`` apart.
    """

    def __init__(self, reason: str, fix: str | None = None):
        self.reason = reason
        self.fix = fix
        super().__init__(f"{reason}; run `{fix}`" if fix else reason)
