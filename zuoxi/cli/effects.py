"""`zuoxi effects …`: the 技能价值 figures in the terminal (table) or as JSON, the same numbers as the
web page (both call zuoxi.effects.report). The command line sees the whole database."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.table import Table

from zuoxi.cli.app import (
    DbOption,
    FormatOption,
    SchemaOption,
    app,
    check_format,
    check_scorecard,
    inert_json,
    out,
    say_error,
)
from zuoxi.coaching.library import CaseLibrary
from zuoxi.effects.behaviours import OUTCOMES, OutcomeEffect, suggest_weights
from zuoxi.effects.coaching import CAVEAT as TRAINING_CAVEAT
from zuoxi.effects.coaching import Window
from zuoxi.effects.report import (
    RECENT_DAYS,
    AgentReport,
    EffectsReport,
    agent_report,
    effects_report,
    training_report,
)
from zuoxi.effects.stats import BOOTSTRAP_ROUNDS, Estimate
from zuoxi.report.labels import DRILL_OUTCOMES, EFFECT_VERDICTS
from zuoxi.store import Store, source_zone
from zuoxi.store.effects import LOCAL
from zuoxi.store.queries import ConversationFilter, NotFound

effects_app = typer.Typer(
    help="技能价值：各行为与客户结果的关联（未调整与分层调整后）、单个坐席与其他人的对比、培训效果。"
)
app.add_typer(effects_app, name="effects")
Team = Annotated[str | None, typer.Option(help="只看这个班组的会话")]
Scorecard = Annotated[str | None, typer.Option(help="只看这个评分表的结果")]
Channel = Annotated[str | None, typer.Option(help="渠道：chat 或 call")]
From = Annotated[
    date | None,
    typer.Option(
        "--from", formats=["%Y-%m-%d"], help=f"开始日期（YYYY-MM-DD）；与 --to 都不给时为最近 {RECENT_DAYS} 天"
    ),
]
To = Annotated[date | None, typer.Option("--to", formats=["%Y-%m-%d"], help="结束日期（YYYY-MM-DD）")]
Rounds = Annotated[int, typer.Option(min=100, max=20000, help="自助法（bootstrap）轮数")]
Seed = Annotated[int, typer.Option(help="自助法随机种子：种子相同，区间相同")]


VERDICTS = EFFECT_VERDICTS  # as the web pages say them


def _filter(team, scorecard, channel, start, end) -> ConversationFilter:
    return ConversationFilter(
        team=team, scorecard=scorecard, channel=channel, date_from=start, date_to=end, tz=source_zone()
    )


def _days(report: EffectsReport | AgentReport) -> str:
    """The days the figures cover, as the page's note says them."""
    if report.recent:
        return f"未指定日期，只统计最近 {RECENT_DAYS} 天：{report.date_from} 至 {report.date_to}（截至最新一通会话）"
    if report.date_from or report.date_to:
        return f"{report.date_from or '最早'} 至 {report.date_to or '最新'}"
    return "全部日期"


def _estimate(e: Estimate | None, percent: bool) -> str:
    if e is None:
        return "—"
    scale, digits = (100, ".1f") if percent else (1, ".2f")
    text = f"{e.value * scale:+{digits}}"
    if e.low is None or e.high is None:  # a value without an interval
        return text
    return text + f" [{e.low * scale:+{digits}}, {e.high * scale:+{digits}}]"


def _cell(x: OutcomeEffect | None, percent: bool) -> str:
    if x is None:
        return "—"

    def level(v):
        return "—" if v is None else f"{v * 100:.1f}%" if percent else f"{v:.2f}"

    counts = (
        f"{x.shown_events}/{x.shown_n} 对 {x.missed_events}/{x.missed_n}"
        if x.shown_events is not None
        else f"n {x.shown_n} 对 {x.missed_n}"
    )
    return (
        f"{_estimate(x.adjusted, percent)} {VERDICTS.get(x.verdict, x.verdict)}\n{level(x.shown_value)} 对 {level(x.missed_value)}（{counts}）\n"
        f"未调整 {_estimate(x.crude, percent)} · {x.strata} 层"
    )


@effects_app.callback(invoke_without_command=True)
def behaviours(
    ctx: typer.Context,
    team: Team = None,
    scorecard: Scorecard = None,
    channel: Channel = None,
    start: From = None,
    end: To = None,
    format: FormatOption = "table",
    rounds: Rounds = BOOTSTRAP_ROUNDS,
    seed: Seed = 0,
    db: DbOption = None,
    schema: SchemaOption = None,
) -> None:
    """各行为：做到时与未做到时客户结果之差（分层调整后），附 95% 置信区间。"""
    if ctx.invoked_subcommand is not None:
        return
    check_format(format)
    report = effects_report(
        Store(db, schema).engine, LOCAL, _filter(team, scorecard, channel, start, end), rounds, seed
    )
    if format == "json":
        print(inert_json(report.model_dump_json(indent=2)))
        return
    table = Table(
        title=f"行为效果，{report.conversations} 个会话（做到 − 未做到；比率和概率以百分点计）",
        caption=_days(report),
        show_lines=True,
    )
    for column in ("行为", "做到", "未做到", *(o.label for o in report.outcomes)):
        table.add_column(column)
    for b in report.behaviours:
        table.add_row(
            f"{b.behaviour} {b.name}",
            str(b.shown),
            str(b.missed),
            *(_cell(b.effects.get(o.id), o.percent) for o in report.outcomes),
        )
    out.print(table)
    out.print(report.adjustment, report.caveat, sep="\n", highlight=False)


@effects_app.command("agent")
def agent(
    agent_id: Annotated[str, typer.Argument(metavar="坐席工号", help="坐席的 agent_id")],
    outcome: Annotated[str, typer.Option(help=f"客户结果，可选：{'、'.join(OUTCOMES)}")] = "complaint",
    team: Team = None,
    scorecard: Scorecard = None,
    channel: Channel = None,
    start: From = None,
    end: To = None,
    format: FormatOption = "table",
    rounds: Rounds = BOOTSTRAP_ROUNDS,
    seed: Seed = 0,
    db: DbOption = None,
    schema: SchemaOption = None,
) -> None:
    """单个坐席与其他所有人对比：各行为的做到率，以及缩小差距可能关联的结果变化。"""
    check_format(format)
    if outcome not in OUTCOMES:
        raise typer.BadParameter(f"--outcome 只能是 {'、'.join(OUTCOMES)} 之一")
    try:
        report = agent_report(
            Store(db, schema).engine,
            LOCAL,
            agent_id,
            _filter(team, scorecard, channel, start, end),
            outcome,
            rounds,
            seed,
        )
    except NotFound:
        say_error(f"筛选范围内没有坐席 {agent_id!r} 的会话")
        raise typer.Exit(2) from None
    if format == "json":
        print(inert_json(report.model_dump_json(indent=2)))
        return
    view, percent = report.view, OUTCOMES[outcome].percent
    table = Table(
        title=f"坐席 {view.agent_id}：{view.conversations} 个会话；对{OUTCOMES[outcome].label}的影响",
        caption=_days(report),
    )
    for column in ("行为", "该坐席做到率", "其他人做到率", "效果（调整后）", "差距的关联影响"):
        table.add_column(column)
    for r in view.behaviours:
        table.add_row(
            f"{r.behaviour} {r.name}",
            f"{r.agent.rate:.1%} ({r.agent.successes}/{r.agent.n})",
            f"{r.others.rate:.1%} ({r.others.successes}/{r.others.n})" if r.others.n else "—",
            _estimate(r.effect.adjusted if r.effect else None, percent),
            _estimate(Estimate(value=r.potential), percent) if r.potential is not None else "—",
        )
    out.print(table)


def _window(text: str | None, name: str) -> Window | None:
    if not text:
        return None
    try:
        start, end = (date.fromisoformat(part.strip()) for part in text.split(":"))
        return Window(start, end)
    except ValueError as error:
        raise typer.BadParameter(f"{name} 的格式是 开始:结束，日期为 YYYY-MM-DD（{error}）") from None


@effects_app.command("training")
def training(
    case: Annotated[str, typer.Argument(metavar="案例", help="培训案例 id")],
    before: Annotated[str | None, typer.Option(help="演练前的时间窗，开始:结束（YYYY-MM-DD）")] = None,
    after: Annotated[str | None, typer.Option(help="演练后的时间窗，开始:结束（YYYY-MM-DD）")] = None,
    rules: Annotated[str | None, typer.Option(help="针对的规则，逗号分隔（默认：案例所针对的）")] = None,
    team: Team = None,
    format: FormatOption = "table",
    rounds: Rounds = BOOTSTRAP_ROUNDS,
    seed: Seed = 0,
    db: DbOption = None,
    schema: SchemaOption = None,
) -> None:
    """演练某案例前后的得分和针对规则的未通过率，与未演练的坐席对比。"""
    check_format(format)
    windows = _window(before, "--before"), _window(after, "--after")
    if (windows[0] is None) != (windows[1] is None):
        raise typer.BadParameter("--before 和 --after 要么都给，要么都不给（按演练日期确定）")
    store = Store(db, schema)
    try:
        report = training_report(
            store.engine,
            LOCAL,
            CaseLibrary(store),
            case,
            *windows,
            rules=[r.strip() for r in rules.split(",") if r.strip()] if rules else None,
            team=team,
            rounds=rounds,
            seed=seed,
        )
    except NotFound:
        say_error(f"没有培训案例 {case!r}")
        raise typer.Exit(2) from None
    except ValueError as error:
        say_error(str(error))
        raise typer.Exit(2) from None
    if format == "json":
        print(inert_json(report.model_dump_json(indent=2)))
        return
    out.print(
        f"{report.title}（{report.case_id}）· 演练前 {report.before[0]}–{report.before[1]} · 演练后 "
        f"{report.after[0]}–{report.after[1]} · 针对规则：{'、'.join(report.rules) or '—'}"
        + (f" · 已排除（在其他时间演练过）：{'、'.join(report.excluded)}" if report.excluded else ""),
        highlight=False,
    )
    groups = Table(title="双重差分（演练组 − 对照组，演练后 − 演练前）")
    for column in (
        "组别",
        "演练组/对照组",
        "得分变化",
        "对照组",
        "得分 DiD",
        "未通过率变化",
        "对照组",
        "未通过率 DiD",
    ):
        groups.add_column(column)
    for g in report.groups:
        groups.add_row(
            g.label,
            f"{g.drilled}/{g.controls}",
            f"{g.score_change:+.1f}",
            f"{g.control_score_change:+.1f}",
            _estimate(g.did_score, False),
            _estimate(Estimate(value=g.fail_change), True) if g.fail_change is not None else "—",
            _estimate(Estimate(value=g.control_fail_change), True) if g.control_fail_change is not None else "—",
            _estimate(g.did_fail, True),
        )
    out.print(groups)
    agents = Table(title="坐席")
    for column in (
        "坐席",
        "班组",
        "组别",
        "会话数 前/后",
        "得分 前→后",
        "得分 DiD",
        "未通过率 前→后",
        "未通过率 DiD",
        "演练",
    ):
        agents.add_column(column)
    for a in report.agents:
        fail = f"{a.fail_before.rate:.1%}→{a.fail_after.rate:.1%}" if a.fail_before.n and a.fail_after.n else "—"
        drills = (
            f"{a.attempts} 次 {a.first_attempt:.0f}→{a.last_attempt:.0f}（最好 {a.best_attempt:.0f}，{DRILL_OUTCOMES.get(a.last_outcome or '', '未完成')}）"
            if a.attempts
            else "—"
        )
        agents.add_row(
            a.agent_id,
            a.team or "—",
            "演练组" if a.drilled else "对照组",
            f"{a.before_n}/{a.after_n}",
            f"{a.score_before:.1f}→{a.score_after:.1f}",
            _estimate(a.did_score, False),
            fail,
            _estimate(a.did_fail, True),
            drills,
        )
    out.print(agents)
    if report.attempts_progress:
        out.print(
            f"演练本身的进步（末次 − 首次，{report.trainees_with_progress} 名学员）："
            f"{_estimate(report.attempts_progress, False)}",
            highlight=False,
        )
    out.print(TRAINING_CAVEAT, highlight=False)


@effects_app.command("weights")
def weights(
    scorecard: Annotated[str, typer.Option(help="要比较分值的评分表")] = "core",
    outcome: Annotated[str, typer.Option(help=f"客户结果，可选：{'、'.join(OUTCOMES)}")] = "complaint",
    team: Team = None,
    channel: Channel = None,
    start: From = None,
    end: To = None,
    format: FormatOption = "table",
    rounds: Rounds = BOOTSTRAP_ROUNDS,
    seed: Seed = 0,
    db: DbOption = None,
    schema: SchemaOption = None,
) -> None:
    """按对某一客户结果的效果建议的分值：仅供质检主管参考是否采用，不会自动生效。"""
    from zuoxi.rules.engine import get_scorecard

    check_format(format)
    if outcome not in OUTCOMES:
        raise typer.BadParameter(f"--outcome 只能是 {'、'.join(OUTCOMES)} 之一")
    check_scorecard(scorecard)
    points = {c.item.id: c.item.points for c in get_scorecard(scorecard).items}
    report = effects_report(
        Store(db, schema).engine, LOCAL, _filter(team, scorecard, channel, start, end), rounds, seed
    )
    rows = suggest_weights(report.behaviours, points, OUTCOMES[outcome])
    if format == "json":
        print(inert_json("[" + ",".join(r.model_dump_json() for r in rows) + "]"))
        return
    table = Table(
        title=f"{scorecard}：现有分值与按对{OUTCOMES[outcome].label}的效果建议的分值（未生效）",
        caption=_days(report),
    )
    for column in ("规则", "分值", "效果（正为好）", "建议分值", "说明"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            f"{r.rule} {r.name}",
            f"{r.points:g}",
            _estimate(r.effect, OUTCOMES[outcome].percent),
            f"{r.suggested:g}" if r.suggested is not None else "不变",
            r.note,
        )
    out.print(table)
