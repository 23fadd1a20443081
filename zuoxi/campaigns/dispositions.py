"""Recording call attempts: the disposition moves the customer on (success, closed, retry,
callback), and a recorded call is linked and scored with the `outbound` scorecard so its items can
be set against the outcome (analytics.py)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zuoxi.campaigns.calllist import ListImport, find_header, read_table
from zuoxi.campaigns.campaign import CampaignError, get_campaign
from zuoxi.campaigns.models import OPEN, Attempt, CampaignSpec, dispositions, parse_time, to_utc
from zuoxi.ingest.errors import IngestError
from zuoxi.model import Conversation
from zuoxi.store import Store
from zuoxi.store.tables import CampaignAttempt, CampaignCallback, CampaignCustomer, ConversationRow, ResultRow

SCORECARD = "outbound"


@cache
def _columns() -> dict[str, list[str]]:
    return yaml.safe_load(
        resources.files("zuoxi.campaigns").joinpath("data/disposition_columns.yaml").read_text(encoding="utf-8")
    )


def campaign_call(conversation: Conversation, spec: CampaignSpec) -> Conversation:
    """The call as the outbound scorecard should see it: OB-06 checks this campaign's questions."""
    meta = {
        **conversation.meta,
        "scorecard": SCORECARD,
        "campaign": spec.name,
        "script_questions": spec.script_questions(),
    }
    return conversation.model_copy(update={"meta": meta})


def score_linked(store: Store, keys: Iterable[str], spec: CampaignSpec, models: bool = True) -> int:
    """Give each linked conversation an `outbound` result if it has none; returns how many were scored.
    The stored conversation is left as it is (its key is its content hash)."""
    from zuoxi.pipeline import iter_analyses

    keys = list(dict.fromkeys(keys))
    with Session(store.engine) as session:
        have = (
            set(
                session.scalars(
                    select(ResultRow.conversation_key).where(
                        ResultRow.scorecard == SCORECARD, ResultRow.conversation_key.in_(keys)
                    )
                )
            )
            if keys
            else set()
        )
        todo = [
            (row.key, Conversation.model_validate(row.data))
            for row in session.scalars(
                select(ConversationRow).where(ConversationRow.key.in_([k for k in keys if k not in have]))
            )
        ]
    results = iter_analyses((campaign_call(conv, spec) for _, conv in todo), SCORECARD, mask=False, models=models)
    store.save_results(zip((key for key, _ in todo), results))
    return len(todo)


def record_attempts(
    store: Store, campaign: str, attempts: Iterable[tuple[Attempt, datetime | None]], models: bool = True
) -> list[int]:
    """Store attempts (each with an optional callback time) in time order and move each customer on.
    A reason code must be one of the campaign's; a linked conversation must be stored. Times without
    a zone are the campaign's local time."""
    records: list[CampaignAttempt] = []
    created: list[CampaignCallback] = []
    settled: list[tuple[CampaignCallback, CampaignAttempt]] = []
    items = list(attempts)
    linked = [a.conversation_key for a, _ in items if a.conversation_key]
    with Session(store.engine) as session, session.begin():
        row, spec = get_campaign(session, campaign)
        items.sort(key=lambda item: to_utc(item[0].started_at, spec.tz))
        wanted = list({a.customer_id for a, _ in items})
        customers = (
            {
                c.id: c
                for c in session.scalars(
                    select(CampaignCustomer).where(
                        CampaignCustomer.campaign_id == row.id, CampaignCustomer.id.in_(wanted)
                    )
                )
            }
            if wanted
            else {}
        )
        counts = (
            Counter(
                dict(
                    session.execute(
                        select(CampaignAttempt.customer_id, func.count())
                        .where(CampaignAttempt.customer_id.in_(wanted))
                        .group_by(CampaignAttempt.customer_id)
                    ).all()
                )
            )
            if wanted
            else Counter()
        )
        open_callbacks: dict[int, list[CampaignCallback]] = defaultdict(list)
        for callback in session.scalars(
            select(CampaignCallback).where(CampaignCallback.campaign_id == row.id, CampaignCallback.done.is_(False))
        ):
            open_callbacks[callback.customer_id].append(callback)
        stored = (
            set(session.scalars(select(ConversationRow.key).where(ConversationRow.key.in_(linked))))
            if linked
            else set()
        )
        for attempt, callback_at in items:
            customer = customers.get(attempt.customer_id)
            if customer is None:
                raise CampaignError(f"customer {attempt.customer_id} is not on the list of {campaign!r}")
            if attempt.reason_code and attempt.reason_code not in spec.reason_codes:
                raise CampaignError(
                    f"unknown reason code {attempt.reason_code!r} (one of {', '.join(spec.reason_codes)})"
                )
            if attempt.conversation_key and attempt.conversation_key not in stored:
                raise CampaignError(f"no stored conversation with key {attempt.conversation_key!r}")
            record = CampaignAttempt(
                campaign_id=row.id,
                **attempt.model_dump(exclude={"started_at"}),
                started_at=to_utc(attempt.started_at, spec.tz),
            )
            records.append(record)
            counts[customer.id] += 1
            settled += [(due, record) for due in open_callbacks[customer.id]]  # this call was the callback
            follow_up = _move_on(spec, customer, attempt, callback_at, counts[customer.id], open_callbacks[customer.id])
            open_callbacks[customer.id] = []
            if follow_up is not None:
                follow_up.campaign_id = row.id
                open_callbacks[customer.id] = [follow_up]
                created.append(follow_up)
        session.add_all([*records, *created])
        session.flush()
        for callback, record in settled:
            callback.attempt_id = record.id
        ids = [r.id for r in records]
    score_linked(store, linked, spec, models=models)
    return ids


def _move_on(
    spec: CampaignSpec,
    customer: CampaignCustomer,
    attempt: Attempt,
    callback_at: datetime | None,
    attempts: int,
    open_callbacks: list[CampaignCallback],
) -> CampaignCallback | None:
    """The customer's status after this attempt, and a new callback if one is due. Only an open
    customer moves: a success or a closed one (refused, wrong number…) stays where it is."""
    for due in open_callbacks:
        due.done = True
    if customer.status not in OPEN:
        return None
    if customer.agent_id is None:
        customer.agent_id = attempt.agent_id
    step = dispositions()[attempt.disposition].next
    if step == "callback" or (callback_at is not None and step == "retry"):
        when = callback_at or attempt.started_at + timedelta(hours=spec.callback_after_hours)
        customer.status = "callback"
        return CampaignCallback(
            customer_id=customer.id,
            agent_id=customer.agent_id,
            due_at=to_utc(when, spec.tz),
            note=attempt.notes,
            done=False,
        )
    customer.status = ("retry" if attempts < spec.max_attempts else "closed") if step == "retry" else step
    return None


def _parse_duration(value: str) -> float | None:
    """Seconds, or m:ss / h:mm:ss as dialers print them."""
    if not value:
        return None
    parts = [float(p) for p in value.split(":")]
    return sum(p * 60**i for i, p in enumerate(reversed(parts)))


def import_dispositions(store: Store, campaign: str, path: Path, models: bool = True) -> ListImport:
    """Attempts from a dialer or spreadsheet export; a bad row is reported as file:line: reason."""
    summary, where = ListImport(), str(path)
    try:
        rows, summary.errors = read_table(path, where)
        header_line, headers, rows = find_header(rows, _columns())
    except OSError as error:
        summary.errors.append(IngestError(where, None, str(error)))
        return summary
    index = {f: next((headers.index(h) for h in names if h in headers), None) for f, names in _columns().items()}
    missing = [f for f in ("agent_id", "started_at", "disposition") if index[f] is None]
    if missing or (index["customer_id"] is None and index["ref"] is None):
        summary.errors.append(
            IngestError(where, header_line, f"missing columns: {', '.join(missing or ['customer_id or ref'])}")
        )
        return summary
    with Session(store.engine) as session:
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
    items = []
    for number, cells in rows:
        if not any(cells):
            continue
        summary.rows += 1
        cell = {f: (cells[i] if i is not None and i < len(cells) else "") for f, i in index.items()}
        try:
            items.append(_attempt(store, cell, by_ref, by_id, spec))
        except (ValueError, ValidationError, CampaignError) as error:
            reason = (
                "; ".join(str(e.get("ctx", {}).get("error", e["msg"])) for e in error.errors())
                if isinstance(error, ValidationError)
                else str(error)
            )
            summary.errors.append(IngestError(where, number, reason))
    record_attempts(store, campaign, items, models=models)
    summary.imported = len(items)
    return summary


def _attempt(
    store: Store, cell: dict[str, str], by_ref: dict[str, int], by_id: set[int], spec: CampaignSpec
) -> tuple[Attempt, datetime | None]:
    if cell["customer_id"]:
        if not cell["customer_id"].isdigit() or int(cell["customer_id"]) not in by_id:
            raise CampaignError(f"no customer {cell['customer_id']!r} on this campaign's list")
        customer_id = int(cell["customer_id"])
    elif cell["ref"] in by_ref:
        customer_id = by_ref[cell["ref"]]
    else:
        raise CampaignError(f"no customer with number {cell['ref']!r} on this campaign's list")
    reason = cell["reason_code"] or None
    if reason and reason not in spec.reason_codes:
        reason = next((code for code, label in spec.reason_codes.items() if label == reason), None)
        if reason is None:
            raise CampaignError(f"unknown reason {cell['reason_code']!r} (one of {', '.join(spec.reason_codes)})")
    key = None
    if cell["conversation"]:
        found = store.find(cell["conversation"])
        if len(found) != 1:
            raise CampaignError(
                f"{'no' if not found else 'more than one'} stored conversation {cell['conversation']!r}"
            )
        key = found[0][0]
    try:
        started = parse_time(cell["started_at"], spec.tz)
        callback = parse_time(cell["callback_at"], spec.tz) if cell["callback_at"] else None
    except ValueError:
        raise CampaignError(f"unreadable time {cell['started_at'] or cell['callback_at']!r}") from None
    try:
        duration = _parse_duration(cell["duration"])
    except ValueError:
        raise CampaignError(f"unreadable duration {cell['duration']!r}") from None
    attempt = Attempt(
        customer_id=customer_id,
        agent_id=cell["agent_id"],
        started_at=started,
        duration=duration,
        disposition=cell["disposition"],
        reason_code=reason,
        notes=cell["notes"],
        conversation_key=key,
    )
    return attempt, callback
