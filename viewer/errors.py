"""The viewer's errors: each one a sentence for the officer at the terminal or in the browser."""

from __future__ import annotations


class ViewerError(Exception):
    """Something the officer must know about; the message is one clear line, never a secret."""


class VaultLocked(ViewerError):
    """Another sealview process holds the vault for writing."""


class NotFound(ViewerError):
    """No such case or attachment in this vault."""


class Refused(ViewerError):
    """A bundle, a key or an input is refused; `reason` is a short code (wrong_desk, replayed, ...)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
