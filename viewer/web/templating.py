"""Filters and globals the templates share. Every value from a report is text for Jinja to escape."""

from __future__ import annotations

from flask import Flask, g, request, url_for

from .. import geo
from ..triage import STATES

STATE_LABELS = {s: s.capitalize() for s in STATES}
STATE_LABELS["not credible"] = "Not credible"
TEXT_SHOWN = 100_000  # characters of a report's text on its page; `sealview show` prints it all


def human_size(n: int | None) -> str:
    if n is None:
        return "unknown size"
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return ""


def where_text(where: dict) -> str:
    mode = where.get("mode")
    parts = []
    if mode == "typed":
        parts.append(f"typed by the reporter: “{where.get('text', '')}”")
    if mode == "place":
        parts.append(f"landmark: {where.get('place', '')}")
    if where.get("lat") is not None:
        coords = geo.shown_coordinates(where["lat"], where["lon"], where.get("precision"))
        precision = geo.precision_text(where.get("precision", "place"))
        accuracy = where.get("accuracy_m")
        extra = f", accuracy about {accuracy:.0f} m" if isinstance(accuracy, float | int) and accuracy else ""
        parts.append(f"{coords} ({precision}{extra})")
    return "; ".join(parts) or "not given"


def page_url(endpoint: str, filters, **changes) -> str:
    return url_for(endpoint, **filters.args(**changes))


def init(app: Flask) -> None:
    app.jinja_env.globals.update(
        STATES=STATES,
        STATE_LABELS=STATE_LABELS,
        TEXT_SHOWN=TEXT_SHOWN,
        page_url=page_url,
        csrf=lambda: getattr(g, "csrf", ""),
        current=lambda: request.endpoint,
    )
    app.jinja_env.filters.update(size=human_size, where=where_text, state=lambda s: STATE_LABELS.get(s, s))
