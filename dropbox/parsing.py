"""Total parsers for what arrives from outside: each gives a value or says no, never another exception.

`str.isdigit()` is true for "²", "①" and the Arabic-Indic "٣": `int()` refuses the first two (a 500
where a 400 was meant) and reads the last as 3, an id nobody typed. Only ASCII 0-9 count here.

`json_object` is crypto's one total JSON reader (crypto/jsonobject.py), refusing with `BadInput`.
"""

from __future__ import annotations

from crypto.jsonobject import MAX_DEPTH, NotJSONObject, read_json_object

MAX_ID = 2**31 - 1  # a row id: PostgreSQL's INTEGER (a larger one is a database error, not "not found")


class BadInput(ValueError):
    """Input that is not what the caller asked for; the message names why, never the input."""


def whole_number(raw: object, low: int, high: int) -> int | None:
    """The number `raw` spells in ASCII digits, if it is within low..high; otherwise None."""
    if not isinstance(raw, str) or not raw.isascii() or not raw.isdigit():
        return None
    if len(raw) > len(str(high)):  # also keeps int() away from ten thousand digits
        return None
    value = int(raw)
    return value if low <= value <= high else None


def json_object(raw: bytes | str, limit: int, max_depth: int = MAX_DEPTH) -> dict:
    """A JSON object of at most `limit` bytes nested at most `max_depth` deep, or BadInput."""
    try:
        return read_json_object(raw, limit, max_depth)
    except NotJSONObject as e:
        raise BadInput(str(e)) from None
