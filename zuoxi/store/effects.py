"""What the skills-value figures (zuoxi.effects) read from the store, always through `scoped()`: a
team lead's effects and training figures come from their own team's conversations and drills only.
One result per conversation, as in every list and dashboard (`ConversationFilter.where`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, tzinfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zuoxi.effects.behaviours import Observation, observation
from zuoxi.effects.coaching import Drill, Window, Work
from zuoxi.store import as_utc, canonical_label
from zuoxi.store.cases import masked_trainee
from zuoxi.store.queries import ConversationFilter, current_data, scoped, trainee_scope
from zuoxi.store.tables import ConversationRow, ResultRow, TrainingAttempt, User
from zuoxi.store.users import Account

LOCAL = Account(0, "local", "admin", None, None, None)  # the command line: whoever holds the database sees it all
ROWS_AT_ONCE = 100  # rows fetched at a time: the decoded results held at once (a result is tens of kB decoded)


def observations(engine, account: Account, f: ConversationFilter) -> list[Observation]:
    """Every conversation in view as an observation of its behaviours and outcomes (the current,
    reviewed version of each finding); agent, team, start time, channel and length from the stored
    columns. Rows are streamed and each reduced to its observation as it is read: a conversation's
    turns are never decoded, only its `meta`, and only the current version of its result (the
    reviewed one, else the machine's). Observations repeat the same strings, strata and behaviour
    names thousands of times: one copy of each is kept (`_Shared`)."""
    query = scoped(
        select(
            ConversationRow.key,
            ConversationRow.agent_id,
            ConversationRow.team,
            ConversationRow.started_at,
            ConversationRow.channel,
            ConversationRow.turn_count,
            ConversationRow.data["meta"],
            current_data(),
        ).join(ResultRow, ResultRow.conversation_key == ConversationRow.key),
        account,
    ).where(*f.where())
    share = _Shared()
    with Session(engine) as session:
        rows = session.execute(query.order_by(ConversationRow.key).execution_options(yield_per=ROWS_AT_ONCE))
        return [
            share.observation(
                observation(
                    result,
                    meta or {},
                    key=key,
                    agent_id=agent,
                    team=team,
                    started_at=as_utc(started) if started else None,
                    channel=channel,
                    turns=turns,
                )
            )
            for key, agent, team, started, channel, turns, meta, result in rows
        ]


class _Shared:
    """One copy of what many observations repeat (agent ids, strata, behaviour ids, the names of a set of
    behaviours): kept per observation, the ids and names alone were a hundred objects for every conversation."""

    def __init__(self) -> None:
        self.values: dict = {}
        self.names: dict[tuple, dict] = {}

    def __call__(self, value):
        return self.values.setdefault(value, value)

    def observation(self, o: Observation) -> Observation:
        o.agent_id, o.team, o.scorecard, o.stratum = self(o.agent_id), self(o.team), self(o.scorecard), self(o.stratum)
        o.behaviours = dict(zip(self(tuple(o.behaviours)), o.behaviours.values()))
        o.names = self.names.setdefault(tuple(o.names.items()), o.names)
        return o


def latest_day(engine, account: Account, f: ConversationFilter) -> date | None:
    """The day (of `f.tz`) of the latest conversation in view that the filter takes, dates aside; None
    when none has a start time."""
    query = scoped(
        select(func.max(ConversationRow.started_at)).join(ResultRow, ResultRow.conversation_key == ConversationRow.key),
        account,
    ).where(*replace(f, date_from=None, date_to=None).where())
    with Session(engine) as session:
        latest = session.scalar(query)
    return as_utc(latest).astimezone(f.tz).date() if latest else None


def any_in_view(engine, account: Account, f: ConversationFilter) -> bool:
    """Whether the filter takes any analysed conversation in view: a page for nobody answers at once (an unknown
    agent's page read every conversation of the window before saying so)."""
    query = scoped(
        select(ConversationRow.key).join(ResultRow, ResultRow.conversation_key == ConversationRow.key), account
    ).where(*f.where())
    with Session(engine) as session:
        return session.scalar(query.limit(1)) is not None


def drilled_cases(engine, account: Account) -> list[tuple[str, int, int]]:
    """(case id, attempts, trainees) of the cases drilled by people in view, most drilled first."""
    query = select(TrainingAttempt.case_id, func.count(), func.count(TrainingAttempt.trainee.distinct())).group_by(
        TrainingAttempt.case_id
    )
    mine = trainee_scope(engine, account)
    if mine is not None:
        query = query.where(TrainingAttempt.trainee.in_(sorted(mine)))
    with Session(engine) as session:
        return sorted(((c, n, t) for c, n, t in session.execute(query)), key=lambda x: (-x[1], x[0]))


def drills(engine, account: Account, case_id: str) -> list[Drill]:
    """The attempts on a case, each trainee resolved to their agent id (trainees are agent ids or
    usernames); a team lead gets their own and their team's agents' only (`trainee_scope`)."""
    with Session(engine) as session:
        users = [(u, a) for u, a in session.execute(select(User.username, User.agent_id)) if a]
        # a username is stored with a drill as `masked_trainee` has it: canonical (張三 as 张三)
        agent_of = {masked_trainee(u): a for u, a in users} | dict(users)
        rows = session.execute(
            select(
                TrainingAttempt.trainee,
                TrainingAttempt.created_at,
                TrainingAttempt.score,
                TrainingAttempt.max_score,
                TrainingAttempt.outcome,
            ).where(TrainingAttempt.case_id == case_id)
        ).all()
    mine = trainee_scope(engine, account)
    return [
        Drill(
            agent_id=agent_id,
            at=as_utc(at),
            score=100 * score / max_score if max_score else 0.0,
            outcome=outcome,
        )
        for trainee, at, score, max_score, outcome in rows
        if mine is None or trainee in mine
        # a blank trainee names no agent: it could match no work, and None would not sort among agent ids
        if (agent_id := canonical_label(agent_of.get(trainee, trainee))) is not None
    ]


def work(
    engine,
    account: Account,
    rules: list[str],
    before: Window,
    after: Window,
    tz: tzinfo,
    f: ConversationFilter | None = None,
) -> list[Work]:
    """The scored conversations of agents in view from the first day of `before` to the last of
    `after` (days of `tz`), with their score and the targeted rules' failures."""
    f = replace(f or ConversationFilter(), date_from=before.start, date_to=after.end, tz=tz)
    query = scoped(
        select(
            ConversationRow.agent_id,
            ConversationRow.team,
            ConversationRow.started_at,
            ResultRow.final_data,
            ResultRow.data,
        ).join(ResultRow, ResultRow.conversation_key == ConversationRow.key),
        account,
    ).where(*f.where(), ConversationRow.agent_id.is_not(None), ConversationRow.started_at.is_not(None))
    targeted = set(rules)
    out = []
    with Session(engine) as session:
        for agent, team, started, final, machine in session.execute(query):
            result = final or machine
            applied = [x["status"] for x in result["findings"] if x["rule"] in targeted and x["status"] != "n/a"]
            out.append(
                Work(
                    agent_id=agent,
                    team=team,
                    started_at=as_utc(started),
                    score=100 * result["score"] / result["max_score"] if result["max_score"] else 0.0,
                    fails=applied.count("fail"),
                    chances=len(applied),
                )
            )
    return out
