"""The instance: one folder holding everything a running sealdrop needs (DESIGN "Storage and serving").

DIR/config.json            settings (no secrets)
DIR/secret.key             random key for CSRF tokens (0600)
DIR/server-signing.key     Ed25519 key that signs export bundles (0600)
DIR/server-signing.pub     its public half, pinned in the viewer
DIR/sealdrop.db            SQLite database (unless a PostgreSQL URL is configured)
DIR/blobs/                 ciphertext only
DIR/onion/                 onion keys (reporter/, desk/ with authorized_clients/) and status.json (0600)
DIR/tor/                   the data directory of a tor that `serve --onion` launches itself
"""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

CONFIG_FILE = "config.json"
SECRET_FILE = "secret.key"  # noqa: S105 (a file name)
SIGNING_KEY_FILE = "server-signing.key"
SIGNING_PUB_FILE = "server-signing.pub"
LANGUAGES = ("bg", "ru", "kk", "en")


DEFAULT_PORT = 8080  # `sealdrop serve --port`; the desk listens on the next one unless told


@dataclass(frozen=True)
class Config:
    """Settings of one instance. Frozen: the app receives it whole and never mutates it."""

    instance_dir: Path
    database_url: str
    # No-JS reports arrive as one multipart body kept in memory: bounded.
    max_form_bytes: int = 64 * 1024 * 1024
    # The JS path uploads ciphertext in pieces of at most this size...
    max_upload_piece: int = 4 * 1024 * 1024
    # ...into envelopes of at most this size each.
    max_envelope_bytes: int = 1024 * 1024 * 1024
    max_attachments: int = 20
    default_language: str = "en"
    languages: tuple[str, ...] = LANGUAGES
    onion_address: str = ""  # "<56 chars>.onion", written by `serve --onion`: Onion-Location, posters
    public_url: str = ""  # the clearnet address phones open (https://host), pre-filled for posters
    # Tor's proof-of-work defence on both onions: introductions let through per second, and in a burst.
    onion_pow_queue_rate: int = 250
    onion_pow_queue_burst: int = 2500
    # Flood resistance (dropbox/pow.py, dropbox/budget.py; docs/operator-guide.md "Floods"). The proof of
    # work a JS report costs: about pow_work PBKDF2 runs of pow_iterations, about 1 s on a phone; it
    # doubles for every pow_reports_per_step reports to a desk in the budget window, at most
    # pow_max_steps times. Budgets: reports (each path on its own) and receipt sign-ins per window, per
    # desk and overall, counted in memory per process.
    pow_work: int = 2000
    pow_iterations: int = 500
    pow_proofs: int = 4
    pow_max_age_s: int = 3600
    pow_reports_per_step: int = 20
    pow_max_steps: int = 6
    budget_window_s: int = 600
    budget_reports_per_desk: int = 120
    budget_reports_overall: int = 600
    budget_signins_per_desk: int = 600
    budget_signins_overall: int = 3000
    # Resource budgets (issue 12; docs/operator-guide.md "Resource budgets"). Pictures decoded at once
    # on the no-JS path (each up to 40 megapixels, up to 15 bytes a pixel while it is re-encoded: ~0.6 GB)
    # and how long a request waits for a turn before it is told "busy, try again". Resumable uploads
    # open at once and the bytes they declare, per desk and overall: the declared bytes bound what
    # uploads can hold on disk. Past upload_pressure of a budget, uploads untouched for
    # upload_pressure_idle_s are swept as abandoned (otherwise after upload_max_age_hours, 24).
    max_decodes: int = 2
    decode_wait_s: float = 3.0
    max_open_uploads_per_desk: int = 200
    max_open_uploads: int = 1000
    max_upload_bytes_per_desk: int = 16 * 1024**3
    max_upload_bytes: int = 64 * 1024**3
    # Ciphertext the server holds, per desk and overall: filed reports not yet deleted by retention plus
    # what open uploads declare. Past it a report waits (503, retry_after STORE_FULL_RETRY_AFTER_S) until
    # the officers export and retention frees room: an outsider cannot fill the disk, however they pay.
    max_stored_bytes_per_desk: int = 100 * 1024**3
    max_stored_bytes: int = 400 * 1024**3
    upload_pressure: float = 0.5
    upload_pressure_idle_s: int = 600
    # Connections held open at once. Over Tor every reporter is its own connection from the local tor,
    # and a slow upload holds one for minutes: waitress's default of 100 let 100 slow uploads keep the
    # next reporter's page waiting in the backlog (bench/load: 80-132 s; 19-23 ms at 1000). Each is a
    # file descriptor: `serve` raises its open-file limit to fit.
    max_connections: int = 1000
    # "N new reports wait on desk X" (dropbox/desk/notify.py; docs/operator-guide.md "Notifications"):
    # on a beat of notify_every_s, to the addresses (a list for every desk, or a dict by desk slug with
    # "*" for the rest) by SMTP, and/or a webhook (a URL, or a dict likewise). No secret here: the SMTP
    # password is DIR/smtp-password (0600) or $SEALDROP_SMTP_PASSWORD.
    notify_every_s: int = 3600
    notify_email_to: list | dict = field(default_factory=list)
    notify_from: str = ""
    notify_smtp_host: str = ""
    notify_smtp_port: int = 587
    notify_smtp_security: str = "starttls"  # "starttls", "tls" (implicit, port 465), "none" (loopback only)
    notify_smtp_user: str = ""
    notify_webhook_url: str | dict = ""
    notify_cafile: str = ""  # PEM CAs for a relay or webhook with an in-house CA (default: the system's)
    # Whose confirmation starts an export bundle's retention clock (docs/two-officers.md): the last of
    # the desk's officers it waits for ("every_officer"), or the first that imports it ("any_officer").
    retention_waits_for: str = "every_officer"
    # Several instances on several machines (docs/operator-guide.md "Several instances"): blobs as
    # large objects in the shared PostgreSQL database ("postgresql") instead of files in DIR/blobs
    # ("files"); the budgets' counts and spent proof-of-work challenges in Redis at redis_url (e.g.
    # redis://10.0.0.5:6379/0), its keys under redis_prefix. Without redis_url they stay in this process.
    blob_store: str = "files"
    redis_url: str = ""
    redis_prefix: str = "sealdrop"
    testing: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def blob_dir(self) -> Path:
        return self.instance_dir / "blobs"

    @property
    def onion_dir(self) -> Path:
        return self.instance_dir / "onion"

    @property
    def tor_dir(self) -> Path:
        return self.instance_dir / "tor"

    @functools.cached_property
    def secret_key(self) -> bytes:
        # Read once per Config: a no-JS report asks for it four times or more (CSRF, form tokens,
        # the receipt), and reading the file each time cost about 0.3 ms of a 6.6 ms report.
        return bytes.fromhex((self.instance_dir / SECRET_FILE).read_text("ascii").strip())

    def with_overrides(self, **changes) -> Config:
        return replace(self, **changes)


def sqlite_url(instance_dir: Path) -> str:
    return f"sqlite:///{(instance_dir / 'sealdrop.db').resolve()}"


def load(instance_dir: Path) -> Config:
    """Read DIR/config.json; refuses a folder that `sealdrop init` did not make."""
    instance_dir = Path(instance_dir).resolve()
    path = instance_dir / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{instance_dir} is not a sealdrop instance (run `sealdrop init --dir` first)"
        )
    try:
        data = json.loads(path.read_text("utf-8"))
    except ValueError as e:
        raise ConfigError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: not a JSON object")
    checked(path, data)
    data["instance_dir"] = instance_dir
    if "languages" in data:
        data["languages"] = tuple(data["languages"])
    return Config(**data)


class ConfigError(ValueError):
    """config.json holds something the service cannot run with; the message names the key."""


ONION_ADDRESS = re.compile(r"(?:https?://)?[a-z2-7]{56}\.onion/?", re.IGNORECASE)
PUBLIC_URL = re.compile(r"https?://[A-Za-z0-9.-]+(?::\d{1,5})?(?:/[^\s]*)?")
RETENTION_WAITS_FOR = ("every_officer", "any_officer")
SETTABLE = {f.name: f.default for f in fields(Config) if f.name not in ("instance_dir", "testing")}


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def checked(path: Path, data: dict) -> None:
    """Refuse, naming the key, what an operator's hand edit could make wrong: an unknown key, a number
    that is not one, an onion address that is not one (it goes into every page's Onion-Location), a
    public address that is not http(s), a language we have no pages in."""
    for key, value in data.items():
        if key not in SETTABLE:
            raise ConfigError(f"{path}: unknown setting {key!r}")
        if _is_number(SETTABLE[key]) and not (_is_number(value) and value >= 0):
            raise ConfigError(f"{path}: {key} must be a number of 0 or more, not {value!r}")
    onion_address = data.get("onion_address", "")
    if onion_address and not (isinstance(onion_address, str) and ONION_ADDRESS.fullmatch(onion_address)):
        raise ConfigError(f"{path}: onion_address must be a v3 onion address: 56 letters and digits, .onion")
    public_url = data.get("public_url", "")
    if public_url and not (isinstance(public_url, str) and PUBLIC_URL.fullmatch(public_url)):
        raise ConfigError(f"{path}: public_url must be an address such as https://report.example.org")
    languages = data.get("languages", LANGUAGES)
    if not isinstance(languages, list | tuple) or not languages or not set(languages) <= set(LANGUAGES):
        raise ConfigError(f"{path}: languages must be some of {', '.join(LANGUAGES)}")
    if data.get("default_language", "en") not in languages:
        raise ConfigError(f"{path}: default_language must be one of the languages")
    if data.get("retention_waits_for", "every_officer") not in RETENTION_WAITS_FOR:
        raise ConfigError(f"{path}: retention_waits_for must be one of {', '.join(RETENTION_WAITS_FOR)}")
    _check_notify(path, data)
    _check_shared(path, data)


BLOB_STORES = ("files", "postgresql")
REDIS_URL = re.compile(r"(rediss?|unix)://\S+")
REDIS_PREFIX = re.compile(r"[A-Za-z0-9_.:-]{1,40}")


def _check_shared(path: Path, data: dict) -> None:
    """What several instances share: a blob store they all reach, and Redis."""
    if data.get("blob_store", "files") not in BLOB_STORES:
        raise ConfigError(f"{path}: blob_store must be one of {', '.join(BLOB_STORES)}")
    if data.get("blob_store") == "postgresql" and not str(data.get("database_url")).startswith("postgresql"):
        raise ConfigError(f"{path}: blob_store postgresql needs a PostgreSQL database_url")
    redis_url = data.get("redis_url", "")
    if redis_url and not (isinstance(redis_url, str) and REDIS_URL.fullmatch(redis_url)):
        raise ConfigError(f"{path}: redis_url must be an address such as redis://127.0.0.1:6379/0")
    prefix = data.get("redis_prefix", "sealdrop")
    if not (isinstance(prefix, str) and REDIS_PREFIX.fullmatch(prefix)):
        raise ConfigError(f"{path}: redis_prefix must be 1 to 40 letters, digits or _.:-")


EMAIL_ADDRESS = re.compile(r"[^@\s<>,;\"]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
HOST_NAME = re.compile(r"[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]+\]")
LOOPBACK = ("localhost", "127.0.0.1", "::1", "[::1]")
WEBHOOK_URL = re.compile(
    r"(https://[A-Za-z0-9.-]+|http://(?:localhost|127\.0\.0\.1|\[::1\]))(?::\d{1,5})?(?:/\S*)?"
)
SMTP_SECURITY = ("starttls", "tls", "none")


def _per_desk(path: Path, key: str, value: object, valid) -> list:
    """The values of a per-desk setting (one value for all desks, or a dict by slug or "*"), each
    checked by `valid`; the error names the key."""
    values = list(value.values()) if isinstance(value, dict) else [value]
    if isinstance(value, dict) and not all(isinstance(k, str) and k for k in value):
        raise ConfigError(f'{path}: {key} takes desk slugs (or "*") as its keys')
    for v in values:
        if not valid(v):
            raise ConfigError(f"{path}: {key} has a value that is not {valid.__doc__}: {v!r}")
    return [v for v in values if v]


def _addresses(v: object) -> bool:
    """a list of e-mail addresses"""
    return isinstance(v, list) and all(isinstance(a, str) and EMAIL_ADDRESS.fullmatch(a) for a in v)


def _webhook(v: object) -> bool:
    """an https:// address (http:// only to this machine)"""
    return isinstance(v, str) and (not v or bool(WEBHOOK_URL.fullmatch(v)))


def _check_notify(path: Path, data: dict) -> None:
    """The notices' settings: addresses that are addresses, a mail server and a sender when there are
    any, a password never sent in the clear across a network, webhooks over https."""
    every = data.get("notify_every_s", 3600)
    if not isinstance(every, int) or every < 60:
        raise ConfigError(f"{path}: notify_every_s must be a whole number of seconds, 60 or more")
    emails = _per_desk(path, "notify_email_to", data.get("notify_email_to", []), _addresses)
    _per_desk(path, "notify_webhook_url", data.get("notify_webhook_url", ""), _webhook)
    for key in (
        "notify_from",
        "notify_smtp_host",
        "notify_smtp_security",
        "notify_smtp_user",
        "notify_cafile",
    ):
        if not isinstance(data.get(key, ""), str) or any(c in data.get(key, "") for c in "\r\n"):
            raise ConfigError(f"{path}: {key} must be one line of text")
    port = data.get("notify_smtp_port", 587)
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigError(f"{path}: notify_smtp_port must be a port number, 1 to 65535")
    security, host = data.get("notify_smtp_security", "starttls"), data.get("notify_smtp_host", "")
    if security not in SMTP_SECURITY:
        raise ConfigError(f"{path}: notify_smtp_security must be one of {', '.join(SMTP_SECURITY)}")
    if security == "none" and host and host not in LOOPBACK:
        raise ConfigError(f"{path}: notify_smtp_security none is only for a mail relay on this machine")
    if host and not HOST_NAME.fullmatch(host):
        raise ConfigError(f"{path}: notify_smtp_host must be a host name or address")
    if any(emails) and not host:
        raise ConfigError(f"{path}: notify_email_to needs notify_smtp_host, the mail server to send through")
    if any(emails) and not EMAIL_ADDRESS.fullmatch(data.get("notify_from", "")):
        raise ConfigError(f"{path}: notify_from must be the address notices are sent from")


def save(config: Config) -> None:
    data = asdict(config)
    data.pop("instance_dir")
    data.pop("testing")
    data["languages"] = list(config.languages)
    path = config.instance_dir / CONFIG_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", "utf-8")
    os.replace(tmp, path)
