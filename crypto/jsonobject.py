"""One total reader of JSON objects from outside, for both halves of the air gap (bundles, report
documents, API bodies): `json.loads` raises RecursionError, not ValueError, on deeply nested input, and
may return any type. `read_json_object` turns every way of being wrong into `NotJSONObject` and bounds
the nesting, so code that walks the result (str(), a comparison, jsonify) cannot recurse deeply either.
Each caller wraps the refusal in its own error."""

from __future__ import annotations

import json

MAX_DEPTH = 32  # our documents nest three or four levels


class NotJSONObject(ValueError):
    """Not a JSON object we read; the message says why ("not JSON", "too large"...), never the input."""


def read_json_object(raw: bytes | str, limit: int, max_depth: int = MAX_DEPTH) -> dict:
    """A JSON object of at most `limit` bytes (or characters) nested at most `max_depth` deep."""
    if len(raw) > limit:
        raise NotJSONObject("too large")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, an int of 5,000 digits, too deep
        raise NotJSONObject("not valid JSON") from None
    if not isinstance(data, dict):
        raise NotJSONObject("not a JSON object")
    if nesting(data, max_depth) > max_depth:
        raise NotJSONObject("nested too deeply")
    return data


def nesting(value: object, stop_after: int) -> int:
    """How deep lists and objects nest in `value` (a scalar: 0), counted without recursion; counting
    stops once it passes `stop_after`."""
    deepest, todo = 0, [(value, 1)]
    while todo and deepest <= stop_after:
        item, depth = todo.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, depth)
            todo.extend((child, depth + 1) for child in children)
    return deepest
