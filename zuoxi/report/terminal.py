"""What the command line prints in a terminal: batch summaries; result, prediction, audio and campaign tables
(rich). The commands in zuoxi/cli/ decide what to print and where; this module only lays it out."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from zuoxi.campaigns.models import CampaignReport, Rate, SliceFigures
from zuoxi.engines.dask import DaskSummary
from zuoxi.engines.local import BatchSummary


def batch_summary(console: Console, summary: BatchSummary, seconds: float) -> None:
    rate = summary.read / seconds if seconds > 0 else 0.0
    parts = [f"文件 {summary.files}"]
    if isinstance(summary, DaskSummary):
        parts.append(f"分片 {summary.shards}")
        if summary.shards_skipped:
            parts.append(f"此前已完成的分片 {summary.shards_skipped}")
        if summary.shards_failed:
            parts.append(f"失败的分片 {summary.shards_failed}")
    parts.append(f"读取 {summary.read}")
    if summary.files_skipped:
        parts.append(f"此前已导入的文件 {summary.files_skipped}")
    parts += [f"导入 {summary.imported}", f"库中已有 {summary.duplicates}"]
    if summary.analyzed:
        parts.append(f"分析 {summary.analyzed}")
    parts.append(f"错误 {len(summary.errors)}")
    console.print(" · ".join(parts) + f" · {seconds:.1f} 秒（每秒 {rate:.0f} 个会话）", highlight=False, soft_wrap=True)


def results_table(console: Console, items: list) -> None:
    table = Table(title=f"{len(items)} 个会话")
    for column in ("会话", "坐席", "评分表", "得分", "未通过的规则"):
        table.add_column(column)
    for conv, result in items:
        failed = " ".join(f.rule for f in result.failed())
        score = Text(f"{result.score:.0f} 一票否决", style="red") if result.veto else f"{result.score:.0f}"
        table.add_row(conv.id, conv.agent_id or "—", result.scorecard, score, failed or "—")
    console.print(table)


def predictions_table(console: Console, rows: list[dict], task: str) -> None:
    table = Table(title=f"{len(rows)} 个会话 · {task}")
    table.add_column("会话")
    if task == "quality":
        for key, name in (("A", "问题解决"), ("S", "客户满意"), ("E", "沟通有效")):
            table.add_column(f"{key}（{name}）")
        for r in rows:
            means = [sum(int(k) * p for k, p in r["dialogue"][key].items()) for key in ("A", "S", "E")]
            table.add_row(r["conversation_id"], *(f"{m:+.2f}" for m in means))
    else:
        table.add_column("整通会话")
        table.add_column("客户各句")
        if task == "satisfaction":
            table.add_column("投诉风险")
        for r in rows:
            turns = " ".join(f"{t['turn']}:{t['label']}" for t in r["turns"])
            row = [r["conversation_id"], str(r["dialogue"].get("label") or "—"), turns or "—"]
            if task == "satisfaction":
                row.append(f"{r['dialogue']['complaint_risk']:.2f}")
            table.add_row(*row)
    console.print(table)


def audio_summary(console: Console, summary: dict) -> None:
    console.print(
        Text.assemble(
            (str(summary["file"]), "bold"),
            f" {summary['layout']}，{summary['duration']:.1f} 秒，{summary['sample_rate']} Hz，"
            f"语音电平中位数 {summary['median_dbfs']} dBFS",
        ),
        highlight=False,
    )
    for warning in summary["warnings"]:
        console.print(Text.assemble("  ", ("警告", "yellow"), f" {warning}"), highlight=False)
    for role, seconds in summary["speech_seconds"].items():
        console.print(
            f"  {role}：说话 {seconds:.1f} 秒，电平 {summary['level_dbfs'][role]} dBFS，响度 "
            f"{summary['loudness_lufs'][role]} LUFS，峰值 {summary['peak_dbfs'][role]} dBFS，"
            f"削波占语音 {summary['clipped'][role]:.1%}",
            highlight=False,
        )
    gap, gaps = summary["hangup_gap"], summary["hangup_gaps"]
    console.print(
        f"  挂机间隔：最后一句话后 {'无' if gap is None else f'{gap:.2f} 秒'}"
        f"（最后说话的一方：{summary['last_speaker'] or '无'}"
        + "".join(f"；{role} 最后一句后 {value:.2f} 秒" for role, value in gaps.items())
        + "）",
        highlight=False,
    )
    for kind, rows in (
        ("静音", summary["dead_air"]),
        ("抢话", summary["overlaps"]),
        ("响应延迟", summary["latencies"]),
        ("音量突增", summary["peaks"]),
    ):
        for row in rows:
            extra = (
                f" {row['by']} 打断 {row['over']}"
                if "by" in row
                else f" {row['role']} +{row['db_over_median']} dB"
                if "role" in row
                else ""
            )
            console.print(
                f"  {kind}：{row['start']:.2f}–{row['end']:.2f} 秒（{row['end'] - row['start']:.2f} 秒）{extra}",
                highlight=False,
            )
    if summary["turns"] == "n/a":
        console.print("  各句：无（没有带时间的转写）")
        return
    table = Table()
    for column in ("句", "角色", "发声秒数", "字/分钟", "dBFS", "比中位数 dB", "峰值 dB"):
        table.add_column(column)
    for t in summary["turns"]:
        table.add_row(
            str(t["turn"]),
            t["role"],
            f"{t['voiced']:.2f}",
            *(
                "—" if v is None else f"{v:g}"
                for v in (t["speech_rate"], t["level_dbfs"], t["volume_rel_db"], t["peak_rel_db"])
            ),
        )
    console.print(table)


def _number(value: float | None, unit: str = "") -> str:
    return "—" if value is None else f"{value:.1f}{unit}"


def _rate(rate: Rate) -> str:
    if rate.rate is None:
        return "—"
    return f"{rate.rate:.1%} [{rate.low:.1%}–{rate.high:.1%}] ({rate.successes}/{rate.n})"


def _duration(seconds: float) -> str:
    return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"


def _slices(title: str, label: str, slices: list[SliceFigures]) -> Table:
    table = Table(title=title)
    for column in (label, "拨打", "接通率", "成功率（接通）"):
        table.add_column(column, justify="right")
    for s in slices:
        table.add_row(
            f"{s.key:02d}:00" if label == "时段" else f"第 {s.key} 次",
            str(s.attempts),
            _rate(s.contact),
            _rate(s.success),
        )
    return table


def campaign_report(console: Console, report: CampaignReport) -> None:
    """The report as terminal tables; rates carry their 95% Wilson interval and counts."""
    console.print(_campaign_head(report))
    console.print(_dispositions(report))
    console.print(_campaign_agents(report))
    for title, label, slices in (
        ("按第几次拨打", "拨打次序", report.by_attempt),
        (f"按拨打时段（客户当地，{report.timezone}）", "时段", report.by_hour),
    ):
        console.print(_slices(title, label, slices))
    c = report.callbacks
    console.print(
        f"预约回拨（本期到期 {c.due} 个）：守约率 {_rate(c.kept)} · 提前 {c.early} · 迟到 {c.late} · "
        f"错过 {c.missed} · 改约 {c.rescheduled} · 未到期 {c.waiting}"
    )
    console.print(_campaign_segments(report))
    console.print(_campaign_rules(report))


def _campaign_head(report: CampaignReport) -> Table:
    """The campaign's headline figures for its period, one per row."""
    span = (
        f"{report.period_start or '…'} – {report.period_end or '…'}"
        if report.period_start or report.period_end
        else "全部日期"
    )
    head = Table(title=f"{report.title} ({report.campaign}), {span}, {report.timezone}", show_header=False)
    for label, value in (
        ("名单客户", str(report.customers)),
        ("已拨打客户", str(report.customers_called)),
        ("拨打次数", str(report.attempts)),
        ("接通率（接通 / 拨打）", _rate(report.contact_rate)),
        ("成功率（成功 / 接通）", _rate(report.success_rate)),
        ("成功率（全名单）", _rate(report.list_success_rate)),
        ("每次成功拨打", _number(report.attempts_per_success)),
        ("人均日呼", _number(report.calls_per_agent_day)),
        ("平均通话时长（接通）", _number(report.average_handling_time, " 秒")),
        ("状态", " · ".join(f"{k} {v}" for k, v in report.status.items())),
    ):
        head.add_row(label, value)
    return head


def _dispositions(report: CampaignReport) -> Table:
    """Attempts by disposition, then the refusals by the reason given."""
    disp = Table(title="拨打结果（次数）与拒绝原因")
    disp.add_column("拨打结果")
    disp.add_column("次数", justify="right")
    for code, count in report.dispositions.items():
        disp.add_row(code, str(count))
    for code, count in report.refusal_reasons.items():
        disp.add_row(f"  拒绝：{code}", str(count))
    return disp


def _campaign_agents(report: CampaignReport) -> Table:
    """Each agent's pace and success."""
    agents = Table(title="坐席（每小时按在岗时长计；通话时长只计接通的通话）")
    for column in ("坐席", "天数", "拨打", "日均", "每小时", "通话时长", "成功率（接通）"):
        agents.add_column(column, justify="right" if column != "坐席" else "left")
    for a in report.agents:
        agents.add_row(
            a.agent_id,
            str(a.days),
            str(a.attempts),
            f"{a.per_day:.1f}",
            f"{a.calls_per_hour:.1f}",
            _duration(a.talk_time),
            _rate(a.success),
        )
    return agents


def _campaign_segments(report: CampaignReport) -> Table:
    """Success of reached customers by each segment value of the list."""
    segments = Table(title="分群成功率（接通客户；95% Wilson 区间）")
    for column in ("分群", "取值", "成功率"):
        segments.add_column(column)
    for s in report.segments:
        segments.add_row(s.field, s.value, _rate(s.contacted))
    return segments


def _campaign_rules(report: CampaignReport) -> Table:
    """Success when each scorecard item passed and when it failed; an item seen only one way says nothing
    and is left out, except the outbound (OB-) items, always shown."""
    rules = Table(title=f"质检项与成功率（关联录音 {report.linked_calls} 通；* = 区间不重叠，差异可信）")
    for column in ("质检项", "名称", "通过时成功率", "未通过时成功率", ""):
        rules.add_column(column)
    for r in report.rules:
        if (r.passed.n and r.failed.n) or r.rule.startswith("OB-"):
            rules.add_row(r.rule, r.name, _rate(r.passed), _rate(r.failed), "*" if r.separated else "")
    return rules
