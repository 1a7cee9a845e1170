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
While locked, attempts are refused before the password is looked at, and do not count.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import nacl.exceptions
import nacl.pwhash
import nacl.secret
import pyotp
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

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


class AccountError(ValueError):
    """Something an operator asked for that cannot be done; the message says what."""


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


# --- passwords ---------------------------------------------------------------------------------


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a desk password has at least {MIN_PASSWORD} characters")
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


def accept_totp(user: DeskUser, totp_secret: str, code: str, at: float | None = None) -> bool:
    """True if `code` is valid now (±1 step) for a step after the last one used; records that step."""
    code = "".join(code.split())
    if len(code) != 6 or not code.isdigit():
        return False
    totp = pyotp.TOTP(totp_secret)
    current = int(at if at is not None else time.time()) // totp.interval
    for step in (current - 1, current, current + 1):
        if step > user.totp_last_step and hmac.compare_digest(totp.generate_otp(step), code):
            user.totp_last_step = step
            return True
    return False


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
    """Add a desk user (not committed). A clerk with a desk sees only that desk."""
    if not valid_name(name):
        raise AccountError("a user name has 1-80 letters, digits or . _ - @")
    if role not in ROLES:
        raise AccountError(f"the role is one of {', '.join(ROLES)}")
    if role == "admin" and desk is not None:
        raise AccountError("an admin works on every desk: a desk is for clerks")
    if session.scalar(select(DeskUser).where(DeskUser.name == name)):
        raise AccountError(f"user {name} already exists")
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


def _row(session: Session, key: str, at: dt.datetime) -> LoginThrottle:
    row = session.scalar(select(LoginThrottle).where(LoginThrottle.key == key).with_for_update())
    if row is None:
        row = LoginThrottle(key=key, failures=0, window_start=at, locked_until=None)
        session.add(row)
    return row


def locked_until(session: Session, key: str, at: dt.datetime | None = None) -> dt.datetime | None:
    """When logins for `key` (and globally) open again, or None if they are open now."""
    at = at or now()
    rows = session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_([key, GLOBAL_KEY]))).all()
    until = [r.locked_until for r in rows if r.locked_until and r.locked_until > at]
    return max(until) if until else None


def record_failure(session: Session, key: str, at: dt.datetime | None = None) -> None:
    """Count a failed login for the account and globally (the caller commits)."""
    at = at or now()
    account = _row(session, key, at)
    if account.failures and at - account.window_start > FORGET_AFTER:
        account.failures, account.window_start = 0, at
    account.failures += 1
    extra = account.failures - FREE_FAILURES
    if extra >= 0:
        account.locked_until = at + min(BASE_LOCK * (2 ** min(extra, 20)), MAX_LOCK)
    glob = _row(session, GLOBAL_KEY, at)
    if at - glob.window_start > GLOBAL_WINDOW:
        glob.failures, glob.window_start, glob.locked_until = 0, at, None
    glob.failures += 1
    if glob.failures > GLOBAL_FAILURES:
        glob.locked_until = glob.window_start + GLOBAL_WINDOW


def record_success(session: Session, key: str) -> None:
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))
