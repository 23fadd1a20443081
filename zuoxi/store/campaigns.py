"""What outbound campaigns (zuoxi.campaigns) read and write: campaigns, call lists, assignment, callbacks,
the do-not-call list, attempts and the report's columns. The rules (balancing, dialling, moving a customer
on) stay in the campaigns package: a unit of work that needs them takes them as a function and runs them
inside its one transaction."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, delete, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zuoxi.campaigns.models import OPEN, CampaignError, CampaignSpec, Customer, check_callback, parse_time
from zuoxi.model import Conversation
from zuoxi.privacy import mask_text
from zuoxi.store import as_utc
from zuoxi.store.audit import audit
from zuoxi.store.tables import (
    CampaignAttempt,
    CampaignCallback,
    CampaignCustomer,
    CampaignRow,
    ConversationRow,
    DoNotCall,
    ResultRow,
)
from zuoxi.store.users import Account

INSERT_CHUNK = 5_000  # call-list rows per INSERT
UNASSIGNED = "未分配"  # the audit log's name for no agent: customers an assignment gave out for the first time


def _view(row: CampaignCustomer) -> Customer:
    return Customer(
        id=row.id,
        ref=row.ref,
        phone_tail=row.phone_tail,
        timezone=row.timezone,
        salutation=row.salutation,
        card_last4=row.card_last4,
        branch=row.branch,
        region=row.region,
        age_band=row.age_band,
        occupation=row.occupation,
        agent_id=row.agent_id,
        status=row.status,
    )


# --- campaigns ---------------------------------------------------------------------------------------


def get_campaign(session: Session, name: str) -> tuple[CampaignRow, CampaignSpec]:
    row = session.scalars(select(CampaignRow).where(CampaignRow.name == name)).first()
    if row is None:
        known = "、".join(session.scalars(select(CampaignRow.name))) or "还没有"
        raise CampaignError(f"没有外呼活动 {name!r}（已存的活动：{known}）")
    return row, CampaignSpec.model_validate(row.spec)


def save_campaign(engine: Engine, spec: CampaignSpec, replace: bool = False) -> int:
    """Store the campaign; `replace` updates the definition of an existing one (its list stays)."""
    with Session(engine) as session, session.begin():
        row = session.scalars(select(CampaignRow).where(CampaignRow.name == spec.name)).first()
        if row is not None and not replace:
            raise CampaignError(f"外呼活动 {spec.name!r} 已存在（要更新其定义请用 --replace）")
        if row is None:
            row = CampaignRow(name=spec.name, created_at=datetime.now(UTC))
            session.add(row)
        row.title, row.spec = spec.title, spec.model_dump(mode="json")
        session.flush()
        return row.id


def campaign_spec(engine: Engine, name: str) -> CampaignSpec:
    """The stored campaign's definition; CampaignError names the stored ones when there is no such campaign."""
    with Session(engine) as session:
        return get_campaign(session, name)[1]


def campaign_titles(engine: Engine) -> list[tuple[str, str]]:
    """(name, title) of every stored campaign, oldest first."""
    with Session(engine) as session:
        return [(r.name, r.title) for r in session.scalars(select(CampaignRow).order_by(CampaignRow.created_at))]


# --- call lists --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewCustomer:
    """A call-list row to store: the number only encrypted and as its keyed hash."""

    phone_hash: str
    phone_tail: str
    phone_enc: str
    source: str  # file:line
    ref: str | None = None
    region: str | None = None
    occupation: str | None = None
    age_band: str | None = None
    card_last4: str | None = None
    salutation: str | None = None
    branch: str | None = None
    timezone: str | None = None


def add_customers(
    engine: Engine,
    campaign: str,
    build: Callable[[CampaignSpec, dict[str, str], dict[str, str]], Iterable[NewCustomer]],
) -> None:
    """One transaction: `build(spec, phone hashes, refs)` gets the campaign's customers already listed
    (each → the file:line it came from, else "the campaign"; it adds its own) and returns the new ones, which are
    stored pending."""
    with Session(engine) as session, session.begin():
        row, spec = get_campaign(session, campaign)
        seen_phone: dict[str, str] = {}
        seen_ref: dict[str, str] = {}
        for phone_hash, ref, source in session.execute(
            select(CampaignCustomer.phone_hash, CampaignCustomer.ref, CampaignCustomer.source).where(
                CampaignCustomer.campaign_id == row.id
            )
        ):
            seen_phone[phone_hash] = source or "the campaign"
            if ref is not None:
                seen_ref[ref] = source or "the campaign"
        now, chunk = datetime.now(UTC), []
        for customer in build(spec, seen_phone, seen_ref):  # inserted a few thousand at a time: a list of a million
            chunk.append({"campaign_id": row.id, "imported_at": now, "status": "pending", **asdict(customer)})
            if len(chunk) == INSERT_CHUNK:  # rows held as ORM objects took 5 KB each
                session.execute(insert(CampaignCustomer), chunk)
                chunk = []
        if chunk:
            session.execute(insert(CampaignCustomer), chunk)


def campaign_customers(engine: Engine, campaign: str) -> list[Customer]:
    """The campaign's list, in the order it was imported."""
    with Session(engine) as session:
        row, _ = get_campaign(session, campaign)
        return [
            _view(c)
            for c in session.scalars(
                select(CampaignCustomer).where(CampaignCustomer.campaign_id == row.id).order_by(CampaignCustomer.id)
            )
        ]


def customer_numbers(engine: Engine, campaign: str) -> tuple[CampaignSpec, dict[str, int], set[int]]:
    """The campaign's definition, its customers' ids by the list's customer number, and every id."""
    with Session(engine) as session:
        row, spec = get_campaign(session, campaign)
        by_ref = {
            ref: customer_id
            for ref, customer_id in session.execute(
                select(CampaignCustomer.ref, CampaignCustomer.id).where(
                    CampaignCustomer.campaign_id == row.id, CampaignCustomer.ref.is_not(None)
                )
            )
            if ref is not None  # the query's `is_not(None)` leaves none
        }
        by_id = set(session.scalars(select(CampaignCustomer.id).where(CampaignCustomer.campaign_id == row.id)))
    return spec, by_ref, by_id


def _listed(session: Session, campaign_id: int, campaign: str, customer_id: int) -> CampaignCustomer:
    customer = session.get(CampaignCustomer, customer_id)
    if customer is None or customer.campaign_id != campaign_id:
        raise CampaignError(f"客户 {customer_id} 不在外呼活动 {campaign!r} 的名单上")
    return customer


# --- assignment, callbacks, the queue ----------------------------------------------------------------


def assign_customers(
    engine: Engine,
    campaign: str,
    agents: list[str],
    reassign: bool,
    balance: Callable[[Counter[str], list[Customer]], dict[int, str]],
    account: Account | None = None,
    command: str | None = None,
) -> dict[int, str]:
    """One transaction: `balance(load, customers)` gets the open load of each of `agents` (zero with
    `reassign`) and the customers to give out — the open, unassigned ones (every open one with
    `reassign`), in list order — and returns customer id → agent, which is stored and returned.
    Who is assigned a customer may reveal their number (`phone_request`): customers whose agent changed are
    audited (campaign.assign), by `account` or, where none is signed in, the `command` run, with how many each
    agent gave up (UNASSIGNED: none had them) and got — counts, no customer."""
    with Session(engine) as session, session.begin():
        row, _ = get_campaign(session, campaign)
        open_customers = select(CampaignCustomer).where(
            CampaignCustomer.campaign_id == row.id, CampaignCustomer.status.in_(OPEN)
        )
        load: Counter[str] = Counter({a: 0 for a in agents})
        if not reassign:
            load.update(
                {
                    agent: n
                    for agent, n in session.execute(
                        select(CampaignCustomer.agent_id, func.count())
                        .where(
                            CampaignCustomer.campaign_id == row.id,
                            CampaignCustomer.status.in_(OPEN),
                            CampaignCustomer.agent_id.in_(agents),
                        )
                        .group_by(CampaignCustomer.agent_id)
                    )
                    if agent is not None  # the query's `in_(agents)` leaves none
                }
            )
            open_customers = open_customers.where(CampaignCustomer.agent_id.is_(None))
        rows = list(session.scalars(open_customers.order_by(CampaignCustomer.id)))
        chosen = balance(load, [_view(c) for c in rows])
        gave: Counter[str] = Counter()
        got: Counter[str] = Counter()
        for customer in rows:
            if customer.id in chosen and customer.agent_id != chosen[customer.id]:
                gave[customer.agent_id or UNASSIGNED] += 1
                got[chosen[customer.id]] += 1
                customer.agent_id = chosen[customer.id]
        if got:
            audit(
                session,
                account,
                "campaign.assign",
                "campaign_customer",
                campaign,
                {"agent_id": dict(sorted(gave.items()))},
                {
                    "campaign": campaign,
                    "agent_id": dict(sorted(got.items())),
                    **({"command": command} if command else {}),
                },
            )
    return chosen


def blocked(session: Session, customer: CampaignCustomer) -> bool:
    """Whether the customer's number is on the do-not-call list."""
    return session.scalar(select(DoNotCall.id).where(DoNotCall.phone_hash == customer.phone_hash)) is not None


def schedule_callback(
    session: Session,
    campaign_id: int,
    spec: CampaignSpec,
    customer: CampaignCustomer,
    due_at: datetime,
    note: str = "",
    *,
    now: datetime,
) -> CampaignCallback:
    """A callback, scheduled at `now`, for an open customer, not in the past, inside calling hours on the
    customer's clock; an earlier open one is rescheduled (one appointment at a time); the note is masked for
    personal data, as call notes are. CampaignError says why not."""
    due = check_callback(spec, _view(customer), blocked(session, customer), due_at, now)
    for earlier in session.scalars(
        select(CampaignCallback).where(CampaignCallback.customer_id == customer.id, CampaignCallback.done.is_(False))
    ):
        earlier.done = True
    callback = CampaignCallback(
        campaign_id=campaign_id,
        customer_id=customer.id,
        agent_id=customer.agent_id,
        due_at=due,
        note=mask_text(note),
        done=False,
    )
    session.add(callback)
    customer.status = "callback"
    return callback


def add_callback(
    engine: Engine, campaign: str, customer_id: int, due_at_text: str, note: str = "", now: datetime | None = None
) -> tuple[datetime, CampaignSpec]:
    """`schedule_callback` for customer `customer_id` of `campaign` at a time given as text in the
    campaign's zone (or with its own), scheduled `now` (default: the current time); returns when, and the
    campaign. CampaignError or ValueError say why not."""
    with Session(engine) as session, session.begin():
        row, spec = get_campaign(session, campaign)
        person = session.get(CampaignCustomer, customer_id)
        if person is None or person.campaign_id != row.id:
            raise CampaignError(f"客户 {customer_id} 不在外呼活动 {campaign!r} 的名单上")
        when = parse_time(due_at_text, spec.tz)
        schedule_callback(session, row.id, spec, person, when, note, now=now or datetime.now(UTC))
    return when, spec


@dataclass(frozen=True)
class QueueState:
    """What an agent's queue is picked from: their open customers not on the do-not-call list, how often
    and when each was last tried, and the first open callback of each customer of the campaign."""

    spec: CampaignSpec
    customers: list[Customer]
    tried: dict[int, tuple[int, datetime]]  # customer id → (attempts, last started)
    due: dict[int, datetime]  # customer id → first open callback


def queue_state(engine: Engine, campaign: str, agent: str | None) -> QueueState:
    with Session(engine) as session:
        row, spec = get_campaign(session, campaign)
        customers = [
            _view(c)
            for c in session.scalars(
                select(CampaignCustomer).where(
                    CampaignCustomer.campaign_id == row.id,
                    CampaignCustomer.agent_id == agent,
                    CampaignCustomer.status.in_(OPEN),
                    CampaignCustomer.phone_hash.not_in(select(DoNotCall.phone_hash)),
                )
            )
        ]
        tried, due = _history(session, row.id, [c.id for c in customers])
    return QueueState(spec, customers, tried, due)


def agent_campaigns(engine: Engine, agent: str) -> list[tuple[str, str]]:
    """(name, title) of every campaign with a customer assigned to `agent` (of any status), oldest first."""
    assigned = select(CampaignCustomer.campaign_id).where(CampaignCustomer.agent_id == agent)
    with Session(engine) as session:
        found = session.scalars(
            select(CampaignRow).where(CampaignRow.id.in_(assigned)).order_by(CampaignRow.created_at)
        )
        return [(r.name, r.title) for r in found]


def customer_history(
    engine: Engine, campaign: str, ids: list[int]
) -> tuple[dict[int, tuple[int, datetime]], dict[int, datetime]]:
    """Of the campaign's customers `ids` (a queue's): how often and when each was last tried, and the first open
    callback of each."""
    with Session(engine) as session:
        row, _ = get_campaign(session, campaign)
        return _history(session, row.id, ids)


def _history(
    session: Session, campaign_id: int, ids: list[int]
) -> tuple[dict[int, tuple[int, datetime]], dict[int, datetime]]:
    """Of the customers `ids`: how often and when each was last tried, and the first open callback of each."""
    if not ids:
        return {}, {}
    tried = {
        cid: (n, last)
        for cid, n, last in session.execute(
            select(CampaignAttempt.customer_id, func.count(), func.max(CampaignAttempt.started_at))
            .where(CampaignAttempt.customer_id.in_(ids))
            .group_by(CampaignAttempt.customer_id)
        )
    }
    due = {
        cid: when
        for cid, when in session.execute(
            select(CampaignCallback.customer_id, func.min(CampaignCallback.due_at))
            .where(
                CampaignCallback.campaign_id == campaign_id,
                CampaignCallback.done.is_(False),
                CampaignCallback.customer_id.in_(ids),
            )
            .group_by(CampaignCallback.customer_id)
        )
    }
    return tried, due


# --- dialling ----------------------------------------------------------------------------------------


def add_do_not_call(engine: Engine, numbers: Iterable[tuple[str, str]], added_at: datetime) -> int:
    """Put each (phone hash, source) not on the do-not-call list yet on it; returns how many were new."""
    added = 0
    with Session(engine) as session, session.begin():
        known = set(session.scalars(select(DoNotCall.phone_hash)))
        for digest, source in numbers:
            if digest not in known:
                known.add(digest)
                session.add(DoNotCall(phone_hash=digest, source=source, added_at=added_at))
                added += 1
    return added


def do_not_call_customer(engine: Engine, campaign: str, customer_id: int) -> None:
    """The customer's number goes on the do-not-call list (no key needed: its hash is stored)."""
    with Session(engine) as session, session.begin():
        row, _ = get_campaign(session, campaign)
        customer = _listed(session, row.id, campaign, customer_id)
        if not blocked(session, customer):
            session.add(
                DoNotCall(
                    phone_hash=customer.phone_hash,
                    source=f"{campaign}:customer {customer_id}",
                    added_at=datetime.now(UTC),
                )
            )


def phone_request(
    engine: Engine,
    campaign: str,
    customer_id: int,
    account: Account,
    refusal: Callable[[QueueState, bool], Exception | None],
) -> tuple[str, Exception | None]:
    """One transaction: `refusal(the customer's queue state, on the do-not-call list)` says why the account may not
    have the number now (None: it may); the request is audited either way, without the number.
    Returns the encrypted number and the refusal."""
    with Session(engine) as session, session.begin():
        row, spec = get_campaign(session, campaign)
        customer = _listed(session, row.id, campaign, customer_id)
        tried, due = _history(session, row.id, [customer.id])
        refused = refusal(QueueState(spec, [_view(customer)], tried, due), blocked(session, customer))
        audit(
            session,
            account,
            "reveal_phone" if refused is None else "reveal_phone_refused",
            "campaign_customer",
            customer_id,
            after={
                "campaign": campaign,
                "agent_id": account.agent_id,
                "role": account.role,
                **({"reason": str(refused)} if refused else {}),
            },
        )
        return customer.phone_enc, refused


# --- attempts ----------------------------------------------------------------------------------------


@dataclass
class CustomerState:
    """A customer as a batch of attempts moves them on."""

    id: int
    status: str
    agent_id: str | None


@dataclass
class CallbackState:
    customer_id: int
    agent_id: str | None
    due_at: datetime  # UTC
    note: str = ""
    done: bool = False
    id: int | None = None  # None: made by this batch
    settled_by: int | None = None  # the attempt (its index in the batch) that was this callback


@dataclass(frozen=True)
class NewAttempt:
    customer_id: int
    agent_id: str
    started_at: datetime  # UTC
    disposition: str
    duration: float | None = None
    reason_code: str | None = None
    notes: str = ""
    conversation_key: str | None = None


@dataclass
class AttemptsState:
    """What recording a batch of attempts reads: the customers they are for, their attempts so far (how many, and
    each as (customer id, start in UTC, disposition): the same again is a repeat, stored once), the campaign's open
    callbacks by customer, and which of the linked conversations are stored."""

    spec: CampaignSpec
    customers: dict[int, CustomerState]
    counts: Counter[int]
    open_callbacks: defaultdict[int, list[CallbackState]]
    stored: set[str]
    recorded: set[tuple[int, datetime, str]] = field(default_factory=set)
    created: list[CallbackState] = field(default_factory=list)  # callbacks the batch makes


def record_attempts(
    engine: Engine,
    campaign: str,
    customer_ids: list[int],
    conversation_keys: list[str],
    plan: Callable[[AttemptsState], list[NewAttempt]],
) -> tuple[list[int], CampaignSpec]:
    """One transaction: `plan(state)` moves the customers and callbacks of `state` on, adds the callbacks
    it makes to `state.created`, and returns the attempts to store (CampaignError stores nothing), none of them
    one of `state.recorded`. Returns the attempts' ids and the campaign. When another process stored one of them
    meanwhile (the database holds each attempt once), the plan runs again on what is stored now."""
    try:
        return _record_attempts(engine, campaign, customer_ids, conversation_keys, plan)
    except IntegrityError:
        return _record_attempts(engine, campaign, customer_ids, conversation_keys, plan)


def _record_attempts(
    engine: Engine,
    campaign: str,
    customer_ids: list[int],
    conversation_keys: list[str],
    plan: Callable[[AttemptsState], list[NewAttempt]],
) -> tuple[list[int], CampaignSpec]:
    with Session(engine) as session, session.begin():
        row, spec = get_campaign(session, campaign)
        customers = (
            {
                c.id: c
                for c in session.scalars(
                    select(CampaignCustomer).where(
                        CampaignCustomer.campaign_id == row.id, CampaignCustomer.id.in_(customer_ids)
                    )
                )
            }
            if customer_ids
            else {}
        )
        counts = (
            Counter(
                dict(
                    session.execute(
                        select(CampaignAttempt.customer_id, func.count())
                        .where(CampaignAttempt.customer_id.in_(customer_ids))
                        .group_by(CampaignAttempt.customer_id)
                    ).all()
                )
            )
            if customer_ids
            else Counter()
        )
        recorded = (
            {
                (customer, as_utc(started), disposition)
                for customer, started, disposition in session.execute(
                    select(CampaignAttempt.customer_id, CampaignAttempt.started_at, CampaignAttempt.disposition).where(
                        CampaignAttempt.customer_id.in_(customer_ids)
                    )
                )
            }
            if customer_ids
            else set()
        )
        callbacks = list(
            session.scalars(
                select(CampaignCallback).where(CampaignCallback.campaign_id == row.id, CampaignCallback.done.is_(False))
            )
        )
        stored = (
            set(session.scalars(select(ConversationRow.key).where(ConversationRow.key.in_(conversation_keys))))
            if conversation_keys
            else set()
        )
        people = {i: CustomerState(c.id, c.status, c.agent_id) for i, c in customers.items()}
        loaded = [CallbackState(c.customer_id, c.agent_id, c.due_at, c.note, c.done, c.id) for c in callbacks]
        open_callbacks: defaultdict[int, list[CallbackState]] = defaultdict(list)
        for state in loaded:
            open_callbacks[state.customer_id].append(state)
        batch = AttemptsState(spec, people, counts, open_callbacks, stored, recorded)
        attempts = plan(batch)
        became: Counter[str] = Counter()  # unassigned customers an attempt made its agent's (they may see the number)
        for ident, person in people.items():
            if customers[ident].agent_id is None and person.agent_id is not None:
                became[person.agent_id] += 1
            customers[ident].status, customers[ident].agent_id = person.status, person.agent_id
        if became:
            audit(
                session,
                None,
                "campaign.assign",
                "campaign_customer",
                campaign,
                {"agent_id": {UNASSIGNED: sum(became.values())}},
                {"campaign": campaign, "agent_id": dict(sorted(became.items())), "by": "拨打记录"},
            )
        records = [CampaignAttempt(campaign_id=row.id, **asdict(a)) for a in attempts]
        created = [
            CampaignCallback(
                campaign_id=row.id,
                customer_id=c.customer_id,
                agent_id=c.agent_id,
                due_at=c.due_at,
                note=c.note,
                done=c.done,
            )
            for c in batch.created
        ]
        session.add_all([*records, *created])
        session.flush()
        for callback, state in [*zip(callbacks, loaded, strict=True), *zip(created, batch.created, strict=True)]:
            callback.done = state.done
            if state.settled_by is not None:
                callback.attempt_id = records[state.settled_by].id
        return [r.id for r in records], spec


def drop_repeated_attempts(connection: Connection) -> int:
    """Attempts an older zuoxi stored more than once (the same customer, start time and disposition) are stored
    once: the first (lowest id) is kept, a callback settled by a repeat is settled by the first, the repeats are
    deleted. Returns how many were. (The customers' statuses are left as they are.)"""
    attempts, callbacks = cast(Table, CampaignAttempt.__table__), cast(Table, CampaignCallback.__table__)
    same = (attempts.c.customer_id, attempts.c.started_at, attempts.c.disposition)
    dropped = 0
    for customer, started, disposition in connection.execute(
        select(*same).group_by(*same).having(func.count() > 1)
    ).all():
        first, *repeats = connection.scalars(
            select(attempts.c.id)
            .where(
                attempts.c.customer_id == customer,
                attempts.c.started_at == started,
                attempts.c.disposition == disposition,
            )
            .order_by(attempts.c.id)
        ).all()
        connection.execute(update(callbacks).where(callbacks.c.attempt_id.in_(repeats)).values(attempt_id=first))
        connection.execute(delete(attempts).where(attempts.c.id.in_(repeats)))
        dropped += len(repeats)
    return dropped


def unscored(engine: Engine, keys: list[str], scorecard: str) -> list[tuple[str, Conversation]]:
    """(key, conversation) of the stored conversations among `keys` with no result of `scorecard`."""
    with Session(engine) as session:
        have = (
            set(
                session.scalars(
                    select(ResultRow.conversation_key).where(
                        ResultRow.scorecard == scorecard, ResultRow.conversation_key.in_(keys)
                    )
                )
            )
            if keys
            else set()
        )
        return [
            (row.key, Conversation.model_validate(row.data))
            for row in session.scalars(
                select(ConversationRow).where(ConversationRow.key.in_([k for k in keys if k not in have]))
            )
        ]


# --- the report --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerFigures:
    id: int
    status: str
    age_band: str | None
    region: str | None
    occupation: str | None


@dataclass(frozen=True)
class AttemptFigures:
    id: int
    customer_id: int
    agent_id: str
    started_at: datetime
    duration: float | None
    disposition: str
    reason_code: str | None
    conversation_key: str | None


@dataclass(frozen=True)
class CallbackFigures:
    due_at: datetime
    done: bool
    attempt_id: int | None


def report_columns(
    engine: Engine, campaign: str
) -> tuple[CampaignSpec, list[CustomerFigures], list[AttemptFigures], list[CallbackFigures]]:
    """The campaign's spec, customers, attempts (in the order they were made) and callbacks: the columns
    the figures need."""
    with Session(engine) as session:
        row, spec = get_campaign(session, campaign)
        customers = [
            CustomerFigures(*c)
            for c in session.execute(
                select(
                    CampaignCustomer.id,
                    CampaignCustomer.status,
                    CampaignCustomer.age_band,
                    CampaignCustomer.region,
                    CampaignCustomer.occupation,
                ).where(CampaignCustomer.campaign_id == row.id)
            )
        ]
        every = [
            AttemptFigures(*a)
            for a in session.execute(
                select(
                    CampaignAttempt.id,
                    CampaignAttempt.customer_id,
                    CampaignAttempt.agent_id,
                    CampaignAttempt.started_at,
                    CampaignAttempt.duration,
                    CampaignAttempt.disposition,
                    CampaignAttempt.reason_code,
                    CampaignAttempt.conversation_key,
                )
                .where(CampaignAttempt.campaign_id == row.id)
                .order_by(CampaignAttempt.started_at, CampaignAttempt.id)
            )
        ]
        callbacks = [
            CallbackFigures(*c)
            for c in session.execute(
                select(CampaignCallback.due_at, CampaignCallback.done, CampaignCallback.attempt_id).where(
                    CampaignCallback.campaign_id == row.id
                )
            )
        ]
    return spec, customers, every, callbacks


def final_results(engine: Engine, keys: set[str], scorecard: str) -> dict[str, dict[str, Any]]:
    """The `scorecard` result (as people left it) of each of the conversations `keys`, by key."""
    if not keys:
        return {}
    with Session(engine) as session:
        return {
            r.conversation_key: r.final_data or r.data
            for r in session.scalars(
                select(ResultRow).where(ResultRow.scorecard == scorecard, ResultRow.conversation_key.in_(keys))
            )
        }
