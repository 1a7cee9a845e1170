"""The onions in the operator's language: onion/'s errors (it has no catalogue of its own and gives a
reason and values instead, onion/errors.py), a publication's counts, and the onions' names in a sentence.
dropbox/onions.py, dropbox/onion_commands.py and cli.py's error line say them through here.
"""

from __future__ import annotations

from dataclasses import asdict

import onion

from .console import _

# The instance's onions, by the names they are published under (onion/ reports errors by these names).
REPORTER, DESK, BACKEND = "reporter", "desk", "backend"


def onion_words(name: str) -> str:
    """'the reporter onion' and the like, for a sentence that names one of the instance's onions."""
    words = {REPORTER: _("the reporter onion"), DESK: _("the desk onion"), BACKEND: _("the backend onion")}
    return words.get(name, name)


def publication_words(known: dict) -> str:
    """A status file's account of one onion's descriptors (onion.Publication's fields), in words."""
    if not any(known.get(k) for k in ("descriptors", "pending", "uploaded", "failed")):
        return _("publishing: waiting for tor to reach the Tor network and build the descriptors")
    states = {"published": _("published"), "failed": _("failed"), "publishing": _("publishing")}
    counts = {k: int(known.get(k, 0)) for k in ("published", "descriptors", "uploaded", "failed", "pending")}
    text = _(
        "%(state)s: %(published)d of %(descriptors)d descriptors accepted, %(uploaded)d directories hold "
        "them, %(failed)d failed, %(pending)d pending"
    ) % {"state": states.get(known.get("state", ""), known.get("state", "")), **counts}
    if known.get("reason"):  # tor's own word for the failure (UPLOAD_REJECTED, ...)
        text += " (" + _("last failure: %(reason)s") % {"reason": known["reason"]} + ")"
    return text


def error_words(e: onion.OnionError) -> str:
    """An onion error in the operator's language where onion/ gave its reason (onion/ has no catalogue
    of its own), else its English message. tor's own words in it (a warning, an answer) stay as tor
    said them."""
    if e.reason.startswith("key_"):
        return _key_error_words(e)
    if isinstance(e, onion.PublishFailed):
        return _publish_error_words(e)
    if isinstance(e, onion.PublishTimeout):
        said = _(
            "%(onion)s was not published within %(seconds)ss (%(state)s): is tor connected to the Tor "
            "network? (see its log)"
        )
        state = asdict(e.publication) | {"state": e.publication.state} if e.publication else {}
        return said % {"onion": onion_words(e.values["name"]), "seconds": e.values["seconds"],
                       "state": publication_words(state)}  # fmt: skip
    words = _tor_error_words() | _balance_error_words()
    if e.reason not in words:
        return str(e)
    return words[e.reason] % {"variable": onion.PASSWORD_ENV, **e.values}


def _tor_error_words() -> dict[str, str]:
    restore_reporter = _(
        "restore the key from the backup of DIR/onion/reporter/; only to start a new address on purpose, "
        "run `sealdrop onion new-address` and reprint every poster"
    )
    return {
        "tor_missing": _("tor is not installed: apt-get install tor"),
        "tor_missing_at": _(
            "tor is not installed at %(binary)s: apt-get install tor, or give the right path"
        ),
        "tor_said": _("tor did not start: %(why)s (its log: %(log)s)"),
        "tor_exited": _("tor did not start: it exited at once (its log: %(log)s)"),
        "tor_no_control_port": _("tor did not start: no control port after %(seconds)ss (its log: %(log)s)"),
        "control_refused": _(
            "tor refused the control connection at %(where)s: is ControlPort set?%(detail)s"
        ),
        "not_control_port": _("%(where)s does not answer like tor's control port: is it tor's ControlPort?"),
        "password_missing": _("tor at %(where)s wants a control password: set %(variable)s"),
        "wrong_password": _("wrong tor control password for %(where)s: check %(variable)s"),
        "cookie_unreadable": _(
            "cannot read the control cookie %(path)s of tor at %(where)s: run sealdrop as a user in tor's "
            "group (Debian: adduser USER debian-tor), or give tor a control password and set %(variable)s"
        ),
        "auth_failed": _("tor at %(where)s refused our authentication: %(why)s"),
        "control_lost": _("lost the control connection to tor at %(where)s: did tor stop?"),
        "tor_too_old": _(
            "tor %(version)s at %(where)s is too old: the proof-of-work defence needs tor 0.4.8 or later"
        ),
        "odd_answer": _(
            "tor at %(where)s did not answer %(what)s as expected (%(why)s): check tor's log; if it keeps "
            "happening, restart tor and sealdrop"
        ),
        "reporter_key_missing": _(
            "the reporter onion key %(path)s is missing, but this instance's address is %(recorded)s (on "
            "every poster): "
        )
        + restore_reporter,
        "reporter_key_changed": _(
            "the reporter onion key %(path)s now gives another address, %(now)s, but this instance's "
            "address is %(recorded)s (on every poster): "
        )
        + restore_reporter,
        "bad_client_name": _(
            "%(name)s is not a usable name: up to 64 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit"
        ),
        "client_exists": _("%(name)s already has access: revoke it first to issue a new key"),
        "no_client": _("no access named %(name)s (see `sealdrop desk-access list`)"),
        "client_unreadable": _("cannot read the client authorization %(path)s: %(why)s"),
        "not_client_auth": _("%(path)s is not a client authorization (descriptor:x25519:KEY)"),
    }


def _key_error_words(e: onion.OnionError) -> str:
    """KeyUnreadable: what is wrong with the key file and what to do, never "delete it"."""
    restore = _(
        "restore it from the backup of DIR/onion/ (do not delete it: a new key is a new onion address)"
    )
    why = {
        "key_missing": _("there is no such file: %(restore)s"),
        "key_not_a_key": _("it is not a tor v3 onion key (hs_ed25519_secret_key): %(restore)s"),
        "key_directory": _("it is a directory, not a key file: move the directory away, then %(restore)s"),
        "key_permission_denied": _(
            "permission denied: run sealdrop as the user who owns the instance, or give the file back to "
            "that user (chown USER %(path)s; chmod 600 %(path)s)"
        ),
        "key_too_open": _(
            "other users may read it: chmod 600 %(path)s (if someone may have copied it, they can pose as "
            "this onion: start a new address and reprint the posters, see docs/onion.md)"
        ),
    }
    values = {"restore": restore, **e.values}
    # key_os_error: the system's own words (strerror), then what to do
    reason = why[e.reason] % values if e.reason in why else f"{values.get('strerror', '')}: {restore}"
    return _("the onion key %(path)s is unreadable: %(why)s") % {"path": e.values["path"], "why": reason}


def _publish_error_words(e: onion.PublishFailed) -> str:
    values = {**e.values, "onion": onion_words(e.values["name"])}
    if e.reason == "published_already":
        values["why"] = _("it is published already, as %(onion)s") % {"onion": onion_words(e.values["other"])}
    elif e.reason == "collision":
        values["why"] = _("%(answer)s (is another `sealdrop serve --onion` publishing it already?)") % {
            "answer": e.values["answer"]
        }
    elif e.reason == "backend_folder" and e.cause is not None:
        said = _("%(problem)s (can tor read and write %(folder)s?)")
        values["why"] = said % {"problem": error_words(e.cause), "folder": e.values["folder"]}
    return _("tor at %(where)s refused to publish %(onion)s: %(why)s") % values


def _balance_error_words() -> dict[str, str]:
    return {
        "not_an_address": _("%(text)s is not a v3 onion address (56 letters and digits 2-7, then .onion)"),
        "bad_checksum": _("%(text)s is not a valid v3 onion address (its checksum is wrong: a typo?)"),
        "bad_name": _("%(name)s is not a usable name: up to 64 letters, digits, '.', '_' or '-'"),
        "frontend_itself": _(
            "%(address)s is the frontend address itself: a backend publishes an onion of its own "
            "(`sealdrop onion balance backend` on that machine prints it)"
        ),
        "known": _("%(name)s (%(address)s) is a backend already"),
        "no_backend": _("no backend %(backend)s (see `sealdrop onion balance list`)"),
        "no_backends": _("no backends yet: `sealdrop onion balance add-backend ADDRESS` first"),
        "frontend_key": _(
            "the backend key in %(folder)s is the frontend's own key: a backend needs a key of its own "
            "(move that file away; the frontend key belongs with onionbalance only)"
        ),
        "no_master": _("%(path)s names no MasterOnionAddress: run `sealdrop onion balance backend` again"),
        "not_backend": _(
            "%(folder)s is not a backend folder (no ob_config): run `sealdrop onion balance backend`"
        ),
    }
