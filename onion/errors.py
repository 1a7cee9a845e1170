"""Every way Tor can fail us, as our own exceptions: stem's never leave onion/.

Each message is one line written for the operator who reads it in a terminal: what happened, then what
to do. Callers print `str(error)` and exit; they never need to look inside.
"""

from __future__ import annotations

import errno

PASSWORD_ENV = "SEALDROP_TOR_PASSWORD"  # noqa: S105 (the variable's name, not a password)


class OnionError(Exception):
    """Base class: anything onion/ raises on purpose."""


class TorNotInstalled(OnionError):
    def __init__(self, binary: str) -> None:
        if "/" in binary:
            super().__init__(f"tor is not installed at {binary}: apt-get install tor, or give the right path")
        else:
            super().__init__("tor is not installed: apt-get install tor")


class TorFailedToStart(OnionError):
    def __init__(self, why: str, log: str) -> None:
        super().__init__(f"tor did not start: {why} (its log: {log})")


class ControlConnectionRefused(OnionError):
    def __init__(self, where: str, why: str = "") -> None:
        detail = f" ({why})" if why else ""
        super().__init__(f"tor refused the control connection at {where}: is ControlPort set?{detail}")


class NotTorControlPort(OnionError):
    def __init__(self, where: str) -> None:
        super().__init__(f"{where} does not answer like tor's control port: is it tor's ControlPort?")


class ControlPasswordMissing(OnionError):
    def __init__(self, where: str) -> None:
        super().__init__(f"tor at {where} wants a control password: set {PASSWORD_ENV}")


class WrongControlPassword(OnionError):
    def __init__(self, where: str) -> None:
        super().__init__(f"wrong tor control password for {where}: check {PASSWORD_ENV}")


class CookieUnreadable(OnionError):
    def __init__(self, where: str, path: str) -> None:
        super().__init__(
            f"cannot read the control cookie {path} of tor at {where}: run sealdrop as a user in tor's "
            f"group (Debian: adduser USER debian-tor), or give tor a control password and set {PASSWORD_ENV}"
        )


class ControlAuthenticationFailed(OnionError):
    def __init__(self, where: str, why: str) -> None:
        super().__init__(f"tor at {where} refused our authentication: {why}")


class ControlConnectionLost(OnionError):
    def __init__(self, where: str) -> None:
        super().__init__(f"lost the control connection to tor at {where}: did tor stop?")


class TorTooOld(OnionError):
    def __init__(self, where: str, version: str) -> None:
        super().__init__(
            f"tor {version} at {where} is too old: the proof-of-work defence needs tor 0.4.8 or later"
        )


# What to do about a key file we cannot use. Never "delete it": a new key is a new address, and every
# printed poster (or every clerk's Tor Browser) keeps pointing at the old one.
RESTORE = "restore it from the backup of DIR/onion/ (do not delete it: a new key is a new onion address)"


class KeyUnreadable(OnionError):
    def __init__(self, path: object, why: str) -> None:
        super().__init__(f"the onion key {path} is unreadable: {why}")

    @classmethod
    def missing(cls, path: object) -> KeyUnreadable:
        return cls(path, f"there is no such file: {RESTORE}")

    @classmethod
    def not_a_key(cls, path: object) -> KeyUnreadable:
        return cls(path, f"it is not a tor v3 onion key (hs_ed25519_secret_key): {RESTORE}")

    @classmethod
    def directory(cls, path: object) -> KeyUnreadable:
        return cls(path, f"it is a directory, not a key file: move the directory away, then {RESTORE}")

    @classmethod
    def permission_denied(cls, path: object) -> KeyUnreadable:
        return cls(
            path,
            "permission denied: run sealdrop as the user who owns the instance, or give the file back to "
            f"that user (chown USER {path}; chmod 600 {path})",
        )

    @classmethod
    def too_open(cls, path: object) -> KeyUnreadable:
        return cls(
            path,
            f"other users may read it: chmod 600 {path} (if someone may have copied it, they can pose as "
            "this onion: start a new address and reprint the posters, see docs/onion.md)",
        )

    @classmethod
    def os_error(cls, path: object, error: OSError) -> KeyUnreadable:
        special = {
            errno.ENOENT: cls.missing,
            errno.EISDIR: cls.directory,
            errno.EACCES: cls.permission_denied,
            errno.EPERM: cls.permission_denied,
        }
        if error.errno in special:
            return special[error.errno](path)
        return cls(path, f"{error.strerror or error}: {RESTORE}")


class OnionAddressChanged(OnionError):
    """The reporter key no longer gives the address the instance has published (and printed)."""

    def __init__(self, path: object, recorded: str, now: str | None) -> None:
        found = "is missing" if now is None else f"now gives another address, {now}"
        super().__init__(
            f"the reporter onion key {path} {found}, but this instance's address is {recorded} (on every "
            "poster): restore the key from the backup of DIR/onion/reporter/; only to start a new address "
            "on purpose, run `sealdrop onion new-address` and reprint every poster"
        )


class ControlCommandFailed(OnionError):
    """tor's control connection answered something we could not use (not a refusal we understand)."""

    def __init__(self, where: str, what: str, why: str) -> None:
        super().__init__(
            f"tor at {where} did not answer {what} as expected ({why}): check tor's log; if it keeps "
            "happening, restart tor and sealdrop"
        )


class PublishFailed(OnionError):
    def __init__(self, name: str, where: str, why: str) -> None:
        if "collision" in why.lower():
            why += " (is another `sealdrop serve --onion` publishing it already?)"
        super().__init__(f"tor at {where} refused to publish the {name} onion: {why}")


class PublishTimeout(OnionError):
    def __init__(self, name: str, seconds: float, state: str) -> None:
        super().__init__(
            f"the {name} onion was not published within {seconds:g}s ({state}): "
            "is tor connected to the Tor network? (see its log)"
        )


class ClientAccessError(OnionError):
    """Adding, naming or revoking a client authorization went wrong (message says how)."""
