"""The campaign report as `zuoxi campaign report` and `zuoxi campaign demo` print it: Rich tables in Chinese, with
the names the web page (campaigns.html.j2) gives each figure. Dispositions and refusal reasons are shown by their
Chinese names (data/dispositions.yaml, the campaign's reason_codes), never by their codes; `--format json` keeps
the codes. Rates carry their 95% Wilson interval and counts. Agent ids, segment values and item names are data:
printed as they are, never read as markup."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from zuoxi.campaigns.models import CampaignReport, Rate, SliceFigures, dispositions, status_name
from zuoxi.report.labels import SEGMENT_NAMES
from zuoxi.report.terminal import Prose

UNSPECIFIED = "未说明"  # a refusal recorded without a reason (analytics counts it as "unspecified")


def _number(value: float | None, unit: str = "") -> str:
    return "—" if value is None else f"{value:.1f}{unit}"


def rate(value: Rate) -> str:
    """`12.3% [10.1%–14.8%] (45/366)`, or — when nothing was counted."""
    if value.rate is None:
        return "—"
    return f"{value.rate:.1%} [{value.low:.1%}–{value.high:.1%}] ({value.successes}/{value.n})"


def _duration(seconds: float) -> str:
    return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"


def _plain(value: str) -> Text:
    """A value from the data (an agent id, a region, an item name) as it is: `[red]` and `:smile:` stay text;
    wrapped between Chinese characters, never cut short with "…"."""
    return Prose(value)


def campaign_report(console: Console, report: CampaignReport, reasons: dict[str, str] | None = None) -> None:
    """The report as terminal tables; `reasons` are the campaign's reason codes and their names."""
    console.print(_head(report))
    console.print(_dispositions(report, reasons or {}))
    console.print(_agents(report))
    console.print(_slices("按第几次拨打", "第几次", report.by_attempt, lambda key: f"第 {key} 次"))
    console.print(_slices(f"按拨打时段（{report.timezone}）", "时段", report.by_hour, lambda key: f"{key:02d}:00"))
    c = report.callbacks
    console.print(
        f"预约回拨（本期到期 {c.due} 个）：按时 {rate(c.kept)} · 提前 {c.early} · 迟到 {c.late} · 错过 {c.missed} · "
        f"改约 {c.rescheduled} · 未到期 {c.waiting}",
        highlight=False,
    )
    console.print(_segments(report))
    console.print(_rules(report))


def _head(report: CampaignReport) -> Table:
    """The campaign's headline figures for its period, one per row."""
    if report.period_start or report.period_end:
        span = f"{report.period_start or '开始'} 至 {report.period_end or '今'}"
    else:
        span = "全部日期"
    head = Table(title=Text(f"{report.title} · {report.campaign} · {span} · {report.timezone}"), show_header=False)
    for label, value in (
        ("名单客户", str(report.customers)),
        ("已拨打客户", str(report.customers_called)),
        ("拨打次数", str(report.attempts)),
        ("接通率（接通客户 / 已拨打客户）", rate(report.contact_rate)),
        ("成功率（成功客户 / 接通客户）", rate(report.success_rate)),
        ("成功率（成功客户 / 全名单）", rate(report.list_success_rate)),
        ("每成功一位客户的拨打次数", _number(report.attempts_per_success)),
        ("人均日呼（每个坐席每天拨打次数）", _number(report.calls_per_agent_day)),
        ("平均通话时长（接通的拨打）", _number(report.average_handling_time, " 秒")),
        ("客户状态", " · ".join(f"{status_name(k)} {v}" for k, v in report.status.items())),
    ):
        head.add_row(label, value)
    return head


def _dispositions(report: CampaignReport, reasons: dict[str, str]) -> Table:
    """Attempts by disposition, then the refusals by the reason given."""
    names = {code: info.label for code, info in dispositions().items()}
    table = Table(title="拨打结果与拒绝原因（拨打次数）")
    table.add_column("拨打结果")
    table.add_column("次数", justify="right")
    for code, count in report.dispositions.items():
        table.add_row(names.get(code, code), str(count))
    for code, count in report.refusal_reasons.items():
        name = UNSPECIFIED if code == "unspecified" else reasons.get(code, code)
        table.add_row(Text(f"  {names['refused']}：{name}"), str(count))
    return table


def _agents(report: CampaignReport) -> Table:
    """Each agent's pace and success."""
    table = Table(title="坐席（每小时：按有拨打的小时算；通话时长：接通的拨打）")
    for column in ("坐席", "天数", "拨打", "日均", "每小时", "通话时长", "成功率（接通）"):
        table.add_column(column, justify="left" if column == "坐席" else "right")
    for a in report.agents:
        table.add_row(
            _plain(a.agent_id),
            str(a.days),
            str(a.attempts),
            f"{a.per_day:.1f}",
            f"{a.calls_per_hour:.1f}",
            _duration(a.talk_time),
            rate(a.success),
        )
    return table


def _slices(title: str, label: str, slices: list[SliceFigures], key) -> Table:
    table = Table(title=title)
    for column in (label, "拨打", "接通率（占拨打）", "成功率（占接通）"):
        table.add_column(column, justify="right")
    for s in slices:
        table.add_row(key(s.key), str(s.attempts), rate(s.contact), rate(s.success))
    return table


def _segments(report: CampaignReport) -> Table:
    """Success of reached customers by each segment value of the list."""
    table = Table(title="接通客户分群成功率（95% Wilson 区间）")
    for column in ("分群", "取值", "成功率"):
        table.add_column(column)
    for s in report.segments:
        table.add_row(SEGMENT_NAMES.get(s.field, s.field), _plain(s.value), rate(s.contacted))
    return table


def _rules(report: CampaignReport) -> Table:
    """Success when each scorecard item passed and when it failed; an item seen only one way says nothing
    and is left out, except the outbound (OB-) items, always shown."""
    table = Table(title=f"质检项与成功率：关联录音 {report.linked_calls} 通（* = 两个区间不重叠，差异可信）")
    for column in ("质检项", "名称", "通过时成功率", "未通过时成功率", ""):
        table.add_column(column)
    for r in report.rules:
        if (r.passed.n and r.failed.n) or r.rule.startswith("OB-"):
            table.add_row(r.rule, _plain(r.name), rate(r.passed), rate(r.failed), "*" if r.separated else "")
    return table
