"""Usernames that differ only by case or width are one name in the database (users.username_key, unique): a twin is
refused even when the look-up before the insert misses it (two adds at once), an old database that already holds
twins upgrades with the first keeping the key; a user signs in, and the command line finds them, by any twin of their
name; and the last active admin can be neither disabled nor demoted, from the store, the command line or the web app.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading

import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient
from sqlalchemy import event, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from zuoxi.cli import app as cli
from zuoxi.store import Store
from zuoxi.store import users as U
from zuoxi.store.audit import audit_entries
from zuoxi.store.migrate import current, head
from zuoxi.store.tables import User
from zuoxi.store.users import (
    LAST_ADMIN,
    Account,
    UserError,
    add_user,
    authenticate,
    find_account,
    list_accounts,
    set_active,
    update_user,
)
from zuoxi.web import create_app
from zuoxi.web.api import UserChange, change_user

PASSWORD = "correct-horse"


def zuoxi(*args: str, code: int = 0):
    outcome = CliRunner().invoke(cli, list(args))
    assert outcome.exit_code == code, (outcome.exit_code, outcome.stdout, outcome.stderr, outcome.exception)
    return outcome


def keys(engine) -> dict[str, str | None]:
    with Session(engine) as session:
        return dict(session.execute(select(User.username, User.username_key)).all())


# --- twins refused by the database -------------------------------------------------------------------------------


def test_a_twin_is_refused_by_the_database_when_the_look_up_misses_it(store, monkeypatch):
    """As when another process adds the twin between add_user's look-up and its insert: the unique index on the
    key refuses it, with the look-up's message."""
    add_user(store.engine, "Alice", PASSWORD, "inspector")
    assert keys(store.engine) == {"Alice": "alice"}
    looked = U._taken
    calls = []

    def blind_first(session, username, key):  # the first look (before the insert) sees nothing
        calls.append(username)
        return None if len(calls) % 2 else looked(session, username, key)

    monkeypatch.setattr(U, "_taken", blind_first)
    for twin in ("alice", "ＡＬＩＣＥ"):
        with pytest.raises(UserError, match=rf"{twin} 与已有用户 Alice 只差大小写"):
            add_user(store.engine, twin, PASSWORD, "inspector")
    with pytest.raises(UserError, match="用户 Alice 已存在"):
        add_user(store.engine, "Alice", PASSWORD, "inspector")
    assert len(calls) == 6  # each add looked twice: before the insert, and after the index refused it
    assert [a.username for a in list_accounts(store.engine)] == ["Alice"]
    with pytest.raises(IntegrityError), Session(store.engine) as session, session.begin():
        session.add(User(username="aLiCe", username_key="alice", password_hash="x", role="inspector", active=True,
                         created_at=U.utc_now()))  # fmt: skip


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_twins_added_at_the_same_moment(db_url, monkeypatch):
    """Two connections each look, find no twin, then insert: one is stored, the other refused."""
    store = Store(db_url)
    looked = U._taken
    both_looked = threading.Barrier(2)
    first_look = threading.local()

    def look_then_wait(session, username, key):
        found = looked(session, username, key)
        if not getattr(first_look, "done", False):
            first_look.done = True
            both_looked.wait(timeout=20)
        return found

    monkeypatch.setattr(U, "_taken", look_then_wait)
    outcomes: dict[str, object] = {}

    def add(name: str) -> None:
        try:
            outcomes[name] = add_user(store.engine, name, PASSWORD, "inspector")
        except UserError as error:
            outcomes[name] = error

    threads = [threading.Thread(target=add, args=(name,)) for name in ("bob", "BOB")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    added = [o for o in outcomes.values() if isinstance(o, Account)]
    refused = [str(o) for o in outcomes.values() if isinstance(o, UserError)]
    assert len(added) == 1 and len(refused) == 1, outcomes
    assert f"与已有用户 {added[0].username} 只差大小写" in refused[0]
    assert [a.username for a in list_accounts(store.engine)] == [added[0].username]
    store.close()


def test_a_name_whose_key_outgrows_the_column_is_refused(store):
    with pytest.raises(UserError, match="超过 400"):
        add_user(store.engine, "\ufdfa" * 23, PASSWORD, "inspector")  # 23 × 18 letters once spelled out
    assert add_user(store.engine, "\ufdfa" * 22, PASSWORD, "inspector").username == "\ufdfa" * 22


# --- an old database that already holds twins ----------------------------------------------------------------------


def make_old_with_twins(url: str) -> dict[str, int]:
    """A database at revision 0002, before users.username_key, holding twins that an older zuoxi let in (two adds at
    once): Alice first, then ALICE and ａｌｉｃｅ; returns the users' ids."""
    store = Store(url)
    alice = add_user(store.engine, "Alice", PASSWORD, "admin")
    add_user(store.engine, "bob", PASSWORD, "inspector")
    with store.engine.begin() as connection:
        connection.execute(text("DROP INDEX ix_users_username_key"))
        connection.execute(text("ALTER TABLE users DROP COLUMN username_key"))
        hashed, created = connection.execute(
            text("SELECT password_hash, created_at FROM users WHERE id = :i"), {"i": alice.id}
        ).one()
        for twin in ("ALICE", "ａｌｉｃｅ"):
            connection.execute(
                text(
                    "INSERT INTO users (username, password_hash, role, active, created_at) "
                    "VALUES (:u, :h, 'inspector', :a, :c)"
                ),
                {"u": twin, "h": hashed, "a": True, "c": created},
            )
        connection.execute(text("UPDATE alembic_version SET version_num = '0002'"))
        ids = dict(connection.execute(text("SELECT username, id FROM users")).all())
    store.close()
    return ids


def test_an_old_database_with_twins_upgrades_the_first_keeping_the_key(db_url):
    ids = make_old_with_twins(db_url)
    old = Store(db_url, migrate=False)
    assert "username_key" not in {c["name"] for c in inspect(old.engine).get_columns("users")}
    old.close()
    result = zuoxi("db", "upgrade", "--db", db_url)
    assert f"版本 0002 → {head()}" in result.output
    store = Store(db_url, migrate=False)
    assert current(store.engine) == head()
    assert keys(store.engine) == {"Alice": "alice", "bob": "bob", "ALICE": None, "ａｌｉｃｅ": None}
    [index] = [i for i in inspect(store.engine).get_indexes("users") if i["column_names"] == ["username_key"]]
    assert index["unique"]
    with pytest.raises(UserError, match="aLiCe 与已有用户 Alice 只差大小写"):
        add_user(store.engine, "aLiCe", PASSWORD, "inspector")
    with pytest.raises(IntegrityError), store.engine.begin() as connection:
        connection.execute(text("UPDATE users SET username_key = 'alice' WHERE username = 'ALICE'"))
    # every twin still signs in by their exact name; any other spelling is the first's
    for name in ("Alice", "ALICE", "ａｌｉｃｅ"):
        assert authenticate(store.engine, name, PASSWORD).id == ids[name]
        assert find_account(store.engine, name).id == ids[name]
    assert authenticate(store.engine, "aLiCE", PASSWORD).id == ids["Alice"]
    again = zuoxi("db", "upgrade", "--db", db_url)
    assert f"已是版本 {head()}" in again.output
    store.close()


def test_an_old_sqlite_file_with_twins_upgrades_on_start(tmp_path):
    """The same through `Store()`'s start-up upgrade, on a file written with sqlite3 alone."""
    path = tmp_path / "old.db"
    make_old_with_twins(f"sqlite:///{path}")
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [("0002",)]
    store = Store(f"sqlite:///{path}")
    assert keys(store.engine)["Alice"] == "alice" and keys(store.engine)["ALICE"] is None
    store.close()
    with sqlite3.connect(path) as db:
        [(sql,)] = db.execute("SELECT sql FROM sqlite_master WHERE name = 'ix_users_username_key'").fetchall()
    assert sql.startswith("CREATE UNIQUE INDEX")


# --- sign-in by a twin of the name ---------------------------------------------------------------------------------


def test_sign_in_with_a_case_or_width_twin_of_the_name(store, monkeypatch):
    alice = add_user(store.engine, "alice", PASSWORD, "inspector")
    for typed in ("alice", "ALICE", "Alice", "ａｌｉｃｅ", "ＡＬＩＣＥ", " alice ", "ali\x00ce"):
        assert authenticate(store.engine, typed, PASSWORD) == alice, typed
        assert find_account(store.engine, typed) == alice, typed
    assert authenticate(store.engine, "ALICE", "wrong-password") is None
    hashed = []
    monkeypatch.setattr(U, "_hasher", type("Counting", (), {"hash": lambda self, p: hashed.append(p)})())
    assert authenticate(store.engine, "alicia", PASSWORD) is None and find_account(store.engine, "alicia") is None
    assert hashed == [PASSWORD]  # a miss does a hash's work, as a wrong password does
    monkeypatch.undo()
    set_active(store.engine, alice.id, False)
    assert authenticate(store.engine, "ALICE", PASSWORD) is None


def test_the_web_app_and_the_command_line_take_a_twin_of_the_name(tmp_path):
    db = str(tmp_path / "users.db")
    engine = Store(db).engine
    add_user(engine, "admin", PASSWORD, "admin")
    add_user(engine, "qa", PASSWORD, "inspector")
    app = create_app(db, models=False)
    signed = TestClient(app).post("/api/login", json={"username": "ＱＡ", "password": PASSWORD})
    assert signed.status_code == 200 and signed.json()["user"]["username"] == "qa"
    assert "已停用用户 qa" in zuoxi("user", "disable", "QA", "--db", db).stderr
    assert TestClient(app).post("/api/login", json={"username": "qa", "password": PASSWORD}).status_code == 401


def test_the_sign_in_limit_counts_the_twins_of_a_name_as_one(tmp_path):
    db = str(tmp_path / "users.db")
    add_user(Store(db).engine, "qa", PASSWORD, "inspector")
    client = TestClient(create_app(db, models=False))
    for twin in ("qa", "QA", "Qa", "ｑａ", " qA"):
        assert client.post("/api/login", json={"username": twin, "password": "nope-nope"}).status_code == 401
    assert client.post("/api/login", json={"username": "qa", "password": PASSWORD}).status_code == 429


# --- the last active admin -----------------------------------------------------------------------------------------


def test_the_last_active_admin_is_neither_disabled_nor_demoted(store):
    engine = store.engine
    root = add_user(engine, "root", PASSWORD, "admin")
    qa = add_user(engine, "qa", PASSWORD, "inspector")
    with pytest.raises(UserError, match="不能停用或降级最后一个启用的管理员"):
        set_active(engine, root.id, False)
    for role, active in (("inspector", True), ("admin", False), ("agent", False)):
        with pytest.raises(UserError, match=LAST_ADMIN):
            update_user(engine, root.id, role, None, "07", None, active)
    assert authenticate(engine, "root", PASSWORD) == root  # nothing changed
    set_active(engine, qa.id, False)  # others still can be
    update_user(engine, root.id, "admin", None, None, "管理员", True)  # and the admin's other fields
    spare = add_user(engine, "spare", PASSWORD, "admin")
    set_active(engine, root.id, False)  # not the last one now
    with pytest.raises(UserError, match=LAST_ADMIN):
        set_active(engine, spare.id, False)  # a disabled admin does not count
    with pytest.raises(UserError, match=LAST_ADMIN):
        update_user(engine, spare.id, "inspector", None, None, None, True)
    set_active(engine, root.id, True)
    update_user(engine, spare.id, "inspector", None, None, None, True)
    assert [(a.username, a.role, a.active) for a in list_accounts(engine)] == [
        ("qa", "inspector", False),
        ("root", "admin", True),
        ("spare", "inspector", True),
    ]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_admins_disabling_each_other_at_once_leave_one(db_url):
    """Each would see the other still active; the lock on the admins' rows makes the second wait for the first
    and then count none left."""
    store = Store(db_url)
    admins = [add_user(store.engine, name, PASSWORD, "admin") for name in ("root", "spare")]
    flushed = threading.Barrier(2)

    def wait_for_the_other(session, context):
        # without the lock both get here before either counts; with it the second is still waiting for the lock
        with contextlib.suppress(threading.BrokenBarrierError):
            flushed.wait(timeout=3)

    outcomes: list[object] = []

    def disable(account: Account) -> None:
        try:
            outcomes.append(set_active(store.engine, account.id, False))
        except UserError as error:
            outcomes.append(error)

    event.listen(Session, "after_flush", wait_for_the_other)
    try:
        threads = [threading.Thread(target=disable, args=(a,)) for a in admins]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        event.remove(Session, "after_flush", wait_for_the_other)
    assert sorted(type(o).__name__ for o in outcomes) == ["UserError", "tuple"], outcomes
    assert [a.active for a in list_accounts(store.engine)].count(True) == 1
    store.close()


def test_the_command_line_refuses_to_disable_the_last_admin(tmp_path):
    db = str(tmp_path / "users.db")
    engine = Store(db).engine
    add_user(engine, "root", PASSWORD, "admin")
    for name in ("root", "ROOT"):
        refused = zuoxi("user", "disable", name, "--db", db, code=2)
        assert LAST_ADMIN in refused.stderr.replace("\n", "") and "Traceback" not in refused.output
        assert isinstance(refused.exception, SystemExit)
    assert authenticate(engine, "root", PASSWORD) is not None
    assert not audit_entries(engine, action="user.update")[1]  # a refused change is no change


def test_the_web_app_refuses_to_demote_the_last_admin(tmp_path):
    """The web app's own check keeps an admin from demoting themselves; the store's keeps another admin, one
    demoted a moment ago, from demoting the last one."""
    db = str(tmp_path / "users.db")
    engine = Store(db).engine
    root = add_user(engine, "root", PASSWORD, "admin")
    app = create_app(db, models=False)
    client = TestClient(app)
    csrf = client.post("/api/login", json={"username": "root", "password": PASSWORD}).json()["csrf_token"]
    self_demoted = client.put(
        f"/api/users/{root.id}", json={"role": "inspector", "active": True}, headers={"X-CSRF-Token": csrf}
    )
    assert self_demoted.status_code == 422
    gone = Account(root.id + 100, "gone", "admin", None, None, None)  # an admin disabled since signing in
    for change in (UserChange(role="inspector"), UserChange(role="admin", active=False)):
        with pytest.raises(HTTPException) as refused:
            change_user(engine, gone, root.id, change)
        assert refused.value.status_code == 422 and refused.value.detail == LAST_ADMIN
    assert authenticate(engine, "root", PASSWORD) == root
