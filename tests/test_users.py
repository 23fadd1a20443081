"""User administration from the command line (`zuoxi user add/password/disable/enable`), audited as the web app's
users page is; and what a username may be, wherever a user is added: no control, format or invisible character,
no other user's name but for case or width, no personal data."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from zuoxi.cli import app as cli
from zuoxi.store import Store
from zuoxi.store.audit import audit_entries
from zuoxi.store.users import UserError, add_user, authenticate, list_accounts
from zuoxi.web import create_app

PASSWORD = "correct-horse"


@pytest.fixture
def db(tmp_path) -> str:
    return str(tmp_path / "users.db")


def zuoxi(*args: str, code: int = 0, input: str | None = None, env: dict | None = None):
    outcome = CliRunner().invoke(cli, list(args), input=input, env=env)
    assert outcome.exit_code == code, (outcome.exit_code, outcome.stdout, outcome.stderr, outcome.exception)
    return outcome


def entries(db: str, action: str) -> list:
    return audit_entries(Store(db).engine, action=action)[1]


def sign_in(app, username: str, password: str = PASSWORD) -> int:
    return TestClient(app).post("/api/login", json={"username": username, "password": password}).status_code


# --- the command line --------------------------------------------------------------------------------


def test_user_add_is_audited_as_the_system(db):
    zuoxi(
        "user", "add", "wang", "--role", "team_lead", "--team", "售後二組", "--db", db, env={"ZUOXI_PASSWORD": PASSWORD}
    )
    [entry] = entries(db, "user.add")
    assert entry.username is None  # no signed-in user: the command line, shown as 系统
    assert (entry.entity, entry.before) == ("user", None)
    assert entry.after == {
        "username": "wang",
        "role": "team_lead",
        "team": "售后二组",
        "agent_id": None,
        "display_name": None,
        "active": True,
    }
    zuoxi("user", "add", "wang", "--role", "admin", "--db", db, env={"ZUOXI_PASSWORD": PASSWORD}, code=2)
    assert len(entries(db, "user.add")) == 1  # a refused one is no change
    typo = zuoxi("user", "add", "bob", "--role", "inspecter", "--db", db, env={"ZUOXI_PASSWORD": PASSWORD}, code=2)
    assert "inspector（质检员）" in typo.stderr  # the values --role takes, not only their Chinese names


def test_user_password_prompts_twice_hidden_and_is_audited(db):
    engine = Store(db).engine
    add_user(engine, "qa", PASSWORD, "inspector")
    app = create_app(db, models=False)
    signed = TestClient(app)
    assert signed.post("/api/login", json={"username": "qa", "password": PASSWORD}).status_code == 200
    mismatch = zuoxi("user", "password", "qa", "--db", db, input="new-password-1\nsomething-else\n", code=2)
    assert "new-password-1" not in mismatch.output  # hidden
    assert "两次输入的密码不一致" in mismatch.stderr and "Aborted" not in mismatch.output
    assert authenticate(engine, "qa", PASSWORD) and not entries(db, "user.password")
    changed = zuoxi("user", "password", "qa", "--db", db, input="new-password-1\nnew-password-1\n")
    assert "new-password-1" not in changed.output
    assert authenticate(engine, "qa", PASSWORD) is None and authenticate(engine, "qa", "new-password-1")
    assert signed.get("/api/me").status_code == 401  # the open session ended
    assert sign_in(app, "qa", "new-password-1") == 200
    [entry] = entries(db, "user.password")
    assert (entry.username, entry.after) == (None, {"username": "qa"})
    assert "8–200" in zuoxi("user", "password", "qa", "--db", db, input="short\nshort\n", code=2).stderr
    assert (
        "没有用户 nobody"
        in zuoxi("user", "password", "nobody", "--db", db, input="x" * 9 + "\n" + "x" * 9 + "\n", code=2).stderr
    )
    assert len(entries(db, "user.password")) == 1


def test_a_disabled_user_cannot_sign_in_until_enabled(db):
    engine = Store(db).engine
    add_user(engine, "qa", PASSWORD, "inspector")
    add_user(engine, "admin", PASSWORD, "admin")
    app = create_app(db, models=False)
    signed = TestClient(app)
    assert signed.post("/api/login", json={"username": "qa", "password": PASSWORD}).status_code == 200
    assert signed.get("/api/me").status_code == 200

    assert "已停用用户 qa" in zuoxi("user", "disable", "qa", "--db", db).stderr
    assert signed.get("/api/me").status_code == 401  # the open session ended at once
    assert sign_in(app, "qa") == 401  # the right password, refused
    page = TestClient(app).post(
        "/login", data={"username": "qa", "password": PASSWORD, "next": "/"}, follow_redirects=False
    )
    assert page.status_code == 200 and "用户名或密码错误" in page.text  # the page too
    assert [(a.username, a.active) for a in list_accounts(engine)] == [("admin", True), ("qa", False)]
    assert "否" in zuoxi("user", "list", "--db", db).stdout
    assert "用户 qa 本来就是停用状态" in zuoxi("user", "disable", "qa", "--db", db).stderr  # no change, no entry
    [entry] = entries(db, "user.update")
    assert entry.username is None and entry.entity == "user"
    assert (entry.before["active"], entry.after["active"]) == (True, False)
    assert entry.after["username"] == "qa" and entry.after["role"] == "inspector"

    assert "已启用用户 qa" in zuoxi("user", "enable", "qa", "--db", db).stderr
    assert sign_in(app, "qa") == 200
    page = TestClient(app).post(
        "/login", data={"username": "qa", "password": PASSWORD, "next": "/"}, follow_redirects=False
    )
    assert page.status_code == 303
    enabled, disabled = entries(db, "user.update")  # newest first
    assert (enabled.before["active"], enabled.after["active"]) == (False, True) and disabled.id < enabled.id
    assert "没有用户 nobody" in zuoxi("user", "disable", "nobody", "--db", db, code=2).stderr
    assert "用户 qa 本来就是启用状态" in zuoxi("user", "enable", "QA", "--db", db).stderr  # a twin of the name


# --- what a username may be ------------------------------------------------------------------------------

INVISIBLE = [
    "\x07",  # C0
    "\t",
    "\n",
    "\x1b",
    "\x7f",  # DEL
    "\x85",  # C1
    "\x9b",  # C1: a terminal's CSI
    "\u202e",  # bidi override
    "\u2066",  # bidi isolate
    "\u200e",  # left-to-right mark
    "\u061c",  # Arabic letter mark
    "\u200b",  # zero-width space
    "\u200c",  # zero-width non-joiner
    "\u200d",  # zero-width joiner
    "\u2060",  # word joiner
    "\ufeff",  # BOM
    "\u00ad",  # soft hyphen
    "\u2028",  # line separator
    "\u00a0",  # no-break space
    "\u3000",  # ideographic space inside a name
    "\u3164",  # Hangul filler
    "\ufe0f",  # variation selector
    "\U000e0041",  # tag
    "\ue000",  # private use
]


def test_a_username_holds_no_control_or_invisible_character(store):
    for char in INVISIBLE:
        with pytest.raises(UserError, match=f"控制字符.*U\\+{ord(char):04X}"):
            add_user(store.engine, f"wa{char}ng", PASSWORD, "inspector")
    assert list_accounts(store.engine) == []


def test_a_username_keeps_nul_dropped_and_ends_trimmed(store):
    """NUL is dropped as the store drops it everywhere (and sign-in compares it so); spaces around a name go;
    a plain space inside one stays."""
    assert add_user(store.engine, "q\x00a", PASSWORD, "inspector").username == "qa"
    assert add_user(store.engine, "  zhang san\u3000", PASSWORD, "inspector").username == "zhang san"


def test_a_username_is_bounded(store):
    with pytest.raises(UserError, match="1–100"):
        add_user(store.engine, "x" * 101, PASSWORD, "inspector")
    with pytest.raises(UserError, match="1–100"):
        add_user(store.engine, " \u3000 ", PASSWORD, "inspector")
    assert add_user(store.engine, "x" * 100, PASSWORD, "inspector").username == "x" * 100


def test_a_username_differing_only_in_case_or_width_is_refused(store):
    add_user(store.engine, "Alice", PASSWORD, "inspector")
    for twin in ("alice", "ALICE", "aLiCe", "ａｌｉｃｅ", "Ａｌｉｃｅ", " alice "):
        with pytest.raises(UserError, match=r"Alice.*大小写"):
            add_user(store.engine, twin, PASSWORD, "inspector")
    with pytest.raises(UserError, match="用户 Alice 已存在"):
        add_user(store.engine, "Alice", PASSWORD, "inspector")
    assert [a.username for a in list_accounts(store.engine)] == ["Alice"]


def test_case_and_width_twins_after_nfkc_folding(store):
    add_user(store.engine, "Straße", PASSWORD, "inspector")
    add_user(store.engine, "ｱﾘｽ", PASSWORD, "inspector")  # half-width katakana
    for twin in ("STRASSE", "strasse", "アリス"):
        with pytest.raises(UserError, match="大小写"):
            add_user(store.engine, twin, PASSWORD, "inspector")
    add_user(store.engine, "alice2", PASSWORD, "inspector")  # a different name is fine
    assert len(list_accounts(store.engine)) == 3


PERSONAL = [
    "13812345678",  # mobile
    "138-1234-5678",
    "+86 138 1234 5678",
    "１３８１２３４５６７８",  # full width, as IMEs type it
    "wang-13812345678",
    "010-62345678",  # landline
    "110101199003074477",  # resident ID with its check digit
    "4111111111111111",  # bank card (Luhn)
    "4111 1111 1111 1111",
    "a.b@example.com",
    "wang＠example.com",  # full-width ＠
]


def test_a_username_that_is_personal_data_is_refused(store):
    for name in PERSONAL:
        with pytest.raises(UserError, match=r"手机号.*无法打码"):
            add_user(store.engine, name, PASSWORD, "inspector")
    assert list_accounts(store.engine) == []


def test_names_that_only_look_like_personal_data_are_fine(store):
    """Short numbers, an ID-shaped number with no real birth date (month 13), an address with no domain: what privacy.py
    would not mask (a mistyped ID with a real region and birth date is masked, so it is no name)."""
    names = ["agent07", "王小明", "a07", "12345", "1381234567", "110101199013074479", "wang@local"]
    for name in names:
        assert add_user(store.engine, name, PASSWORD, "inspector").username == name
    assert len(list_accounts(store.engine)) == len(names)


def test_the_web_app_and_the_command_line_refuse_the_same_names(db):
    engine = Store(db).engine
    add_user(engine, "admin", PASSWORD, "admin")
    add_user(engine, "Alice", PASSWORD, "inspector")
    app = create_app(db, models=False)
    admin = TestClient(app)
    csrf = admin.post("/api/login", json={"username": "admin", "password": PASSWORD}).json()["csrf_token"]
    for name, reason in (("alice", "大小写"), ("bo\u202eb", "U+202E"), ("13812345678", "无法打码")):
        body = {"username": name, "password": PASSWORD, "role": "inspector"}
        refused = admin.post("/api/users", json=body, headers={"X-CSRF-Token": csrf})
        assert refused.status_code == 422 and reason in refused.json()["detail"], (name, refused.text)
        page = admin.post("/users", data=body, headers={"X-CSRF-Token": csrf}, follow_redirects=False)
        assert page.status_code == 303 and "error=" in page.headers["location"], name
        cli = zuoxi("user", "add", name, "--role", "inspector", "--db", db, env={"ZUOXI_PASSWORD": PASSWORD}, code=2)
        assert reason in cli.stderr.replace("\\u202e", ""), (name, cli.stderr)
    assert [a.username for a in list_accounts(engine)] == ["Alice", "admin"]
    assert not entries(db, "user.add")
