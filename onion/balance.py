"""One onion address over several machines, with onionbalance (Debian package `onionbalance`, v3).

Two roles:

- the **frontend** address is the one on the posters. onionbalance holds its key, fetches the backends'
  descriptors, and publishes one descriptor for the frontend address that lists the backends'
  introduction points, so a client that picks any of them reaches one of the backends. A backend that
  stops takes its introduction points with it; clients try the next one in the descriptor.
- each **backend** publishes an onion of its own (its own key; its address is in no poster) on its own
  tor, marked as an onionbalance instance of the frontend.

Why backends publish from a HiddenServiceDir and not with ADD_ONION like every other onion of ours:
a client seals its introduction to keys derived from the address it asked for, the frontend's. A
backend tor decrypts that only with `HiddenServiceOnionbalanceInstance 1` and a file `ob_config`
naming the frontend (`MasterOnionAddress ...`) in the service's HiddenServiceDir; ADD_ONION has neither
(tor 0.4.9: the option exists for directory services only). So `publish_backend` sets those options on
the running tor over the control connection (SETCONF, the same as torrc lines, never saved to the torrc)
and takes them away again on `remove()`. tor reads the folder itself: it must be able to read and write
it, which holds for a tor that sealdrop launches (`serve --onion`) and for any tor run by the same user.

A backend goes into the Tor object's own table of services (this package's internals, on purpose), so
HS_DESC events follow its publication and `Tor.close()` removes it, like every onion of ours.

Nothing here runs onionbalance: `write_config` writes its config.yaml and the frontend key (0600) into a
folder for it; `prepare_backend` writes a backend's key and `ob_config`.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import ControlCommandFailed, ControlConnectionLost, OnionError, PublishFailed
from .keys import SECRET_KEY_FILE, OnionKey
from .service import OnionService
from .tor import POW_QUEUE_BURST, POW_QUEUE_RATE, Tor, _speaking

OB_CONFIG = "ob_config"  # tor's file name, in the backend's HiddenServiceDir
CONFIG_FILE = "config.yaml"  # onionbalance's
FRONTEND_KEY_FILE = "frontend.key"
_ADDRESS = re.compile(r"(?:https?://)?([a-z2-7]{56})(?:\.onion)?/?", re.IGNORECASE)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class BalanceError(OnionError):
    """A frontend or backend set-up that cannot work. The message says why and what to do, in English;
    `reason` (a short code) and `values` are for a caller that says it in the operator's language
    (dropbox/onion_words.py: onion/ has no catalogue)."""

    def __init__(self, reason: str, message: str, **values: str) -> None:
        super().__init__(message, reason, **values)


def parse_address(text: str) -> str:
    """A v3 onion address as `<56 letters>.onion`, its checksum checked (a typo is refused, not balanced)."""
    found = _ADDRESS.fullmatch(text.strip())
    if not found:
        raise BalanceError(
            "not_an_address",
            f"{text!r} is not a v3 onion address (56 letters and digits 2-7, then .onion)",
            text=repr(text),
        )
    raw = base64.b32decode(found.group(1).upper())
    public_key, checksum, version = raw[:32], raw[32:34], raw[34:]
    expected = hashlib.sha3_256(b".onion checksum" + public_key + version).digest()[:2]
    if version != b"\x03" or checksum != expected:
        raise BalanceError(
            "bad_checksum",
            f"{text!r} is not a valid v3 onion address (its checksum is wrong: a typo?)",
            text=repr(text),
        )
    return found.group(1).lower() + ".onion"


@dataclass(frozen=True)
class Backend:
    address: str  # "<56>.onion"
    name: str


class Backends:
    """The frontend's list of backend addresses: a text file, one `ADDRESS NAME` a line (no secrets)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def entries(self) -> list[Backend]:
        try:
            lines = self.path.read_text("utf-8").splitlines()
        except FileNotFoundError:
            return []
        found = []
        for line in lines:
            if line.strip() and not line.startswith("#"):
                address, _, name = line.strip().partition(" ")
                found.append(Backend(parse_address(address), name.strip() or address[:8]))
        return found

    def add(self, address: str, name: str, frontend: str) -> Backend:
        backend = Backend(parse_address(address), name)
        if not _NAME.fullmatch(name):
            raise BalanceError(
                "bad_name",
                f"{name!r} is not a usable name: up to 64 letters, digits, '.', '_' or '-'",
                name=repr(name),
            )
        if backend.address == frontend:
            raise BalanceError(
                "frontend_itself",
                f"{backend.address} is the frontend address itself: a backend publishes an onion of its "
                "own (`sealdrop onion balance backend` on that machine prints it)",
                address=backend.address,
            )
        for known in self.entries():
            if known.address == backend.address or known.name == name:
                raise BalanceError(
                    "known",
                    f"{known.name} ({known.address}) is a backend already",
                    name=known.name,
                    address=known.address,
                )
        self._write([*self.entries(), backend])
        return backend

    def remove(self, address_or_name: str) -> Backend:
        entries = self.entries()
        for known in entries:
            if address_or_name in (known.name, known.address, known.address.removesuffix(".onion")):
                self._write([e for e in entries if e != known])
                return known
        raise BalanceError(
            "no_backend",
            f"no backend {address_or_name} (see `sealdrop onion balance list`)",
            backend=address_or_name,
        )

    def _write(self, entries: Sequence[Backend]) -> None:
        text = "".join(f"{e.address} {e.name}\n" for e in entries)
        _replace(self.path, text.encode("utf-8"), 0o600)


def config_yaml(frontend: str, backends: Sequence[Backend], key_file: str = FRONTEND_KEY_FILE) -> str:
    """onionbalance's config.yaml (its v3 format). Written by hand: addresses and names are checked
    above to be plain letters and digits, so nothing needs quoting."""
    if not backends:
        raise BalanceError(
            "no_backends", "no backends yet: `sealdrop onion balance add-backend ADDRESS` first"
        )
    lines = [
        "# onionbalance configuration written by `sealdrop onion balance config`: regenerate, do not edit.",
        f"# frontend (the address on the posters): {frontend}",
        "services:",
        f"  - key: {key_file}",
        "    instances:",
    ]
    for backend in backends:
        lines += [f"      - address: {backend.address}", f"        name: {backend.name}"]
    return "\n".join(lines) + "\n"


def write_config(out_dir: Path, frontend_key: Path, backends: Sequence[Backend]) -> list[Path]:
    """Write `out_dir/config.yaml` and `out_dir/frontend.key` (a copy of the frontend's key file in
    tor's format, which onionbalance reads), both 0600, each replaced whole or not at all."""
    key = OnionKey.load(frontend_key)  # refuses a missing, broken or readable-by-others key
    text = config_yaml(key.address, backends)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    written = [out_dir / FRONTEND_KEY_FILE, out_dir / CONFIG_FILE]
    _replace(written[0], Path(frontend_key).read_bytes(), 0o600)
    _replace(written[1], text.encode("utf-8"), 0o600)
    return written


def prepare_backend(folder: Path, frontend: str) -> OnionKey:
    """A backend's folder (a HiddenServiceDir): its own key, made once and kept, and `ob_config` naming
    the frontend. Returns the backend's key; its address is what onionbalance must be told."""
    frontend = parse_address(frontend)
    folder = Path(folder)
    key = OnionKey.load_or_create(folder / SECRET_KEY_FILE)
    if key.address == frontend:
        raise BalanceError(
            "frontend_key",
            f"the backend key in {folder} is the frontend's own key: a backend needs a key of its own "
            "(move that file away; the frontend key belongs with onionbalance only)",
            folder=str(folder),
        )
    _replace(folder / OB_CONFIG, f"MasterOnionAddress {frontend}\n".encode("ascii"), 0o600)
    return key


def frontend_of(folder: Path) -> str | None:
    """The frontend address a backend folder names, or None if the folder is no backend."""
    try:
        text = (Path(folder) / OB_CONFIG).read_text("ascii")
    except FileNotFoundError:
        return None
    found = re.search(r"^MasterOnionAddress\s+(\S+)\s*$", text, re.M)
    if not found:
        raise BalanceError(
            "no_master",
            f"{Path(folder) / OB_CONFIG} names no MasterOnionAddress: run balance backend again",
            path=str(Path(folder) / OB_CONFIG),
        )
    return parse_address(found.group(1))


def publish_backend(
    tor: Tor, name: str, folder: Path, target_port: int, *, target_host: str = "127.0.0.1",
    virtual_port: int = 80, pow: bool = True, pow_queue_rate: int = POW_QUEUE_RATE,
    pow_queue_burst: int = POW_QUEUE_BURST,
) -> OnionService:  # fmt: skip
    """Publish the backend onion of `folder` (see prepare_backend) on `tor` as an onionbalance instance;
    `remove()` (or `tor.close()`) takes it off tor again. Publication is followed like any other onion."""
    folder = Path(folder).resolve()
    frontend = frontend_of(folder)
    if frontend is None:
        raise BalanceError(
            "not_backend",
            f"{folder} is not a backend folder (no {OB_CONFIG}): run `sealdrop onion balance backend`",
            folder=str(folder),
        )
    key = OnionKey.load(folder / SECRET_KEY_FILE)
    bare = key.address.removesuffix(".onion")
    service = OnionService(name, key.address, pow, 0, lambda: _remove(tor, bare, folder))
    tor._claim(bare, service)  # before SETCONF: tor reports the first descriptors at once
    options = {
        "HiddenServicePort": [f"{int(virtual_port)} {target_host}:{int(target_port)}"],
        "HiddenServiceVersion": "3",
        "HiddenServiceOnionbalanceInstance": "1",
    }
    if pow:
        options |= {
            "HiddenServicePoWDefensesEnabled": "1",
            "HiddenServicePoWQueueRate": str(int(pow_queue_rate)),
            "HiddenServicePoWQueueBurst": str(int(pow_queue_burst)),
        }
    try:
        with _speaking(tor.where, "SETCONF HiddenServiceDir"):
            conf = tor._controller.get_hidden_service_conf()
            conf[str(folder)] = options
            tor._controller.set_hidden_service_conf(conf)
    except ControlCommandFailed as e:
        tor._release(bare)
        raise PublishFailed(
            name,
            tor.where,
            f"{e} (can tor read and write {folder}?)",
            "backend_folder",
            e,
            folder=str(folder),
        ) from None
    return service


def _remove(tor: Tor, bare: str, folder: Path) -> None:
    with tor._lock:
        if tor._services.pop(bare, None) is None:
            return
    # tor gone, or an odd answer: a tor we launched exits with our control connection anyway
    with (
        contextlib.suppress(ControlConnectionLost, ControlCommandFailed),
        _speaking(tor.where, "SETCONF HiddenServiceDir"),
    ):
        conf = tor._controller.get_hidden_service_conf()
        if conf.pop(str(folder), None) is not None:
            tor._controller.set_hidden_service_conf(conf)


def _replace(path: Path, data: bytes, mode: int) -> None:
    """Write `path` whole: a temporary file beside it (mode `mode` from the start), fsync, rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


__all__ = [
    "CONFIG_FILE",
    "FRONTEND_KEY_FILE",
    "OB_CONFIG",
    "Backend",
    "Backends",
    "BalanceError",
    "config_yaml",
    "frontend_of",
    "parse_address",
    "prepare_backend",
    "publish_backend",
    "write_config",
]
