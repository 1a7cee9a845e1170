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
- Resumable uploads need nothing here: their bytes are staged in the shared blob store and their
  offset lives in the shared row (dropbox/uploads.py), so a piece sent through one instance and the
  next through another continue one upload.
- NotifyState: "N new reports wait" sent once per period for all instances, not once by each.

Only counts and keyed hashes go to Redis: never a desk's reports, an address or a receipt.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import urllib.parse
from collections.abc import Sequence

import redis
from flask import Flask, current_app, g, request
from flask.wrappers import Response
from werkzeug.exceptions import ServiceUnavailable

from .budget import BUCKETS, KINDS, Counter, CountsUnavailable
from .config import Config
from .intake import BUSY_RETRY_AFTER_S
from .security import once_hash

log = logging.getLogger("sealdrop")

# budget.Counter.step as one script, so one round trip. KEYS: the set of names counted lately (for the
# admin page), then one hash per counted name (slice number -> count). ARGV: slice length (s), slices
# in a window, expiry (s), how many to add, then a limit per name (-1: none), then the names. Adds to
# every name only if each is below its limit; returns the seconds until all are below (as text), then
# each name's count.
_WINDOW_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local slice_s, buckets = tonumber(ARGV[1]), tonumber(ARGV[2])
local ttl, amount = tonumber(ARGV[3]), tonumber(ARGV[4])
local current = math.floor(now / slice_s)
local names = #KEYS - 1
local worst, totals = 0, {}
for i = 1, names do
  local key, limit = KEYS[i + 1], tonumber(ARGV[4 + i])
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
  for i = 1, names do
    redis.call('HINCRBY', KEYS[i + 1], string.format('%d', current), amount)
    redis.call('EXPIRE', KEYS[i + 1], ttl)
    redis.call('SADD', KEYS[1], ARGV[4 + names + i])
  end
  redis.call('EXPIRE', KEYS[1], ttl)
end
local answer = {tostring(worst)}
for i = 1, #totals do answer[i + 1] = totals[i] end
return answer
"""


def client(cfg: Config, timeout_s: float = 10) -> redis.Redis:
    """A client for `redis_url`; it connects on first use (after `serve` forks its workers)."""
    return redis.Redis.from_url(cfg.redis_url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)


def redis_answers(cfg: Config, timeout_s: float = 3) -> bool:
    """Whether Redis at `redis_url` answers a PING now (a refused connection, a wrong password and
    silence alike: False), waiting at most about `timeout_s`."""
    connection = client(cfg, timeout_s)
    try:
        return bool(connection.ping())
    except redis.RedisError:
        return False
    finally:
        connection.close()


def redis_address(cfg: Config) -> str:
    """host:port of `redis_url`, for the operator's messages: never its password."""
    parts = urllib.parse.urlsplit(cfg.redis_url)
    return f"{parts.hostname}:{parts.port or 6379}" if parts.hostname else parts.path


class RedisWindowCounter(Counter):
    """budget.WindowCounter's methods and results, counted in Redis for every instance at once: per
    key, a hash of slice number -> count, expiring a little after the window; each step one script."""

    def __init__(self, connection: redis.Redis, prefix: str, kind: str, window_s: float) -> None:
        self.slice_s = window_s / BUCKETS
        self._redis = connection
        self._prefix = f"{prefix}:budget:{kind}:"
        self._seen = f"{prefix}:budget-seen:{kind}"  # apart from the names: a desk may be called "seen"
        self._ttl = math.ceil(window_s + self.slice_s) + 60
        self._script = connection.register_script(_WINDOW_SCRIPT)

    def step(self, limits: Sequence[tuple[str, int]], amount: int = 0) -> tuple[float, list[int]]:
        names = [name for name, _ in limits]
        keys = [self._seen, *(self._prefix + name for name in names)]
        args = [self.slice_s, BUCKETS, self._ttl, amount, *(limit for _, limit in limits), *names]
        try:
            wait, *totals = self._script(keys=keys, args=args)
        except (redis.ConnectionError, redis.TimeoutError):
            raise CountsUnavailable from None
        return float(wait), [int(n) for n in totals]

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
