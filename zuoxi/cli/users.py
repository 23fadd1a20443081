"""Web app users: `zuoxi user add`, `list`, `password`, `disable` and `enable`.

The command line holds the database, so it needs no sign-in: what it changes is audited as done by the
system (no user), with the same actions and fields as the web app's users page (user.add, user.password,
user.update), and the same refusals: the last active admin cannot be disabled."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from zuoxi.cli.app import DbOption, app, err, out
from zuoxi.store import Store

user_app = typer.Typer(help="Web app users.", no_args_is_help=True)
app.add_typer(user_app, name="user")

PasswordOption = Annotated[
    str,
    typer.Option(
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        envvar="ZUOXI_PASSWORD",
        help="8–200 characters (prompted twice, hidden; or $ZUOXI_PASSWORD)",
    ),
]
Username = Annotated[
    str, typer.Argument(help="The username as `zuoxi user list` shows it (or differing only by case or width)")
]


def _refuse(message: str) -> typer.Exit:
    err.print(Text(message, style="red"))
    return typer.Exit(2)


def _named(store: Store, username: str):
    from zuoxi.store.users import find_account

    account = find_account(store.engine, username)
    if account is None:
        raise _refuse(f"没有用户 {username}（zuoxi user list 列出全部用户）")
    return account


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument()],
    role: Annotated[str, typer.Option(help="admin, inspector, team_lead or agent")],
    team: Annotated[str | None, typer.Option(help="A team lead's team")] = None,
    agent_id: Annotated[str | None, typer.Option(help="An agent's agent_id in the conversations")] = None,
    display_name: Annotated[str | None, typer.Option(help="Name shown in the app")] = None,
    password: PasswordOption = "",
    db: DbOption = None,
) -> None:
    """Create a web app user (password hashed with argon2); audited."""
    from zuoxi.store.audit import audit_now
    from zuoxi.store.users import UserError, add_user, audited

    store = Store(db)
    try:
        account = add_user(store.engine, username, password, role, team, agent_id, display_name)
    except UserError as error:
        raise _refuse(str(error)) from None
    audit_now(store.engine, None, "user.add", "user", account.id, None, audited(account))
    err.print(f"user {account.username} ({account.role}) added", highlight=False)


@user_app.command("list")
def user_list(db: DbOption = None) -> None:
    """The web app users."""
    from zuoxi.store.users import list_accounts

    table = Table()
    for column in ("username", "role", "team", "agent_id", "name", "active"):
        table.add_column(column)
    for a in list_accounts(Store(db).engine):
        table.add_row(
            a.username, a.role, a.team or "—", a.agent_id or "—", a.display_name or "", "yes" if a.active else "no"
        )
    out.print(table)


@user_app.command("password")
def user_password(username: Username, password: PasswordOption = "", db: DbOption = None) -> None:
    """Set a user's new password; their open sessions end. Audited."""
    from zuoxi.store.audit import audit_now
    from zuoxi.store.users import UserError, set_password

    store = Store(db)
    account = _named(store, username)
    try:
        set_password(store.engine, account.id, password)
    except UserError as error:
        raise _refuse(str(error)) from None
    audit_now(store.engine, None, "user.password", "user", account.id, None, {"username": account.username})
    err.print(f"password of {account.username} changed; their sessions ended", highlight=False)


def _set_active(username: str, active: bool, db: str | None) -> None:
    from zuoxi.store.audit import audit_now
    from zuoxi.store.users import UserError, audited, set_active

    store = Store(db)
    account = _named(store, username)
    state = "enabled" if active else "disabled"
    if account.active == active:
        err.print(f"user {account.username} is already {state}", highlight=False)
        return
    try:
        before, after = set_active(store.engine, account.id, active)
    except UserError as error:  # the last active admin
        raise _refuse(str(error)) from None
    audit_now(store.engine, None, "user.update", "user", account.id, audited(before), audited(after))
    ended = "" if active else "; their sessions ended"
    err.print(f"user {account.username} {state}{ended}", highlight=False)


@user_app.command("disable")
def user_disable(username: Username, db: DbOption = None) -> None:
    """Stop a user signing in (their sessions end at once); audited. `zuoxi user enable` undoes it."""
    _set_active(username, False, db)


@user_app.command("enable")
def user_enable(username: Username, db: DbOption = None) -> None:
    """Let a disabled user sign in again; audited."""
    _set_active(username, True, db)
