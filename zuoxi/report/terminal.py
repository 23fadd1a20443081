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
    parts = [f"files {summary.files}"]
    if isinstance(summary, DaskSummary):
        parts.append(f"shards {summary.shards}")
        if summary.shards_skipped:
            parts.append(f"shards done before {summary.shards_skipped}")
        if summary.shards_failed:
            parts.append(f"shards failed {summary.shards_failed}")
    parts.append(f"read {summary.read}")
    if summary.files_skipped:
        parts.append(f"files already imported {summary.files_skipped}")
    parts += [f"imported {summary.imported}", f"already stored {summary.duplicates}"]
    if summary.analyzed:
        parts.append(f"analyzed {summary.analyzed}")
    parts.append(f"errors {len(summary.errors)}")
    console.print(
        " · ".join(parts) + f" · {seconds:.1f}s ({rate:.0f} conversations/s)", highlight=False, soft_wrap=True
    )


def results_table(console: Console, items: list) -> None:
    table = Table(title=f"{len(items)} conversations")
    for column in ("conversation", "agent", "scorecard", "score", "failed rules"):
        table.add_column(column)
    for conv, result in items:
        failed = " ".join(f.rule for f in result.failed())
        score = Text(f"{result.score:.0f} veto", style="red") if result.veto else f"{result.score:.0f}"
        table.add_row(conv.id, conv.agent_id or "—", result.scorecard, score, failed or "—")
    console.print(table)


def predictions_table(console: Console, rows: list[dict], task: str) -> None:
    table = Table(title=f"{len(rows)} conversations · {task}")
    table.add_column("conversation")
    if task == "quality":
        for key, name in (("A", "task accomplished"), ("S", "customer satisfied"), ("E", "effective")):
            table.add_column(f"{key} ({name})")
        for r in rows:
            means = [sum(int(k) * p for k, p in r["dialogue"][key].items()) for key in ("A", "S", "E")]
            table.add_row(r["conversation_id"], *(f"{m:+.2f}" for m in means))
    else:
        table.add_column("dialogue")
        table.add_column("customer turns")
        if task == "satisfaction":
            table.add_column("complaint risk")
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
            f" {summary['layout']}, {summary['duration']:.1f} s, {summary['sample_rate']} Hz, "
            f"median speech level {summary['median_dbfs']} dBFS",
        ),
        highlight=False,
    )
    for warning in summary["warnings"]:
        console.print(Text.assemble("  ", ("warning", "yellow"), f" {warning}"), highlight=False)
    for role, seconds in summary["speech_seconds"].items():
        console.print(
            f"  {role}: speaks {seconds:.1f} s at {summary['level_dbfs'][role]} dBFS, loudness "
            f"{summary['loudness_lufs'][role]} LUFS, peak {summary['peak_dbfs'][role]} dBFS, "
            f"clipped in {summary['clipped'][role]:.1%} of its speech",
            highlight=False,
        )
    gap, gaps = summary["hangup_gap"], summary["hangup_gaps"]
    console.print(
        f"  hang-up gap: {'n/a' if gap is None else f'{gap:.2f} s'} after the last words "
        f"(last speaker: {summary['last_speaker'] or 'n/a'}"
        + "".join(f"; after the {role}'s: {value:.2f} s" for role, value in gaps.items())
        + ")",
        highlight=False,
    )
    for kind, rows in (
        ("dead air", summary["dead_air"]),
        ("overlap", summary["overlaps"]),
        ("response latency", summary["latencies"]),
        ("loud peak", summary["peaks"]),
    ):
        for row in rows:
            extra = (
                f" {row['by']} over {row['over']}"
                if "by" in row
                else f" {row['role']} +{row['db_over_median']} dB"
                if "role" in row
                else ""
            )
            console.print(
                f"  {kind}: {row['start']:.2f}–{row['end']:.2f} s ({row['end'] - row['start']:.2f} s){extra}",
                highlight=False,
            )
    if summary["turns"] == "n/a":
        console.print("  turns: n/a (no transcript with times)")
        return
    table = Table()
    for column in ("turn", "role", "voiced s", "chars/min", "dBFS", "vs median dB", "peak dB"):
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
    for column in (label, "attempts", "reached (of attempts)", "success (of reached)"):
        table.add_column(column, justify="right")
    for s in slices:
        table.add_row(
            f"{s.key:02d}:00" if label == "hour" else str(s.key), str(s.attempts), _rate(s.contact), _rate(s.success)
        )
    return table


def campaign_report(console: Console, report: CampaignReport) -> None:
    """The report as terminal tables; rates carry their 95% Wilson interval and counts."""
    console.print(_campaign_head(report))
    console.print(_dispositions(report))
    console.print(_campaign_agents(report))
    for title, label, slices in (
        ("by attempt number", "attempt", report.by_attempt),
        (f"by hour of the day ({report.timezone})", "hour", report.by_hour),
    ):
        console.print(_slices(title, label, slices))
    c = report.callbacks
    console.print(
        f"callbacks due {c.due}: kept on time {_rate(c.kept)} · early {c.early} · late {c.late} · "
        f"missed {c.missed} · rescheduled {c.rescheduled} · not due yet {c.waiting}"
    )
    console.print(_campaign_segments(report))
    console.print(_campaign_rules(report))


def _campaign_head(report: CampaignReport) -> Table:
    """The campaign's headline figures for its period, one per row."""
    span = (
        f"{report.period_start or '…'} – {report.period_end or '…'}"
        if report.period_start or report.period_end
        else "all days"
    )
    head = Table(title=f"{report.title} ({report.campaign}), {span}, {report.timezone}", show_header=False)
    for label, value in (
        ("customers on the list", str(report.customers)),
        ("customers called", str(report.customers_called)),
        ("attempts", str(report.attempts)),
        ("contact rate (reached / called)", _rate(report.contact_rate)),
        ("success rate (successes / reached)", _rate(report.success_rate)),
        ("success of the whole list", _rate(report.list_success_rate)),
        ("attempts per success", _number(report.attempts_per_success)),
        ("calls per agent per day", _number(report.calls_per_agent_day)),
        ("average handling time (reached)", _number(report.average_handling_time, " s")),
        ("status", " · ".join(f"{k} {v}" for k, v in report.status.items())),
    ):
        head.add_row(label, value)
    return head


def _dispositions(report: CampaignReport) -> Table:
    """Attempts by disposition, then the refusals by the reason given."""
    disp = Table(title="dispositions (attempts) and refusal reasons")
    disp.add_column("disposition")
    disp.add_column("attempts", justify="right")
    for code, count in report.dispositions.items():
        disp.add_row(code, str(count))
    for code, count in report.refusal_reasons.items():
        disp.add_row(f"  refused: {code}", str(count))
    return disp


def _campaign_agents(report: CampaignReport) -> Table:
    """Each agent's pace and success."""
    agents = Table(title="agents (calls per active hour; talk time of calls that reached someone)")
    for column in ("agent", "days", "attempts", "per day", "per hour", "talk time", "success (of reached)"):
        agents.add_column(column, justify="right" if column != "agent" else "left")
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
    segments = Table(title="success of reached customers by segment (95% Wilson interval)")
    for column in ("segment", "value", "success"):
        segments.add_column(column)
    for s in report.segments:
        segments.add_row(s.field, s.value, _rate(s.contacted))
    return segments


def _campaign_rules(report: CampaignReport) -> Table:
    """Success when each scorecard item passed and when it failed; an item seen only one way says nothing
    and is left out, except the outbound (OB-) items, always shown."""
    rules = Table(
        title=f"scorecard items vs success, {report.linked_calls} recorded calls (* = intervals do not overlap)"
    )
    for column in ("item", "name", "success when passed", "success when failed", ""):
        rules.add_column(column)
    for r in report.rules:
        if (r.passed.n and r.failed.n) or r.rule.startswith("OB-"):
            rules.add_row(r.rule, r.name, _rate(r.passed), _rate(r.failed), "*" if r.separated else "")
    return rules
