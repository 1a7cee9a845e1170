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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

CONFIG_FILE = "config.json"
SECRET_FILE = "secret.key"  # noqa: S105 (a file name)
SIGNING_KEY_FILE = "server-signing.key"
SIGNING_PUB_FILE = "server-signing.pub"
LANGUAGES = ("bg", "ru", "kk", "en")


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
    data = json.loads(path.read_text("utf-8"))
    data["instance_dir"] = instance_dir
    if "languages" in data:
        data["languages"] = tuple(data["languages"])
    return Config(**data)


def save(config: Config) -> None:
    data = asdict(config)
    data.pop("instance_dir")
    data.pop("testing")
    data["languages"] = list(config.languages)
    path = config.instance_dir / CONFIG_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", "utf-8")
    os.replace(tmp, path)
