"""Deleting stored conversations (`zuoxi conversation delete`): the older one where a corrected or longer re-export
of a chat was stored beside it (an import notes an id stored with other content: zuoxi.engines.local.Duplicates); a
wrong import; a customer's request to erase their data.

A conversation goes with everything keyed to it, in one transaction: its results (the dashboard's figures taken
away as any deleted result's are, zuoxi.store.stats), their reviews and calibrations with their comments, appeals,
score versions and queue items, its complaint alert with the alert's webhook deliveries and their log, and its
search text and search pairs (columns of the conversation's own row). Deleted child first, on every database:
SQLite enforces no foreign key, so nothing cascades there.

Kept, with their link to the conversation dropped: a campaign's call attempt (the call was made; the report counts
it) and a training case promoted from it (curated and masked; it holds its own copy of the conversation, and
trainees' attempts name it). Kept: the audit log, the history of who did what, where the deletion is one entry per
conversation — who deleted it and what went with it, counts and names, never its text — and where the entries of
its reviews, appeals, queue items and alert keep who did what and when, their words forgotten (`_forget_words`);
and the import marks of the files it came from. Added: the conversation's content key (`DeletedConversation`, a hash, no
text), so that reading it again — `zuoxi analyze`, an upload, `import --again`, another file holding it — does not
store it again (an erased conversation stays erased; the engines skip it with a note) until `readmit` lets it back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from zuoxi.model import Conversation
from zuoxi.privacy import mask_conversation, mask_text
from zuoxi.store import as_utc, content_key, utc_now
from zuoxi.store.audit import audit
from zuoxi.store.races import for_update, retried
from zuoxi.store.tables import (
    AppealRow,
    AuditEntry,
    CampaignAttempt,
    ComplaintAlertRow,
    ConversationRow,
    DeletedConversation,
    QueueItemRow,
    ResultRow,
    ResultVersion,
    ReviewRow,
    TrainingCase,
    WebhookAttemptRow,
    WebhookDeliveryRow,
)
from zuoxi.store.users import Account

__all__ = ["Dependents", "delete_conversations", "deleted_keys", "dependents", "readmit"]

_CHUNK = 500  # keys or ids to one IN (...)


@dataclass
class Dependents:
    """One stored conversation and what is keyed to it: what a deletion removes, and what it keeps unlinked."""

    key: str
    conversation_id: str
    agent_id: str | None
    team: str | None
    started_at: datetime | None
    source: str | None
    scorecards: list[str] = field(default_factory=list)  # one result each
    reviews: int = 0  # reviews and calibration judgements, with their comments
    appeals: int = 0
    result_versions: int = 0
    queue_items: int = 0
    alerts: int = 0
    alert_deliveries: int = 0  # webhook deliveries of its alert
    alert_delivery_attempts: int = 0  # their log
    campaign_attempts: int = 0  # kept, no longer linked
    training_cases: list[str] = field(default_factory=list)  # ids: kept, no longer linked

    def audited(self) -> dict:
        """What the audit entry keeps of it: names and counts, never text (turns, comments, reasons, excerpts)."""
        facts = asdict(self)
        facts.pop("key")  # the entry's entity id
        facts["started_at"] = self.started_at.isoformat() if self.started_at else None
        return facts


def _chunks(values: list, size: int = _CHUNK) -> Iterable[list]:
    for begin in range(0, len(values), size):
        yield values[begin : begin + size]


def _count(session: Session, column, values: list) -> dict:
    """value of `column` → how many rows have it, in one query per chunk of values."""
    counted: dict = {}
    for chunk in _chunks(values):
        for value, n in session.execute(select(column, func.count()).where(column.in_(chunk)).group_by(column)):
            counted[value] = n
    return counted


@dataclass
class _Keyed:
    """What `_dependents` read: the conversations with their counts, and the rows a deletion removes by id."""

    found: dict[str, Dependents]  # by key, in the keys' order
    results: dict[int, tuple[str, str]]  # result pk → (conversation key, scorecard)
    alerts: dict[int, str]  # alert id → conversation key
    deliveries: dict[int, int]  # delivery id → alert id


def _dependents(session: Session, keys: list[str]) -> _Keyed:
    """The stored conversations among `keys` and what is keyed to them, in the keys' order."""
    found = _conversations(session, keys)
    stored = list(found)
    owner = _results(session, stored)
    for key, scorecard in owner.values():
        found[key].scorecards.append(scorecard)
    for name, column in (
        ("reviews", ReviewRow.result_pk),
        ("appeals", AppealRow.result_pk),
        ("result_versions", ResultVersion.result_pk),
    ):
        for pk, n in _count(session, column, list(owner)).items():
            setattr(found[owner[pk][0]], name, getattr(found[owner[pk][0]], name) + n)
    keyed: tuple[tuple[str, Any], ...] = (
        ("queue_items", QueueItemRow.conversation_key),
        ("alerts", ComplaintAlertRow.conversation_key),
        ("campaign_attempts", CampaignAttempt.conversation_key),
    )
    for name, column in keyed:
        for key, n in _count(session, column, stored).items():
            setattr(found[key], name, n)
    alerts = _alerts(session, stored)
    deliveries = _deliveries(session, list(alerts))
    for alert in deliveries.values():
        found[alerts[alert]].alert_deliveries += 1
    for delivery, n in _count(session, WebhookAttemptRow.delivery_id, list(deliveries)).items():
        found[alerts[deliveries[delivery]]].alert_delivery_attempts += n
    for chunk in _chunks(stored):
        query = select(TrainingCase.conversation_key, TrainingCase.id).where(TrainingCase.conversation_key.in_(chunk))
        for linked, case in session.execute(query.order_by(TrainingCase.id)):
            found[str(linked)].training_cases.append(case)
    return _Keyed(found, owner, alerts, deliveries)


def _conversations(session: Session, keys: list[str]) -> dict[str, Dependents]:
    """The stored conversations among `keys`, in the keys' order, with nothing counted yet."""
    found: dict[str, Dependents] = {}
    for chunk in _chunks(keys):
        query = select(
            ConversationRow.key,
            ConversationRow.id,
            ConversationRow.agent_id,
            ConversationRow.team,
            ConversationRow.started_at,
            ConversationRow.source,
        ).where(ConversationRow.key.in_(chunk))
        for key, ident, agent, team, started, source in session.execute(query):
            found[key] = Dependents(key, ident, agent, team, as_utc(started) if started else None, source)
    return {key: found[key] for key in keys if key in found}


def _results(session: Session, keys: list[str]) -> dict[int, tuple[str, str]]:
    """result pk → (conversation key, scorecard), of these conversations' results in the order they were stored."""
    owner: dict[int, tuple[str, str]] = {}
    for chunk in _chunks(keys):
        query = (
            select(ResultRow.pk, ResultRow.conversation_key, ResultRow.scorecard)
            .where(ResultRow.conversation_key.in_(chunk))
            .order_by(ResultRow.pk)
        )
        owner.update({pk: (key, scorecard) for pk, key, scorecard in session.execute(query)})
    return owner


def _alerts(session: Session, keys: list[str]) -> dict[int, str]:
    """alert id → conversation key, of these conversations' complaint alerts (one each at most)."""
    alerts: dict[int, str] = {}
    for chunk in _chunks(keys):
        query = select(ComplaintAlertRow.id, ComplaintAlertRow.conversation_key).where(
            ComplaintAlertRow.conversation_key.in_(chunk)
        )
        alerts.update({alert: key for alert, key in session.execute(query)})
    return alerts


def _deliveries(session: Session, alert_ids: list[int]) -> dict[int, int]:
    """delivery id → alert id, of these alerts' webhook deliveries."""
    deliveries: dict[int, int] = {}
    for chunk in _chunks(alert_ids):
        query = select(WebhookDeliveryRow.id, WebhookDeliveryRow.alert_id).where(WebhookDeliveryRow.alert_id.in_(chunk))
        deliveries.update({delivery: alert for delivery, alert in session.execute(query)})
    return deliveries


def dependents(engine: Engine, keys: Iterable[str]) -> list[Dependents]:
    """What deleting the conversations of these (full) keys would remove and keep, in the keys' order; a key not
    stored is left out."""
    with Session(engine) as session:
        return list(_dependents(session, list(dict.fromkeys(keys))).found.values())


def delete_conversations(
    engine: Engine, keys: Iterable[str], account: Account | None = None, operator: str | None = None
) -> list[Dependents]:
    """Delete the conversations of these (full) keys and everything keyed to them, in one transaction, each audited
    (`conversation.delete`: by `account`, or by the system for `operator`, who ran the command); returns what was
    deleted, in the keys' order. A key not stored (never, or another process deleted it first) is left out. Run again
    when PostgreSQL ended it to break a deadlock with another writer (`zuoxi.store.races.retried`)."""
    wanted = list(dict.fromkeys(keys))
    return retried(lambda: _delete(engine, wanted, account, operator))


def _lock(session: Session, keys: list[str]) -> list[ResultRow]:
    """Lock the stored conversations among `keys` and their results, conversations by key and results by pk, as an
    analysis storing results locks them (`Store.save_results`): one waits for the other, where the analysis failed on
    a conversation deleted under it or the deletion deadlocked with it. Returns the results, to delete."""
    stored: list[str] = []
    for chunk in _chunks(sorted(keys)):
        query = select(ConversationRow.key).where(ConversationRow.key.in_(chunk)).order_by(ConversationRow.key)
        stored += session.scalars(for_update(session, query, deleting=True))
    results: list[ResultRow] = []
    for chunk in _chunks(stored):
        of_chunk = select(ResultRow).where(ResultRow.conversation_key.in_(chunk)).order_by(ResultRow.pk)
        results += session.scalars(for_update(session, of_chunk, deleting=True))
    return results


def _delete(engine: Engine, keys: list[str], account: Account | None, operator: str | None) -> list[Dependents]:
    with Session(engine) as session, session.begin():
        results = _lock(session, keys)
        keyed = _dependents(session, keys)
        found, stored = keyed.found, list(keyed.found)
        pks, alert_ids = list(keyed.results), list(keyed.alerts)
        _forget_words(session, pks, alert_ids, stored)
        for chunk in _chunks(list(keyed.deliveries)):
            session.execute(delete(WebhookAttemptRow).where(WebhookAttemptRow.delivery_id.in_(chunk)))
        for chunk in _chunks(alert_ids):
            session.execute(delete(WebhookDeliveryRow).where(WebhookDeliveryRow.alert_id.in_(chunk)))
            session.execute(delete(ComplaintAlertRow).where(ComplaintAlertRow.id.in_(chunk)))
        for chunk in _chunks(pks):
            for table in (ComplaintAlertRow, QueueItemRow, ReviewRow, AppealRow, ResultVersion):
                session.execute(delete(table).where(table.result_pk.in_(chunk)))
        for chunk in _chunks(stored):
            session.execute(delete(QueueItemRow).where(QueueItemRow.conversation_key.in_(chunk)))
            for linked in (CampaignAttempt, TrainingCase):
                session.execute(update(linked).where(linked.conversation_key.in_(chunk)).values(conversation_key=None))
        # Results through the session, not by one DELETE: their flush takes their part away from the dashboard's
        # figures (zuoxi.store.stats), all in one flush, so the figures' rows are taken in one order.
        for row in results:
            session.delete(row)
        session.flush()
        _keep_out(session, stored)  # reads the conversations' text: before they go
        for chunk in _chunks(stored):
            session.execute(delete(ConversationRow).where(ConversationRow.key.in_(chunk)))
        by = {"deleted_by": mask_text(operator)} if operator else None
        for key, gone in found.items():
            audit(session, account, "conversation.delete", "conversation", key, gone.audited(), by)
    return list(found.values())


FORGOTTEN = "（会话已删除，内容不再保留）"
# What people wrote, in the audit entries of reviews and calibrations, appeals, queue items and alerts.
_WORDS = {
    "finding": ("comment",),
    "appeal": ("reason", "comment"),
    "queue_item": ("comment",),
    "complaint_alert": ("note",),
}


def _forget_words(session: Session, pks: list[int], alert_ids: list[int], keys: list[str]) -> None:
    """Take what people wrote about these conversations out of the audit log: the comments of reviews, the reasons
    and replies of appeals, the comments of skipped queue items and the notes of handled alerts (each entry keeps who
    did what and when; the words become `FORGOTTEN`). Deleted, they were still shown on the audit page — a
    customer's erasure left the words about their call behind."""
    named: dict[str, set[str]] = {entity: set() for entity in _WORDS}
    for chunk in _chunks(pks, 100):  # a finding is named "result pk/rule"
        findings = or_(*(AuditEntry.entity_id.startswith(f"{pk}/", autoescape=True) for pk in chunk))
        named["finding"].update(
            session.scalars(select(AuditEntry.entity_id).where(AuditEntry.entity == "finding", findings))
        )
        named["appeal"].update(map(str, session.scalars(select(AppealRow.id).where(AppealRow.result_pk.in_(chunk)))))
        named["queue_item"].update(
            map(str, session.scalars(select(QueueItemRow.id).where(QueueItemRow.result_pk.in_(chunk))))
        )
    for chunk in _chunks(keys):
        items = select(QueueItemRow.id).where(QueueItemRow.conversation_key.in_(chunk))
        named["queue_item"].update(map(str, session.scalars(items)))
    named["complaint_alert"].update(map(str, alert_ids))
    for entity, ids in named.items():
        for chunk in _chunks(sorted(ids)):
            query = select(AuditEntry).where(AuditEntry.entity == entity, AuditEntry.entity_id.in_(chunk))
            for entry in session.scalars(query):
                entry.before, entry.after = _forgotten(entry.before, entity), _forgotten(entry.after, entity)


def _forgotten(value: dict | None, entity: str) -> dict | None:
    words = _WORDS[entity]
    if not isinstance(value, dict) or not any(value.get(name) for name in words):
        return value
    return {name: FORGOTTEN if name in words and text else text for name, text in value.items()}


def _keep_out(session: Session, keys: list[str]) -> None:
    """Note the keys these conversations, about to be deleted, are kept out by: each one's stored key, and the key of
    its text masked again today where masking changed since it was stored (`DeletedConversation`)."""
    by: dict[str, str] = {}  # key kept out → the conversation's stored key
    for chunk in _chunks(keys):
        for key, data in session.execute(
            select(ConversationRow.key, ConversationRow.data).where(ConversationRow.key.in_(chunk))
        ):
            by.setdefault(key, key)
            by.setdefault(content_key(mask_conversation(Conversation.model_validate(data))), key)
    already: set[str] = set()  # a conversation deleted before, stored again by an older zuoxi
    for chunk in _chunks(list(by)):
        already.update(session.scalars(select(DeletedConversation.key).where(DeletedConversation.key.in_(chunk))))
    now = utc_now()
    session.add_all(
        DeletedConversation(key=key, conversation_key=stored, deleted_at=now)
        for key, stored in by.items()
        if key not in already
    )


def deleted_keys(engine: Engine, start: str) -> list[str]:
    """The stored keys of deleted conversations kept out that begin with `start` (at least 6 hex digits, any case),
    at most two: one is the conversation meant, two say it is ambiguous."""
    start = start.strip().lower()
    if len(start) < 6 or any(c not in "0123456789abcdef" for c in start):
        return []
    with Session(engine) as session:
        query = select(DeletedConversation.conversation_key).where(
            DeletedConversation.conversation_key.startswith(start, autoescape=True)
        )
        return list(session.scalars(query.distinct().order_by(DeletedConversation.conversation_key).limit(2)))


def readmit(
    engine: Engine, keys: Iterable[str], account: Account | None = None, operator: str | None = None
) -> list[str]:
    """Let deleted conversations of these (full, stored) keys be stored again when read again (a wrong deletion, a
    conversation deleted as a duplicate that is wanted after all), each audited (`conversation.readmit`); returns the
    keys that were kept out, in the keys' order. Nothing deleted comes back by this alone: the files are read again."""
    wanted = list(dict.fromkeys(keys))
    with Session(engine) as session, session.begin():
        held: set[str] = set()
        for chunk in _chunks(wanted):
            column = DeletedConversation.conversation_key
            held.update(session.scalars(select(column).where(column.in_(chunk))))
            session.execute(delete(DeletedConversation).where(column.in_(chunk)))
        by = {"readmitted_by": mask_text(operator)} if operator else None
        for key in wanted:
            if key in held:
                audit(session, account, "conversation.readmit", "conversation", key, None, by)
    return [key for key in wanted if key in held]
