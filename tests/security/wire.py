"""Raw HTTP against a live server: every method, any header, no redirect followed, nothing added."""

from __future__ import annotations

import http.client
import socket
from dataclasses import dataclass
from email.message import Message
from urllib.parse import urlsplit


@dataclass
class Answer:
    status: int
    headers: Message
    body: bytes

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def fetch(base: str, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
          timeout: float = 60) -> Answer:  # fmt: skip
    """One request on a fresh connection: what the server answered, exactly."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        conn.close()


def raw(base: str, data: bytes, timeout: float = 30) -> bytes:
    """Send bytes as they are (a malformed request, a body cut short) and read what comes back."""
    parts = urlsplit(base)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def parse_raw(answer: bytes) -> Answer:
    """A raw answer's status and headers (waitress's own error answers come back this way)."""
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    message = Message()
    for line in lines[1:]:
        name, _, value = line.partition(":")
        message[name.strip()] = value.strip()
    return Answer(int(lines[0].split()[1]), message, body)
