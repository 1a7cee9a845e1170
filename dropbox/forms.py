"""Validation of what the no-JS form sends. Errors are codes; templates turn them into words."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from werkzeug.datastructures import FileStorage, ImmutableMultiDict

from . import maps
from .intake import ReportFields
from .models import Category, Desk
from .parsing import MAX_ID, whole_number
from .scrub import Clean, RejectedFile, scrub

MAX_WHAT = 20_000
MAX_SHORT = 300
WHERE_MODES = ("none", "typed", "place", "map")
FORM_FIELDS = ("category", "what", "when", "where_mode", "where_text", "where_place", "contact",
               "keep_metadata", "map_sheet", "map_x", "map_y", "map_precision")  # fmt: skip


@dataclass
class ReportForm:
    """The parsed form; `errors` maps a field name to an error code."""

    category: Category | None = None
    fields: ReportFields | None = None
    files: list[Clean] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)


def _text(form: ImmutableMultiDict, name: str, limit: int, errors: dict, *, required: bool = False) -> str:
    value = form.get(name, "").replace("\r\n", "\n").strip()
    if "\ufffd" in value or "\x00" in value:
        errors[name] = "bad_encoding"
    elif len(value) > limit:
        errors[name] = "too_long"
    elif required and not value:
        errors[name] = "required"
    return value


def _category(desk: Desk, raw: str, errors: dict) -> Category | None:
    category_id = whole_number(raw, 1, MAX_ID)
    if category_id is None:
        errors["category"] = "choose_category"
        return None
    found = next((c for c in desk.categories if c.id == category_id), None)
    if found is None:
        errors["category"] = "choose_category"
    return found


def _where(desk: Desk, form: ImmutableMultiDict, lang: str, errors: dict) -> dict:
    mode = form.get("where_mode", "none")
    if mode not in WHERE_MODES:
        errors["where_mode"] = "required"
        return {"mode": "none"}
    if mode == "typed":
        text = _text(form, "where_text", MAX_SHORT, errors, required=True)
        return {"mode": "typed", "text": text}
    if mode == "place":
        place_id = whole_number(form.get("where_place", ""), 1, MAX_ID)
        place = next((p for p in desk.places if p.id == place_id), None)
        if place is None:
            errors["where_place"] = "required"
            return {"mode": "none"}
        return {
            "mode": "place",
            "place": place.name(lang),
            "place_id": place.id,
            "lat": place.lat,
            "lon": place.lon,
        }
    if mode == "map":  # a point on one of the desk's map sheets, rounded here, before sealing
        where = maps.where_from_form(desk, form)
        if where is None:
            errors["where_map"] = "required"
            return {"mode": "none"}
        return where
    return {"mode": "none"}


def _buffer(f: FileStorage) -> bytes | memoryview:
    """The part's bytes where MemoryOnlyRequest left them, without copying them."""
    stream = f.stream
    return stream.getbuffer() if isinstance(stream, io.BytesIO) else stream.read()


def _files(uploads: list[FileStorage], limit: int, errors: dict, keep: bool) -> list[Clean]:
    cleaned = []
    present = [f for f in uploads if f and f.filename]
    if len(present) > limit:
        errors["files"] = "too_many_files"
        return []
    for f in present:
        try:
            cleaned.append(scrub(_buffer(f), f.filename or "file", f.mimetype or "", keep=keep))
        except RejectedFile as e:
            errors["files"] = e.code
            errors["files_name"] = e.filename
    return cleaned


def parse_report(
    desk: Desk,
    form: ImmutableMultiDict,
    files: list[FileStorage],
    lang: str,
    max_files: int,
    *,
    addition: bool = False,
) -> ReportForm:
    result = ReportForm()
    errors = result.errors
    if not addition:
        result.category = _category(desk, form.get("category", ""), errors)
    what = _text(form, "what", MAX_WHAT, errors, required=True)
    when = "" if addition else _text(form, "when", MAX_SHORT, errors)
    where = {"mode": "none"} if addition else _where(desk, form, lang, errors)
    contact = "" if addition else _text(form, "contact", MAX_SHORT, errors)
    keep = form.get("keep_metadata") == "yes"
    result.files = _files(files, max_files, errors, keep)
    result.values = {k: form.get(k, "")[:MAX_WHAT] for k in FORM_FIELDS}
    if not errors:
        result.fields = ReportFields(language=lang, what=what, when=when, where=where, contact=contact)
    return result
