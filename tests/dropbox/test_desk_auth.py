"""The desk's door: the allow-list, Argon2id + TOTP, replayed codes, throttling without addresses,
server-side sessions that expire, CSRF bound to the session, roles, and cookies kept off /r/."""

import datetime as dt
import hashlib
import threading

import pytest
from sqlalchemy import func, select

from dropbox import config, create_app, db
from dropbox.desk import accounts, auth
from dropbox.models import AuditEntry, DeskSession, DeskUser, LoginThrottle
from tests.desk_helpers import PASSWORD, add_user, code, csrf, login, wrong_code


@pytest.fixture
def desk_app(sqlite_instance):
    app = create_app(config.load(sqlite_instance))
    yield app
    app.extensions["sealdrop.engine"].dispose()


@pytest.fixture
def app_on_each_database(instance):
    """The app on SQLite and on PostgreSQL, for what depends on the database's locking."""
    app = create_app(config.load(instance))
    yield app
    app.extensions["sealdrop.engine"].dispose()


@pytest.fixture
def desk_client(desk_app):
    return desk_app.test_client()


def rows(app, model):
    with app.app_context():
        return db.session().scalars(select(model)).all()


def url_for_rule(rule) -> str:
    values = {
        arg: (1 if type(rule._converters[arg]).__name__ == "IntegerConverter" else "demo")
        for arg in rule.arguments
    }
    return rule.build(values)[1]


def desk_rules(app):
    return [r for r in app.url_map.iter_rules() if r.rule.startswith("/desk/")]


def test_every_desk_route_but_the_login_needs_a_session(desk_app, desk_client):
    rules = desk_rules(desk_app)
    assert len(rules) > 20  # the inbox, bundles, every admin page
    public = set()
    for rule in rules:
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = desk_client.open(url_for_rule(rule), method=method)
            if response.status_code == 303 and response.location.startswith("/desk/login"):
                continue
            public.add(rule.endpoint)
            assert rule.endpoint in auth.PUBLIC_ENDPOINTS, (method, rule.rule, response.status_code)
    assert public == auth.PUBLIC_ENDPOINTS == {"desk.login", "desk.login_post"}
    # Paths no route matches are behind the door too: nothing about the desk shows without a session.
    for path in ("/desk", "/desk/nothing-here", "/desk/admin/"):
        response = desk_client.get(path)
        assert response.status_code in (303, 308), path
        assert "/desk/login" in desk_client.get(path, follow_redirects=True).request.path


def test_login_makes_a_server_side_session_with_a_scoped_cookie(desk_app, desk_client, sqlite_instance):
    name, secret = add_user(sqlite_instance, "clerk", "demo")
    response = login(desk_client, name, secret)
    assert response.status_code == 303 and response.location == "/desk/"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("sealdrop-desk=")
    assert "Path=/desk/" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # plain http (loopback, onion): a Secure cookie would never come back
    token = cookie.split(";")[0].split("=", 1)[1]
    (session,) = rows(desk_app, DeskSession)
    assert session.id == hashlib.sha256(token.encode()).hexdigest() and token not in session.id
    assert desk_client.get("/desk/").status_code == 200
    # The reporter pages never receive the desk's cookie and never set one.
    reporter = desk_client.get("/r/demo")
    assert reporter.status_code == 200 and "Set-Cookie" not in reporter.headers
    assert desk_client.get_cookie("sealdrop-desk", path="/desk/") is not None
    assert desk_client.get_cookie("sealdrop-desk", path="/") is None


def test_over_https_the_cookie_is_secure_and_prefixed(desk_app, sqlite_instance):
    client = desk_app.test_client()
    name, secret = add_user(sqlite_instance)
    page = client.get("/desk/login", base_url="https://desk.example").get_data(as_text=True)
    response = client.post(
        "/desk/login",
        base_url="https://desk.example",
        data={"csrf_token": csrf(page), "name": name, "password": PASSWORD, "code": code(secret)},
    )
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Secure-sealdrop-desk=") and "; Secure" in cookie and "Path=/desk/" in cookie
    assert client.get("/desk/", base_url="https://desk.example").status_code == 200


@pytest.mark.parametrize("what", ["password", "code", "user"])
def test_wrong_credentials_are_refused_alike(desk_client, sqlite_instance, what):
    name, secret = add_user(sqlite_instance)
    args = {"password": "wrong password!"} if what == "password" else {}
    if what == "code":
        args["totp"] = wrong_code(secret)
    response = login(desk_client, "nobody" if what == "user" else name, secret, **args)
    assert response.status_code == 401 and "Set-Cookie" not in response.headers
    assert "The name, password or code is wrong" in response.get_data(as_text=True)
    assert desk_client.get("/desk/").status_code == 303


def test_a_used_totp_code_is_refused(desk_app, desk_client, sqlite_instance):
    name, secret = add_user(sqlite_instance)
    used = code(secret)
    assert login(desk_client, name, secret, totp=used).status_code == 303
    page = desk_client.get("/desk/").get_data(as_text=True)
    assert desk_client.post("/desk/logout", data={"csrf_token": csrf(page)}).status_code == 303
    replay = login(desk_client, name, secret, totp=used)
    assert replay.status_code == 401 and "already used" in replay.get_data(as_text=True)
    older = login(desk_client, name, secret, totp=code(secret, -1))  # an earlier step: also spent
    assert older.status_code == 401
    assert login(desk_client, name, secret, totp=code(secret, 1)).status_code == 303  # the next one works


def test_accept_totp_takes_one_step_of_drift_each_way_and_never_a_step_twice():
    import pyotp

    secret = pyotp.random_base32()
    user = DeskUser(totp_last_step=0)
    t = 1_800_000_000.0
    totp = pyotp.TOTP(secret)
    assert not accounts.accept_totp(user, secret, totp.at(t - 60), at=t)  # two steps old
    assert accounts.accept_totp(user, secret, totp.at(t - 30), at=t)
    assert not accounts.accept_totp(user, secret, totp.at(t - 30), at=t)
    assert accounts.accept_totp(user, secret, totp.at(t + 30), at=t)
    assert not accounts.accept_totp(user, secret, totp.at(t), at=t)  # older than the last used step
    assert not accounts.accept_totp(user, secret, "12 34", at=t)


def _at(monkeypatch, moment: dt.datetime) -> None:
    monkeypatch.setattr(accounts, "now", lambda: moment)


def test_failed_logins_lock_the_account_with_a_growing_pause(
    desk_app, desk_client, sqlite_instance, monkeypatch
):
    name, secret = add_user(sqlite_instance)
    start = accounts.now()
    _at(monkeypatch, start)
    for _ in range(accounts.FREE_FAILURES):
        assert login(desk_client, name, secret, password="not the password").status_code == 401
    locked = login(desk_client, name, secret)  # right this time, but the account is paused
    assert locked.status_code == 429 and "Too many failed attempts" in locked.get_data(as_text=True)
    # The same name in another case is the same account; and no typed name is stored.
    assert login(desk_client, name.upper(), secret).status_code == 429
    keys = [r.key for r in rows(desk_app, LoginThrottle)]
    assert all(name not in k for k in keys) and "global" in keys
    # After the pause one more failure pauses twice as long.
    _at(monkeypatch, start + accounts.BASE_LOCK + dt.timedelta(seconds=1))
    assert login(desk_client, name, secret, password="still not it").status_code == 401
    _at(monkeypatch, start + accounts.BASE_LOCK * 2 + dt.timedelta(seconds=2))
    assert login(desk_client, name, secret).status_code == 429
    _at(monkeypatch, start + accounts.BASE_LOCK * 3 + dt.timedelta(seconds=2))
    assert login(desk_client, name, secret).status_code == 303  # the right credentials, after the pause
    assert not [r for r in rows(desk_app, LoginThrottle) if r.key.startswith("user:")]  # reset
    # Other accounts were never affected, and unknown names are throttled just the same.
    for _ in range(accounts.FREE_FAILURES):
        login(desk_app.test_client(), "no-such-user", secret)
    assert login(desk_app.test_client(), "no-such-user", secret).status_code == 429


def test_too_many_failures_overall_pause_every_login(desk_client, sqlite_instance, monkeypatch):
    monkeypatch.setattr(accounts, "GLOBAL_FAILURES", 3)
    name, secret = add_user(sqlite_instance)
    for i in range(4):  # four different names: no single account is locked
        assert login(desk_client, f"guess{i}", secret).status_code == 401
    assert login(desk_client, name, secret).status_code == 429
    later = accounts.now() + accounts.GLOBAL_WINDOW + dt.timedelta(seconds=1)
    _at(monkeypatch, later)
    assert login(desk_client, name, secret).status_code == 303


def test_sessions_end_when_idle_and_after_a_working_day(desk_app, desk_client, sqlite_instance, monkeypatch):
    name, secret = add_user(sqlite_instance)
    start = accounts.now()
    assert login(desk_client, name, secret).status_code == 303
    _at(monkeypatch, start + auth.IDLE - dt.timedelta(minutes=1))
    assert desk_client.get("/desk/").status_code == 200
    _at(monkeypatch, start + 2 * auth.IDLE + dt.timedelta(minutes=1))  # idle since the last request
    response = desk_client.get("/desk/")
    assert response.status_code == 303 and response.location.startswith("/desk/login")
    assert rows(desk_app, DeskSession) == []

    _at(monkeypatch, start)
    name, secret = add_user(sqlite_instance)
    assert login(desk_client, name, secret).status_code == 303
    moment = start
    while moment < start + auth.ABSOLUTE - auth.IDLE:  # busy all day: never idle
        moment += auth.IDLE / 2
        _at(monkeypatch, moment)
        assert desk_client.get("/desk/").status_code == 200
    _at(monkeypatch, start + auth.ABSOLUTE + dt.timedelta(seconds=1))
    assert desk_client.get("/desk/").status_code == 303


def test_every_desk_form_needs_the_sessions_csrf_token(desk_app, sqlite_instance):
    first, second = desk_app.test_client(), desk_app.test_client()
    a, b = add_user(sqlite_instance), add_user(sqlite_instance)
    login(first, *a)
    login(second, *b)
    token_a = csrf(first.get("/desk/").get_data(as_text=True))
    token_b = csrf(second.get("/desk/").get_data(as_text=True))
    assert token_a != token_b
    assert first.post("/desk/export/demo").status_code == 400
    assert first.post("/desk/export/demo", data={"csrf_token": token_b}).status_code == 400
    cross = first.post(
        "/desk/export/demo", data={"csrf_token": token_a}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert cross.status_code == 400
    assert first.post("/desk/logout", data={"csrf_token": token_a}).status_code == 303
    forged_login = first.post("/desk/login", data={"csrf_token": "x", "name": a[0], "password": PASSWORD})
    assert forged_login.status_code == 400 and "has expired" in forged_login.get_data(as_text=True)


def test_clerks_see_their_desk_and_no_admin_page(desk_app, desk_client, sqlite_instance):
    name, secret = add_user(sqlite_instance, "clerk", "demo")
    login(desk_client, name, secret)
    inbox = desk_client.get("/desk/").get_data(as_text=True)
    assert 'id="inbox-demo"' in inbox and 'id="inbox-demo-internal"' not in inbox
    token = csrf(inbox)
    assert desk_client.post("/desk/export/demo-internal", data={"csrf_token": token}).status_code == 404
    for rule in desk_rules(desk_app):
        if rule.rule.startswith("/desk/admin/"):
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                response = desk_client.open(url_for_rule(rule), method=method, data={"csrf_token": token})
                assert response.status_code == 403, rule.rule
    assert "Admin" not in inbox and "/desk/admin/" not in inbox


def test_a_disabled_user_is_out_at_once(desk_app, sqlite_instance):
    admin, clerk = desk_app.test_client(), desk_app.test_client()
    login(admin, *add_user(sqlite_instance, "admin"))
    clerk_name, clerk_secret = add_user(sqlite_instance, "clerk")
    login(clerk, clerk_name, clerk_secret)
    assert clerk.get("/desk/").status_code == 200
    with desk_app.app_context():
        clerk_id = db.session().scalar(select(DeskUser.id).where(DeskUser.name == clerk_name))
    token = csrf(admin.get("/desk/admin/users").get_data(as_text=True))
    assert admin.post(f"/desk/admin/users/{clerk_id}/disable", data={"csrf_token": token}).status_code == 303
    assert clerk.get("/desk/").status_code == 303
    assert login(clerk, clerk_name, clerk_secret, totp=code(clerk_secret, 1)).status_code == 401


def test_next_only_leads_inside_the_desk(desk_client, sqlite_instance):
    name, secret = add_user(sqlite_instance)
    page = desk_client.get("/desk/login").get_data(as_text=True)
    for target, expected in [
        ("//evil.example/x", "/desk/"),
        ("https://evil.example/", "/desk/"),
        ("/r/demo", "/desk/"),
        ("/desk/replies", "/desk/replies"),
    ]:
        name, secret = add_user(desk_client.application.config["SEALDROP"].instance_dir)
        response = desk_client.post(
            "/desk/login",
            data={
                "csrf_token": csrf(page),
                "name": name,
                "password": PASSWORD,
                "code": code(secret),
                "next": target,
            },
        )
        assert response.location == expected, target


def test_logins_and_failures_are_audited_by_name_only(desk_app, desk_client, sqlite_instance):
    name, secret = add_user(sqlite_instance)
    login(desk_client, name, secret, password="wrong password")
    login(desk_client, "a typo that might be a password", secret)
    login(desk_client, name, secret)
    with desk_app.app_context():
        entries = db.session().execute(select(AuditEntry.actor, AuditEntry.action)).all()
        assert db.session().scalar(select(func.count(AuditEntry.id))) == 2
    assert [tuple(e) for e in entries] == [(name, "login_failed"), (name, "login")]


def test_concurrent_failures_never_check_more_passwords_than_the_budget(
    app_on_each_database, instance, monkeypatch
):
    """Attempts sent at once must not all pass the lock check before any of them is counted. Every
    attempt that reaches the password check is held there until each of the others has either
    reached it too or been refused: without an atomic count, all of them reach it."""
    name, secret = add_user(instance)
    attempts = accounts.FREE_FAILURES + 7
    checked, refused, statuses = [], [], []
    everyone_arrived = threading.Condition()
    real_check = accounts.password_matches

    def held_check(stored, password):
        with everyone_arrived:
            checked.append(password)
            everyone_arrived.notify_all()
            everyone_arrived.wait_for(lambda: len(checked) + len(refused) >= attempts, timeout=60)
        return real_check(stored, password)

    monkeypatch.setattr(accounts, "password_matches", held_check)

    def attempt(i: int) -> None:
        status = login(
            app_on_each_database.test_client(), name, secret, password=f"wrong password {i}"
        ).status_code
        with everyone_arrived:
            statuses.append(status)
            if status == 429:
                refused.append(i)
                everyone_arrived.notify_all()

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(attempts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(checked) == accounts.FREE_FAILURES
    assert sorted(statuses) == [401] * accounts.FREE_FAILURES + [429] * (attempts - accounts.FREE_FAILURES)
    monkeypatch.setattr(accounts, "password_matches", real_check)
    assert login(app_on_each_database.test_client(), name, secret).status_code == 429  # still paused


def test_claims_from_many_threads_stay_within_the_budget(instance):
    """claim_attempt itself, on SQLite and PostgreSQL: however the claims interleave, exactly the
    budget of them goes on, and the global count holds every claim that went on."""
    cfg = config.load(instance)
    key = accounts.account_key(cfg.secret_key, "someone")
    attempts = accounts.FREE_FAILURES + 11
    results: list = []
    start = threading.Barrier(attempts)

    def claim() -> None:
        with db.standalone_session(cfg.database_url) as session:
            start.wait()
            results.append(accounts.claim_attempt(session, key))
            session.bind.dispose()

    threads = [threading.Thread(target=claim) for _ in range(attempts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r is None for r in results) == accounts.FREE_FAILURES
    with db.standalone_session(cfg.database_url) as session:
        counts = dict(session.execute(select(LoginThrottle.key, LoginThrottle.failures)).all())
        session.bind.dispose()
    assert counts == {key: accounts.FREE_FAILURES, accounts.GLOBAL_KEY: accounts.FREE_FAILURES}


def test_one_code_sent_twice_at_once_opens_one_session(app_on_each_database, instance, monkeypatch):
    """The used step must be recorded atomically: two logins with the same right code, both held
    after the password check until both are there, must not both get a session."""
    name, secret = add_user(instance)
    arrived, statuses = [], []
    both_there = threading.Condition()
    real_check = accounts.password_matches

    def held_check(stored, password):
        ok = real_check(stored, password)
        with both_there:
            arrived.append(1)
            both_there.notify_all()
            both_there.wait_for(lambda: len(arrived) >= 2, timeout=60)
        return ok

    monkeypatch.setattr(accounts, "password_matches", held_check)
    same = code(secret)
    threads = [
        threading.Thread(
            target=lambda: statuses.append(
                login(app_on_each_database.test_client(), name, secret, totp=same).status_code
            )
        )
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(arrived) == 2 and sorted(statuses) == [303, 401]
    assert len(rows(app_on_each_database, DeskSession)) == 1
