"""What an export reads: each filtered conversation's results (in the account's scope), with the
reviewed version of the findings where there is one.

In two steps, so that an export of any size holds little at once and keeps no connection open while it is sent: the
selection (the results' keys in order, a few bytes each), which the caller checks against its limit before anything is
sent, then the rows a chunk of keys at a time, each chunk read in a session of its own and only the columns written."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from zuoxi.store import as_utc
from zuoxi.store.queries import ConversationFilter, current_data, scoped
from zuoxi.store.tables import ConversationRow, ResultRow
from zuoxi.store.users import Account

EXPORT_CHUNK = 1_000  # results read at once: a few MB of findings JSON


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


def _joined(*columns) -> Select:
    return (
        select(*columns).select_from(ConversationRow).join(ResultRow, ResultRow.conversation_key == ConversationRow.key)
    )


def export_selection(engine: Engine, account: Account, f: ConversationFilter, limit: int) -> list[int]:
    """The keys of the results the filter selects, oldest conversation first: at most `limit` + 1, so that a list
    longer than `limit` says the export would be over it."""
    c = ConversationRow
    query = (
        scoped(_joined(ResultRow.pk), account)
        .where(*f.where())
        .order_by(c.started_at, c.id, ResultRow.pk)
        .limit(limit + 1)
    )
    with Session(engine) as session:
        return list(session.scalars(query))


def exported_results(
    engine: Engine, account: Account, keys: Sequence[int], chunk: int = EXPORT_CHUNK
) -> Iterator[list[ExportedResult]]:
    """The results of `keys` in their order, a chunk at a time, read only as the chunks are asked for (still within the
    account's scope: one that left it since the selection is left out)."""
    c, r = ConversationRow, ResultRow
    query = scoped(
        _joined(
            *(c.id, c.agent_id, c.team, c.channel, c.started_at),
            *(r.pk, r.scorecard, r.score, r.final_score, r.max_score, r.failed_rules, r.complaint_risk),
            *(r.satisfaction, r.reviewed, current_data().label("data")),
        ),
        account,
    )
    for start in range(0, len(keys), chunk):
        part = keys[start : start + chunk]
        with Session(engine) as session:
            found = {row.pk: row for row in session.execute(query.where(r.pk.in_(part)))}
        yield [_exported(found[key]) for key in part if key in found]


def _exported(row) -> ExportedResult:
    return ExportedResult(
        row.id,
        row.agent_id,
        row.team,
        row.channel,
        as_utc(row.started_at) if row.started_at else None,
        row.scorecard,
        row.score,
        row.final_score,
        row.max_score,
        row.failed_rules or "",
        row.complaint_risk,
        row.satisfaction,
        bool(row.reviewed),
        row.data,
    )
