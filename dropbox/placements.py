"""Placement tags: which places' posters bring people to a desk's page.

A poster's clearnet QR code may carry `?src=TAG` (`sealdrop poster --tag school-5`). When the reporter
page `/r/<desk>` is opened with a valid tag, the desk's count for that tag and day goes up by one, and
that is all the server keeps: no address, no time finer than the day, no cookie, nothing tied to a
report or case (next to a report, a tag would say where the reporter stood). The admin poster page
shows the counts.
"""

from __future__ import annotations

import datetime as dt
import logging
import re

from flask import Flask, Response, current_app, request
from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from .models import Desk, PlacementCount, today

# A place's name: letters, digits, '.', '_', '-' (school-5). The poster CLI and form use the same.
TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")
REPORTER_PAGE = "report.form"  # GET /r/<slug>
log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    app.after_request(_count_tagged_visit)


def _count_tagged_visit(response: Response) -> Response:
    """After the desk's page was served (200: the desk exists) to a GET with a valid ?src= tag."""
    if request.method != "GET" or request.endpoint != REPORTER_PAGE or response.status_code != 200:
        return response
    tag = request.args.get("src", "")
    if not TAG.fullmatch(tag):
        return response  # an unknown shape is not counted (and never stored)
    try:
        count(current_app.extensions["sealdrop.engine"], request.view_args["slug"], tag, today())
    except SQLAlchemyError:  # a lost count never costs a reporter the page; say nothing identifying
        log.warning("a placement count could not be saved")
    return response


def count(engine: Engine, slug: str, tag: str, day: dt.date) -> None:
    """Add one to (desk, tag, day); two first visits at once end as 2, not as an error."""
    for _ in range(2):
        try:
            with engine.begin() as conn:
                _add_one(conn, slug, tag, day)
            return
        except IntegrityError:
            continue  # the other visit inserted the row first: now the update finds it


def _add_one(conn: Connection, slug: str, tag: str, day: dt.date) -> None:
    desk_id = conn.scalar(select(Desk.id).where(Desk.slug == slug))
    if desk_id is None:
        return
    row = PlacementCount
    key = (row.desk_id == desk_id, row.tag == tag, row.day == day)
    if conn.execute(update(row).where(*key).values(count=row.count + 1)).rowcount == 0:
        conn.execute(insert(row).values(desk_id=desk_id, tag=tag, day=day, count=1))


def recent(session, days: int = 30) -> list[tuple[str, str, dt.date, int]]:
    """(desk slug, tag, day, count) for the last `days` days, newest day first."""
    since = today() - dt.timedelta(days=days - 1)
    rows = session.execute(
        select(Desk.slug, PlacementCount.tag, PlacementCount.day, PlacementCount.count)
        .join(Desk, Desk.id == PlacementCount.desk_id)
        .where(PlacementCount.day >= since)
        .order_by(PlacementCount.day.desc(), Desk.slug, PlacementCount.tag)
    )
    return [tuple(row) for row in rows]
