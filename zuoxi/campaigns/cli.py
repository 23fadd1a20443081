"""`zuoxi campaign …`: thin commands over the campaigns package (docs/campaigns.md)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from zuoxi.campaigns import analytics, assign, calllist, campaign, demo, dispositions
from zuoxi.campaigns.models import Attempt, CampaignReport, Rate
from zuoxi.ingest.errors import IngestError
from zuoxi.store import Store
from zuoxi.store.tables import CampaignCustomer

campaign_app = typer.Typer(help="Outbound callback campaigns: lists, assignment, dispositions, reports.", no_args_is_help=True)
err = Console(stderr=True, soft_wrap=True)
out = Console()
Db = Annotated[str | None, typer.Option("--db", help="SQLAlchemy URL or SQLite file (default $ZUOXI_DB or ./zuoxi.db)")]
Name = Annotated[str, typer.Argument(help="Campaign name")]


def _fail(error: Exception) -> typer.Exit:
    err.print(f"[red]error[/] {error}", highlight=False)
    return typer.Exit(2)


def _errors(errors: list[IngestError]) -> None:
    for error in errors:
        err.print(f"[yellow]skipped[/] {error}", highlight=False)


@campaign_app.command("create")
def create(source: Annotated[str, typer.Argument(help=f"Campaign YAML, or a bundled one: {', '.join(campaign.BUNDLED)}")],
           replace: Annotated[bool, typer.Option("--replace", help="Update an existing campaign's definition")] = False,
           db: Db = None) -> None:
    """Create a campaign from its YAML definition."""
    try:
        spec = campaign.load_spec(source)
        campaign.create_campaign(Store(db), spec, replace=replace)
    except campaign.CampaignError as error:
        raise _fail(error) from None
    err.print(f"campaign {spec.name}: {spec.title} ({len(spec.questions)} questions, hotline {spec.hotline})", highlight=False)


@campaign_app.command("import")
def import_list(name: Name, path: Annotated[Path, typer.Argument(help="Call list, CSV or XLSX")], db: Db = None) -> None:
    """Import a call list: bad rows are reported as file:line: reason, the rest kept."""
    try:
        summary = calllist.import_call_list(Store(db), name, path)
    except campaign.CampaignError as error:
        raise _fail(error) from None
    _errors(summary.errors)
    err.print(f"rows {summary.rows} · imported {summary.imported} · skipped {len(summary.errors)}", highlight=False)
    if summary.imported == 0 and summary.errors:
        raise typer.Exit(1)


@campaign_app.command("assign")
def assign_(name: Name,
            agents: Annotated[list[str] | None, typer.Option("--agent", help="An agent ID (repeat)")] = None,
            region: Annotated[list[str] | None, typer.Option("--region", help="REGION=AGENT,AGENT: a region's customers go to these agents")] = None,
            reassign: Annotated[bool, typer.Option("--reassign", help="Redistribute all open customers, not only unassigned ones")] = False,
            db: Db = None) -> None:
    """Assign open customers to agents, evenly (or by region)."""
    try:
        given = assign.assign(Store(db), name, agents or [], assign.parse_regions(region or []), reassign=reassign)
    except campaign.CampaignError as error:
        raise _fail(error) from None
    err.print(" · ".join(f"{agent} +{n}" for agent, n in sorted(given.items())) or "nothing to assign", highlight=False)


@campaign_app.command("queue")
def queue_(name: Name, agent: Annotated[str, typer.Option("--agent", help="Agent ID")],
           limit: Annotated[int, typer.Option(help="How many")] = 20,
           script: Annotated[bool, typer.Option("--script", help="Print the script for the first customer")] = False,
           db: Db = None) -> None:
    """The agent's next calls: callbacks due, then new customers, then retries."""
    store = Store(db)
    try:
        picked = assign.queue(store, name, agent, datetime.now().astimezone(), limit)
        table = Table()
        for column in ("customer", "ref", "name", "phone", "region", "why"):
            table.add_column(column)
        for customer, why in picked:
            table.add_row(str(customer.id), customer.ref or "—", customer.salutation or "—", f"…{customer.phone_tail}",
                          customer.region or "—", why)
        out.print(table)
        if script and picked:
            with Session(store.engine) as session:
                _, spec = campaign.get_campaign(session, name)
            out.print(campaign.render_script(spec, picked[0][0], agent), highlight=False)
    except campaign.CampaignError as error:
        raise _fail(error) from None


@campaign_app.command("callback")
def callback(name: Name, customer: Annotated[int, typer.Argument(help="Customer ID (from queue)")],
             at: Annotated[datetime, typer.Option("--at", help="When (China time unless a zone is given)")],
             note: Annotated[str, typer.Option(help="Why")] = "", db: Db = None) -> None:
    """Schedule a callback for one customer."""
    from zuoxi.campaigns.models import to_utc

    store = Store(db)
    with Session(store.engine) as session, session.begin():
        try:
            row, _ = campaign.get_campaign(session, name)
        except campaign.CampaignError as error:
            raise _fail(error) from None
        person = session.get(CampaignCustomer, customer)
        if person is None or person.campaign_id != row.id:
            raise _fail(ValueError(f"customer {customer} is not on the list of {name!r}"))
        assign.schedule_callback(session, row.id, person, to_utc(at), note)
    err.print(f"callback for customer {customer} at {at:%Y-%m-%d %H:%M}", highlight=False)


@campaign_app.command("record")
def record(name: Name, customer: Annotated[int, typer.Argument(help="Customer ID (from queue)")],
           disposition: Annotated[str, typer.Argument(help="connected, no_answer, busy, wrong_number, refused, "
                                                           "suspected_fraud, hung_up, callback_requested, goal_achieved (or 中文)")],
           agent: Annotated[str, typer.Option("--agent", help="Agent ID")],
           at: Annotated[datetime | None, typer.Option("--at", help="When the call started (default now)")] = None,
           duration: Annotated[float | None, typer.Option(help="Seconds from dialling to hang-up")] = None,
           reason: Annotated[str | None, typer.Option(help="Reason code of a refusal (the campaign's reason_codes)")] = None,
           notes: Annotated[str, typer.Option(help="Free notes")] = "",
           conversation: Annotated[str | None, typer.Option(help="The recorded call: stored conversation id or key")] = None,
           callback_at: Annotated[datetime | None, typer.Option("--callback-at", help="Callback time the customer asked for")] = None,
           db: Db = None) -> None:
    """Record one call attempt and its disposition."""
    store = Store(db)
    try:
        key = None
        if conversation:
            found = store.find(conversation)
            if len(found) != 1:
                raise campaign.CampaignError(f"{'no' if not found else 'more than one'} stored conversation {conversation!r}")
            key = found[0][0]
        attempt = Attempt(customer_id=customer, agent_id=agent, started_at=at or datetime.now().astimezone(),
                          duration=duration, disposition=disposition, reason_code=reason, notes=notes, conversation_key=key)
        dispositions.record_attempts(store, name, [(attempt, callback_at)])
    except (campaign.CampaignError, ValueError) as error:
        raise _fail(error) from None
    err.print(f"recorded: customer {customer} {attempt.disposition}", highlight=False)


@campaign_app.command("dispositions")
def import_dispositions(name: Name, path: Annotated[Path, typer.Argument(help="Attempts export, CSV or XLSX")],
                        db: Db = None) -> None:
    """Import call attempts from a CSV/XLSX export; bad rows are reported and skipped."""
    try:
        summary = dispositions.import_dispositions(Store(db), name, path)
    except campaign.CampaignError as error:
        raise _fail(error) from None
    _errors(summary.errors)
    err.print(f"rows {summary.rows} · recorded {summary.imported} · skipped {len(summary.errors)}", highlight=False)


@campaign_app.command("report")
def report_(name: Name, format: Annotated[str, typer.Option("--format", help="table or json")] = "table",
            db: Db = None) -> None:
    """Contact and success rates, agents, refusal reasons, segments and scorecard items vs success."""
    if format not in ("table", "json"):
        raise typer.BadParameter("--format must be table or json")
    try:
        result = analytics.report(Store(db), name)
    except campaign.CampaignError as error:
        raise _fail(error) from None
    if format == "json":
        print(result.model_dump_json(indent=2))
    else:
        print_report(result)


@campaign_app.command("demo")
def demo_(customers: Annotated[int, typer.Option(help="How many card holders (seed 001: 13,000)")] = 13000,
          seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same campaign")] = 1,
          db: Db = None) -> None:
    """Generate the seed-001 card-activation campaign with outcomes and recorded calls; print its report."""
    store = Store(db)
    with Session(store.engine) as session:
        try:
            campaign.get_campaign(session, demo.NAME)
            exists = True
        except campaign.CampaignError:
            exists = False
    if exists:
        err.print(f"campaign {demo.NAME} is already in {store.url}: its report follows", highlight=False)
    else:
        summary = demo.build_demo(store, customers=customers, seed=seed)
        _errors(summary.list_import.errors[:5])
        err.print(f"demo: list rows {summary.list_import.rows}, imported {summary.list_import.imported}, "
                  f"skipped {len(summary.list_import.errors)} · {summary.attempts} attempts · "
                  f"{summary.recorded} recorded calls scored with `outbound` · {store.url}", highlight=False)
    print_report(analytics.report(store, demo.NAME))


def _rate(rate: Rate) -> str:
    if rate.rate is None:
        return "—"
    return f"{rate.rate:.1%} [{rate.low:.1%}–{rate.high:.1%}] ({rate.successes}/{rate.n})"


def print_report(report: CampaignReport) -> None:
    """The report as terminal tables; rates carry their 95% Wilson interval and counts."""
    def number(value: float | None, unit: str = "") -> str:
        return "—" if value is None else f"{value:.1f}{unit}"

    head = Table(title=f"{report.title} ({report.campaign})", show_header=False)
    for label, value in (("customers on the list", str(report.customers)), ("customers called", str(report.customers_called)),
                         ("attempts", str(report.attempts)), ("contact rate (reached / called)", _rate(report.contact_rate)),
                         ("success rate (successes / reached)", _rate(report.success_rate)),
                         ("success of the whole list", _rate(report.list_success_rate)),
                         ("attempts per success", number(report.attempts_per_success)),
                         ("calls per agent per day", number(report.calls_per_agent_day)),
                         ("average handling time (reached)", number(report.average_handling_time, " s")),
                         ("status", " · ".join(f"{k} {v}" for k, v in report.status.items()))):
        head.add_row(label, value)
    out.print(head)
    disp = Table(title="dispositions (attempts) and refusal reasons")
    disp.add_column("disposition")
    disp.add_column("attempts", justify="right")
    for code, count in report.dispositions.items():
        disp.add_row(code, str(count))
    for code, count in report.refusal_reasons.items():
        disp.add_row(f"  refused: {code}", str(count))
    out.print(disp)
    agents = Table(title="agents")
    for column in ("agent", "days", "attempts", "per day", "successes"):
        agents.add_column(column, justify="right" if column != "agent" else "left")
    for a in report.agents:
        agents.add_row(a.agent_id, str(a.days), str(a.attempts), f"{a.per_day:.1f}", str(a.successes))
    out.print(agents)
    segments = Table(title="success of reached customers by segment (95% Wilson interval)")
    for column in ("segment", "value", "success"):
        segments.add_column(column)
    for s in report.segments:
        segments.add_row(s.field, s.value, _rate(s.contacted))
    out.print(segments)
    rules = Table(title=f"scorecard items vs success, {report.linked_calls} recorded calls "
                        "(* = intervals do not overlap)")
    for column in ("item", "name", "success when passed", "success when failed", ""):
        rules.add_column(column)
    for r in report.rules:
        if r.passed.n and r.failed.n or r.rule.startswith("OB-"):
            rules.add_row(r.rule, r.name, _rate(r.passed), _rate(r.failed), "*" if r.separated else "")
    out.print(rules)
