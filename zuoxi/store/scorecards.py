"""Scorecards written or edited in the web app: their YAML text by name, saved with an audit entry, and
the conversations a re-score of one covers (in the account's scope)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from zuoxi.store.audit import audit
from zuoxi.store.queries import ConversationFilter, scoped
from zuoxi.store.tables import ConversationRow, ResultRow, ScorecardRow
from zuoxi.store.users import Account


def custom_scorecards(engine: Engine) -> list[tuple[str, str]]:
    """(name, YAML text) of every scorecard kept in the database."""
    with Session(engine) as session:
        return [(row.name, row.yaml) for row in session.scalars(select(ScorecardRow).order_by(ScorecardRow.name))]


def custom_scorecards_version(engine: Engine) -> tuple[int, Any]:
    """How many scorecards the database keeps and when the last was saved: what tells a server process that another
    saved one."""
    with Session(engine) as session:
        count, latest = session.execute(select(func.count(), func.max(ScorecardRow.updated_at))).one()
        return count, latest


def custom_scorecard_text(engine: Engine, name: str) -> str | None:
    with Session(engine) as session:
        row = session.get(ScorecardRow, name)
        return None if row is None else row.yaml


def save_custom_scorecard(engine: Engine, account: Account, name: str, text: str) -> None:
    """Create or replace scorecard `name` (already validated), audited with the text before and after."""
    with Session(engine) as session, session.begin():
        row = session.get(ScorecardRow, name)
        before = {"yaml": row.yaml} if row else None
        if row is None:
            session.add(ScorecardRow(name=name, yaml=text, updated_at=datetime.now(UTC), updated_by=account.id))
        else:
            row.yaml, row.updated_at, row.updated_by = text, datetime.now(UTC), account.id
        audit(session, account, "scorecard.save", "scorecard", name, before, {"yaml": text})


def conversations_to_rescore(
    engine: Engine, account: Account, f: ConversationFilter, limit: int
) -> list[tuple[str, dict[str, Any]]]:
    """(key, stored conversation) of at most `limit` conversations the filter selects in the account's scope. The
    keys are made distinct, not the rows: PostgreSQL has no equality for the `json` the conversation is stored as."""
    keys = scoped(
        select(ConversationRow.key)
        .select_from(ConversationRow)
        .outerjoin(ResultRow, ResultRow.conversation_key == ConversationRow.key),
        account,
    )
    chosen = keys.where(*f.where()).distinct().limit(limit).subquery()
    query = select(ConversationRow.key, ConversationRow.data).where(ConversationRow.key.in_(select(chosen.c.key)))
    with Session(engine) as session:
        return [(key, data) for key, data in session.execute(query)]
