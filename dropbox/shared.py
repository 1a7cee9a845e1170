"""What several instances on several machines share beyond the database (DESIGN "Storage and
serving"; docs/operator-guide.md "Several instances").

Each instance is stateless: cases, uploads' offsets, export sequences, desk sessions and login
throttles are rows in the shared PostgreSQL database, blobs are large objects in it
(dropbox/blobs.py, LargeObjectStore). Here the rest:

- RedisWindowCounter: the budgets' counts (dropbox/budget.py) in Redis, so that a desk's budget is one
  budget however many instances take its reports. One Lua script reads, checks and counts: a check and
  its count are never split, across instances as across threads. The clock is the Redis server's, one
  for all machines.
- SpentChallenges: a solved proof-of-work challenge is claimed once across instances (SET NX with an
  expiry past the challenge's own) as the report call arrives, before anything is stored; a call that
  files nothing gives it back. The database keeps the lasting record with the case it opened
  (submission_tokens), as on one machine.
- SharedUploads: resumable uploads whose bytes live in the shared blob store and whose offset lives in
  the shared row, so a piece sent through one instance and the next through another continue one upload.
- NotifyState: "N new reports wait" sent once per period for all instances, not once by each.

Only counts and keyed hashes go to Redis: never a desk's reports, an address or a receipt.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import BinaryIO

import redis
from flask import Flask, current_app, g, request
from flask.wrappers import Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import ServiceUnavailable

from crypto import RecipientKey

from . import db
from .blobs import BlobStore, LargeObjectStore
from .budget import BUCKETS, KINDS, CountsUnavailable
from .config import Config
from .intake import BUSY_RETRY_AFTER_S, IntakeError
from .models import Upload
from .security import once_hash
from .uploads import UploadLimits, Uploads, _lock_all, _reread

log = logging.getLogger("sealdrop")

# KEYS: one hash per counted key (slice number -> count). ARGV: slice length (s), slices in a window,
# expiry (s), how many to add, then a limit per key (-1: none). Adds to every key only if each is
# below its limit; returns the seconds until all are below (as text), then each key's count.
_WINDOW_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local slice_s, buckets = tonumber(ARGV[1]), tonumber(ARGV[2])
local ttl, amount = tonumber(ARGV[3]), tonumber(ARGV[4])
local current = math.floor(now / slice_s)
local worst, totals = 0, {}
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[4 + i])
  local flat = redis.call('HGETALL', key)
  local slices, total = {}, 0
  for j = 1, #flat, 2 do
    local number, n = tonumber(flat[j]), tonumber(flat[j + 1])
    if number > current - buckets then
      table.insert(slices, {number, n})
      total = total + n
    else
      redis.call('HDEL', key, flat[j])
    end
  end
  totals[i] = total
  if limit >= 0 and total >= limit then
    table.sort(slices, function(a, b) return a[1] < b[1] end)
    local wait, left = slice_s * buckets, total
    for _, s in ipairs(slices) do
      left = left - s[2]
      if left < limit then
        wait = math.max(0, (s[1] + buckets) * slice_s - now)
        break
      end
    end
    worst = math.max(worst, wait)
  end
end
if amount > 0 and worst == 0 then
  for _, key in ipairs(KEYS) do
    redis.call('HINCRBY', key, string.format('%d', current), amount)
    redis.call('EXPIRE', key, ttl)
  end
end
local answer = {tostring(worst)}
for i = 1, #totals do answer[i + 1] = totals[i] end
return answer
"""


def client(cfg: Config) -> redis.Redis:
    """A client for `redis_url`; it connects on first use (after `serve` forks its workers)."""
    return redis.Redis.from_url(cfg.redis_url, socket_timeout=10, socket_connect_timeout=10)


class RedisWindowCounter:
    """budget.WindowCounter's methods and results, counted in Redis for every instance at once: per
    key, a hash of slice number -> count, expiring a little after the window."""

    def __init__(self, connection: redis.Redis, prefix: str, kind: str, window_s: float) -> None:
        self.slice_s = window_s / BUCKETS
        self._redis = connection
        self._prefix = f"{prefix}:budget:{kind}:"
        self._seen = f"{prefix}:budget:{kind}:seen"
        self._ttl = math.ceil(window_s + self.slice_s) + 60
        self._script = connection.register_script(_WINDOW_SCRIPT)

    def _run(self, keys: Sequence[str], limits: Sequence[int], amount: int) -> tuple[float, list[int]]:
        args = [self.slice_s, BUCKETS, self._ttl, amount, *limits]
        try:
            wait, *totals = self._script(keys=[self._prefix + key for key in keys], args=args)
            if amount and not float(wait):
                self._redis.sadd(self._seen, *keys)  # for the admin page's list of desks counted lately
                self._redis.expire(self._seen, self._ttl)
        except (redis.ConnectionError, redis.TimeoutError):
            raise CountsUnavailable from None
        return float(wait), [int(n) for n in totals]

    def add(self, key: str, count: int = 1) -> None:
        self._run([key], [-1], count)

    def count(self, key: str) -> int:
        return self._run([key], [-1], 0)[1][0]

    def seconds_until_below(self, key: str, limit: int) -> float:
        return self._run([key], [limit], 0)[0]

    def take_below(self, limits: Sequence[tuple[str, int]]) -> float:
        return self._run([key for key, _ in limits], [limit for _, limit in limits], 1)[0]

    def seen(self) -> list[str]:
        try:
            return sorted(m.decode("utf-8") for m in self._redis.smembers(self._seen))
        except (redis.ConnectionError, redis.TimeoutError):
            raise CountsUnavailable from None


def redis_counters(cfg: Config) -> dict[str, RedisWindowCounter]:
    """One Redis counter per budget kind, for budget.Budgets when `redis_url` is set."""
    connection = client(cfg)
    return {
        kind: RedisWindowCounter(connection, cfg.redis_prefix, kind, cfg.budget_window_s) for kind in KINDS
    }


class SpentChallenges:
    """Solved proof-of-work challenges, claimed once across instances, by keyed hash."""

    def __init__(self, connection: redis.Redis, prefix: str, keep_s: int) -> None:
        self._redis, self._prefix, self._keep_s = connection, f"{prefix}:pow:", keep_s

    def claim(self, token_hash: bytes) -> bool:
        """True for the first claim of this challenge, on any instance; False after that."""
        return bool(self._redis.set(self._prefix + token_hash.hex(), b"1", nx=True, ex=self._keep_s))

    def give_back(self, token_hash: bytes) -> None:
        self._redis.delete(self._prefix + token_hash.hex())


def claim_challenge(purpose: str, token: str) -> bool:
    """Claim a solved challenge for this request (True), or False if a request on some instance claimed
    it already. Without Redis, True: the database alone keeps it single-use (api.py, claim_form). A
    request that answers with anything but success gives the claim back (init_app)."""
    spent: SpentChallenges | None = current_app.extensions.get("sealdrop.spent")
    if spent is None:
        return True
    token_hash = once_hash(purpose, token)
    if not spent.claim(token_hash):
        return False
    g.sealdrop_claimed = token_hash
    return True


def init_app(app: Flask) -> None:
    cfg: Config = app.config["SEALDROP"]
    if not cfg.redis_url:
        return
    keep_s = cfg.pow_max_age_s + 120  # past the challenge's own life (pow.refusal allows 60 s of skew)
    app.extensions["sealdrop.spent"] = SpentChallenges(client(cfg), cfg.redis_prefix, keep_s)

    @app.after_request
    def _give_back_unused(response: Response) -> Response:
        """A report refused or failed (busy, store full, a crash answered 500) filed nothing: its
        solution may be sent again. One filed (201) keeps its claim."""
        claimed = g.pop("sealdrop_claimed", None)
        if claimed is not None and response.status_code != 201:
            with contextlib.suppress(redis.RedisError):  # lost, it costs the page one more solving
                app.extensions["sealdrop.spent"].give_back(claimed)
        return response

    @app.errorhandler(CountsUnavailable)
    @app.errorhandler(redis.ConnectionError)
    @app.errorhandler(redis.TimeoutError)
    def _redis_away(_e: Exception):
        """Redis unreachable: nothing was counted or stored; the client is asked to come back."""
        log.error("redis unreachable in %s", request.endpoint)  # the endpoint only, as for a crash
        response = app.make_response(app.handle_http_exception(ServiceUnavailable(description="try_again")))
        response.headers["Retry-After"] = str(BUSY_RETRY_AFTER_S)
        return response


# --- Uploads in the shared blob store ---------------------------------------------------------------


class SharedUploads(Uploads):
    """uploads.Uploads with its bytes in the shared blob store (LargeObjectStore) instead of a folder of
    one machine. An upload's staged blob is made with its row (named as it will be filed, `blob_id`,
    when that name is free) and each piece is written into it in the transaction that records the new
    offset: the offset and the bytes move together, a crash keeps both or neither. One writer per
    upload at a time, across instances: a lock per upload in the database (db.lock_for_writing).
    Filing moves nothing: the blob is settled and the upload's row deleted in the report's own
    transaction, so a failed filing leaves the upload as it was and a crash leaves nothing to put back."""

    def __init__(
        self, store: LargeObjectStore, max_size: int, limits: UploadLimits | None = None, *, blob_key: bytes
    ) -> None:
        super().__init__(store.incoming.parent, max_size, limits, blob_key=blob_key)
        self.store = store

    def _stage(self, session: Session, upload_id: str) -> None:
        self.store.stage(session.connection(), upload_id, self.blob_id(upload_id))

    def _read(self, upload_id: str) -> BinaryIO:
        blob_id = self.store.staged(upload_id)
        if blob_id is None:
            raise FileNotFoundError(f"no staged blob for upload {upload_id}")  # filed or swept meanwhile
        return self.store.open(blob_id)

    def discard(self, upload_id: str) -> None:
        with self.store.engine.begin() as conn:
            self.store.delete_staged(conn, upload_id)

    def named_blob_ids(self, session: Session) -> set[str]:
        """Every blob a row leads to, with the staged blobs of open uploads."""
        staged = self.store.last_written(session.connection()).values()
        return super().named_blob_ids(session) | {blob_id for blob_id, _ in staged}

    def append(self, session: Session, upload: Upload, offset: int, body: BinaryIO, length: int) -> int:
        """As Uploads.append: `length` bytes at `offset`, a retried piece accepted again."""
        try:
            db.lock_for_writing(session, f"uploads.append:{upload.id}")
            _reread(session, upload)
            if offset != upload.received:
                if offset < upload.received and offset + length <= upload.received:
                    received = upload.received
                    session.rollback()  # lets the upload's lock go
                    return received  # a retry of a piece we already hold
                raise IntakeError("wrong_offset")
            if upload.received + length > upload.size:
                raise IntakeError("too_large")
            try:
                copied = self.store.write_at(session.connection(), upload.id, offset, body, length)
            except FileNotFoundError:  # swept a moment ago
                raise IntakeError("unknown_upload") from None
            if copied != length:  # the body ended early: nothing of it is kept, the client resends
                raise IntakeError("short_piece")
            upload.received += length
            session.commit()
            return upload.received
        except BaseException:
            session.rollback()
            raise

    @contextmanager
    def finishing(
        self, session: Session, store: BlobStore, uploads: Sequence[Upload], keys: Sequence[RecipientKey]
    ) -> Iterator[list[str]]:
        """As Uploads.finishing: check every upload, yield their blob ids for the caller to file and
        commit; the staged blobs become filed ones in that same commit, or stay staged on a rollback."""
        _lock_all(session, uploads)
        for upload in uploads:
            _reread(session, upload)  # filed by a twin request meanwhile: unknown_upload
            self.check(upload, keys)
        try:
            blob_ids = []
            for upload in uploads:
                blob_ids.append(self.store.settle(session.connection(), upload.id))
                session.delete(upload)
            yield blob_ids
        except BaseException:
            session.rollback()
            raise

    def put_back_moved(self, session: Session, store: BlobStore, uploads: Sequence[Upload]) -> None:
        """Nothing to put back: an upload's bytes never move."""

    def sweep(self, session: Session, max_age_s: float, now: float | None = None) -> int:
        """Delete abandoned uploads: staged bytes nobody wrote to for `max_age_s` (to the minute), with
        their rows. Returns how many were deleted."""
        now = time.time() if now is None else now
        cutoff = dt.datetime.fromtimestamp(now - max_age_s, dt.UTC)
        db.lock_for_writing(session, "uploads.sweep")  # instances sweep one at a time, each seeing the last
        written = self.store.last_written(session.connection())
        removed = 0
        for row in session.scalars(select(Upload)).all():
            last = written.get(row.id, (None, None))[1]
            if last is None and row.created_day >= cutoff.date():
                continue  # no staged blob (the row of a start that is still committing)
            if last is None or last <= cutoff:
                self.store.delete_staged(session.connection(), row.id)
                session.delete(row)
                removed += 1
        session.commit()
        return removed


def uploads_for(cfg: Config, store: BlobStore, limits: UploadLimits | None = None) -> Uploads:
    """The uploads of an instance, kept where its blob store keeps blobs."""
    if isinstance(store, LargeObjectStore):
        return SharedUploads(store, cfg.max_envelope_bytes, limits, blob_key=cfg.secret_key)
    return Uploads(cfg.blob_dir, cfg.max_envelope_bytes, limits, blob_key=cfg.secret_key)


# --- Notices: one per period across instances ----------------------------------------------------------


class NotifyState:
    """What dropbox/desk/notify.py last announced per desk and channel, kept in Redis instead of
    DIR/notify-state.json when several instances run: each instance's beat would otherwise announce
    the same reports once per instance. A notice is claimed for its period (SET NX) before it is sent,
    so one instance sends it; what was sent is recorded for all."""

    def __init__(self, cfg: Config) -> None:
        self._redis = client(cfg)
        self._state = f"{cfg.redis_prefix}:notify:state"
        self._claims = f"{cfg.redis_prefix}:notify:claim:"
        self._keep_s = 2 * cfg.notify_every_s + 60

    def load(self) -> dict:
        state: dict = {}
        for field, value in self._redis.hgetall(self._state).items():
            slug, _, channel = field.decode("utf-8").partition("\0")
            state.setdefault(slug, {})[channel] = json.loads(value)
        return state

    def claim(self, slug: str, channel: str, period: int) -> bool:
        key = f"{self._claims}{slug}\0{channel}\0{period}"
        return bool(self._redis.set(key, b"1", nx=True, ex=self._keep_s))

    def record(self, slug: str, channel: str, last: list) -> None:
        self._redis.hset(self._state, f"{slug}\0{channel}", json.dumps(last))
