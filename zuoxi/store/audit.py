"""The audit log: who changed what, with before and after, written in the same transaction as the change
(`audit`), or in one of its own (`audit_now`); and read a page at a time (`audit_entries`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from zuoxi.store import as_utc, utc_now
from zuoxi.store.tables import AuditEntry, User
from zuoxi.store.users import Account

__all__ = ["AuditView", "audit", "audit_entries", "audit_now"]


def audit(
    session: Session, account: Account | None, action: str, entity: str, entity_id, before=None, after=None
) -> None:
    session.add(
        AuditEntry(
            at=utc_now(),
            user_id=account.id if account else None,
            action=action,
            entity=entity,
            entity_id=str(entity_id),
            before=before,
            after=after,
        )
    )


@dataclass
class AuditView:
    id: int
    at: datetime
    username: str | None  # None: the system
    display_name: str | None
    action: str
    entity: str
    entity_id: str
    before: dict | None
    after: dict | None


def audit_entries(
    engine,
    who: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    page: int = 1,
    per_page: int = 100,
) -> tuple[int, list[AuditView]]:
    """(how many match, one page of them newest first): by username, action (or its prefix:
    "appeal" is every appeal action) and time."""
    query = select(AuditEntry, User.username, User.display_name).outerjoin(User, User.id == AuditEntry.user_id)
    if who:
        query = query.where(User.username == who)
    if action:
        query = query.where((AuditEntry.action == action) | AuditEntry.action.startswith(action + ".", autoescape=True))
    if since:
        query = query.where(AuditEntry.at >= since)
    if until:
        query = query.where(AuditEntry.at < until)
    with Session(engine) as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.execute(query.order_by(AuditEntry.id.desc()).offset((page - 1) * per_page).limit(per_page)).all()
        return total, [
            AuditView(e.id, as_utc(e.at), username, name, e.action, e.entity, e.entity_id, e.before, e.after)
            for e, username, name in rows
        ]


def audit_now(
    engine: Engine, account: Account | None, action: str, entity: str, entity_id: Any, before=None, after=None
) -> None:
    """`audit` in a transaction of its own, for a change another function already committed."""
    with Session(engine) as session, session.begin():
        audit(session, account, action, entity, entity_id, before, after)
