"""`zuoxi campaign …`: thin commands over the campaigns package (docs/campaigns.md).

File names, list cells and notes are data: the consoles interpret no markup, emoji codes or
highlighting (`list.csv:100:` stays `:100:`, `[b]` stays `[b]`); colour comes from Text styles only.
"""

from __future__ import annotations

import getpass
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.table import Table
from rich.text import Text

from zuoxi.campaigns import analytics, assign, calllist, campaign, demo, dial, dispositions
from zuoxi.campaigns.models import Attempt, local, parse_time
from zuoxi.campaigns.models import dispositions as disposition_codes
from zuoxi.cli.app import DbOption, app, inert_json, report_error
from zuoxi.cli.app import plain_err as err
from zuoxi.cli.app import plain_out as out
from zuoxi.messages import said_all
from zuoxi.report import terminal
from zuoxi.store import Store
from zuoxi.store import campaigns as stored
from zuoxi.store.queries import Forbidden
from zuoxi.store.users import authenticate

campaign_app = typer.Typer(
    help="Outbound callback campaigns: lists, assignment, dispositions, reports.", no_args_is_help=True
)
app.add_typer(campaign_app, name="campaign")
Name = Annotated[str, typer.Argument(help="Campaign name")]


def _fail(error: Exception) -> typer.Exit:
    """One line for a refused command: a pydantic error (a mistyped disposition) as what was wrong with which
    field, not pydantic's own block with its URL."""
    said = said_all(error.errors()) if isinstance(error, ValidationError) else str(error)
    err.print(Text.assemble(("error", "red"), f" {said}"))
    return typer.Exit(2)


@campaign_app.command("create")
def create(
    source: Annotated[str, typer.Argument(help=f"Campaign YAML, or a bundled one: {', '.join(campaign.BUNDLED)}")],
    replace: Annotated[bool, typer.Option("--replace", help="Update an existing campaign's definition")] = False,
    db: DbOption = None,
) -> None:
    """Create a campaign from its YAML definition."""
    try:
        spec = campaign.load_spec(source)
        campaign.create_campaign(Store(db), spec, replace=replace)
    except campaign.CampaignError as error:
        raise _fail(error) from None
    err.print(f"campaign {spec.name}: {spec.title} ({len(spec.questions)} questions, hotline {spec.hotline})")


@campaign_app.command("import")
def import_list(
    name: Name, path: Annotated[Path, typer.Argument(help="Call list, CSV or XLSX")], db: DbOption = None
) -> None:
    """Import a call list: bad rows are reported as file:line: reason, the rest kept."""
    try:
        summary = calllist.import_call_list(Store(db), name, path)
    except campaign.CampaignError as error:
        raise _fail(error) from None
    for problem in summary.errors:
        report_error(problem)
    err.print(
        f"rows {summary.rows} · imported {summary.imported} · already listed {summary.already} · "
        f"skipped {len(summary.errors)}"
    )
    if summary.imported == 0 and summary.already == 0 and summary.errors:
        raise typer.Exit(1)


@campaign_app.command("assign")
def assign_(
    name: Name,
    agents: Annotated[list[str] | None, typer.Option("--agent", help="An agent ID (repeat)")] = None,
    region: Annotated[
        list[str] | None, typer.Option("--region", help="REGION=AGENT,AGENT: a region's customers go to these agents")
    ] = None,
    reassign: Annotated[
        bool, typer.Option("--reassign", help="Redistribute all open customers, not only unassigned ones")
    ] = False,
    db: DbOption = None,
) -> None:
    """Assign open customers to agents, evenly (or by region)."""
    try:
        given = assign.assign(Store(db), name, agents or [], assign.parse_regions(region or []), reassign=reassign)
    except campaign.CampaignError as error:
        raise _fail(error) from None
    err.print(" · ".join(f"{agent} +{n}" for agent, n in sorted(given.items())) or "nothing to assign")


@campaign_app.command("queue")
def queue_(
    name: Name,
    agent: Annotated[str, typer.Option("--agent", help="Agent ID")],
    limit: Annotated[int, typer.Option(help="How many")] = 20,
    script: Annotated[bool, typer.Option("--script", help="Print the script for the first customer")] = False,
    db: DbOption = None,
) -> None:
    """The agent's next calls: callbacks due, then new customers, then retries."""
    store = Store(db)
    try:
        spec = stored.campaign_spec(store.engine, name)
        now = datetime.now(UTC)
        picked = assign.queue(store, name, agent, now, limit)
        table = Table(
            title=f"{agent}: {len(picked)} to call now ({spec.timezone} {local(now, spec.tz):%H:%M}; "
            f"calling hours {spec.calling_hours} on the customer's clock)"
        )
        for column in ("customer", "ref", "name", "phone", "region", "their time", "why"):
            table.add_column(column)
        for customer, why in picked:
            there = local(now, assign.customer_zone(spec, customer))
            table.add_row(
                str(customer.id),
                customer.ref or "—",
                customer.salutation or "—",
                f"…{customer.phone_tail}",
                customer.region or "—",
                f"{there:%H:%M}" + (f" {customer.timezone}" if customer.timezone else ""),
                why,
            )
        out.print(table)
        if script and picked:
            out.print(campaign.render_script(spec, picked[0][0], agent))
    except campaign.CampaignError as error:
        raise _fail(error) from None


@campaign_app.command("callback")
def callback(
    name: Name,
    customer: Annotated[int, typer.Argument(help="Customer ID (from queue)")],
    at: Annotated[
        str, typer.Option("--at", help="When: 2026-03-03T15:00 (the campaign's time zone unless one is given)")
    ],
    note: Annotated[str, typer.Option(help="Why")] = "",
    db: DbOption = None,
) -> None:
    """Schedule a callback for an open customer, inside calling hours on the customer's clock."""
    store = Store(db)
    try:
        when, spec = stored.add_callback(store.engine, name, customer, at, note)
    except (campaign.CampaignError, ValueError) as error:
        raise _fail(error) from None
    err.print(f"callback for customer {customer} at {local(when, spec.tz):%Y-%m-%d %H:%M} ({spec.timezone})")


@campaign_app.command("record")
def record(
    name: Name,
    customer: Annotated[int, typer.Argument(help="Customer ID (from queue)")],
    disposition: Annotated[
        str,
        typer.Argument(
            help="connected, no_answer, busy, wrong_number, refused, "
            "suspected_fraud, hung_up, callback_requested, goal_achieved (or 中文)"
        ),
    ],
    agent: Annotated[str, typer.Option("--agent", help="Agent ID")],
    at: Annotated[
        str | None,
        typer.Option("--at", help="When the call started (default now; the campaign's zone unless one is given)"),
    ] = None,
    duration: Annotated[float | None, typer.Option(help="Seconds from dialling to hang-up")] = None,
    reason: Annotated[str | None, typer.Option(help="Reason code of a refusal (the campaign's reason_codes)")] = None,
    notes: Annotated[str, typer.Option(help="Free notes")] = "",
    conversation: Annotated[str | None, typer.Option(help="The recorded call: stored conversation id or key")] = None,
    callback_at: Annotated[
        str | None, typer.Option("--callback-at", help="Callback time the customer asked for")
    ] = None,
    db: DbOption = None,
) -> None:
    """Record one call attempt and its disposition."""
    store = Store(db)
    try:
        key = None
        if conversation:
            found = store.find(conversation)
            if len(found) != 1:
                raise campaign.CampaignError(
                    f"{'no' if not found else 'more than one'} stored conversation {conversation!r}"
                )
            key = found[0][0]
        tz = stored.campaign_spec(store.engine, name).tz
        attempt = Attempt(
            customer_id=customer,
            agent_id=agent,
            started_at=parse_time(at, tz) if at else datetime.now(UTC),
            duration=duration,
            disposition=disposition,
            reason_code=reason,
            notes=notes,
            conversation_key=key,
        )
        stored_ids = dispositions.record_attempts(
            store, name, [(attempt, parse_time(callback_at, tz) if callback_at else None)]
        )
    except (campaign.CampaignError, ValueError) as error:
        raise _fail(error) from None
    if not stored_ids:
        err.print(
            f"已记录过，不再重复记录：客户 {customer} 在 {local(attempt.started_at, tz):%Y-%m-%d %H:%M:%S}（{tz}）"
            f"的拨打，结果「{disposition_codes()[attempt.disposition].label}」"
        )
        return
    err.print(f"recorded: customer {customer} {attempt.disposition}")


@campaign_app.command("dispositions")
def import_dispositions(
    name: Name, path: Annotated[Path, typer.Argument(help="Attempts export, CSV or XLSX")], db: DbOption = None
) -> None:
    """Import call attempts from a CSV/XLSX export; bad rows are reported and skipped."""
    try:
        summary = dispositions.import_dispositions(Store(db), name, path)
    except campaign.CampaignError as error:
        raise _fail(error) from None
    for problem in summary.errors:
        report_error(problem)
    err.print(f"rows {summary.rows} · recorded {summary.imported} · skipped {len(summary.errors)}")
    if summary.already:
        err.print(f"另有 {summary.already} 行此前已记录过（同一客户、拨打时间和结果），没有重复记录")


@campaign_app.command("report")
def report_(
    name: Name,
    format: Annotated[str, typer.Option("--format", help="table or json")] = "table",
    period: Annotated[str, typer.Option(help="today, yesterday, week (since Monday), month or all")] = "all",
    start: Annotated[
        str | None, typer.Option("--from", help="First local day, 2026-03-02 (instead of --period)")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last local day, included")] = None,
    db: DbOption = None,
) -> None:
    """Contact and success rates, agents, attempts, hours, callbacks, refusal reasons, segments and
    scorecard items vs success, over a period of the campaign's local days."""
    if format not in ("table", "json"):
        raise typer.BadParameter("--format must be table or json")
    store = Store(db)
    try:
        tz = stored.campaign_spec(store.engine, name).tz
        first, last = analytics.period(period, datetime.now(tz).date())
        first = date.fromisoformat(start) if start else first
        last = date.fromisoformat(end) if end else last
        result = analytics.report(store, name, first, last)
    except (campaign.CampaignError, ValueError) as error:
        raise _fail(error) from None
    if format == "json":
        print(inert_json(result.model_dump_json(indent=2)))
    else:
        terminal.campaign_report(out, result)


@campaign_app.command("dnc")
def do_not_call(
    path: Annotated[
        Path | None, typer.Argument(help="Numbers never to call: CSV/XLSX with a phone column, or one a line")
    ] = None,
    name: Annotated[str | None, typer.Option("--campaign", help="With --customer: the customer's campaign")] = None,
    customer: Annotated[
        int | None, typer.Option("--customer", help="A customer who asked never to be called again")
    ] = None,
    db: DbOption = None,
) -> None:
    """Add numbers to the do-not-call list of every campaign (from a file, or a customer's)."""
    store = Store(db)
    try:
        if customer is not None:
            if not name:
                raise campaign.CampaignError("--customer needs --campaign")
            dial.do_not_call_customer(store, name, customer)
            err.print(f"customer {customer} of {name} is on the do-not-call list")
            return
        if path is None:
            raise campaign.CampaignError("give a file of numbers, or --campaign and --customer")
        summary = dial.import_do_not_call(store, path)
    except campaign.CampaignError as error:
        raise _fail(error) from None
    for problem in summary.errors:
        report_error(problem)
    err.print(f"rows {summary.rows} · added {summary.imported} · skipped {len(summary.errors)}")


SIGN_IN_UNREAD = "读不到密码：请在终端里输入，或者用环境变量 ZUOXI_PASSWORD 给出，或者从标准输入传入一行"


def _read_password() -> str:
    """The password not given by --password or $ZUOXI_PASSWORD: asked for, hidden, on a terminal (in Chinese),
    else the first line of standard input (`… < file`, a pipe); none (an empty line, no input, Ctrl-D or Ctrl-C at
    the prompt) is refused with a message, where click's prompt printed "Aborted." and getpass's warnings."""
    try:
        if sys.stdin is not None and sys.stdin.isatty():
            password = getpass.getpass("密码：")
        else:
            password = sys.stdin.readline().rstrip("\r\n") if sys.stdin is not None else ""
    except (EOFError, KeyboardInterrupt, OSError, UnicodeDecodeError):
        password = ""
    if not password:
        raise _fail(PermissionError(SIGN_IN_UNREAD))
    return password


@campaign_app.command("dial")
def dial_(
    name: Name,
    customer: Annotated[int, typer.Argument(help="Customer ID (from queue)")],
    user: Annotated[str, typer.Option("--user", help="Your zuoxi sign-in (the agent the customer is assigned to)")],
    password: Annotated[
        str,
        typer.Option(
            envvar="ZUOXI_PASSWORD",
            show_default=False,
            help="Your password (or $ZUOXI_PASSWORD); else asked for on a terminal (密码：), or read as the first "
            "line of standard input",
        ),
    ] = "",
    db: DbOption = None,
) -> None:
    """Show a customer's number to dial: only to their agent, only when they may be called; audited."""
    password = password or _read_password()
    store = Store(db)
    account = authenticate(store.engine, user, password)
    if account is None:
        raise _fail(PermissionError("用户名或密码不对"))
    try:
        phone = dial.reveal_phone(store, name, customer, account)
    except (campaign.CampaignError, Forbidden) as error:
        raise _fail(error) from None
    out.print(phone)


@campaign_app.command("demo")
def demo_(
    customers: Annotated[int, typer.Option(help="How many card holders (seed 001: 13,000)")] = 13000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same campaign")] = 1,
    db: DbOption = None,
) -> None:
    """Generate the seed-001 card-activation campaign with outcomes and recorded calls; print its report."""
    store = Store(db)
    try:
        stored.campaign_spec(store.engine, demo.NAME)
        exists = True
    except campaign.CampaignError:
        exists = False
    if exists:
        err.print(f"campaign {demo.NAME} is already in {store.url}: its report follows")
    else:
        summary = demo.build_demo(store, customers=customers, seed=seed)
        for problem in summary.list_import.errors[:5]:
            report_error(problem)
        err.print(
            f"demo: list rows {summary.list_import.rows}, imported {summary.list_import.imported}, "
            f"skipped {len(summary.list_import.errors)} · {summary.attempts} attempts · "
            f"{summary.recorded} recorded calls scored with `outbound` · {store.url}"
        )
    terminal.campaign_report(out, analytics.report(store, demo.NAME))
