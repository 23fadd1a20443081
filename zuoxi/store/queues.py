"""What review queues and complaint alerts (zuoxi.queues) read and write: plans, runs, queue items,
alerts, webhooks and their delivery log. Scope is checked here, next to the queries: an inspector
or admin sees every queue item and alert, a team lead their own team's, an agent none."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Select, Update, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from zuoxi.privacy import mask_text
from zuoxi.queues.assignment import Load, Policy, assign
from zuoxi.queues.models import (
    AlertMessage,
    AlertSettings,
    AlertView,
    Candidate,
    DeliveryAttempt,
    Inspector,
    ItemState,
    NewAlert,
    PendingDelivery,
    Period,
    PlanListed,
    PlanProgress,
    QueueCounts,
    QueueItem,
    RunView,
    Taken,
    UnassignedItem,
    WebhookView,
    Workload,
)
from zuoxi.queues.plans import QUOTA_FILL, RANDOM, PlanError, PlanSpec, Scope, stored_plan, stored_text
from zuoxi.store import as_utc, masked_label, utc_now
from zuoxi.store.audit import audit
from zuoxi.store.queries import Forbidden, NotFound
from zuoxi.store.races import for_update
from zuoxi.store.tables import (
    AlertSettingsRow,
    AppealRow,
    ComplaintAlertRow,
    ConversationRow,
    QueueItemRow,
    ResultRow,
    ReviewRow,
    SamplingPlanRow,
    SamplingRunRow,
    User,
    WebhookAttemptRow,
    WebhookDeliveryRow,
    WebhookRow,
)
from zuoxi.store.users import INSPECTORS, Account, without_controls

UNTARGETED = (RANDOM, QUOTA_FILL)


def _team_scope(account: Account, column):
    """The WHERE clause of what `account` may see of queues and alerts (None: everything)."""
    if account.role in INSPECTORS:
        return None
    if account.role == "team_lead":
        return column == account.team
    raise Forbidden("queues and alerts are for inspectors and team leads")


def _scoped(query, account: Account, column):
    clause = _team_scope(account, column)
    return query if clause is None else query.where(clause)


# --- plans -------------------------------------------------------------------------------------------


def save_plan(engine, spec: PlanSpec, text: str, account: Account | None, replace: bool = True) -> int:
    """Store a validated plan (its YAML as written, personal data masked: `stored_text`); PlanError when it
    exists and `replace` is off."""
    text = stored_text(spec, text)
    with Session(engine) as session, session.begin():
        row = session.scalar(select(SamplingPlanRow).where(SamplingPlanRow.name == spec.id))
        if row is not None and not replace:
            raise PlanError([f"计划 {spec.id} 已存在（要更新请用 --replace）"])
        before = {"yaml": row.yaml} if row else None
        if row is None:
            row = SamplingPlanRow(name=spec.id, active=True)
            session.add(row)
        row.title, row.yaml, row.spec = spec.name, text, spec.model_dump(mode="json")
        row.updated_by, row.updated_at = account.id if account else None, utc_now()
        session.flush()
        audit(session, account, "plan.save", "sampling_plan", spec.id, before, {"yaml": text})
        return row.id


def get_plan(engine, name: str) -> tuple[int, PlanSpec]:
    with Session(engine) as session:
        row = session.scalar(select(SamplingPlanRow).where(SamplingPlanRow.name == name))
        if row is None:
            raise NotFound(f"抽检计划 {name}")
        return row.id, stored_plan(row.spec, name)


def plan_text(engine, name: str) -> tuple[PlanSpec, str, bool]:
    """(spec, YAML as written, active) of a stored plan."""
    with Session(engine) as session:
        row = session.scalar(select(SamplingPlanRow).where(SamplingPlanRow.name == name))
        if row is None:
            raise NotFound(f"抽检计划 {name}")
        return stored_plan(row.spec, name), row.yaml, bool(row.active)


def set_plan_active(engine, account: Account | None, name: str, active: bool) -> None:
    with Session(engine) as session, session.begin():
        row = session.scalar(select(SamplingPlanRow).where(SamplingPlanRow.name == name))
        if row is None:
            raise NotFound(f"抽检计划 {name}")
        audit(session, account, "plan.active", "sampling_plan", name, {"active": row.active}, {"active": active})
        row.active = active


def list_plans(engine) -> list[PlanListed]:
    with Session(engine) as session:
        runs = {
            p: (n, last)
            for p, n, last in session.execute(
                select(SamplingRunRow.plan_id, func.count(), func.max(SamplingRunRow.id)).group_by(
                    SamplingRunRow.plan_id
                )
            )
        }
        periods: dict[int | None, str] = dict(  # None: a plan never run
            session.execute(
                select(SamplingRunRow.id, SamplingRunRow.period).where(
                    SamplingRunRow.id.in_([last for _, last in runs.values()])
                )
            ).all()
        )
        open_items = dict(
            session.execute(
                select(QueueItemRow.plan_id, func.count())
                .where(QueueItemRow.status == "open")
                .group_by(QueueItemRow.plan_id)
            ).all()
        )
        return [
            PlanListed(
                row.name,
                row.title,
                row.spec.get("schedule", "weekly"),
                bool(row.active),
                as_utc(row.updated_at),
                runs.get(row.id, (0, None))[0],
                periods.get(runs.get(row.id, (0, None))[1]),
                open_items.get(row.id, 0),
            )
            for row in session.scalars(select(SamplingPlanRow).order_by(SamplingPlanRow.name))
        ]


def active_plans(engine) -> list[tuple[str, str]]:
    """(name, schedule) of every active plan."""
    with Session(engine) as session:
        return [
            (row.name, row.spec.get("schedule", "weekly"))
            for row in session.scalars(
                select(SamplingPlanRow).where(SamplingPlanRow.active.is_(True)).order_by(SamplingPlanRow.name)
            )
        ]


def plan_runs(engine, name: str, limit: int = 50) -> list[RunView]:
    with Session(engine) as session:
        rows = session.execute(
            select(SamplingRunRow, User.username)
            .join(SamplingPlanRow, SamplingPlanRow.id == SamplingRunRow.plan_id)
            .outerjoin(User, User.id == SamplingRunRow.user_id)
            .where(SamplingPlanRow.name == name)
            .order_by(SamplingRunRow.id.desc())
            .limit(limit)
        ).all()
        return [
            RunView(
                r.id,
                r.period,
                as_utc(r.at),
                username,
                r.schedule_key is not None,
                r.seed,
                r.considered,
                r.sampled,
                r.unassigned,
            )
            for r, username in rows
        ]


def has_scheduled_run(engine, plan_id: int, period: str) -> bool:
    with Session(engine) as session:
        return (
            session.scalar(
                select(SamplingRunRow.id).where(
                    SamplingRunRow.plan_id == plan_id, SamplingRunRow.schedule_key == period
                )
            )
            is not None
        )


def run_count(engine, plan_id: int, period: str) -> int:
    with Session(engine) as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(SamplingRunRow)
                .where(SamplingRunRow.plan_id == plan_id, SamplingRunRow.period == period)
            )
            or 0
        )


# --- sampling ----------------------------------------------------------------------------------------


def _when():
    """What places a conversation in a period: when it started, else when it was imported."""
    return func.coalesce(ConversationRow.started_at, ConversationRow.imported_at)


def candidates(engine, plan_id: int, scope: Scope, period: Period, agent_since: bool = False) -> list[Candidate]:
    """The period's conversations in the plan's scope that no earlier run of the plan considered
    (so a second run of a period sees only what was imported or scored since, and each conversation has one
    chance at the random share): one result each (the first of the scope's scorecards, else the
    first stored), with its current facts. A run considered a conversation only if it ran once that result was
    stored: one imported before a run but scored after it was never seen by it (it had no result), and was left
    out of every later run of the period. (A result scored again after a run counts from its new time: the run
    looked at a result that is no longer there.)"""
    c, r, other, run = ConversationRow, ResultRow, aliased(ResultRow), SamplingRunRow
    first = select(func.min(other.pk)).where(other.conversation_key == c.key)
    if scope.scorecards:
        first = first.where(other.scorecard.in_(scope.scorecards))
    when = _when()
    considered = select(run.id).where(
        run.plan_id == plan_id,
        run.period_start <= when,
        run.period_end > when,
        run.at >= c.imported_at,
        run.at >= r.analyzed_at,
    )
    query = (
        select(
            r.pk,
            c.key,
            c.agent_id,
            c.team,
            c.channel,
            r.scorecard,
            when,
            func.coalesce(r.final_score, r.score),
            r.veto,
            r.failed_rules,
            r.complaint_risk,
            r.satisfaction,
        )
        .join(c, c.key == r.conversation_key)
        .where(
            r.pk == first.correlate(c).scalar_subquery(),
            when >= period.start,
            when < period.end,
            ~considered.correlate(c, r).exists(),
            c.key.not_in(select(QueueItemRow.conversation_key).where(QueueItemRow.plan_id == plan_id)),
        )
    )
    for column, values in ((c.team, scope.teams), (c.agent_id, scope.agents), (c.channel, scope.channels)):
        if values:
            query = query.where(column.in_(values))
    with Session(engine) as session:
        rows = session.execute(query).all()
        since: dict[str, datetime] = {}
        agents = sorted({row[2] for row in rows if row[2]})
        if agent_since and agents:
            since = {
                a: as_utc(t)
                for a, t in session.execute(
                    select(c.agent_id, func.min(when)).where(c.agent_id.in_(agents)).group_by(c.agent_id)
                )
                if t
            }
    return [
        Candidate(
            pk,
            key,
            agent,
            team,
            channel,
            scorecard,
            as_utc(started) if started else None,
            score,
            bool(veto),
            frozenset((failed or "").split()),
            risk,
            satisfaction,
            since.get(agent) if agent else None,
        )
        for pk, key, agent, team, channel, scorecard, started, score, veto, failed, risk, satisfaction in rows
    ]


def conversation_span(engine) -> tuple[datetime, datetime] | None:
    """The first and last time that places a stored conversation in a period (None: no conversations)."""
    with Session(engine) as session:
        first, last = session.execute(select(func.min(_when()), func.max(_when()))).one()
    return (as_utc(first), as_utc(last)) if first else None


def taken(engine, plan_id: int, period: Period) -> Taken:
    with Session(engine) as session:
        rows = session.execute(
            select(QueueItemRow.agent_id, QueueItemRow.criterion, QueueItemRow.kind).where(
                QueueItemRow.plan_id == plan_id,
                QueueItemRow.started_at >= period.start,
                QueueItemRow.started_at < period.end,
            )
        ).all()
    found = Taken()
    for agent, criterion, kind in rows:
        found.total[agent] += 1
        if kind not in UNTARGETED:
            found.targeted[agent] += 1
            found.per_rule[criterion] += 1
            found.per_rule_agent[(criterion, agent)] += 1
    return found


def _inspector(user: User) -> Inspector:
    return Inspector(user.id, user.username, user.display_name, user.team)


def inspectors(engine, usernames: list[str]) -> tuple[list[Inspector], list[str]]:
    """(the plan's inspectors in its order, names that are no active inspector or admin); with no
    names, every active inspector by username."""
    with Session(engine) as session:
        return _inspectors(session, usernames)


def _inspectors(session: Session, usernames: list[str]) -> tuple[list[Inspector], list[str]]:
    if not usernames:
        return [
            _inspector(u)
            for u in session.scalars(
                select(User).where(User.role == "inspector", User.active.is_(True)).order_by(User.username)
            )
        ], []
    found = {
        u.username: u
        for u in session.scalars(
            select(User).where(User.username.in_(usernames), User.role.in_(INSPECTORS), User.active.is_(True))
        )
    }
    return [_inspector(found[n]) for n in usernames if n in found], [n for n in usernames if n not in found]


def inspector_named(engine, username: str) -> Inspector | None:
    found, _ = inspectors(engine, [username])
    return found[0] if found else None


def appeal_handlers(engine, by: str, keys: list[str]) -> dict[str, frozenset[int]]:
    """Who resolved appeals, per agent id (`by` "agent") or conversation key: they may not review them."""
    if not keys:
        return {}
    with Session(engine) as session:
        return _appeal_handlers(session, by, keys)


def _appeal_handlers(session: Session, by: str, keys: list[str]) -> dict[str, frozenset[int]]:
    column = ConversationRow.agent_id if by == "agent" else ConversationRow.key
    rows = session.execute(
        select(column, AppealRow.resolver_id)
        .join(ResultRow, ResultRow.pk == AppealRow.result_pk)
        .join(ConversationRow, ConversationRow.key == ResultRow.conversation_key)
        .where(column.in_(keys), AppealRow.resolver_id.is_not(None))
    ).all()
    handlers: dict[str, set[int]] = defaultdict(set)
    for key, resolver in rows:
        if key is not None and resolver is not None:  # the query's `in_` and `is_not(None)` leave none
            handlers[key].add(resolver)
    return {k: frozenset(v) for k, v in handlers.items()}


def load(engine, plan_id: int) -> Load:
    """Open items per inspector (every plan) and the inspector of this plan's last assignment."""
    with Session(engine) as session:
        return _load(session, plan_id)


def _load(session: Session, plan_id: int) -> Load:
    open_items = Counter(
        {
            assignee: n
            for assignee, n in session.execute(
                select(QueueItemRow.assignee_id, func.count())
                .where(QueueItemRow.status == "open", QueueItemRow.assignee_id.is_not(None))
                .group_by(QueueItemRow.assignee_id)
            )
            if assignee is not None  # the query's `is_not(None)` leaves none
        }
    )
    last = session.scalar(
        select(QueueItemRow.assignee_id)
        .where(QueueItemRow.plan_id == plan_id, QueueItemRow.assignee_id.is_not(None))
        .order_by(QueueItemRow.assigned_at.desc(), QueueItemRow.id.desc())
        .limit(1)
    )
    return Load(open_items, last)


def hand_on_after_appeal(
    session: Session, account: Account, agent_id: str | None, conversation_key: str
) -> list[tuple[int, str | None]]:
    """After `account` resolved an appeal of this conversation (of this agent), in the resolution's transaction: their
    open items that their plan's rules now keep from them (`avoid_appeal_handlers`: the agent's items, or the
    conversation's) go to another inspector the plan's rules allow, chosen by the plan's method as a run would;
    an item nobody may take is left unassigned, for the period's next run or a lead to give out. Each move is
    audited (queue.reassign, reason "appeal"). Returns (item id, the new inspector's username or None)."""
    held = [QueueItemRow.conversation_key == conversation_key]
    if agent_id:
        held.append(QueueItemRow.agent_id == agent_id)
    rows = session.execute(
        select(QueueItemRow, SamplingPlanRow)
        .join(SamplingPlanRow, SamplingPlanRow.id == QueueItemRow.plan_id)
        .where(QueueItemRow.status == "open", QueueItemRow.assignee_id == account.id, or_(*held))
        .order_by(QueueItemRow.id)
    ).all()
    moved: list[tuple[int, str | None]] = []
    for item, plan_row in rows:
        spec = stored_plan(plan_row.spec, plan_row.name)
        by = spec.assignment.avoid_appeal_handlers
        key = item.agent_id if by == "agent" else item.conversation_key
        if key != (agent_id if by == "agent" else conversation_key):
            continue  # the plan avoids handlers of this conversation only, and this is another one of the agent
        people, _ = _inspectors(session, spec.assignment.inspectors)
        policy = Policy(spec.assignment.exclude_own_team, by, _appeal_handlers(session, by, [key] if key else []))
        target = UnassignedItem(item.id, item.conversation_key, item.agent_id, item.team)
        [inspector] = assign([target], people, policy, spec.assignment.method, _load(session, item.plan_id))
        before = {"assignee_id": item.assignee_id}
        item.assignee_id = inspector.id if inspector else None
        item.assigned_at = utc_now() if inspector else None
        if inspector is None:
            item.due_on = None
        audit(
            session,
            account,
            "queue.reassign",
            "queue_item",
            item.id,
            before,
            {
                "assignee_id": inspector.id if inspector else None,
                "assignee": inspector.username if inspector else None,
                "reason": "appeal",
            },
        )
        session.flush()  # the next item's load counts this one
        moved.append((item.id, inspector.username if inspector else None))
    return moved


def record_run(
    engine,
    plan_id: int,
    period: Period,
    seed: int,
    considered: int,
    picked: list[tuple[Candidate, str, str, str, Inspector | None]],
    due_on: date,
    account: Account | None,
    schedule_key: str | None,
) -> int | None:
    """Store a run and its items (candidate, criterion, kind, label, inspector), in one transaction;
    None when another run got there first (the schedule's period, or the same conversations)."""
    now = utc_now()
    try:
        with Session(engine) as session, session.begin():
            run = SamplingRunRow(
                plan_id=plan_id,
                period=period.label,
                period_start=period.start,
                period_end=period.end,
                schedule_key=schedule_key,
                seed=seed,
                considered=considered,
                sampled=len(picked),
                unassigned=sum(i is None for *_, i in picked),
                user_id=account.id if account else None,
                at=now,
            )
            session.add(run)
            session.flush()
            session.add_all(
                QueueItemRow(
                    plan_id=plan_id,
                    run_id=run.id,
                    result_pk=c.result_pk,
                    conversation_key=c.conversation_key,
                    agent_id=c.agent_id,
                    team=c.team,
                    started_at=c.started_at,
                    criterion=criterion,
                    kind=kind,
                    label=label[:100],
                    assignee_id=inspector.id if inspector else None,
                    assigned_at=now if inspector else None,
                    due_on=due_on if inspector else None,
                    status="open",
                    created_at=now,
                )
                for c, criterion, kind, label, inspector in picked
            )
            audit(
                session,
                account,
                "queue.run",
                "sampling_run",
                run.id,
                None,
                {"period": period.label, "seed": seed, "considered": considered, "sampled": len(picked)},
            )
            return run.id
    except IntegrityError:
        return None


def unassigned_items(engine, plan_id: int, period: Period) -> list[UnassignedItem]:
    """The plan's open items of the period that nobody was given, in the order they were sampled."""
    with Session(engine) as session:
        rows = session.execute(
            select(QueueItemRow.id, QueueItemRow.conversation_key, QueueItemRow.agent_id, QueueItemRow.team)
            .where(
                QueueItemRow.plan_id == plan_id,
                QueueItemRow.started_at >= period.start,
                QueueItemRow.started_at < period.end,
                QueueItemRow.status == "open",
                QueueItemRow.assignee_id.is_(None),
            )
            .order_by(QueueItemRow.id)
        ).all()
    return [UnassignedItem(*row) for row in rows]


def assign_items(engine, given: list[tuple[int, Inspector]], due_on: date, account: Account | None) -> list[int]:
    """Give open items nobody has to inspectors, in one transaction, each audited (queue.assign); an item given
    or closed meanwhile is left as it is. Returns the ids of the items given."""
    done = []
    now = utc_now()
    with Session(engine) as session, session.begin():
        for item_id, inspector in given:
            changed = _changed(
                session,
                update(QueueItemRow)
                .where(QueueItemRow.id == item_id, QueueItemRow.assignee_id.is_(None), QueueItemRow.status == "open")
                .values(assignee_id=inspector.id, assigned_at=now, due_on=due_on),
            )
            if changed:
                done.append(item_id)
                audit(
                    session,
                    account,
                    "queue.assign",
                    "queue_item",
                    item_id,
                    {"assignee_id": None},
                    {"assignee_id": inspector.id, "assignee": inspector.username},
                )
    return done


# --- queues ------------------------------------------------------------------------------------------


def _items_query() -> Select[QueueItemRow, str, str, str, str | None]:
    return (
        select(QueueItemRow, SamplingPlanRow.name, SamplingPlanRow.title, ConversationRow.id, User.username)
        .join(SamplingPlanRow, SamplingPlanRow.id == QueueItemRow.plan_id)
        .join(ConversationRow, ConversationRow.key == QueueItemRow.conversation_key)
        .outerjoin(User, User.id == QueueItemRow.assignee_id)
    )


def _item(
    row: QueueItemRow, plan: str, title: str, conversation_id: str, assignee: str | None, today: date
) -> QueueItem:
    return QueueItem(
        row.id,
        plan,
        title,
        row.result_pk,
        row.conversation_key,
        conversation_id,
        row.agent_id,
        row.team,
        as_utc(row.started_at) if row.started_at else None,
        row.criterion,
        row.kind,
        row.label,
        assignee,
        row.assignee_id,
        row.due_on,
        row.status,
        _overdue(row.status, row.due_on, today),
        row.skip_reason,
        row.skip_comment,
        as_utc(row.closed_at) if row.closed_at else None,
    )


def _overdue(status: str, due_on: date | None, today: date) -> bool:
    return status == "open" and due_on is not None and due_on < today


def queue_items(
    engine,
    account: Account,
    today: date,
    *,
    mine: bool = False,
    status: str | None = "open",
    plan: str | None = None,
    unassigned: bool = False,
    limit: int = 500,
) -> list[QueueItem]:
    """Queue items in the account's scope, overdue and soonest due first (`status` open), or latest
    closed first (done, skipped, closed: both): `mine`, those assigned to the account;
    `unassigned`, those nobody may or did take yet."""
    query = _scoped(_items_query(), account, QueueItemRow.team)
    if mine:
        query = query.where(QueueItemRow.assignee_id == account.id)
    if unassigned:
        query = query.where(QueueItemRow.assignee_id.is_(None))
    if status == "closed":
        query = query.where(QueueItemRow.status.in_(("done", "skipped")))
    elif status:
        query = query.where(QueueItemRow.status == status)
    if plan:
        query = query.where(SamplingPlanRow.name == plan)
    order = (
        (QueueItemRow.due_on.is_(None), QueueItemRow.due_on, QueueItemRow.id)
        if status == "open"
        else (QueueItemRow.closed_at.desc(), QueueItemRow.id.desc())
    )
    with Session(engine) as session:
        return [
            _item(item, plan, title, conversation_id, assignee, today)
            for item, plan, title, conversation_id, assignee in session.execute(query.order_by(*order).limit(limit))
        ]


def queue_counts(engine, account: Account, today: date) -> QueueCounts:
    """The account's own queue: open, due today, overdue, done, skipped."""
    with Session(engine) as session:
        rows = session.execute(
            select(QueueItemRow.status, QueueItemRow.due_on).where(QueueItemRow.assignee_id == account.id)
        ).all()
    counts = QueueCounts()
    for status, due_on in rows:
        if status == "open":
            counts.open += 1
            counts.due_today += due_on == today
            counts.overdue += _overdue(status, due_on, today)
        elif status == "done":
            counts.done += 1
        else:
            counts.skipped += 1
    return counts


def progress(engine, account: Account, today: date) -> tuple[list[PlanProgress], list[Workload]]:
    """Per plan and per inspector, within the account's scope (a team lead: their team's items)."""
    query = _scoped(
        select(
            SamplingPlanRow.name,
            SamplingPlanRow.title,
            QueueItemRow.status,
            QueueItemRow.due_on,
            QueueItemRow.assignee_id,
        ).join(SamplingPlanRow, SamplingPlanRow.id == QueueItemRow.plan_id),
        account,
        QueueItemRow.team,
    )
    with Session(engine) as session:
        rows = session.execute(query).all()
        assignees = sorted({r.assignee_id for r in rows if r.assignee_id})
        people = {
            u.id: u
            for u in session.scalars(
                select(User).where(((User.role == "inspector") & User.active.is_(True)) | User.id.in_(assignees))
            )
        }
    plans: dict[str, PlanProgress] = {}
    load = {
        uid: Workload(u.username, u.display_name, 0, 0, 0, 0, 0)
        for uid, u in sorted(people.items(), key=lambda x: x[1].username)
    }
    for name, title, status, due_on, assignee in rows:
        p = plans.setdefault(name, PlanProgress(name, title, 0, 0, 0, 0, 0, 0))
        p.sampled += 1
        w = load.get(assignee)
        if status == "open":
            p.open += 1
            p.unassigned += assignee is None
            late = _overdue(status, due_on, today)
            p.overdue += late
            if w:
                w.open += 1
                w.overdue += late
                w.due_today += due_on == today
        elif status == "done":
            p.done += 1
            if w:
                w.done += 1
        else:
            p.skipped += 1
            if w:
                w.skipped += 1
    return sorted(plans.values(), key=lambda p: p.plan), list(load.values())


def my_open_items(engine, account: Account, result_pks: list[int], today: date) -> list[QueueItem]:
    """The account's open items on these results (what the conversation page offers to finish)."""
    if not result_pks:
        return []
    query = _items_query().where(
        QueueItemRow.assignee_id == account.id, QueueItemRow.status == "open", QueueItemRow.result_pk.in_(result_pks)
    )
    with Session(engine) as session:
        return [
            _item(item, plan, title, conversation_id, assignee, today)
            for item, plan, title, conversation_id, assignee in session.execute(query.order_by(QueueItemRow.id))
        ]


def item_state(engine, account: Account, item_id: int) -> ItemState:
    """One item, checked against the account's scope (NotFound / Forbidden)."""
    with Session(engine) as session:
        found = session.execute(
            select(QueueItemRow, SamplingPlanRow.name)
            .join(SamplingPlanRow, SamplingPlanRow.id == QueueItemRow.plan_id)
            .where(QueueItemRow.id == item_id)
        ).first()
    if found is None:
        raise NotFound(f"复核任务 {item_id}")
    row, plan = found
    if account.role not in INSPECTORS and not (account.role == "team_lead" and row.team == account.team):
        raise Forbidden(f"复核任务 {item_id}")
    return ItemState(
        row.id, plan, row.status, row.assignee_id, row.result_pk, row.conversation_key, row.agent_id, row.team
    )


def unreviewed_failures(engine, result_pk: int) -> list[str]:
    """The rules the machine failed in a result that no review has judged yet."""
    with Session(engine) as session:
        result = session.get_one(ResultRow, result_pk)
        reviewed = set(
            session.scalars(select(ReviewRow.rule).where(ReviewRow.result_pk == result_pk, ReviewRow.kind == "review"))
        )
    return [f["rule"] for f in result.data["findings"] if f["status"] == "fail" and f["rule"] not in reviewed]


def _changed(session: Session, statement: Update) -> int:
    """The rows an UPDATE changed: an UPDATE's result is a CursorResult, which Session.execute's types do not say."""
    return cast(CursorResult[Any], session.execute(statement)).rowcount


def close_item(
    engine, account: Account, item_id: int, status: str, reason: str | None = None, comment: str | None = None
) -> bool:
    """Mark an open item done or skipped; False when it was no longer open."""
    comment = without_controls(comment) if comment else comment
    with Session(engine) as session, session.begin():
        changed = _changed(
            session,
            update(QueueItemRow)
            .where(QueueItemRow.id == item_id, QueueItemRow.status == "open")
            .values(status=status, skip_reason=reason, skip_comment=comment, closed_by=account.id, closed_at=utc_now()),
        )
        if changed:
            audit(
                session,
                account,
                f"queue.{status}",
                "queue_item",
                item_id,
                {"status": "open"},
                {"status": status, "reason": reason, "comment": comment},
            )
        return bool(changed)


def reassign_item(engine, account: Account, item_id: int, inspector: Inspector, due_on: date | None) -> bool:
    """Give an open item to `inspector`; False when it was no longer open. Open is checked by the UPDATE itself, on
    the row locked as read (as `close_item` does): skipped at the same moment, the item was reassigned once closed."""
    with Session(engine) as session, session.begin():
        query = select(QueueItemRow.assignee_id).where(QueueItemRow.id == item_id, QueueItemRow.status == "open")
        before = {"assignee_id": session.scalar(for_update(session, query))}
        changes: dict[str, Any] = {"assignee_id": inspector.id, "assigned_at": utc_now()}
        if due_on:
            changes["due_on"] = due_on
        opened = update(QueueItemRow).where(QueueItemRow.id == item_id, QueueItemRow.status == "open")
        if not _changed(session, opened.values(changes)):
            return False
        audit(
            session,
            account,
            "queue.reassign",
            "queue_item",
            item_id,
            before,
            {"assignee_id": inspector.id, "assignee": inspector.username},
        )
        return True


def sampled_reviews(engine, plan: str | None = None) -> list[tuple[bool, str, bool]]:
    """(drawn by the random share, rule, confirmed) for every machine-failed finding of a finished
    queue item that a review judged (the latest review counts). A result drawn at random by any
    plan counts as random; the rest as targeted."""
    query = select(QueueItemRow.result_pk, QueueItemRow.kind).where(QueueItemRow.status == "done")
    if plan:
        query = query.join(SamplingPlanRow, SamplingPlanRow.id == QueueItemRow.plan_id).where(
            SamplingPlanRow.name == plan
        )
    with Session(engine) as session:
        items = session.execute(query).all()
        drawn = {pk for pk, kind in items if kind == RANDOM}
        pks = sorted({pk for pk, _ in items})
        failed: dict[int, list[str]] = {}
        latest: dict[tuple[int, str], str] = {}
        for begin in range(0, len(pks), 500):
            chunk = pks[begin : begin + 500]
            for pk, data in session.execute(select(ResultRow.pk, ResultRow.data).where(ResultRow.pk.in_(chunk))):
                failed[pk] = [f["rule"] for f in data["findings"] if f["status"] == "fail"]
            for pk, rule, verdict in session.execute(
                select(ReviewRow.result_pk, ReviewRow.rule, ReviewRow.verdict)
                .where(ReviewRow.result_pk.in_(chunk), ReviewRow.kind == "review", ReviewRow.machine_status == "fail")
                .order_by(ReviewRow.created_at, ReviewRow.id)
            ):
                latest[(pk, rule)] = verdict
    return [
        (pk in drawn, rule, latest[(pk, rule)] == "confirm")
        for pk in pks
        for rule in failed.get(pk, [])
        if (pk, rule) in latest
    ]


# --- complaint alerts --------------------------------------------------------------------------------


def alert_settings(session: Session) -> AlertSettings:
    """The admin's settings, else the defaults."""
    row = session.get(AlertSettingsRow, 1)
    return (
        AlertSettings(risk=row.risk, rules=list(row.rules), max_age_hours=row.max_age_hours or 0)
        if row
        else AlertSettings()
    )


def read_alert_settings(engine) -> AlertSettings:
    with Session(engine) as session:
        return alert_settings(session)


def set_alert_settings(engine, account: Account | None, settings: AlertSettings) -> None:
    with Session(engine) as session, session.begin():
        row = session.get(AlertSettingsRow, 1)
        before = alert_settings(session).model_dump() if row else None
        if row is None:
            row = AlertSettingsRow(id=1)
            session.add(row)
        row.risk, row.rules, row.max_age_hours = settings.risk, settings.rules, settings.max_age_hours
        row.updated_by, row.updated_at = account.id if account else None, utc_now()
        audit(session, account, "alert.settings", "alert_settings", 1, before, settings.model_dump())


def alert_conversations(session: Session, keys: list[str]) -> dict[str, ConversationRow]:
    """The conversations of results that may raise an alert, unless they already did."""
    have = set(
        session.scalars(select(ComplaintAlertRow.conversation_key).where(ComplaintAlertRow.conversation_key.in_(keys)))
    )
    wanted = [k for k in keys if k not in have]
    if not wanted:
        return {}
    return {row.key: row for row in session.scalars(select(ConversationRow).where(ConversationRow.key.in_(wanted)))}


def add_alerts(session: Session, alerts: list[NewAlert]) -> None:
    """Store alerts (in the caller's transaction) and a pending delivery to each active webhook of
    the alert's team; a conversation already alerted is left alone."""
    if not alerts:
        return
    now = utc_now()
    teams = {a.team for a in alerts if a.team}
    hooks: dict[str | None, list[int]] = defaultdict(list)
    for hook_id, team in session.execute(
        select(WebhookRow.id, WebhookRow.team).where(WebhookRow.active.is_(True), WebhookRow.team.in_(teams))
    ):
        hooks[team].append(hook_id)
    for a in alerts:
        row = ComplaintAlertRow(
            conversation_key=a.conversation_key,
            result_pk=a.result_pk,
            conversation_id=a.conversation_id[:200],
            team=a.team,
            agent_id=a.agent_id,
            risk=a.risk,
            rules=[list(r) for r in a.rules],
            excerpt=a.excerpt[:300],
            created_at=now,
        )
        session.add(row)
        session.flush()
        session.add_all(
            WebhookDeliveryRow(
                alert_id=row.id, webhook_id=hook, status="pending", attempts=0, created_at=now, updated_at=now
            )
            for hook in hooks.get(a.team, [])
        )


def _alerts(query: Select, account: Account, status: str) -> Select:
    """`query` over the alerts of `status` (open, handled, else all) that `account` may see."""
    query = _scoped(query, account, ComplaintAlertRow.team)
    if status == "open":
        return query.where(ComplaintAlertRow.handled_at.is_(None))
    if status == "handled":
        return query.where(ComplaintAlertRow.handled_at.is_not(None))
    return query


def list_alerts(engine, account: Account, status: str = "open", limit: int = 200) -> list[AlertView]:
    """The newest `limit` alerts of `status` (`count_alerts` says how many there are), read as the columns shown:
    tens of thousands of whole rows took seconds to load."""
    a = ComplaintAlertRow
    query = select(
        a.id,
        a.conversation_key,
        a.conversation_id,
        a.team,
        a.agent_id,
        a.risk,
        a.rules,
        a.excerpt,
        a.created_at,
        User.username,
        a.handled_at,
        a.note,
    ).outerjoin(User, User.id == a.handled_by)
    with Session(engine) as session:
        newest = _alerts(query, account, status).order_by(a.created_at.desc(), a.id.desc()).limit(limit)
        alerts = session.execute(newest).all()
        deliveries: dict[int, dict[str, int]] = defaultdict(dict)
        for alert_id, state, n in session.execute(
            select(WebhookDeliveryRow.alert_id, WebhookDeliveryRow.status, func.count())
            .where(WebhookDeliveryRow.alert_id.in_([row.id for row in alerts]))
            .group_by(WebhookDeliveryRow.alert_id, WebhookDeliveryRow.status)
        ):
            deliveries[alert_id][state] = n
    return [
        AlertView(
            row.id,
            row.conversation_key,
            row.conversation_id,
            row.team,
            row.agent_id,
            row.risk,
            [r[0] for r in row.rules],
            row.excerpt,
            as_utc(row.created_at),
            row.username,
            as_utc(row.handled_at) if row.handled_at else None,
            row.note,
            deliveries.get(row.id, {}),
        )
        for row in alerts
    ]


def count_alerts(engine, account: Account, status: str = "open") -> int:
    """How many alerts of `status` `account` may see (what `list_alerts` leaves out past its limit)."""
    with Session(engine) as session:
        return session.scalar(_alerts(select(func.count()).select_from(ComplaintAlertRow), account, status)) or 0


def open_alert_count(engine, account: Account) -> int:
    return count_alerts(engine, account, "open")


def handle_alert(engine, account: Account, alert_id: int, note: str) -> bool:
    """Mark an alert handled (跟进) with a note; False when it already was."""
    note = without_controls(note)
    with Session(engine) as session, session.begin():
        row = session.get(ComplaintAlertRow, alert_id)
        if row is None:
            raise NotFound(f"投诉预警 {alert_id}")
        clause = _team_scope(account, ComplaintAlertRow.team)
        if clause is not None and row.team != account.team:
            raise Forbidden(f"投诉预警 {alert_id}")
        if row.handled_at is not None:
            return False
        row.handled_by, row.handled_at, row.note = account.id, utc_now(), note
        audit(session, account, "alert.handled", "complaint_alert", alert_id, None, {"note": note})
        return True


_WEBHOOKS_LOCK = 0x7A756F786957  # "zuoxiW": one webhook added at a time per PostgreSQL database


def add_webhook(
    engine,
    account: Account | None,
    name: str,
    team: str,
    url: str,
    template: str,
    refusal: Callable[[list[WebhookView]], Exception | None],
) -> int:
    """Store a webhook, its name and team masked and the team canonical, as users' and conversations' are, unless
    `refusal(the webhooks stored)` says why not (it is raised, nothing stored). On PostgreSQL two adding at once
    take turns, so that the second sees the first's."""
    with Session(engine) as session, session.begin():
        if session.get_bind().dialect.name == "postgresql":
            session.execute(select(func.pg_advisory_xact_lock(_WEBHOOKS_LOCK)))
        existing = [
            WebhookView(w.id, w.name, w.team, w.url, w.template, bool(w.active), as_utc(w.created_at))
            for w in session.scalars(select(WebhookRow).order_by(WebhookRow.id))
        ]
        if (refused := refusal(existing)) is not None:
            raise refused
        row = WebhookRow(
            name=mask_text(name),
            team=masked_label(team),
            url=url,
            template=template,
            active=True,
            created_by=account.id if account else None,
            created_at=utc_now(),
        )
        session.add(row)
        session.flush()
        audit(
            session,
            account,
            "webhook.add",
            "webhook",
            row.id,
            None,
            {"name": name, "team": row.team, "template": template},
        )
        return row.id


def list_webhooks(engine) -> list[WebhookView]:
    with Session(engine) as session:
        return [
            WebhookView(w.id, w.name, w.team, w.url, w.template, bool(w.active), as_utc(w.created_at))
            for w in session.scalars(select(WebhookRow).order_by(WebhookRow.team, WebhookRow.id))
        ]


def set_webhook_active(engine, account: Account | None, webhook_id: int, active: bool) -> None:
    with Session(engine) as session, session.begin():
        row = session.get(WebhookRow, webhook_id)
        if row is None:
            raise NotFound(f"推送地址 {webhook_id}")
        audit(session, account, "webhook.update", "webhook", webhook_id, {"active": row.active}, {"active": active})
        row.active = active


SENDING_LEASE = timedelta(minutes=5)  # a delivery claimed by a process that died is sent again after this


def _unclaimed(now: datetime):
    """Deliveries no process is sending: pending ones, and ones claimed longer ago than the lease."""
    return or_(
        WebhookDeliveryRow.status == "pending",
        and_(WebhookDeliveryRow.status == "sending", WebhookDeliveryRow.updated_at < now - SENDING_LEASE),
    )


def claim_delivery(engine, delivery_id: int) -> bool:
    """Take a delivery to send it, in one UPDATE: every server process runs the delivery worker, and each sent
    every pending delivery (a team's robot got each alert once per process). False when another has it."""
    now = utc_now()
    with Session(engine) as session, session.begin():
        return bool(
            _changed(
                session,
                update(WebhookDeliveryRow)
                .where(WebhookDeliveryRow.id == delivery_id, _unclaimed(now))
                .values(status="sending", updated_at=now),
            )
        )


def pending_deliveries(engine, limit: int = 100) -> list[PendingDelivery]:
    """Deliveries still to make, oldest first, to webhooks that are still active."""
    query = (
        select(
            WebhookDeliveryRow.id,
            WebhookRow.name,
            WebhookRow.url,
            WebhookRow.template,
            WebhookRow.team,
            ComplaintAlertRow,
        )
        .join(WebhookRow, WebhookRow.id == WebhookDeliveryRow.webhook_id)
        .join(ComplaintAlertRow, ComplaintAlertRow.id == WebhookDeliveryRow.alert_id)
        .where(_unclaimed(utc_now()), WebhookRow.active.is_(True))
        .order_by(WebhookDeliveryRow.id)
        .limit(limit)
    )
    with Session(engine) as session:
        return [
            PendingDelivery(
                delivery,
                name,
                url,
                template,
                AlertMessage(
                    a.id,
                    team,
                    a.agent_id,
                    a.conversation_id,
                    a.risk,
                    [tuple(r) for r in a.rules],
                    a.excerpt,
                    as_utc(a.created_at),
                ),
            )
            for delivery, name, url, template, team, a in session.execute(query)
            if a.team == team
        ]  # a delivery only ever goes to the team's own webhook


def log_attempt(engine, delivery_id: int, ok: bool, status_code: int | None, error: str, final: bool) -> None:
    """One call of a webhook in the delivery log; the delivery is delivered, or failed after its last try."""
    now = utc_now()
    with Session(engine) as session, session.begin():
        session.add(
            WebhookAttemptRow(delivery_id=delivery_id, at=now, ok=ok, status_code=status_code, error=error[:500])
        )
        delivery = session.get_one(WebhookDeliveryRow, delivery_id)
        delivery.attempts += 1
        delivery.updated_at = now
        if ok:
            delivery.status = "delivered"
        elif final:
            delivery.status = "failed"


def delivery_log(engine, limit: int = 100) -> list[DeliveryAttempt]:
    query = (
        select(
            WebhookAttemptRow, WebhookRow.name, WebhookRow.team, ComplaintAlertRow.id, ComplaintAlertRow.conversation_id
        )
        .join(WebhookDeliveryRow, WebhookDeliveryRow.id == WebhookAttemptRow.delivery_id)
        .join(WebhookRow, WebhookRow.id == WebhookDeliveryRow.webhook_id)
        .join(ComplaintAlertRow, ComplaintAlertRow.id == WebhookDeliveryRow.alert_id)
        .order_by(WebhookAttemptRow.id.desc())
        .limit(limit)
    )
    with Session(engine) as session:
        return [
            DeliveryAttempt(as_utc(a.at), name, team, alert, conversation, bool(a.ok), a.status_code, a.error)
            for a, name, team, alert, conversation in session.execute(query)
        ]


def delivery_states(engine) -> dict[str, int]:
    with Session(engine) as session:
        return dict(
            session.execute(select(WebhookDeliveryRow.status, func.count()).group_by(WebhookDeliveryRow.status)).all()
        )


def retry_failed(engine, account: Account | None) -> int:
    """Failed deliveries back to pending, for the next delivery round."""
    with Session(engine) as session, session.begin():
        changed = _changed(
            session,
            update(WebhookDeliveryRow)
            .where(WebhookDeliveryRow.status == "failed")
            .values(status="pending", updated_at=utc_now()),
        )
        if changed:
            audit(session, account, "webhook.retry", "alert_deliveries", "failed", None, {"deliveries": changed})
        return changed
