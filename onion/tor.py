"""One tor, reached through its control port: the only place that speaks the control protocol.

Two ways in: `Tor.attach` to a tor the machine already runs (a system `tor` with ControlPort set), or
`Tor.launch` of our own tor with its data directory in the instance. Either way we publish *ephemeral*
onions (ADD_ONION) from keys we keep ourselves, so tor's configuration never has to change, and tor
removes them by itself if we vanish: they belong to our control connection.

stem 1.8 has no arguments for the proof-of-work defence (tor 0.4.8+), so ADD_ONION is built here and
sent raw through `Controller.msg()`.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from subprocess import Popen

import stem
import stem.connection
import stem.control
import stem.version

from . import _launch
from .errors import (
    ControlAuthenticationFailed,
    ControlCommandFailed,
    ControlConnectionLost,
    ControlConnectionRefused,
    ControlPasswordMissing,
    CookieUnreadable,
    NotTorControlPort,
    PublishFailed,
    TorTooOld,
    WrongControlPassword,
)
from .keys import OnionKey
from .service import OnionService

# stem logs every command it sends, ADD_ONION's secret key included, as soon as a handler on its logger
# asks for its TRACE level, and its INFO chatter reaches the application's handlers. Only real trouble
# may pass.
logging.getLogger("stem").setLevel(logging.WARNING)

POW_MIN_VERSION = stem.version.Version("0.4.8")
# Tor's own defaults (HiddenServicePoWQueueRate/Burst): requests per second let through the queue.
POW_QUEUE_RATE = 250
POW_QUEUE_BURST = 2500


class Tor:
    """A control connection to one tor, and the onion services we published on it."""

    def __init__(self, controller: stem.control.Controller, where: str, process: Popen | None = None) -> None:
        self.where = where
        self._controller = controller
        self._process = process
        self._services: dict[str, OnionService] = {}  # by address without ".onion", as events name them
        self._lock = threading.Lock()
        self._version()  # asked here, so that a bad answer is named as such (stem would ask for it below)
        with _speaking(where, "SETEVENTS HS_DESC"):
            controller.add_event_listener(self._on_hs_desc, stem.control.EventType.HS_DESC)

    @classmethod
    def attach(cls, host: str, port: int, password: str | None = None) -> Tor:
        """A tor already running: cookie authentication if we may read the cookie, else `password`."""
        where = f"{host}:{port}"
        controller = _connect(host, port, password, where)
        try:
            return cls(controller, where)
        except BaseException:
            controller.close()
            raise

    @classmethod
    def launch(
        cls, data_dir: Path, *, tor_binary: str = "tor", torrc: Mapping[str, str] | None = None,
        timeout: float = 30,
    ) -> Tor:  # fmt: skip
        """Our own tor, its state in `data_dir`, with any extra `torrc` settings; it stops when `close()`
        drops its control connection."""
        data_dir = Path(data_dir).resolve()
        process, port = _launch.start(tor_binary, data_dir, torrc or {}, timeout)
        where = f"127.0.0.1:{port} (our tor in {data_dir})"
        controller = None
        try:
            controller = _connect("127.0.0.1", port, None, where)
            with _speaking(where, "TAKEOWNERSHIP"):  # tor exits when this connection closes, however we end
                reply = controller.msg("TAKEOWNERSHIP")
            if not reply.is_ok():
                raise ControlCommandFailed(where, "TAKEOWNERSHIP", str(reply).strip())
            return cls(controller, where, process)
        except BaseException:
            if controller is not None:
                controller.close()
            _launch.stop(process, grace=0)
            raise

    def __enter__(self) -> Tor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def version(self) -> str:
        return str(self._version())

    def _version(self) -> stem.version.Version:
        with _speaking(self.where, "GETINFO version"):
            return self._controller.get_version()

    def publish(
        self, name: str, key_file: Path, target_port: int, *, target_host: str = "127.0.0.1",
        virtual_port: int = 80, client_auth: Sequence[str] = (), pow: bool = True,
        pow_queue_rate: int = POW_QUEUE_RATE, pow_queue_burst: int = POW_QUEUE_BURST,
    ) -> OnionService:  # fmt: skip
        """Publish the onion whose key is in `key_file` (made there, 0600, if missing) for a web server at
        target_host:target_port. With `client_auth` (base32 X25519 public keys) only those clients can
        even find it. `pow` switches on tor's proof-of-work defence against introduction floods."""
        key = OnionKey.load_or_create(Path(key_file))
        if pow and (version := self._version()) < POW_MIN_VERSION:
            raise TorTooOld(self.where, str(version))
        bare = key.address.removesuffix(".onion")
        service = OnionService(name, key.address, pow, len(client_auth), lambda: self._remove(bare))
        self._claim(bare, service)  # before ADD_ONION: tor reports the first descriptors at once
        reply = self._msg(" ".join(_add_onion(key, virtual_port, target_host, target_port, client_auth,
                                              pow, pow_queue_rate, pow_queue_burst)))  # fmt: skip
        if not reply.is_ok():
            self._release(bare)
            raise PublishFailed(name, self.where, str(reply).strip())
        return service

    def _claim(self, bare: str, service: OnionService) -> None:
        """Note `service` as ours under `bare` (the address without .onion); PublishFailed if another
        of ours holds it. Called before tor is asked (it reports the first descriptors at once)."""
        with self._lock:
            if bare in self._services:
                other = self._services[bare].name
                words = f"it is published already, as the {other} onion"
                raise PublishFailed(service.name, self.where, words, "published_already", other=other)
            self._services[bare] = service

    def _release(self, bare: str) -> None:
        """Forget a claim tor then refused."""
        with self._lock:
            self._services.pop(bare, None)

    def serves(self, address: str) -> bool:
        """Whether this tor holds a descriptor for `address` right now (it publishes that onion)."""
        bare = address.removesuffix(".onion")
        return self._msg(f"GETINFO hs/service/desc/id/{bare}").is_ok()

    def close(self) -> None:
        """Remove our onions, drop the control connection and, if we launched tor, see it exit."""
        for service in list(self._services.values()):
            service.remove()  # DEL_ONION, or for a backend of onionbalance its own way (balance.py)
        self._controller.close()
        if self._process is not None:
            _launch.stop(self._process)

    def _remove(self, bare: str) -> None:
        with self._lock:
            if self._services.pop(bare, None) is None:
                return
        # tor gone, or an odd answer: the onion goes with our control connection, which close() drops
        with contextlib.suppress(ControlConnectionLost, ControlCommandFailed):
            self._msg(f"DEL_ONION {bare}")

    def _msg(self, command: str) -> stem.response.ControlMessage:
        with _speaking(self.where, command.split(" ", 1)[0]):  # never the rest: ADD_ONION holds the key
            return self._controller.msg(command)

    def _on_hs_desc(self, event: stem.response.events.HSDescEvent) -> None:
        service = self._services.get(event.address)
        if service is not None:
            hsdir = event.directory_fingerprint or event.directory
            service._note(str(event.action), hsdir, event.descriptor_id, event.reason and str(event.reason))


@contextlib.contextmanager
def _speaking(where: str, what: str) -> Iterator[None]:
    """stem's exceptions, turned into ours: a lost connection, or an answer we cannot use. `what` names
    the command for the operator and never carries its arguments (keys, passwords)."""
    try:
        yield
    except stem.SocketError:  # SocketClosed included
        raise ControlConnectionLost(where) from None
    except (stem.ControllerError, ValueError) as e:  # ValueError: stem parsing a reply it did not expect
        raise ControlCommandFailed(where, what, str(e).strip() or type(e).__name__) from None


def _add_onion(key: OnionKey, virtual_port: int, target_host: str, target_port: int,
               client_auth: Sequence[str], pow: bool, rate: int, burst: int) -> list[str]:  # fmt: skip
    parts = ["ADD_ONION", key.control_blob(), "Flags=DiscardPK" + (",V3Auth" if client_auth else "")]
    if pow:
        parts += ["PoWDefensesEnabled=1", f"PoWQueueRate={int(rate)}", f"PoWQueueBurst={int(burst)}"]
    parts.append(f"Port={int(virtual_port)},{target_host}:{int(target_port)}")
    parts += [f"ClientAuthV3={public_key}" for public_key in client_auth]
    return parts


def _connect(host: str, port: int, password: str | None, where: str) -> stem.control.Controller:
    try:
        address = socket.gethostbyname(host)  # stem takes IP addresses only
        controller = stem.control.Controller.from_port(address=address, port=port)
    except (OSError, stem.SocketError):
        raise ControlConnectionRefused(where) from None
    try:
        controller.authenticate(password=password)
    except stem.connection.MissingPassword:
        raise ControlPasswordMissing(where) from None
    except stem.connection.PasswordAuthFailed:
        raise WrongControlPassword(where) from None
    except stem.connection.UnreadableCookieFile as e:
        raise CookieUnreadable(where, e.cookie_path) from None
    except stem.connection.IncorrectSocketType:
        raise NotTorControlPort(where) from None
    except stem.connection.AuthenticationFailure as e:
        raise ControlAuthenticationFailed(where, str(e)) from None
    except (stem.ProtocolError, stem.SocketError):
        raise NotTorControlPort(where) from None
    finally:
        if not controller.is_authenticated():
            controller.close()
    return controller
