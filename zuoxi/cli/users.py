"""Web app users: `zuoxi user add`, `zuoxi user list`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from zuoxi.cli.app import DbOption, app, err, out
from zuoxi.store import Store

user_app = typer.Typer(help="Web app users.", no_args_is_help=True)
app.add_typer(user_app, name="user")


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument()],
    role: Annotated[str, typer.Option(help="admin, inspector, team_lead or agent")],
    team: Annotated[str | None, typer.Option(help="A team lead's team")] = None,
    agent_id: Annotated[str | None, typer.Option(help="An agent's agent_id in the conversations")] = None,
    display_name: Annotated[str | None, typer.Option(help="Name shown in the app")] = None,
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="ZUOXI_PASSWORD",
            help="At least 8 characters (prompted)",
        ),
    ] = "",
    db: DbOption = None,
) -> None:
    """Create a web app user (password hashed with argon2)."""
    from zuoxi.store.users import UserError, add_user

    try:
        account = add_user(Store(db).engine, username, password, role, team, agent_id, display_name)
    except UserError as error:
        err.print(Text(str(error), style="red"))
        raise typer.Exit(2) from None
    err.print(f"user {account.username} ({account.role}) added", highlight=False)


@user_app.command("list")
def user_list(db: DbOption = None) -> None:
    """The web app users."""
    from zuoxi.store.users import list_accounts

    table = Table()
    for column in ("username", "role", "team", "agent_id", "name"):
        table.add_column(column)
    for a in list_accounts(Store(db).engine):
        table.add_row(a.username, a.role, a.team or "—", a.agent_id or "—", a.display_name or "")
    out.print(table)
