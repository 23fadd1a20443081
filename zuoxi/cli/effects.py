"""`zuoxi effects …`: the 技能价值 figures in the terminal (table) or as JSON, the same numbers as the
web page (both call zuoxi.effects.report). The command line sees the whole database."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from zuoxi.cli.app import DbOption, FormatOption, app, check_format, check_scorecard, err, inert_json, out
from zuoxi.coaching.library import CaseLibrary
from zuoxi.effects.behaviours import OUTCOMES, OutcomeEffect, suggest_weights
from zuoxi.effects.coaching import CAVEAT as TRAINING_CAVEAT
from zuoxi.effects.coaching import Window
from zuoxi.effects.report import agent_report, effects_report, training_report
from zuoxi.effects.stats import BOOTSTRAP_ROUNDS, Estimate
from zuoxi.store import Store, source_zone
from zuoxi.store.effects import LOCAL
from zuoxi.store.queries import ConversationFilter, NotFound

effects_app = typer.Typer(
    help="What the skills are worth: each behaviour's association with the customer's outcome "
    "(raw and within strata), one agent against the rest, training's effect."
)
app.add_typer(effects_app, name="effects")
Team = Annotated[str | None, typer.Option(help="Only this team's conversations")]
Scorecard = Annotated[str | None, typer.Option(help="Only results of this scorecard")]
Channel = Annotated[str | None, typer.Option(help="chat or call")]
From = Annotated[date | None, typer.Option("--from", formats=["%Y-%m-%d"], help="First day (YYYY-MM-DD)")]
To = Annotated[date | None, typer.Option("--to", formats=["%Y-%m-%d"], help="Last day (YYYY-MM-DD)")]
Rounds = Annotated[int, typer.Option(min=100, max=20000, help="Bootstrap rounds")]
Seed = Annotated[int, typer.Option(help="Bootstrap seed: the same seed prints the same intervals")]


def _filter(team, scorecard, channel, start, end) -> ConversationFilter:
    return ConversationFilter(
        team=team, scorecard=scorecard, channel=channel, date_from=start, date_to=end, tz=source_zone()
    )


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
        f"{x.shown_events}/{x.shown_n} vs {x.missed_events}/{x.missed_n}"
        if x.shown_events is not None
        else f"n {x.shown_n} vs {x.missed_n}"
    )
    return (
        f"{_estimate(x.adjusted, percent)} {x.verdict}\n{level(x.shown_value)} vs {level(x.missed_value)} ({counts})\n"
        f"raw {_estimate(x.crude, percent)} · {x.strata} strata"
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
) -> None:
    """Each behaviour: outcome when shown − when missed, adjusted within strata, 95 % intervals."""
    if ctx.invoked_subcommand is not None:
        return
    check_format(format)
    report = effects_report(Store(db).engine, LOCAL, _filter(team, scorecard, channel, start, end), rounds, seed)
    if format == "json":
        print(inert_json(report.model_dump_json(indent=2)))
        return
    table = Table(
        title=f"behaviour effects, {report.conversations} conversations (shown − missed; "
        "percentage points for rates and probabilities)",
        show_lines=True,
    )
    for column in ("behaviour", "shown", "missed", *(o.label for o in report.outcomes)):
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
    agent_id: Annotated[str, typer.Argument(help="The agent's agent_id")],
    outcome: Annotated[str, typer.Option(help=f"One of {', '.join(OUTCOMES)}")] = "complaint",
    team: Team = None,
    scorecard: Scorecard = None,
    channel: Channel = None,
    start: From = None,
    end: To = None,
    format: FormatOption = "table",
    rounds: Rounds = BOOTSTRAP_ROUNDS,
    seed: Seed = 0,
    db: DbOption = None,
) -> None:
    """One agent against everyone else: how often they show each behaviour, and what closing the gap goes with."""
    check_format(format)
    if outcome not in OUTCOMES:
        raise typer.BadParameter(f"--outcome must be one of {', '.join(OUTCOMES)}")
    try:
        report = agent_report(
            Store(db).engine, LOCAL, agent_id, _filter(team, scorecard, channel, start, end), outcome, rounds, seed
        )
    except NotFound:
        err.print(Text.assemble(("error", "red"), f" no conversation of agent {agent_id!r} in view"), highlight=False)
        raise typer.Exit(2) from None
    if format == "json":
        print(inert_json(report.model_dump_json(indent=2)))
        return
    view, percent = report.view, OUTCOMES[outcome].percent
    table = Table(
        title=f"agent {view.agent_id}: {view.conversations} conversations; effect on {OUTCOMES[outcome].label}"
    )
    for column in ("behaviour", "agent shows", "others show", "effect (adjusted)", "potential"):
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
        raise typer.BadParameter(f"{name} is FIRST:LAST, days as YYYY-MM-DD ({error})") from None


@effects_app.command("training")
def training(
    case: Annotated[str, typer.Argument(help="The training case id")],
    before: Annotated[str | None, typer.Option(help="Window before the drills, FIRST:LAST (YYYY-MM-DD)")] = None,
    after: Annotated[str | None, typer.Option(help="Window after the drills, FIRST:LAST (YYYY-MM-DD)")] = None,
    rules: Annotated[str | None, typer.Option(help="Targeted rules, comma-separated (default: the case's)")] = None,
    team: Team = None,
    format: FormatOption = "table",
    rounds: Rounds = BOOTSTRAP_ROUNDS,
    seed: Seed = 0,
    db: DbOption = None,
) -> None:
    """Scores and the targeted rules' failure rates before and after drilling a case, against agents who did not drill."""
    check_format(format)
    windows = _window(before, "--before"), _window(after, "--after")
    if (windows[0] is None) != (windows[1] is None):
        raise typer.BadParameter("give both --before and --after, or neither (the drills' dates choose them)")
    store = Store(db)
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
        err.print(Text.assemble(("error", "red"), f" no training case {case!r}"), highlight=False)
        raise typer.Exit(2) from None
    except ValueError as error:
        err.print(Text.assemble(("error", "red"), f" {error}"), highlight=False)
        raise typer.Exit(2) from None
    if format == "json":
        print(inert_json(report.model_dump_json(indent=2)))
        return
    out.print(
        f"{report.title} ({report.case_id}) · before {report.before[0]}–{report.before[1]} · after "
        f"{report.after[0]}–{report.after[1]} · targeted rules: {', '.join(report.rules) or '—'}"
        + (f" · excluded (drilled at other times): {', '.join(report.excluded)}" if report.excluded else ""),
        highlight=False,
    )
    groups = Table(title="difference in differences (drilled − not drilled, after − before)")
    for column in (
        "group",
        "drilled/controls",
        "score change",
        "controls",
        "DiD score",
        "fail-rate change",
        "controls",
        "DiD fail rate",
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
    agents = Table(title="agents")
    for column in (
        "agent",
        "team",
        "group",
        "n before/after",
        "score before→after",
        "DiD score",
        "fail rate before→after",
        "DiD fail rate",
        "drills",
    ):
        agents.add_column(column)
    for a in report.agents:
        fail = f"{a.fail_before.rate:.1%}→{a.fail_after.rate:.1%}" if a.fail_before.n and a.fail_after.n else "—"
        drills = (
            f"{a.attempts}× {a.first_attempt:.0f}→{a.last_attempt:.0f} (best {a.best_attempt:.0f}, {a.last_outcome})"
            if a.attempts
            else "—"
        )
        agents.add_row(
            a.agent_id,
            a.team or "—",
            "drilled" if a.drilled else "control",
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
            f"drills' own progress (last − first, {report.trainees_with_progress} trainees): "
            f"{_estimate(report.attempts_progress, False)}",
            highlight=False,
        )
    out.print(TRAINING_CAVEAT, highlight=False)


@effects_app.command("weights")
def weights(
    scorecard: Annotated[str, typer.Option(help="The scorecard whose points to compare")] = "core",
    outcome: Annotated[str, typer.Option(help=f"One of {', '.join(OUTCOMES)}")] = "complaint",
    team: Team = None,
    channel: Channel = None,
    start: From = None,
    end: To = None,
    format: FormatOption = "table",
    rounds: Rounds = BOOTSTRAP_ROUNDS,
    seed: Seed = 0,
    db: DbOption = None,
) -> None:
    """Points that would follow the effects on one outcome: printed for a QA lead to adopt or not, never applied."""
    from zuoxi.rules.engine import get_scorecard

    check_format(format)
    if outcome not in OUTCOMES:
        raise typer.BadParameter(f"--outcome must be one of {', '.join(OUTCOMES)}")
    check_scorecard(scorecard)
    points = {c.item.id: c.item.points for c in get_scorecard(scorecard).items}
    report = effects_report(Store(db).engine, LOCAL, _filter(team, scorecard, channel, start, end), rounds, seed)
    rows = suggest_weights(report.behaviours, points, OUTCOMES[outcome])
    if format == "json":
        print(inert_json("[" + ",".join(r.model_dump_json() for r in rows) + "]"))
        return
    table = Table(
        title=f"{scorecard}: points now and suggested by the effect on {OUTCOMES[outcome].label} (not applied)"
    )
    for column in ("rule", "points", "effect (better +)", "suggested", "note"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            f"{r.rule} {r.name}",
            f"{r.points:g}",
            _estimate(r.effect, OUTCOMES[outcome].percent),
            f"{r.suggested:g}" if r.suggested is not None else "keep",
            r.note,
        )
    out.print(table)
