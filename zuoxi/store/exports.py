"""What an export reads: each filtered conversation's results (in the account's scope), with the
reviewed version of the findings where there is one."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from zuoxi.store import as_utc
from zuoxi.store.queries import ConversationFilter, scoped
from zuoxi.store.tables import ConversationRow, ResultRow
from zuoxi.store.users import Account


@dataclass(frozen=True)
class ExportedResult:
    conversation_id: str
    agent_id: str | None
    team: str | None
    channel: str
    started_at: datetime | None  # UTC
    scorecard: str
    score: float
    final_score: float | None
    max_score: float
    failed_rules: str
    complaint_risk: float | None
    satisfaction: str | None
    reviewed: bool
    data: dict[str, Any]  # the result as reviewed (findings with people's decisions), else as scored


def exported_results(engine: Engine, account: Account, f: ConversationFilter, limit: int) -> Iterator[ExportedResult]:
    """At most `limit` results the filter selects, oldest conversation first."""
    query = (
        scoped(
            select(ConversationRow, ResultRow).join(ResultRow, ResultRow.conversation_key == ConversationRow.key),
            account,
        )
        .where(*f.where())
        .order_by(ConversationRow.started_at, ConversationRow.id)
        .limit(limit)
    )
    with Session(engine) as session:
        for c, r in session.execute(query):
            yield ExportedResult(
                c.id,
                c.agent_id,
                c.team,
                c.channel,
                as_utc(c.started_at) if c.started_at else None,
                r.scorecard,
                r.score,
                r.final_score,
                r.max_score,
                r.failed_rules or "",
                r.complaint_risk,
                r.satisfaction,
                bool(r.reviewed),
                r.final_data or r.data,
            )
