"""`zuoxi campaign …`: thin commands over the campaigns package (docs/campaigns.md).

File names, list cells and notes are data: the consoles interpret no markup, emoji codes or
highlighting (`list.csv:100:` stays `:100:`, `[b]` stays `[b]`); colour comes from Text styles only.
"""

from __future__ import annotations

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
from zuoxi.campaigns.terminal import campaign_report
from zuoxi.cli.app import DbOption, SchemaOption, app, inert_json, read_password, say_error
from zuoxi.cli.app import plain_err as err
from zuoxi.cli.app import plain_out as out
from zuoxi.ingest.errors import IngestError
from zuoxi.messages import said_all
from zuoxi.store import Store
from zuoxi.store import campaigns as stored
from zuoxi.store.queries import Forbidden
from zuoxi.store.users import authenticate

campaign_app = typer.Typer(help="外呼回访活动：名单、分配、拨打结果、报表。", no_args_is_help=True)
app.add_typer(campaign_app, name="campaign")
Name = Annotated[str, typer.Argument(metavar="活动名", help="活动名（活动 YAML 里的 name）")]
CustomerId = Annotated[int, typer.Argument(metavar="客户编号", help="客户编号（campaign queue 列出的「客户」）")]
SKIPPED_SHOWN = 5  # the demo's list has 59 bad rows: the first few as examples, then how many more


def _fail(error: Exception) -> typer.Exit:
    """One line for a refused command: a pydantic error (a mistyped disposition) as what was wrong with which
    field, not pydantic's own block with its URL."""
    said = said_all(error.errors()) if isinstance(error, ValidationError) else str(error)
    say_error(said)
    return typer.Exit(2)


def _skipped(problems: list[IngestError], shown: int | None = None) -> None:
    """Each row left out, as `跳过 file:line: reason` (the first `shown` of them, then how many more), and what is
    noted of a row imported (`注意 file:line: …`: an age no customer has)."""
    for problem in [p for p in problems if p.note]:
        err.print(Text.assemble(("注意", "cyan"), f" {problem}"), soft_wrap=True)
    left_out = [p for p in problems if not p.note]
    for problem in left_out[:shown]:
        err.print(Text.assemble(("跳过", "yellow"), f" {problem}"), soft_wrap=True)
    if shown is not None and len(left_out) > shown:
        err.print(Text.assemble(("……", "yellow"), f"另有 {len(left_out) - shown} 行被跳过"))


def _counts(done: str, done_count: int, already: str, already_count: int, skipped: int) -> str:
    """`导入 12974 行 · 跳过 59 行`: the parts of a file's rows, adding up to them (`already` only when some were)."""
    parts = [f"{done} {done_count} 行"]
    if already_count:
        parts.append(f"{already} {already_count} 行")
    parts.append(f"跳过 {skipped} 行")
    return " · ".join(parts)


@campaign_app.command("create")
def create(
    source: Annotated[
        str, typer.Argument(metavar="活动", help=f"活动 YAML 文件，或内置活动：{'、'.join(campaign.BUNDLED)}")
    ],
    replace: Annotated[bool, typer.Option("--replace", help="更新已有活动的定义（名单不变）")] = False,
    db: DbOption = None,
    schema: SchemaOption = None,
) -> None:
    """用活动 YAML 创建外呼活动。"""
    try:
        spec = campaign.load_spec(source)
        campaign.create_campaign(Store(db, schema), spec, replace=replace)
    except campaign.CampaignError as error:
        raise _fail(error) from None
    err.print(f"外呼活动 {spec.name}：{spec.title}（{len(spec.questions)} 个必问问题，客服热线 {spec.hotline}）已保存")


@campaign_app.command("import")
def import_list(
    name: Name,
    path: Annotated[Path, typer.Argument(metavar="名单文件", help="客户名单，CSV 或 XLSX")],
    db: DbOption = None,
    schema: SchemaOption = None,
) -> None:
    """导入客户名单：有问题的行按「文件:行号: 原因」列出并跳过，其余照常导入。"""
    try:
        summary = calllist.import_call_list(Store(db, schema), name, path)
    except campaign.CampaignError as error:
        raise _fail(error) from None
    _skipped(summary.errors)
    left_out = sum(not problem.note for problem in summary.errors)
    counts = _counts("导入", summary.imported, "此前已导入", summary.already, left_out)
    err.print(f"名单共 {summary.rows} 行：{counts}")
    if summary.imported == 0 and summary.already == 0 and left_out:
        raise typer.Exit(1)


@campaign_app.command("assign")
def assign_(
    name: Name,
    agents: Annotated[list[str] | None, typer.Option("--agent", help="坐席工号（可重复）")] = None,
    region: Annotated[
        list[str] | None, typer.Option("--region", help="地区=坐席,坐席：这个地区的客户只分给这些坐席（可重复）")
    ] = None,
    reassign: Annotated[bool, typer.Option("--reassign", help="重新分配所有还在跟进的客户，不只是还没分配的")] = False,
    db: DbOption = None,
    schema: SchemaOption = None,
) -> None:
    """把还在跟进的客户平均分给坐席（或按地区分）。"""
    try:
        given = assign.assign(
            Store(db, schema), name, agents or [], assign.parse_regions(region or []), reassign=reassign
        )
    except campaign.CampaignError as error:
        raise _fail(error) from None
    if not given:
        err.print("没有要分配的客户（还在跟进的客户都已分配；要重新分配请加 --reassign）")
        return
    err.print("已分配：" + " · ".join(f"{agent} {n} 位" for agent, n in sorted(given.items())))


@campaign_app.command("queue")
def queue_(
    name: Name,
    agent: Annotated[str, typer.Option("--agent", help="坐席工号")],
    limit: Annotated[int, typer.Option(help="最多列出几位客户")] = 20,
    script: Annotated[bool, typer.Option("--script", help="同时打印第一位客户的话术")] = False,
    db: DbOption = None,
    schema: SchemaOption = None,
) -> None:
    """坐席接下来要拨打的客户：先是到期的预约回拨，再是新客户，最后是重拨。"""
    store = Store(db, schema)
    try:
        spec = stored.campaign_spec(store.engine, name)
        now = datetime.now(UTC)
        picked = assign.queue(store, name, agent, now, limit)
        table = Table(
            title=Text(
                f"{agent}：现在可拨打 {len(picked)} 位（{spec.timezone} {local(now, spec.tz):%H:%M}；"
                f"呼叫时段 {spec.calling_hours}，按客户当地时间）"
            )
        )
        for column in ("客户", "客户号", "称呼", "电话", "地区", "客户当地时间", "原因"):
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
    customer: CustomerId,
    at: Annotated[str, typer.Option("--at", help="回拨时间，如 2026-03-03T15:00（不带时区时按活动的时区）")],
    note: Annotated[str, typer.Option(help="备注（为什么回拨）")] = "",
    db: DbOption = None,
    schema: SchemaOption = None,
) -> None:
    """给还在跟进的客户预约回拨，时间要在客户当地的呼叫时段内。"""
    store = Store(db, schema)
    try:
        when, spec = stored.add_callback(store.engine, name, customer, at, note)
    except (campaign.CampaignError, ValueError) as error:
        raise _fail(error) from None
    err.print(f"已为客户 {customer} 预约回拨：{local(when, spec.tz):%Y-%m-%d %H:%M}（{spec.timezone}）")


@campaign_app.command("record")
def record(
    name: Name,
    customer: CustomerId,
    disposition: Annotated[
        str,
        typer.Argument(
            metavar="拨打结果",
            help="拨打结果，代码或中文："
            + "、".join(f"{code} {info.label}" for code, info in disposition_codes().items()),
        ),
    ],
    agent: Annotated[str, typer.Option("--agent", help="坐席工号")],
    at: Annotated[
        str | None,
        typer.Option("--at", help="开始拨打的时间（默认现在；不带时区时按活动的时区）"),
    ] = None,
    duration: Annotated[float | None, typer.Option(help="从拨号到挂断的秒数")] = None,
    reason: Annotated[
        str | None, typer.Option(help="拒绝原因：活动 reason_codes 里的代码或中文，如 not_needed 或 不需要信用卡")
    ] = None,
    notes: Annotated[str, typer.Option(help="备注")] = "",
    conversation: Annotated[str | None, typer.Option(help="这通电话的录音：已存会话的 ID 或键")] = None,
    callback_at: Annotated[str | None, typer.Option("--callback-at", help="客户要求的回拨时间")] = None,
    db: DbOption = None,
    schema: SchemaOption = None,
) -> None:
    """记录一次拨打及其结果。"""
    store = Store(db, schema)
    try:
        key = None
        if conversation:
            found = store.find(conversation)
            if len(found) != 1:
                raise campaign.CampaignError(f"{'没有' if not found else '有不止一个'}已存的会话 {conversation!r}")
            key = found[0][0]
        spec = stored.campaign_spec(store.engine, name)
        tz = spec.tz
        attempt = Attempt(
            customer_id=customer,
            agent_id=agent,
            started_at=parse_time(at, tz) if at else datetime.now(UTC),
            duration=duration,
            disposition=disposition,
            reason_code=dispositions.reason_code(spec, reason),
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
    err.print(f"已记录：客户 {customer}，结果「{disposition_codes()[attempt.disposition].label}」")


@campaign_app.command("dispositions")
def import_dispositions(
    name: Name,
    path: Annotated[Path, typer.Argument(metavar="拨打记录文件", help="拨打记录导出文件，CSV 或 XLSX")],
    db: DbOption = None,
    schema: SchemaOption = None,
) -> None:
    """从外呼系统导出的 CSV/XLSX 导入拨打记录：有问题的行列出并跳过。"""
    try:
        summary = dispositions.import_dispositions(Store(db, schema), name, path)
    except campaign.CampaignError as error:
        raise _fail(error) from None
    _skipped(summary.errors)
    counts = _counts("记录", summary.imported, "此前已记录过", summary.already, len(summary.errors))
    err.print(f"拨打记录共 {summary.rows} 行：{counts}")
    if summary.already:
        err.print("此前已记录过的行（同一客户、拨打时间和结果）没有重复记录")


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise _fail(ValueError(f"{option}：认不出日期 {value!r:.40}（应为 2026-03-02 这样的日期）")) from None


@campaign_app.command("report")
def report_(
    name: Name,
    format: Annotated[str, typer.Option("--format", help="table（表格）或 json")] = "table",
    period: Annotated[
        str, typer.Option(help="today（今天）、yesterday（昨天）、week（本周，从周一起）、month（本月）或 all（全部）")
    ] = "all",
    start: Annotated[
        str | None, typer.Option("--from", help="第一天（活动时区的日期），如 2026-03-02（代替 --period）")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="最后一天（含这一天）")] = None,
    db: DbOption = None,
    schema: SchemaOption = None,
) -> None:
    """外呼报表：接通率、成功率、坐席、第几次拨打、拨打时段、预约回拨、拒绝原因、分群，以及质检项与成功率，
    按活动时区的日期统计。"""
    if format not in ("table", "json"):
        raise _fail(ValueError("--format 只能是 table 或 json"))
    store = Store(db, schema)
    try:
        spec = stored.campaign_spec(store.engine, name)
        tz = spec.tz
        first, last = analytics.period(period, datetime.now(tz).date())
        first = _day(start, "--from") if start else first
        last = _day(end, "--to") if end else last
        result = analytics.report(store, name, first, last)
    except (campaign.CampaignError, ValueError) as error:
        raise _fail(error) from None
    if format == "json":
        print(inert_json(result.model_dump_json(indent=2)))
    else:
        campaign_report(out, result, spec.reason_codes)


@campaign_app.command("dnc")
def do_not_call(
    path: Annotated[
        Path | None, typer.Argument(metavar="号码文件", help="不再拨打的号码：带电话列的 CSV/XLSX，或每行一个号码")
    ] = None,
    name: Annotated[str | None, typer.Option("--campaign", help="与 --customer 一起用：客户所在的活动")] = None,
    customer: Annotated[int | None, typer.Option("--customer", help="要求不再来电的客户编号")] = None,
    db: DbOption = None,
    schema: SchemaOption = None,
) -> None:
    """把号码加入免打扰名单（对所有活动有效）：从文件导入，或加入某位客户的号码。"""
    store = Store(db, schema)
    try:
        if customer is not None:
            if not name:
                raise campaign.CampaignError("--customer 要和 --campaign 一起用")
            dial.do_not_call_customer(store, name, customer)
            err.print(f"活动 {name} 的客户 {customer} 已加入免打扰名单")
            return
        if path is None:
            raise campaign.CampaignError("请给出号码文件，或者用 --campaign 和 --customer 指定客户")
        summary = dial.import_do_not_call(store, path)
    except campaign.CampaignError as error:
        raise _fail(error) from None
    _skipped(summary.errors)
    counts = _counts("新加入", summary.imported, "已在名单上", summary.already, len(summary.errors))
    err.print(f"免打扰号码共 {summary.rows} 行：{counts}")


@campaign_app.command("dial")
def dial_(
    name: Name,
    customer: CustomerId,
    user: Annotated[str, typer.Option("--user", help="你的 zuoxi 用户名（客户分配到的坐席）")],
    password: Annotated[
        str,
        typer.Option(
            envvar="ZUOXI_PASSWORD",
            show_default=False,
            help="你的密码（或环境变量 $ZUOXI_PASSWORD）；不给时在终端里询问（密码：），或读标准输入的第一行",
        ),
    ] = "",
    db: DbOption = None,
    schema: SchemaOption = None,
) -> None:
    """显示要拨打的客户号码：只给分配到的坐席、只在可以拨打时显示；每次都记入审计日志。"""
    password = password or read_password()
    store = Store(db, schema)
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
    customers: Annotated[int, typer.Option(help="持卡客户人数（种子 001：13000）")] = 13000,
    seed: Annotated[int, typer.Option(help="随机种子：种子相同，生成的活动也相同")] = 1,
    db: DbOption = None,
    schema: SchemaOption = None,
) -> None:
    """生成信用卡激活回访示例活动（种子 001）：名单、拨打结果和录音，并打印报表。"""
    store = Store(db, schema)
    try:
        stored.campaign_spec(store.engine, demo.NAME)
        exists = True
    except campaign.CampaignError:
        exists = False
    if exists:
        err.print(f"示例活动 {demo.NAME} 已在 {store.url} 里，下面是它的报表")
    else:
        summary = demo.build_demo(store, customers=customers, seed=seed)
        listed = summary.list_import
        _skipped(listed.errors, SKIPPED_SHOWN)
        left_out = sum(not problem.note for problem in listed.errors)
        counts = _counts("导入", listed.imported, "此前已导入", listed.already, left_out).replace(" · ", "，")
        err.print(
            f"示例活动已生成：名单共 {listed.rows} 行（{counts}）；拨打 {summary.attempts} 次；"
            f"录音 {summary.recorded} 通，已用 outbound 评分表质检；数据库 {store.url}"
        )
    campaign_report(out, analytics.report(store, demo.NAME), stored.campaign_spec(store.engine, demo.NAME).reason_codes)
