"""The vault: everything sealview knows, encrypted at rest under the officer's passphrase.

    DIR/vault.json          public facts (format, vault id, officer fingerprint); never trusted
    DIR/vault.key           the vault key: a crypto.Identity sealed under the passphrase (Argon2id, secretbox)
    DIR/officer.pub         the officer's public key file, to carry to the server
    DIR/head.json           which sealed databases are the vault now, signed by the vault key
    DIR/db/NAME-G.sealed    a serialized SQLite database (schema.py), an envelope sealed to the vault key
    DIR/files/XX/SHA256     attachments: the envelopes exactly as the bundle carried them
    DIR/outbox/             sealed case files and reply bundles (ciphertext only)
    DIR/lock                held by the one process that may change the vault

While unlocked, both databases live in this process's memory (one SQLite connection, `state` attached);
the disk only ever holds them sealed. A change commits in SQLite, then writes the changed database as a
new sealed file, then atomically replaces head.json: a crash leaves the previous head, whole. Read
docs/viewer.md for why, and for what this does not protect against.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import fcntl
import functools
import hashlib
import io
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import crypto
from crypto import DecryptionKey, Identity, SigningKey, VerifyKey
from crypto.keys import write_secret_file

from . import geo, schema
from .disk import HashingWriter, fsync_dir, syncfs
from .documents import json_object
from .errors import Refused, VaultLocked, ViewerError
from .i18n import _
from .vaultfiles import AttachmentFiles

FORMAT = "sealview-vault/1"
SUBFOLDERS = ("db", "files", "outbox")  # the vault's own folders, each 0700
HEAD_CONTEXT = "sealview-vault-head"  # signatures over a vault head never verify as anything else
_PARTS = {"reports": "main", "state": "state"}
MAX_HEAD = 1024 * 1024  # head.json and vault.json hold a few hashes and names


def locked(fn):
    """Run `fn(vault, ...)` holding the vault's lock: the UI's threads share one SQLite connection."""

    @functools.wraps(fn)
    def wrapper(vault, *args, **kwargs):
        with vault.lock:
            return fn(vault, *args, **kwargs)

    return wrapper


def now() -> str:
    """Local time to the minute: when an officer did something, in their own clock."""
    return dt.datetime.now().astimezone().isoformat(timespec="minutes")


def today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def _canonical(data: dict) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


class Vault(AttachmentFiles):
    """An unlocked vault. Use `create` or `open`; `close` when done (or use it as a context manager)."""

    def __init__(self, path: Path, key: Identity | None, *, writable: bool) -> None:
        self.path = path
        self._key = key
        self.writable = writable
        self.lock = threading.RLock()  # one SQLite connection serves every thread of the UI
        self.db: sqlite3.Connection | None = None
        self.head: dict = {}
        self.search_key: tuple | None = None  # which search the temp table `hits` holds (queries.py)
        self._lockfile = None
        self._dirs: set[Path] = set()  # attachment directories known to exist

    # -- creating and opening ------------------------------------------------------------------

    @classmethod
    def create(cls, path: Path, passphrase: str, officer: Identity | None = None, name: str = "") -> Vault:
        path = Path(path)
        if (path / "vault.json").exists() or (path / "vault.key").exists():
            raise ViewerError(_("%(path)s is already a sealview vault", path=path))
        if path.exists() and any(p for p in path.iterdir() if not p.name.startswith(".")):
            raise ViewerError(
                _("%(path)s exists and is not empty: give a new folder for the vault", path=path)
            )
        officer = officer or Identity.generate()
        if not passphrase and not officer.demo:
            raise ViewerError(_("the passphrase must not be empty"))
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        for sub in SUBFOLDERS:
            (path / sub).mkdir(mode=0o700, exist_ok=True)
        key = Identity.generate(demo=officer.demo and not passphrase)
        vault_id = os.urandom(16).hex()
        self = cls(path, key, writable=True)
        self._take_lock()
        text = key.encode(passphrase).splitlines()
        lines = ["# sealview vault key (secret: sealed under the officer's passphrase; never share it)"]
        lines += [ln for ln in text if ln.startswith("# DEMO") or not ln.startswith("#")]
        write_secret_file(path / "vault.key", "\n".join(lines) + "\n")
        info = {"format": FORMAT, "vault": vault_id, "officer": officer.fingerprint, "created": today()}
        (path / "vault.json").write_text(json.dumps(info, indent=2) + "\n", encoding="ascii")
        (path / "officer.pub").write_text(
            officer.public_key.to_file_text(comment=name or "sealview officer"), encoding="utf-8"
        )
        self.db = cls._connect()
        schema.create(self.db)
        meta = {
            "vault": vault_id,
            "officer_x25519": officer.decryption_key.private_bytes().hex(),
            "officer_ed25519": officer.signing_key.seed().hex(),
            "officer_demo": int(officer.demo),
            "officer_name": name,
            "created": now(),
        }
        self.db.executemany("INSERT INTO state.meta (key, value) VALUES (?, ?)", meta.items())
        self.head = {"format": FORMAT, "vault": vault_id, "generation": 0}
        self._persist(["reports", "state"], files_written=False)
        self._load_officer()
        return self

    @classmethod
    def open(cls, path: Path, passphrase: str, *, write: bool = False) -> Vault:
        path = Path(path)
        info = read_info(path)
        self = cls(path, None, writable=write)
        if write:
            self._take_lock()
        try:
            try:
                self._key = Identity.load(path / "vault.key", passphrase)
            except crypto.WrongPassphrase:
                raise ViewerError(
                    _(
                        "wrong passphrase for this vault (officer %(fp)s), or its key file was altered",
                        fp=info.get("officer", "?"),
                    )
                ) from None
            except FileNotFoundError:
                raise ViewerError(
                    _("%(path)s has no vault.key: it is not a whole sealview vault", path=path)
                ) from None
            self._load()
            if self.head.get("vault") != info.get("vault"):
                raise ViewerError(_("vault.json belongs to another vault than the rest of this folder"))
            if write:
                # A copy or restore that left out an empty folder (git, some backup tools, a restore
                # before outbox/ was kept) must not fail every later export-replies: make it again.
                for sub in SUBFOLDERS:
                    (path / sub).mkdir(mode=0o700, exist_ok=True)
                self._sweep()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None
        if self._lockfile is not None:
            self._lockfile.close()
            self._lockfile = None

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @staticmethod
    def _connect() -> sqlite3.Connection:
        db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        # This SQLite build keeps temp tables and spills big sorts and GROUP BYs to etilqs_* files in
        # SQLITE_TMPDIR or /var/tmp: with the vault's plaintext in them. Keep all of it in memory.
        db.execute("PRAGMA temp_store = MEMORY")
        db.execute("ATTACH DATABASE ':memory:' AS state")
        db.row_factory = sqlite3.Row
        db.create_function("distance_m", 4, geo.distance_m, deterministic=True)
        return db

    def _take_lock(self) -> None:
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        f = open(self.path / "lock", "a+")  # noqa: SIM115 (held until close)
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "?"
            f.close()
            raise VaultLocked(
                _("the vault is in use by another sealview (process %(pid)s): close it first", pid=holder)
            ) from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        self._lockfile = f

    # -- reading the disk ----------------------------------------------------------------------

    def _load(self) -> None:
        """Read head.json and the sealed databases it names into a fresh in-memory connection."""
        for attempt in range(3):  # a writer may replace the files between our reads: read again
            head = self._read_head()
            try:
                blobs = {part: self._read_sealed(head[part]) for part in _PARTS}
                break
            except FileNotFoundError:
                if attempt == 2:
                    raise ViewerError(_("the vault's files changed while reading them; try again")) from None
        db = self._connect()
        for part, schema_name in _PARTS.items():
            db.deserialize(blobs[part], name=schema_name)
        schema.upgrade(db)
        if self.db is not None:
            self.db.close()
        self.db, self.head = db, head
        stored = self.meta("vault")
        if stored != head["vault"]:
            raise ViewerError(_("the vault's databases belong to another vault: the folder was mixed up"))
        self._load_officer()

    def _read_head(self) -> dict:
        try:
            outer = json_object((self.path / "head.json").read_bytes(), MAX_HEAD)
            head, signature = outer["head"], base64.b64decode(outer["signature"], validate=True)
            self._key.signing_key.verify_key.verify(HEAD_CONTEXT, _canonical(head), signature)
        except FileNotFoundError:
            raise ViewerError(
                _("%(path)s has no head.json: it is not a whole sealview vault", path=self.path)
            ) from None
        except crypto.BadSignature:
            raise ViewerError(
                _(
                    "the vault's files were not written with this vault's key: "
                    "they come from another vault (another officer's?), or were altered"
                )
            ) from None
        except (ValueError, KeyError, TypeError):
            raise ViewerError(_("the vault's head.json is damaged")) from None
        if head.get("format") != FORMAT:
            raise ViewerError(_("this vault was written by another version of sealview"))
        return head

    def _read_sealed(self, entry: dict) -> bytes:
        data = (self.path / "db" / Path(entry["file"]).name).read_bytes()
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise ViewerError(
                _("the vault's %(file)s was altered (it does not match head.json)", file=entry["file"])
            )
        try:
            return crypto.unseal_bytes(data, [self._key.decryption_key])
        except crypto.EnvelopeError as e:
            raise ViewerError(
                _("the vault's %(file)s does not open: %(reason)s", file=entry["file"], reason=e)
            ) from None

    def _load_officer(self) -> None:
        self.officer = Identity(
            DecryptionKey.from_private_bytes(bytes.fromhex(self.meta("officer_x25519"))),
            SigningKey.from_seed(bytes.fromhex(self.meta("officer_ed25519"))),
            demo=bool(self.meta("officer_demo")),
        )
        # The keys before a rotation (keytrust.py keeps them), in memory like the officer's own: read
        # here, never from the threads that open attachments while a caller holds the vault's lock.
        self._previous_keys = [
            DecryptionKey.from_private_bytes(bytes.fromhex(entry["x25519"]))
            for entry in reversed(json.loads(self.meta("previous_officers") or "[]"))
        ]

    def reload_officer(self) -> None:
        """After the officer's keys changed in a committed change (keytrust.rotate)."""
        self._load_officer()

    @property
    def decryption_keys(self) -> list[DecryptionKey]:
        """Every key this vault's officer has held, newest first: what was sealed to a key before a
        rotation (docs/key-trust.md) still opens. keytrust.py keeps the earlier ones."""
        return [self.officer.decryption_key, *self._previous_keys]

    # -- writing -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def change(self, *, reports: bool = False, files: bool = False) -> Iterator[sqlite3.Connection]:
        """One change, all or nothing: a SQLite transaction, then the changed database(s) sealed to disk.

        `reports`: the bundle data changed too (an import); `files`: attachment files were written and
        must reach the disk before the head that points at them.
        """
        if not self.writable:
            raise ViewerError("internal error: this vault was opened read-only")
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
            try:
                self._persist(["reports", "state"] if reports else ["state"], files_written=files)
            except BaseException:
                self._load()  # what is on disk is the truth: drop the change from memory too
                raise

    def _persist(self, parts: list[str], *, files_written: bool) -> None:
        generation = self.head["generation"] + 1
        new = dict(self.head, generation=generation)
        for part in parts:
            data = self.db.serialize(name=_PARTS[part])
            name = f"{part}-{generation}.sealed"
            new[part] = {"file": name, "sha256": self._write_sealed(self.path / "db" / name, data)}
        if files_written:
            syncfs(self.path)
        outer = {
            "head": new,
            "signature": base64.b64encode(self._key.signing_key.sign(HEAD_CONTEXT, _canonical(new))).decode(
                "ascii"
            ),
        }
        tmp = self.path / ".head.json.partial"
        with open(tmp, "w", encoding="ascii") as f:
            f.write(json.dumps(outer, sort_keys=True, indent=1) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path / "head.json")
        fsync_dir(self.path)
        old = {self.head.get(p, {}).get("file") for p in parts} - {new[p]["file"] for p in parts}
        self.head = new
        for name in old - {None}:
            (self.path / "db" / name).unlink(missing_ok=True)

    def _write_sealed(self, path: Path, data: bytes) -> str:
        tmp = path.with_name(f".{path.name}.partial")
        with open(tmp, "wb") as f:
            out = HashingWriter(f)
            crypto.seal(io.BytesIO(data), out, [self._key.decryption_key.recipient])
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return out.hash.hexdigest()

    def _sweep(self) -> None:
        """Remove what a crash left behind: unreferenced databases, partial files, orphan attachments."""
        live = {self.head[p]["file"] for p in _PARTS}
        for p in (self.path / "db").iterdir():
            if p.name not in live:
                p.unlink(missing_ok=True)
        self.path.joinpath(".head.json.partial").unlink(missing_ok=True)
        self.path.joinpath(".vault.json.partial").unlink(missing_ok=True)
        known = {r[0] for r in self.db.execute("SELECT file FROM attachments WHERE file IS NOT NULL")}
        for p in (self.path / "files").rglob("*"):
            if p.is_file() and p.name not in known:
                p.unlink(missing_ok=True)

    # -- facts ---------------------------------------------------------------------------------

    def meta(self, key: str, default=None):
        row = self.db.execute("SELECT value FROM state.meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else row[0]

    def set_meta(self, db: sqlite3.Connection, key: str, value) -> None:
        db.execute("INSERT OR REPLACE INTO state.meta (key, value) VALUES (?, ?)", (key, value))

    @property
    def officer_name(self) -> str:
        return self.meta("officer_name") or ""

    @property
    def actor(self) -> str:
        """Who did it, as the history records it: the officer's name and fingerprint."""
        fp = self.officer.fingerprint
        return f"{self.officer_name} ({fp})" if self.officer_name else f"officer {fp}"

    @property
    def server_key(self) -> VerifyKey | None:
        text = self.meta("server_key")
        return VerifyKey.parse(text) if text else None

    @property
    def language(self) -> str | None:
        """The officer's language for this vault (`sealview config --lang`), None until one is set."""
        return self.meta("language")

    def set_language(self, language: str) -> None:
        """The officer's language, sealed with the vault's settings; vault.json (public, never trusted)
        gets a copy, so that what sealview says before the vault is unlocked (the passphrase prompt) is in
        it too. A language is no secret of the reports."""
        with self.change() as db:
            self.set_meta(db, "language", language)
            self.history(db, None, "language", language)
        info = read_info(self.path)
        info["language"] = language
        write_info(self.path, info)

    @property
    def category_names(self) -> dict[str, dict[str, str]]:
        """{slug: {language: name}} for the desks' categories, as their signed export bundles said."""
        try:
            names = json.loads(self.meta("category_names") or "{}")
        except ValueError:
            return {}
        return names if isinstance(names, dict) else {}

    @property
    def desks(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT slug FROM state.desks ORDER BY slug")]

    def pin(self, server_key: VerifyKey | None, desks: list[str]) -> None:
        """Pin the server's signing key and the desks this vault serves (only ever adds)."""
        current = self.server_key
        if server_key and current and current != server_key:
            raise Refused(
                "other_server",
                _(
                    "this vault already trusts another server key (fingerprint %(fp)s); "
                    "make a new vault for another server",
                    fp=current.fingerprint,
                ),
            )
        with self.change() as db:
            if server_key and not current:
                self.set_meta(db, "server_key", server_key.encode())
                self.history(db, None, "pinned server key", server_key.fingerprint)
            for slug in desks:
                if db.execute("SELECT 1 FROM state.desks WHERE slug = ?", (slug,)).fetchone() is None:
                    db.execute("INSERT INTO state.desks (slug) VALUES (?)", (slug,))
                    self.history(db, None, "added desk", slug)

    def history(self, db: sqlite3.Connection, case_number: str | None, action: str, detail: str = "") -> None:
        db.execute(
            "INSERT INTO state.history (case_number, at, actor, action, detail) VALUES (?, ?, ?, ?, ?)",
            (case_number, now(), self.actor, action, detail),
        )


def write_info(path: Path, info: dict) -> None:
    """Replace vault.json (public facts, never trusted) atomically."""
    tmp = Path(path) / ".vault.json.partial"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(json.dumps(info, indent=2) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, Path(path) / "vault.json")
    fsync_dir(Path(path))


def read_info(path: Path) -> dict:
    try:
        info = json_object((Path(path) / "vault.json").read_bytes(), MAX_HEAD)
    except FileNotFoundError:
        raise ViewerError(
            _("%(path)s is not a sealview vault (run `sealview --vault %(path)s init`)", path=path)
        ) from None
    except ValueError:
        raise ViewerError(_("%(path)s/vault.json is damaged", path=path)) from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise ViewerError(_("%(path)s is not a vault this version of sealview reads", path=path))
    return info
