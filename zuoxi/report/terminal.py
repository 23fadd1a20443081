"""What the command line prints in a terminal: batch summaries; result, prediction and audio tables (rich); the
campaign report's are zuoxi/campaigns/terminal.py. The commands in zuoxi/cli/ decide what to print and where;
this module only lays it out."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

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
