"""`zuoxi queue …`: sampling plans, runs and queues, complaint alerts and their webhooks, from the
terminal (docs/queues.md). The command line holds the database, so it sees every team; what it
changes is audited as done by the system. Plan names, labels and customers' words are data: the
consoles interpret no markup or emoji codes."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from rich.table import Table

from zuoxi.cli.app import DbOption, FormatOption, SchemaOption, app, check_format, inert_json, say_error
from zuoxi.cli.app import plain_err as err
from zuoxi.cli.app import plain_out as out
from zuoxi.queues import alerts as A
from zuoxi.queues.items import QueueError
from zuoxi.queues.models import Period
from zuoxi.queues.plans import PlanError, bundled_names, load_plan_file
from zuoxi.queues.precision import precision_by_share
from zuoxi.queues.sampling import run_due, run_plan
from zuoxi.store import Store, source_zone
from zuoxi.store import queues as Q
from zuoxi.store.effects import LOCAL
from zuoxi.store.queries import NotFound

queue_app = typer.Typer(help="抽检计划、复核任务和投诉预警（docs/queues.md）。", no_args_is_help=True)
app.add_typer(queue_app, name="queue")
plan_app = typer.Typer(help="抽检计划（YAML）。", no_args_is_help=True)
alerts_app = typer.Typer(help="投诉预警：触发条件、预警列表、推送。", no_args_is_help=True)
webhook_app = typer.Typer(help="接收班组预警的推送地址（企业微信、钉钉群机器人或 JSON）。", no_args_is_help=True)
queue_app.add_typer(plan_app, name="plan")
queue_app.add_typer(alerts_app, name="alerts")
queue_app.add_typer(webhook_app, name="webhook")
Zone = Annotated[
    str | None, typer.Option("--timezone", help="日期和时间按哪个时区（默认 $ZUOXI_TZ，没有则 Asia/Shanghai）")
]


WebhookId = Annotated[
    int, typer.Argument(metavar="推送地址编号", min=1, max=2**31 - 1, help="推送地址编号（zuoxi queue webhook list）")
]


def _fail(error: Exception) -> typer.Exit:
    say_error(str(error))
    return typer.Exit(2)


def _zone(name: str | None):
    try:
        return ZoneInfo(name) if name else source_zone()
    except (ValueError, ZoneInfoNotFoundError):
        where = f"--timezone {name!r}" if name else f"环境变量 ZUOXI_TZ={os.environ.get('ZUOXI_TZ', '')!r}"
        raise _fail(ValueError(f"认不出时区：{where}（应为 Asia/Shanghai 这样的时区名）")) from None


def _json(value) -> None:
    print(inert_json(json.dumps(value, ensure_ascii=False, indent=2, default=str)))


# --- plans ----------------------------------------------------------------------------------------


@plan_app.command("create")
def plan_create(
    source: Annotated[
        str, typer.Argument(metavar="计划", help=f"计划 YAML 文件，或内置计划：{'、'.join(bundled_names())}")
    ],
    replace: Annotated[bool, typer.Option("--replace", help="更新已存的同 id 计划")] = False,
    db: DbOption = None,
    schema: SchemaOption = None,
) -> None:
    """保存抽检计划（YAML；有问题时按「文件:行号」指出）。"""
    try:
        spec, text = load_plan_file(source)
        Q.save_plan(Store(db, schema).engine, spec, text, None, replace=replace)
    except PlanError as error:
        raise _fail(error) from None
    err.print(
        f"抽检计划 {spec.id}：{spec.name}（{'每天' if spec.schedule == 'daily' else '每周'}，{len(spec.rules)} 条规则"
        f"{'，随机抽样' if spec.random else ''}）已保存"
    )


@plan_app.command("check")
def plan_check(file: Annotated[Path, typer.Argument(metavar="计划文件", help="计划 YAML 文件")]) -> None:
    """检查计划文件，不保存。"""
    try:
        spec, _ = load_plan_file(file)
    except PlanError as error:
        raise _fail(error) from None
    err.print(f"{file}: 没有问题（{spec.id}：{spec.name}）")


@plan_app.command("list")
def plan_list(db: DbOption = None, schema: SchemaOption = None) -> None:
    """已保存的抽检计划。"""
    table = Table()
    for column in ("计划", "名称", "周期", "启用", "抽样次数", "最近周期", "待复核"):
        table.add_column(column)
    for p in Q.list_plans(Store(db, schema).engine):
        table.add_row(
            p.name,
            p.title,
            "每天" if p.schedule == "daily" else "每周",
            "是" if p.active else "否",
            str(p.runs),
            p.last_period or "—",
            str(p.open),
        )
    out.print(table)


@plan_app.command("show")
def plan_show(
    name: Annotated[str, typer.Argument(metavar="计划", help="计划 id")],
    db: DbOption = None,
    schema: SchemaOption = None,
) -> None:
    """显示已保存计划的 YAML。"""
    try:
        _, text, _ = Q.plan_text(Store(db, schema).engine, name)
    except NotFound:
        raise _fail(NotFound(f"没有抽检计划 {name}")) from None
    out.print(text.rstrip("\n"), highlight=False)  # control and bidi characters shown, never obeyed


# --- runs and queues --------------------------------------------------------------------------------


@queue_app.command("run")
def run(
    plan: Annotated[str | None, typer.Argument(metavar="计划", help="计划 id（或用 --due 按各计划的周期抽样）")] = None,
    day: Annotated[
        datetime | None,
        typer.Option(
            "--date",
            formats=["%Y-%m-%d"],
            help="抽样包含这一天的周期（天或周）；默认最近一个已结束的周期",
        ),
    ] = None,
    start: Annotated[datetime | None, typer.Option("--from", formats=["%Y-%m-%d"], help="自定义周期的第一天")] = None,
    end: Annotated[datetime | None, typer.Option("--to", formats=["%Y-%m-%d"], help="自定义周期的最后一天")] = None,
    due: Annotated[
        bool, typer.Option("--due", help="每个启用的计划抽样最近一个已结束的周期，只抽一次（供 cron 定时运行）")
    ] = False,
    seed: Annotated[int | None, typer.Option(min=0, max=2**31 - 1, help="随机种子（默认由计划和周期决定）")] = None,
    timezone: Zone = None,
    format: FormatOption = "table",
    db: DbOption = None,
    schema: SchemaOption = None,
) -> None:
    """按计划抽样一个周期，把抽中的会话分配给质检员，并列出抽中了什么。"""
    check_format(format)
    tz = _zone(timezone)
    engine = Store(db, schema).engine
    today = datetime.now(tz).date()
    try:
        if due:
            summaries = run_due(engine, (day.date() if day else today), tz)
        elif not plan:
            raise _fail(ValueError("请给出计划 id，或者用 --due"))
        else:
            _, spec = Q.get_plan(engine, plan)
            first, last = start or end, end or start  # one of the two alone is a period of that day
            if first and last:
                period = Period.of_days(first.date(), last.date(), tz)
            elif day:
                period = Period.containing(spec.schedule, day.date(), tz)
            else:
                period = Period.last_complete(spec.schedule, today, tz)
            summaries = [run_plan(engine, plan, period, today, seed=seed)]
    except (PlanError, ValueError, OverflowError) as error:  # overflow: a day near year 1 or 9999 and its zone
        raise _fail(ValueError("日期超出范围（1900–2999 年）") if isinstance(error, OverflowError) else error) from None
    except NotFound:
        raise _fail(NotFound(f"没有抽检计划 {plan}（zuoxi queue plan list）")) from None
    if format == "json":
        _json([asdict(s) for s in summaries])
        return
    for s in summaries:
        picked = "、".join(f"{label} {n}" for label, n in s.by_criterion.items()) or "无"
        people = "、".join(f"{who} {n}" for who, n in s.by_inspector.items()) or "无"
        err.print(
            f"{s.plan} {s.period}：候选 {s.considered} 条，抽中 {s.sampled} 条（{picked}）；分配：{people}"
            + (f"；未分配 {s.unassigned} 条（没有可分配的质检员）" if s.unassigned else "")
            + (f"；本期此前已抽中 {s.already} 条（候选只含其后导入的会话）" if s.already else "")
            + (
                f"；其中此前未分配的 {sum(s.earlier_by_inspector.values())} 条现已分配："
                + "、".join(f"{who} {n}" for who, n in s.earlier_by_inspector.items())
                if s.earlier_by_inspector
                else ""
            )
            + (f"；此前未分配的 {s.earlier_unassigned} 条仍没有可分配的质检员" if s.earlier_unassigned else "")
        )
    if due and not summaries:
        err.print("没有到期的抽样")


@queue_app.command("list")
def list_queue(
    user: Annotated[str | None, typer.Option(help="只看这位质检员的复核任务（用户名）")] = None,
    plan: Annotated[str | None, typer.Option(help="只看这个计划")] = None,
    status: Annotated[
        str, typer.Option(help="open（待复核）、done（已完成）、skipped（已跳过）或 all（全部）")
    ] = "open",
    timezone: Zone = None,
    format: FormatOption = "table",
    db: DbOption = None,
    schema: SchemaOption = None,
) -> None:
    """复核任务列表：一位质检员的（--user）或全部的；逾期的在前。"""
    check_format(format)
    if status not in ("open", "done", "skipped", "all"):
        raise _fail(ValueError("--status 只能是 open、done、skipped 或 all"))
    engine = Store(db, schema).engine
    if user:  # a name that is nobody's showed an empty queue, as if that inspector had nothing to do
        from zuoxi.store.users import find_account

        account = find_account(engine, user)
        if account is None:
            raise _fail(ValueError(f"--user：没有用户 {user!r:.60}"))
        user = account.username
    today = datetime.now(_zone(timezone)).date()
    items = Q.queue_items(engine, LOCAL, today, status=None if status == "all" else status, plan=plan, limit=10_000)
    if user:
        items = [i for i in items if i.assignee == user]
    if format == "json":
        _json([asdict(i) for i in items])
        return
    table = Table(
        title=f"{user or '全部'}：{len(items)} 条"
        + (f"，逾期 {sum(i.overdue for i in items)} 条" if status == "open" else "")
    )
    for column in ("任务", "计划", "会话", "坐席", "班组", "抽中原因", "质检员", "截止", "状态"):
        table.add_column(column, no_wrap=column in ("任务", "截止", "状态"), overflow="fold")
    for i in items:
        state = {"open": "逾期" if i.overdue else "待复核", "done": "已完成", "skipped": "已跳过"}[i.status]
        table.add_row(
            str(i.id),
            i.plan,
            i.conversation_id,
            i.agent_id or "—",
            i.team or "—",
            i.label,
            i.assignee or "未分配",
            i.due_on.isoformat() if i.due_on else "—",
            state,
        )
    out.print(table)


@queue_app.command("precision")
def precision(
    plan: Annotated[str | None, typer.Option(help="只算这个计划的复核任务")] = None,
    format: FormatOption = "table",
    db: DbOption = None,
    schema: SchemaOption = None,
) -> None:
    """规则准确率：随机抽样部分（无偏，95% Wilson 区间）与定向抽样部分分别计算。"""
    check_format(format)
    figures = precision_by_share(Store(db, schema).engine, plan)
    if format == "json":
        _json([{"rule": f.rule, "random": f.random.model_dump(), "targeted": f.targeted.model_dump()} for f in figures])
        return

    def shown(rate) -> str:
        return (
            "—" if rate.rate is None else f"{rate.rate:.0%} [{rate.low:.0%}–{rate.high:.0%}] {rate.successes}/{rate.n}"
        )

    table = Table(title="规则准确率：随机抽样（无偏）与定向抽样")
    for column in ("规则", "随机抽样 准确率 [95% 区间] 确认/复核", "定向抽样 准确率 [95% 区间] 确认/复核"):
        table.add_column(column)
    for f in figures:
        table.add_row(f.rule, shown(f.random), shown(f.targeted))
    out.print(table)


# --- alerts and webhooks ------------------------------------------------------------------------------


@alerts_app.command("settings")
def alert_settings(
    risk: Annotated[float | None, typer.Option(help="投诉风险（0–1）达到多少时预警")] = None,
    rule: Annotated[list[str] | None, typer.Option("--rule", help="未通过即预警的规则（可重复；默认 ES-01）")] = None,
    max_age_hours: Annotated[
        int | None,
        typer.Option(help="只对这么多小时内的会话预警（0：不限；导入历史会话前先设好）"),
    ] = None,
    db: DbOption = None,
    schema: SchemaOption = None,
) -> None:
    """查看或设置投诉预警的触发条件。"""
    engine = Store(db, schema).engine
    current = A.settings(engine)
    if risk is not None or rule or max_age_hours is not None:
        try:
            current = A.set_settings(
                engine,
                None,
                risk if risk is not None else current.risk,
                rule or current.rules,
                max_age_hours if max_age_hours is not None else current.max_age_hours,
            )
        except QueueError as error:
            raise _fail(error) from None
    err.print(
        f"投诉预警：投诉风险 ≥ {current.risk:.0%}，或未通过 {'、'.join(current.rules) or '（无）'}"
        + (f"；只对 {current.max_age_hours} 小时内的会话" if current.max_age_hours else "")
    )


ALERTS_SHOWN_MAX = 10_000


@alerts_app.command("list")
def alert_list(
    status: Annotated[str, typer.Option(help="open（未处理）、handled（已处理）或 all（全部）")] = "open",
    limit: Annotated[
        int, typer.Option(min=1, max=ALERTS_SHOWN_MAX, help="显示多少条，最新的在前；没显示的会说有多少条")
    ] = 200,
    format: FormatOption = "table",
    timezone: Zone = None,
    db: DbOption = None,
    schema: SchemaOption = None,
) -> None:
    """投诉预警列表（所有班组）。"""
    check_format(format)
    if status not in ("open", "handled", "all"):
        raise _fail(ValueError("--status 只能是 open、handled 或 all"))
    engine = Store(db, schema).engine
    items = Q.list_alerts(engine, LOCAL, status, limit=limit)
    total = Q.count_alerts(engine, LOCAL, status) if len(items) == limit else len(items)
    if total > len(items):  # on stderr: JSON on stdout stays the list
        err.print(
            f"共 {total} 条，还有 {total - len(items)} 条较早的预警未显示"
            f"（--limit 可以显示更多，最多 {ALERTS_SHOWN_MAX} 条）"
        )
    if format == "json":
        _json([asdict(a) for a in items])
        return
    tz = _zone(timezone)
    table = Table(title=f"投诉预警：{len(items)} 条" + (f"（共 {total} 条）" if total > len(items) else ""))
    for column in ("编号", "时间", "班组", "坐席", "会话", "风险", "命中", "客户原话", "推送"):
        table.add_column(column)
    for a in items:
        table.add_row(
            str(a.id),
            f"{a.created_at.astimezone(tz):%Y-%m-%d %H:%M}",
            a.team or "—",
            a.agent_id or "—",
            a.conversation_id,
            "—" if a.risk is None else f"{a.risk:.0%}",
            "、".join(a.rules) or "—",
            a.excerpt,
            " ".join(f"{A.DELIVERY_STATES.get(k, k)} {v}" for k, v in sorted(a.deliveries.items())) or "—",
        )
    out.print(table)


@alerts_app.command("send")
def alert_send(
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="推送失败的也重新推送")] = False,
    db: DbOption = None,
    schema: SchemaOption = None,
) -> None:
    """立即推送待推送的预警（网页服务每隔几秒自动推送一次）。"""
    engine = Store(db, schema).engine
    if retry_failed:
        Q.retry_failed(engine, None)
    report = A.deliver_pending(engine)
    err.print(f"送达 {report.delivered} 条，失败 {report.failed} 条（记录：zuoxi queue alerts log）")
    if report.failed:
        raise typer.Exit(1)


@alerts_app.command("log")
def alert_log(
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="显示多少次推送，最新的在前")] = 50,
    timezone: Zone = None,
    db: DbOption = None,
    schema: SchemaOption = None,
) -> None:
    """推送记录：每次调用推送地址及其结果。"""
    tz = _zone(timezone)
    table = Table()
    for column in ("时间", "推送地址", "班组", "预警", "会话", "结果", "HTTP", "错误"):
        table.add_column(column)
    for a in Q.delivery_log(Store(db, schema).engine, limit):
        table.add_row(
            f"{a.at.astimezone(tz):%Y-%m-%d %H:%M:%S}",
            a.webhook,
            a.team,
            str(a.alert_id),
            a.conversation_id,
            "成功" if a.ok else "失败",
            str(a.status_code or "—"),
            a.error,
        )
    out.print(table)


@webhook_app.command("add")
def webhook_add(
    team: Annotated[str, typer.Option(help="接收哪个班组的预警")],
    url: Annotated[str, typer.Option(help="群机器人的推送地址（http 或 https）")],
    template: Annotated[
        str,
        typer.Option(help="消息格式：" + "、".join(f"{code} {name}" for code, name in A.TEMPLATE_NAMES.items())),
    ] = "wecom",
    name: Annotated[str | None, typer.Option(help="名称（默认：班组名加「群」）")] = None,
    db: DbOption = None,
    schema: SchemaOption = None,
) -> None:
    """把一个班组的预警（只有这个班组的）推送到它的群机器人。"""
    try:
        hook = A.add_webhook(Store(db, schema).engine, None, name or f"{team}群", team, url, template)
    except QueueError as error:
        raise _fail(error) from None
    err.print(f"推送地址 {hook}：{A.shown_url(url.strip())}（{A.TEMPLATE_NAMES[template]}）")


@webhook_app.command("list")
def webhook_list(db: DbOption = None, schema: SchemaOption = None) -> None:
    """已添加的推送地址。"""
    table = Table()
    for column in ("编号", "名称", "班组", "地址", "格式", "启用"):
        table.add_column(column)
    for w in Q.list_webhooks(Store(db, schema).engine):
        table.add_row(
            str(w.id),
            w.name,
            w.team,
            A.shown_url(w.url),
            A.TEMPLATE_NAMES.get(w.template, w.template),
            "是" if w.active else "否",
        )
    out.print(table)


def _set_active(webhook_id: int, active: bool, db: str | None, schema: str | None) -> None:
    try:
        Q.set_webhook_active(Store(db, schema).engine, None, webhook_id, active)
    except NotFound:
        raise _fail(NotFound(f"没有编号为 {webhook_id} 的推送地址（zuoxi queue webhook list）")) from None
    err.print(f"推送地址 {webhook_id} 已{'启用' if active else '停用'}")


@webhook_app.command("disable")
def webhook_disable(webhook_id: WebhookId, db: DbOption = None, schema: SchemaOption = None) -> None:
    """停用一个推送地址。"""
    _set_active(webhook_id, False, db, schema)


@webhook_app.command("enable")
def webhook_enable(webhook_id: WebhookId, db: DbOption = None, schema: SchemaOption = None) -> None:
    """重新启用一个推送地址。"""
    _set_active(webhook_id, True, db, schema)
