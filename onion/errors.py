"""Every way Tor can fail us, as our own exceptions: stem's never leave onion/.

Each message is one line written for the operator who reads it in a terminal: what happened, then what
to do. Callers print `str(error)` and exit; they never need to look inside.
"""

from __future__ import annotations

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


class KeyUnreadable(OnionError):
    def __init__(self, path: object, why: str) -> None:
        super().__init__(f"the onion key {path} is unreadable: {why}")


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
