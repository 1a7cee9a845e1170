"""Every way Tor can fail us, as our own exceptions: stem's never leave onion/.

Each message is one line written for the operator who reads it in a terminal: what happened, then what
to do, in English. onion/ has no catalogue: each error also carries `reason` (a short code) and `values`
(the names and numbers in it), from which dropbox/onion_words.py says the same in the operator's language.
A caller without a catalogue prints `str(error)` and exits.
"""

from __future__ import annotations

import errno

PASSWORD_ENV = "SEALDROP_TOR_PASSWORD"  # noqa: S105 (the variable's name, not a password)


class OnionError(Exception):
    """Base class: anything onion/ raises on purpose."""

    def __init__(self, message: str, reason: str = "", **values: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.values = values


class TorNotInstalled(OnionError):
    def __init__(self, binary: str) -> None:
        if "/" in binary:
            super().__init__(
                f"tor is not installed at {binary}: apt-get install tor, or give the right path",
                "tor_missing_at",
                binary=binary,
            )
        else:
            super().__init__("tor is not installed: apt-get install tor", "tor_missing")


class TorFailedToStart(OnionError):
    """`why` is tor's own words (its last warning); without any, `reason` says what we saw instead."""

    def __init__(self, why: str, log: str, reason: str = "tor_said", **values: str) -> None:
        super().__init__(f"tor did not start: {why} (its log: {log})", reason, why=why, log=log, **values)

    @classmethod
    def silently(cls, log: str) -> TorFailedToStart:
        return cls("it exited at once", log, "tor_exited")

    @classmethod
    def no_control_port(cls, seconds: float, log: str) -> TorFailedToStart:
        return cls(f"no control port after {seconds:g}s", log, "tor_no_control_port", seconds=f"{seconds:g}")


class ControlConnectionRefused(OnionError):
    def __init__(self, where: str, why: str = "") -> None:
        detail = f" ({why})" if why else ""
        super().__init__(
            f"tor refused the control connection at {where}: is ControlPort set?{detail}",
            "control_refused",
            where=where,
            detail=detail,
        )


class NotTorControlPort(OnionError):
    def __init__(self, where: str) -> None:
        super().__init__(
            f"{where} does not answer like tor's control port: is it tor's ControlPort?",
            "not_control_port",
            where=where,
        )


class ControlPasswordMissing(OnionError):
    def __init__(self, where: str) -> None:
        super().__init__(
            f"tor at {where} wants a control password: set {PASSWORD_ENV}", "password_missing", where=where
        )


class WrongControlPassword(OnionError):
    def __init__(self, where: str) -> None:
        super().__init__(
            f"wrong tor control password for {where}: check {PASSWORD_ENV}", "wrong_password", where=where
        )


class CookieUnreadable(OnionError):
    def __init__(self, where: str, path: str) -> None:
        super().__init__(
            f"cannot read the control cookie {path} of tor at {where}: run sealdrop as a user in tor's "
            f"group (Debian: adduser USER debian-tor), or give tor a control password and set {PASSWORD_ENV}",
            "cookie_unreadable",
            where=where,
            path=path,
        )


class ControlAuthenticationFailed(OnionError):
    def __init__(self, where: str, why: str) -> None:
        super().__init__(
            f"tor at {where} refused our authentication: {why}", "auth_failed", where=where, why=why
        )


class ControlConnectionLost(OnionError):
    def __init__(self, where: str) -> None:
        super().__init__(
            f"lost the control connection to tor at {where}: did tor stop?", "control_lost", where=where
        )


class TorTooOld(OnionError):
    def __init__(self, where: str, version: str) -> None:
        super().__init__(
            f"tor {version} at {where} is too old: the proof-of-work defence needs tor 0.4.8 or later",
            "tor_too_old",
            where=where,
            version=version,
        )


# What to do about a key file we cannot use. Never "delete it": a new key is a new address, and every
# printed poster (or every clerk's Tor Browser) keeps pointing at the old one.
RESTORE = "restore it from the backup of DIR/onion/ (do not delete it: a new key is a new onion address)"


class KeyUnreadable(OnionError):
    """`reason` is key_missing, key_not_a_key, key_directory, key_permission_denied, key_too_open or
    key_os_error (with `strerror`, the system's words)."""

    def __init__(self, path: object, why: str, reason: str = "key_os_error", **values: str) -> None:
        super().__init__(f"the onion key {path} is unreadable: {why}", reason, path=str(path), **values)

    @classmethod
    def missing(cls, path: object) -> KeyUnreadable:
        return cls(path, f"there is no such file: {RESTORE}", "key_missing")

    @classmethod
    def not_a_key(cls, path: object) -> KeyUnreadable:
        return cls(path, f"it is not a tor v3 onion key (hs_ed25519_secret_key): {RESTORE}", "key_not_a_key")

    @classmethod
    def directory(cls, path: object) -> KeyUnreadable:
        return cls(
            path,
            f"it is a directory, not a key file: move the directory away, then {RESTORE}",
            "key_directory",
        )

    @classmethod
    def permission_denied(cls, path: object) -> KeyUnreadable:
        return cls(
            path,
            "permission denied: run sealdrop as the user who owns the instance, or give the file back to "
            f"that user (chown USER {path}; chmod 600 {path})",
            "key_permission_denied",
        )

    @classmethod
    def too_open(cls, path: object) -> KeyUnreadable:
        return cls(
            path,
            f"other users may read it: chmod 600 {path} (if someone may have copied it, they can pose as "
            "this onion: start a new address and reprint the posters, see docs/onion.md)",
            "key_too_open",
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
        strerror = str(error.strerror or error)
        return cls(path, f"{strerror}: {RESTORE}", "key_os_error", strerror=strerror)


class OnionAddressChanged(OnionError):
    """The reporter key no longer gives the address the instance has published (and printed)."""

    def __init__(self, path: object, recorded: str, now: str | None) -> None:
        found = "is missing" if now is None else f"now gives another address, {now}"
        super().__init__(
            f"the reporter onion key {path} {found}, but this instance's address is {recorded} (on every "
            "poster): restore the key from the backup of DIR/onion/reporter/; only to start a new address "
            "on purpose, run `sealdrop onion new-address` and reprint every poster",
            "reporter_key_missing" if now is None else "reporter_key_changed",
            path=str(path),
            recorded=recorded,
            now=now or "",
        )


class ControlCommandFailed(OnionError):
    """tor's control connection answered something we could not use (not a refusal we understand)."""

    def __init__(self, where: str, what: str, why: str) -> None:
        super().__init__(
            f"tor at {where} did not answer {what} as expected ({why}): check tor's log; if it keeps "
            "happening, restart tor and sealdrop",
            "odd_answer",
            where=where,
            what=what,
            why=why,
        )


class PublishFailed(OnionError):
    """`why` is tor's answer, unless `reason` says otherwise: published_already (as `other`), or
    backend_folder (tor would not take the folder; `cause` is the error it gave)."""

    def __init__(
        self,
        name: str,
        where: str,
        why: str,
        reason: str = "",
        cause: OnionError | None = None,
        **values: str,
    ) -> None:
        if not reason:
            reason = "collision" if "collision" in why.lower() else "publish_refused"
        answer = why
        if reason == "collision":
            why += " (is another `sealdrop serve --onion` publishing it already?)"
        super().__init__(
            f"tor at {where} refused to publish the {name} onion: {why}",
            reason,
            name=name,
            where=where,
            why=why,
            answer=answer,
            **values,
        )
        self.cause = cause


class PublishTimeout(OnionError):
    """`publication` is how far it got (an onion.Publication; `state` its description, in English)."""

    def __init__(self, name: str, seconds: float, state: str, publication: object = None) -> None:
        super().__init__(
            f"the {name} onion was not published within {seconds:g}s ({state}): "
            "is tor connected to the Tor network? (see its log)",
            "publish_timeout",
            name=name,
            seconds=f"{seconds:g}",
        )
        self.publication = publication


class ClientAccessError(OnionError):
    """Adding, naming or revoking a client authorization went wrong (message says how; `reason` is
    bad_client_name, client_exists, no_client, client_unreadable or not_client_auth)."""
