"""Web app users: `zuoxi user add`, `list`, `password`, `disable` and `enable`.

The command line holds the database, so it needs no sign-in: what it changes is audited as done by the
system (no user), with the same actions and fields as the web app's users page (user.add, user.password,
user.update), and the same refusals: the last active admin cannot be disabled."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from zuoxi.cli.app import DbOption, SchemaOption, app, err, out, read_password, refuse
from zuoxi.report.labels import ROLE_TITLES, named
from zuoxi.store import Store

user_app = typer.Typer(help="网页端用户。", no_args_is_help=True)
app.add_typer(user_app, name="user")

PasswordOption = Annotated[
    str,
    typer.Option(
        envvar="ZUOXI_PASSWORD",
        show_default=False,
        help="8–200 个字符（或环境变量 $ZUOXI_PASSWORD）；不给时在终端里询问两次（密码：、再输入一次：，不显示），"
        "或读标准输入的前两行",
    ),
]
UNREAD_TWICE = (
    "读不到密码：请在终端里输入（输入两次），或者用 --password 或环境变量 ZUOXI_PASSWORD 给出，"
    "或者从标准输入传入两行相同的密码"
)
Username = Annotated[
    str, typer.Argument(metavar="用户名", help="用户名，与 `zuoxi user list` 所列的相同（大小写、全角半角可以不同）")
]


def _named(store: Store, username: str):
    from zuoxi.store.users import find_account

    account = find_account(store.engine, username)
    if account is None:
        raise refuse(f"没有用户 {username}（zuoxi user list 列出全部用户）")
    return account


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(metavar="用户名", help="用户名")],
    role: Annotated[
        str, typer.Option(help="角色：admin（管理员）、inspector（质检员）、team_lead（班长）或 agent（坐席）")
    ],
    team: Annotated[str | None, typer.Option(help="班长所在的班组")] = None,
    agent_id: Annotated[str | None, typer.Option(help="坐席在会话数据里的 agent_id")] = None,
    display_name: Annotated[str | None, typer.Option(help="在网页里显示的称呼")] = None,
    password: PasswordOption = "",
    db: DbOption = None,
    schema: SchemaOption = None,
) -> None:
    """新建网页端用户（密码以 argon2 哈希保存）；记入审计日志。"""
    from zuoxi.store.audit import audit_now
    from zuoxi.store.users import UserError, add_user, audited

    password = password or read_password(confirm=True, unread=UNREAD_TWICE)
    store = Store(db, schema)
    try:
        account = add_user(store.engine, username, password, role, team, agent_id, display_name)
    except UserError as error:
        raise refuse(str(error)) from None
    audit_now(store.engine, None, "user.add", "user", account.id, None, audited(account))
    err.print(f"已添加用户 {account.username}（{named(ROLE_TITLES, account.role)}）", highlight=False)


@user_app.command("list")
def user_list(db: DbOption = None, schema: SchemaOption = None) -> None:
    """列出网页端用户。"""
    from zuoxi.store.users import list_accounts

    table = Table()
    for column in ("用户名", "角色", "班组", "坐席工号", "称呼", "启用"):
        table.add_column(column)
    for a in list_accounts(Store(db, schema).engine):
        table.add_row(
            a.username,
            named(ROLE_TITLES, a.role),
            a.team or "—",
            a.agent_id or "—",
            a.display_name or "",
            "是" if a.active else "否",
        )
    out.print(table)


@user_app.command("password")
def user_password(
    username: Username, password: PasswordOption = "", db: DbOption = None, schema: SchemaOption = None
) -> None:
    """给用户设置新密码；其已登录的会话随即失效。记入审计日志。"""
    from zuoxi.store.audit import audit_now
    from zuoxi.store.users import UserError, set_password

    store = Store(db, schema)
    account = _named(store, username)
    password = password or read_password(confirm=True, unread=UNREAD_TWICE)
    try:
        set_password(store.engine, account.id, password)
    except UserError as error:
        raise refuse(str(error)) from None
    audit_now(store.engine, None, "user.password", "user", account.id, None, {"username": account.username})
    err.print(f"已修改 {account.username} 的密码；其已登录的会话已失效", highlight=False)


def _set_active(username: str, active: bool, db: str | None, schema: str | None) -> None:
    from zuoxi.store.audit import audit_now
    from zuoxi.store.users import UserError, audited, set_active

    store = Store(db, schema)
    account = _named(store, username)
    state = "启用" if active else "停用"
    if account.active == active:
        err.print(f"用户 {account.username} 本来就是{state}状态", highlight=False)
        return
    try:
        before, after = set_active(store.engine, account.id, active)
    except UserError as error:  # the last active admin
        raise refuse(str(error)) from None
    audit_now(store.engine, None, "user.update", "user", account.id, audited(before), audited(after))
    ended = "" if active else "；其已登录的会话已失效"
    err.print(f"已{state}用户 {account.username}{ended}", highlight=False)


@user_app.command("disable")
def user_disable(username: Username, db: DbOption = None, schema: SchemaOption = None) -> None:
    """停用用户：不能再登录（已登录的会话立即失效）；记入审计日志。`zuoxi user enable` 可恢复。"""
    _set_active(username, False, db, schema)


@user_app.command("enable")
def user_enable(username: Username, db: DbOption = None, schema: SchemaOption = None) -> None:
    """启用已停用的用户，使其可以再登录；记入审计日志。"""
    _set_active(username, True, db, schema)
