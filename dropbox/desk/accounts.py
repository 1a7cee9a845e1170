"""Desk accounts: Argon2id passwords, TOTP with replay refused, and throttled failures.

Shared by the desk's login page and `sealdrop user add`; no Flask in here.

Passwords: Argon2id (libsodium through PyNaCl) at the "interactive" cost; the parameters travel in
the hash string, so raising the cost later only affects new hashes.

TOTP (RFC 6238, 30 s, 6 digits): one step of clock drift either way is accepted, and the step a
code was accepted for is stored, so the same code (or an older one) never opens a second session.
The secret is sealed in the database under a key derived from the instance's secret.key: a copy of
the database alone (PostgreSQL may live elsewhere) does not give anyone the second factor.

Throttling never looks at addresses (we keep none). Two budgets, both in the database so they hold
across restarts and several instances:
- per account: the FREE_FAILURES-th consecutive failure locks the account for BASE_LOCK, and each
  failure after that locks it twice as long as the one before, up to MAX_LOCK. The account's key is
  a keyed hash of the name as typed, so names that do not exist are throttled alike and no typed
  text is stored;
- global: more than GLOBAL_FAILURES failures within GLOBAL_WINDOW refuse every login until that
  window ends. This caps guessing across many names; its price is that a flood locks clerks out for
  one window, which the desk's client-auth onion service keeps strangers from causing.
While locked, attempts are refused before the password is looked at, and do not count. Each attempt
is counted as a failure before its password is checked (claim_attempt), atomically, and taken back
when it succeeds: attempts sent at once can never get more password checks than the budget.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import NamedTuple

import nacl.exceptions
import nacl.pwhash
import nacl.secret
import pyotp
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from ..models import Desk, DeskSession, DeskUser, LoginThrottle

ROLES = ("admin", "clerk")
MIN_PASSWORD = 12
PASSWORD_OPSLIMIT = nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE
PASSWORD_MEMLIMIT = nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE
TOTP_ISSUER = "sealdrop desk"

FREE_FAILURES = 5
BASE_LOCK = dt.timedelta(seconds=30)
MAX_LOCK = dt.timedelta(hours=1)
FORGET_AFTER = dt.timedelta(days=1)  # consecutive failures this old no longer count
GLOBAL_FAILURES = 100
GLOBAL_WINDOW = dt.timedelta(minutes=15)
GLOBAL_KEY = "global"


def _(message: str) -> str:
    """Marks a message for the catalogue (pybabel extracts `_`) without translating it here: this
    module has no Flask and the CLI speaks English. The desk's pages translate it (AccountError.text)."""
    return message


class AccountError(ValueError):
    """Something an operator asked for that cannot be done; str() says what in English (the CLI),
    `message` and `values` let a page say it in its reader's language."""

    def __init__(self, message: str, **values: object) -> None:
        super().__init__(message % values if values else message)
        self.message, self.values = message, values

    def text(self, translate) -> str:
        """The message in a page's language: `translate` is Flask-Babel's gettext."""
        return translate(self.message, **self.values)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


# --- passwords ---------------------------------------------------------------------------------


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(_("A desk password has at least %(n)s characters."), n=MIN_PASSWORD)
    return nacl.pwhash.argon2id.str(
        password.encode("utf-8"), opslimit=PASSWORD_OPSLIMIT, memlimit=PASSWORD_MEMLIMIT
    ).decode("ascii")


def password_matches(stored: str | None, password: str) -> bool:
    """Checks `password` against `stored`; with None, spends the same work and says no."""
    try:
        ok = nacl.pwhash.verify((stored or _dummy_hash()).encode("ascii"), password.encode("utf-8"))
    except (nacl.exceptions.InvalidkeyError, nacl.exceptions.CryptoError, ValueError):
        return False
    return ok and stored is not None


_DUMMY: list[str] = []


def _dummy_hash() -> str:
    if not _DUMMY:
        _DUMMY.append(
            nacl.pwhash.argon2id.str(
                secrets.token_bytes(16), opslimit=PASSWORD_OPSLIMIT, memlimit=PASSWORD_MEMLIMIT
            ).decode("ascii")
        )
    return _DUMMY[0]


# --- TOTP ----------------------------------------------------------------------------------------


def _totp_box(secret_key: bytes) -> nacl.secret.SecretBox:
    key = hashlib.blake2b(secret_key, digest_size=32, person=b"sealdrop-totp").digest()
    return nacl.secret.SecretBox(key)


def seal_totp(secret_key: bytes, totp_secret: str) -> str:
    return base64.b64encode(bytes(_totp_box(secret_key).encrypt(totp_secret.encode("ascii")))).decode()


def open_totp(secret_key: bytes, sealed: str) -> str:
    return _totp_box(secret_key).decrypt(base64.b64decode(sealed)).decode("ascii")


def provisioning_uri(name: str, totp_secret: str) -> str:
    return pyotp.TOTP(totp_secret).provisioning_uri(name=name, issuer_name=TOTP_ISSUER)


def matching_step(totp_secret: str, code: str, last_step: int, at: float | None = None) -> int | None:
    """The step (±1 around now) after `last_step` whose code `code` is, or None."""
    code = "".join(code.split())
    if len(code) != 6 or not (code.isascii() and code.isdigit()):  # "²" is a digit; compare_digest refuses it
        return None
    totp = pyotp.TOTP(totp_secret)
    current = int(at if at is not None else time.time()) // totp.interval
    for step in (current - 1, current, current + 1):
        if step > last_step and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def accept_totp(user: DeskUser, totp_secret: str, code: str, at: float | None = None) -> bool:
    """True if `code` is valid now (±1 step) for a step after the last one used; records that step
    on `user` (in memory: a login uses spend_totp, which records it atomically)."""
    step = matching_step(totp_secret, code, user.totp_last_step, at)
    if step is None:
        return False
    user.totp_last_step = step
    return True


def spend_totp(session: Session, user: DeskUser, totp_secret: str, code: str) -> bool:
    """accept_totp for a login: the step is recorded by a conditional UPDATE (the caller commits),
    so of two logins sending one code at once only one succeeds, on SQLite (which ignores
    SELECT ... FOR UPDATE) as on PostgreSQL."""
    step = matching_step(totp_secret, code, user.totp_last_step)
    if step is None:
        return False
    spent = session.execute(
        update(DeskUser)
        .where(DeskUser.id == user.id, DeskUser.totp_last_step < step)
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:  # another login recorded this step, or a later one, a moment ago
        return False
    set_committed_value(user, "totp_last_step", step)
    return True


# --- accounts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewSecret:
    """What an operator hands to the new user once: their authenticator's set-up."""

    user: DeskUser
    totp_secret: str

    @property
    def uri(self) -> str:
        return provisioning_uri(self.user.name, self.totp_secret)


def valid_name(name: str) -> bool:
    return 1 <= len(name) <= 80 and all(c.isalnum() or c in "._-@" for c in name)


def create_user(
    session: Session, secret_key: bytes, name: str, role: str, password: str, desk: Desk | None = None
) -> NewSecret:
    """Add a desk user (not committed). A clerk with a desk sees only that desk; an admin with a desk
    administers only that desk (docs/key-trust.md), one without administers every desk."""
    if not valid_name(name):
        raise AccountError(_("A user name has 1 to 80 letters, digits or . _ - @ and nothing else."))
    if role not in ROLES:
        raise AccountError(_("The role is one of %(roles)s."), roles=", ".join(ROLES))
    if session.scalar(select(DeskUser).where(DeskUser.name == name)):
        raise AccountError(_("A user named %(name)s already exists."), name=name)
    totp_secret = pyotp.random_base32()
    user = DeskUser(
        name=name,
        role=role,
        desk=desk,
        password_hash=hash_password(password),
        totp_secret=seal_totp(secret_key, totp_secret),
        totp_last_step=0,
        disabled=False,
    )
    session.add(user)
    return NewSecret(user, totp_secret)


def reset_totp(session: Session, secret_key: bytes, user: DeskUser) -> NewSecret:
    """A new TOTP secret (the old authenticator stops working) and every session of the user ends."""
    totp_secret = pyotp.random_base32()
    user.totp_secret = seal_totp(secret_key, totp_secret)
    user.totp_last_step = 0
    end_sessions(session, user)
    return NewSecret(user, totp_secret)


def set_password(session: Session, user: DeskUser, password: str) -> None:
    user.password_hash = hash_password(password)
    end_sessions(session, user)


def end_sessions(session: Session, user: DeskUser) -> None:
    session.execute(delete(DeskSession).where(DeskSession.user_id == user.id))


# --- throttling ----------------------------------------------------------------------------------


def account_key(secret_key: bytes, name: str) -> str:
    mac = hmac.new(secret_key, b"desk-login\x00" + name.strip().lower().encode("utf-8"), hashlib.sha256)
    return "user:" + mac.hexdigest()[:64]


CLAIM_TRIES = 5


class _Count(NamedTuple):
    failures: int
    window_start: dt.datetime
    locked_until: dt.datetime | None


def claim_attempt(session: Session, key: str, at: dt.datetime | None = None) -> dt.datetime | None:
    """Count a login attempt for `key` (and globally) as failed BEFORE its password is checked, and
    commit that at once. Returns None when the attempt may go on (the caller calls record_success if
    it succeeds), or the time logins open again, in which case nothing was counted.

    Counting first is what makes the budget hold under concurrency: every claim starts with an
    UPDATE ... SET failures = failures + 1 on the global row, whose lock (a row lock in PostgreSQL,
    the write lock in SQLite) serialises claims; a SELECT-then-check would let many attempts past
    the lock before any of them was counted (SQLite ignores SELECT ... FOR UPDATE)."""
    at = at or now()
    for _ in range(CLAIM_TRIES):
        try:
            until = _claim(session, key, at)
        except IntegrityError:  # two first attempts inserted the same row at once: count again
            session.rollback()
            continue
        if until is None:
            session.commit()
        else:
            session.rollback()  # a locked attempt does not count
        return until
    raise RuntimeError("the login throttle could not count an attempt")


def _claim(session: Session, key: str, at: dt.datetime) -> dt.datetime | None:
    glob = _count_one_more(session, GLOBAL_KEY, at)  # the global row first, always: one lock order
    account = _count_one_more(session, key, at)
    until = [c.locked_until for c in (glob, account) if c.locked_until and c.locked_until > at]
    if until:
        return max(until)
    g_failures, g_start = glob.failures, glob.window_start
    if at - g_start > GLOBAL_WINDOW:
        g_failures, g_start = 1, at
    g_lock = g_start + GLOBAL_WINDOW if g_failures > GLOBAL_FAILURES else None
    a_failures, a_start = account.failures, account.window_start
    if a_failures > 1 and at - a_start > FORGET_AFTER:
        a_failures, a_start = 1, at
    extra = a_failures - FREE_FAILURES
    a_lock = at + min(BASE_LOCK * (2 ** min(extra, 20)), MAX_LOCK) if extra >= 0 else None
    _store(session, GLOBAL_KEY, g_failures, g_start, g_lock)
    _store(session, key, a_failures, a_start, a_lock)
    return None


def _count_one_more(session: Session, key: str, at: dt.datetime) -> _Count:
    row = session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.key == key)
        .values(failures=LoginThrottle.failures + 1)
        .returning(LoginThrottle.failures, LoginThrottle.window_start, LoginThrottle.locked_until)
        .execution_options(synchronize_session=False)
    ).one_or_none()
    if row is not None:
        failures, window_start, locked = row
        return _Count(failures, window_start, locked)
    session.execute(insert(LoginThrottle).values(key=key, failures=1, window_start=at, locked_until=None))
    return _Count(1, at, None)


def _store(session: Session, key: str, failures: int, window_start, locked_until) -> None:
    session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.key == key)
        .values(failures=failures, window_start=window_start, locked_until=locked_until)
        .execution_options(synchronize_session=False)
    )


def record_success(session: Session, key: str) -> None:
    """A claimed attempt succeeded: the account starts afresh and the global count takes it back
    (the caller commits)."""
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))
    session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.key == GLOBAL_KEY, LoginThrottle.failures > 0)
        .values(failures=LoginThrottle.failures - 1)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.key == GLOBAL_KEY, LoginThrottle.failures <= GLOBAL_FAILURES)
        .values(locked_until=None)
        .execution_options(synchronize_session=False)
    )
