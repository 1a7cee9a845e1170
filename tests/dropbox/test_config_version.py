"""config_version (migration 0012): the database itself moves the number on every change to a table the
report page shows or whose rows decide the keys a report is sealed to, on SQLite and PostgreSQL, and
only then. The report page's cache and the no-JS path's sealing keys rest on it (dropbox/pagecache.py).
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import delete, insert, select, text, update

from dropbox import config, db, pagecache
from dropbox.models import Case, Category, Desk, Officer, Place, category_officers


@pytest.fixture
def session(instance):
    session = db.standalone_session(config.load(instance).database_url)
    yield session
    session.close()
    session.get_bind().dispose()


def version(session) -> int:
    session.commit()  # end any snapshot, so the number read is the committed one
    return pagecache.current_version(session)


def moves(session, statement) -> bool:
    before = version(session)
    session.execute(statement)
    session.commit()
    return version(session) > before


def test_every_watched_table_moves_the_number_on_insert_update_and_delete(session):
    desk_id = session.scalar(select(Desk.id).where(Desk.slug == "demo"))
    officer_id = session.scalar(select(Officer.id).where(Officer.desk_id == desk_id))
    category_id = session.scalar(select(Category.id).where(Category.desk_id == desk_id))

    assert moves(session, update(Desk).where(Desk.id == desk_id).values(retention_days=31))
    assert moves(session, update(Officer).where(Officer.id == officer_id).values(retired=True))
    assert moves(session, insert(Category).values(desk_id=desk_id, slug="new", names={"en": "New"}))
    new_category = session.scalar(select(Category.id).where(Category.slug == "new"))
    assert moves(session, insert(category_officers).values(category_id=new_category, officer_id=officer_id))
    assert moves(session, delete(category_officers).where(category_officers.c.category_id == new_category))
    assert moves(session, delete(Category).where(Category.id == new_category))
    assert moves(session, insert(Place).values(desk_id=desk_id, names={"en": "Park"}))
    assert moves(session, update(Category).where(Category.id == category_id).values(names={"en": "Renamed"}))
    # A hand-written statement moves it too: no code path can forget to.
    assert moves(session, text('UPDATE places SET names = \'{"en": "Square"}\''))
    # Every watched table has its trigger (a later SQLite migration that rebuilds a table drops them).
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        names = set(session.scalars(text("SELECT tbl_name FROM sqlite_master WHERE type = 'trigger'")))
    else:
        names = set(
            session.scalars(text("SELECT DISTINCT event_object_table FROM information_schema.triggers"))
        )
    assert names >= pagecache.WATCHED_TABLES


def test_filing_a_report_does_not_move_it(session, client):
    from tests.dropbox.conftest import Reporter

    reporter = Reporter(client)
    assert reporter.submit().status_code == 200  # the first report of a process also sweeps
    before = version(session)
    assert reporter.submit().status_code == 200
    assert session.scalar(select(Case.id).order_by(Case.id.desc()).limit(1)) is not None
    assert version(session) == before  # reports never make every cache read the desk again


def test_a_rolled_back_change_leaves_it(session):
    before = version(session)
    session.execute(update(Desk).values(retention_days=5))
    session.rollback()
    assert version(session) == before


def test_two_changes_to_two_tables_in_opposite_orders_both_commit(instance, session):
    """PostgreSQL: the number moves at commit (a deferred trigger), after each transaction already holds
    its other locks, so two admins' changes in opposite orders cannot deadlock on it."""
    url = config.load(instance).database_url
    desk_id = session.scalar(select(Desk.id).where(Desk.slug == "demo"))
    officer_id = session.scalar(select(Officer.id).where(Officer.desk_id == desk_id))
    before = version(session)
    first_step_done = threading.Barrier(2, timeout=30)
    errors: list[BaseException] = []

    def change(order: tuple) -> None:
        own = db.standalone_session(url)
        try:
            own.execute(order[0])
            first_step_done.wait()  # both hold their first table's row before the second statement
            own.execute(order[1])
            own.commit()
        except BaseException as e:  # reported below
            errors.append(e)
            own.rollback()
        finally:
            own.close()
            own.get_bind().dispose()

    desk_change = update(Desk).where(Desk.id == desk_id).values(retention_days=40)
    officer_change = update(Officer).where(Officer.id == officer_id).values(name="Renamed")
    # Each first changes a row of one watched table, then adds a row to another: with a trigger that
    # moved the number at once, the second would wait on the first's number before the barrier.
    orders = [(desk_change, insert(Place).values(desk_id=desk_id, names={"en": "Gym"})),
              (officer_change, insert(Place).values(desk_id=desk_id, names={"en": "Pool"}))]  # fmt: skip
    threads = [threading.Thread(target=change, args=(order,)) for order in orders]
    if session.get_bind().dialect.name == "sqlite":
        pytest.skip("SQLite takes one writer at a time (db.QueuedWriterConnection): no interleaving to test")
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert version(session) >= before + 2
