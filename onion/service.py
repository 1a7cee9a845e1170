"""A published onion service and what is known about its descriptors.

Tor reports publication as HS_DESC events: CREATED (a descriptor was built: one for the current time
period, one for the next), UPLOAD (sent to one HSDir), then UPLOADED or FAILED from that HSDir.
stem's own `await_publication` returns after the first UPLOADED; a client may well ask an HSDir that has
not answered yet, so we keep the whole picture and call the service settled only when every descriptor
was accepted somewhere and no upload is still in flight.

UPLOADED and FAILED do not name the descriptor, only the HSDir: each answer settles the oldest upload
still waiting at that HSDir. Tor sometimes starts a new round before an old upload answers; a repeated
(HSDir, descriptor) pair replaces the old one rather than waiting for an answer that may never come.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .errors import PublishTimeout


@dataclass(frozen=True)
class Publication:
    """A snapshot: how far the descriptors of one onion service got."""

    descriptors: int = 0  # descriptors tor built (current and next time period)
    published: int = 0  # of those, accepted by at least one HSDir
    uploaded: int = 0  # HSDirs whose latest answer was "accepted"
    failed: int = 0  # HSDirs whose latest answer was a failure
    pending: int = 0  # uploads sent and not yet answered
    reason: str = ""  # tor's reason for the latest failure

    @property
    def state(self) -> str:
        if self.descriptors and self.published == self.descriptors:
            return "published"
        if self.failed and not self.pending and not self.uploaded:
            return "failed"
        return "publishing"

    @property
    def settled(self) -> bool:
        """Published, and every upload answered: any HSDir a client asks has an answer."""
        return self.state == "published" and not self.pending

    def describe(self) -> str:
        if not (self.descriptors or self.pending or self.uploaded or self.failed):
            return "publishing: waiting for tor to reach the Tor network and build the descriptors"
        text = (
            f"{self.state}: {self.published} of {self.descriptors} descriptors accepted, "
            f"{self.uploaded} directories hold them, {self.failed} failed, {self.pending} pending"
        )
        return text + (f" (last failure: {self.reason})" if self.reason else "")


class OnionService:
    """One onion service on one tor. Made by `Tor.publish`; `remove()` takes it off tor."""

    def __init__(self, name: str, address: str, pow: bool, clients: int, remove: Callable[[], None]) -> None:
        self.name = name
        self.address = address  # "<56 chars>.onion"
        self.pow = pow
        self.clients = clients  # authorized clients; 0 means anyone with the address may connect
        self._remove = remove
        self._changed = threading.Condition()
        self._listeners: list[Callable[[OnionService], None]] = []
        self._descriptors: list[str] = []
        self._accepted: set[str] = set()
        self._waiting: dict[str, list[str]] = {}  # HSDir -> descriptors sent to it, oldest first
        self._answers: dict[str, str] = {}  # HSDir -> "UPLOADED" | "FAILED"
        self._reason = ""

    def __repr__(self) -> str:
        return f"<OnionService {self.name} {self.address}>"

    def publication(self) -> Publication:
        with self._changed:
            answers = list(self._answers.values())
            return Publication(
                descriptors=len(self._descriptors),
                published=sum(d in self._accepted for d in self._descriptors),
                uploaded=answers.count("UPLOADED"),
                failed=answers.count("FAILED"),
                pending=sum(len(v) for v in self._waiting.values()),
                reason=self._reason,
            )

    def wait_published(self, timeout: float) -> Publication:
        """Block until the service is settled (see Publication.settled); PublishTimeout otherwise."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not (state := self.publication()).settled:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PublishTimeout(self.name, timeout, state.describe(), state)
                self._changed.wait(left)
        return state

    def on_change(self, callback: Callable[[OnionService], None]) -> None:
        """Call `callback(service)` after each change, on tor's event thread: keep it short."""
        self._listeners.append(callback)

    def remove(self) -> None:
        self._remove()

    # Called by Tor's event thread with the parts of one HS_DESC event about this service.
    def _note(self, action: str, hsdir: str, descriptor: str | None, reason: str | None) -> None:
        with self._changed:
            if descriptor and action in ("CREATED", "UPLOAD") and descriptor not in self._descriptors:
                self._descriptors = [*self._descriptors, descriptor][-2:]  # current and next period
            if action == "UPLOAD" and descriptor:
                waiting = self._waiting.setdefault(hsdir, [])
                if descriptor not in waiting:
                    waiting.append(descriptor)
            elif action in ("UPLOADED", "FAILED"):
                waiting = self._waiting.get(hsdir) or [None]
                sent = waiting.pop(0)
                if not waiting:
                    self._waiting.pop(hsdir, None)
                self._answers[hsdir] = action
                if action == "UPLOADED" and sent:
                    self._accepted.add(sent)
                elif action == "FAILED":
                    self._reason = reason or "unknown"
            else:
                return
            self._changed.notify_all()
        for callback in self._listeners:
            callback(self)
