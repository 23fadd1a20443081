"""What the skills-value figures (zuoxi.effects) read from the store, always through `scoped()`: a
team lead's effects and training figures come from their own team's conversations and drills only."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zuoxi.effects.behaviours import Observation, observe
from zuoxi.effects.training import Drill, Window, Work
from zuoxi.store import as_utc
from zuoxi.store.queries import ConversationFilter, scoped, team_agents
from zuoxi.store.tables import ConversationRow, ResultRow, TrainingAttempt, User
from zuoxi.store.users import Account

LOCAL = Account(0, "local", "admin", None, None, None)  # the command line: whoever holds the database sees it all


def _pick(results: list[tuple[str, dict]], meta: dict) -> dict:
    """One result per conversation, so a conversation scored twice is not counted twice: the
    scorecard its data names, else core, else the first by name."""
    by_name = dict(results)
    for name in (meta.get("scorecard"), "core"):
        if isinstance(name, str) and name in by_name:
            return by_name[name]
    return by_name[min(by_name)]


def _rows(engine, account: Account, f: ConversationFilter):
    """(key, conversation JSON, chosen result JSON) of the conversations in scope and filter."""
    query = scoped(select(ConversationRow.key, ConversationRow.data, ResultRow.scorecard, ResultRow.final_data, ResultRow.data)
                   .join(ResultRow, ResultRow.conversation_key == ConversationRow.key), account).where(*f.where())
    grouped: dict[str, tuple[dict, list]] = {}
    with Session(engine) as session:
        for key, conversation, scorecard, final, machine in session.execute(query.order_by(ConversationRow.key)):
            grouped.setdefault(key, (conversation, []))[1].append((scorecard, final or machine))
    return [(key, conversation, _pick(results, conversation.get("meta") or {}))
            for key, (conversation, results) in grouped.items()]


def observations(engine, account: Account, f: ConversationFilter) -> list[Observation]:
    """Every conversation in view as an observation of its behaviours and outcomes (the current,
    reviewed version of each finding)."""
    return [observe(conversation, result, key) for key, conversation, result in _rows(engine, account, f)]


def drilled_cases(engine, account: Account) -> list[tuple[str, int, int]]:
    """(case id, attempts, trainees) of the cases drilled by people in view, most drilled first."""
    query = select(TrainingAttempt.case_id, func.count(), func.count(TrainingAttempt.trainee.distinct())) \
        .group_by(TrainingAttempt.case_id)
    if account.role == "team_lead":
        query = query.where(TrainingAttempt.trainee.in_(sorted(team_agents(engine, account.team))))
    with Session(engine) as session:
        return sorted(((c, n, t) for c, n, t in session.execute(query)), key=lambda x: (-x[1], x[0]))


def drills(engine, account: Account, case_id: str) -> list[Drill]:
    """The attempts on a case, each trainee resolved to their agent id (trainees are agent ids or
    usernames); a team lead gets their team's only."""
    with Session(engine) as session:
        agent_of = {u: a for u, a in session.execute(select(User.username, User.agent_id)) if a}
        rows = session.execute(select(TrainingAttempt.trainee, TrainingAttempt.created_at, TrainingAttempt.score,
                                      TrainingAttempt.max_score, TrainingAttempt.outcome)
                               .where(TrainingAttempt.case_id == case_id)).all()
    mine = team_agents(engine, account.team) if account.role == "team_lead" else None
    return [Drill(agent_id=agent_of.get(trainee, trainee), at=as_utc(at), score=100 * score / max_score if max_score else 0.0,
                  outcome=outcome)
            for trainee, at, score, max_score, outcome in rows if mine is None or trainee in mine]


def work(engine, account: Account, rules: list[str], before: Window, after: Window,
         f: ConversationFilter | None = None) -> list[Work]:
    """The scored conversations of agents in view between the start of `before` and the end of
    `after` (a day either side: the windows are local days, the database holds UTC)."""
    f = replace(f or ConversationFilter(), date_from=before.start - timedelta(days=1), date_to=after.end + timedelta(days=1))
    targeted = set(rules)
    out = []
    for _, conversation, result in _rows(engine, account, f):
        if not conversation.get("agent_id") or not conversation.get("started_at"):
            continue
        applied = [x["status"] for x in result["findings"] if x["rule"] in targeted and x["status"] != "n/a"]
        out.append(Work(agent_id=conversation["agent_id"], team=conversation.get("team"),
                        started_at=as_utc(datetime.fromisoformat(conversation["started_at"])),
                        score=100 * result["score"] / result["max_score"] if result["max_score"] else 0.0,
                        fails=applied.count("fail"), chances=len(applied)))
    return out
