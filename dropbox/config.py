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
    upload_pressure: float = 0.5
    upload_pressure_idle_s: int = 600
    # Connections held open at once. Over Tor every reporter is its own connection from the local tor,
    # and a slow upload holds one for minutes: waitress's default of 100 let 100 slow uploads keep the
    # next reporter's page waiting in the backlog (bench/load: 80-132 s; 19-23 ms at 1000). Each is a
    # file descriptor: `serve` raises its open-file limit to fit.
    max_connections: int = 1000
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

    @property
    def secret_key(self) -> bytes:
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


def save(config: Config) -> None:
    data = asdict(config)
    data.pop("instance_dir")
    data.pop("testing")
    data["languages"] = list(config.languages)
    path = config.instance_dir / CONFIG_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", "utf-8")
    os.replace(tmp, path)
