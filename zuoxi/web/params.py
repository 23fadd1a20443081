"""What routes take from a request besides the user: bounded ids and filters, and the database.
Every number is bounded so that no request value reaches the database as one it cannot hold."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from annotated_types import Interval
from fastapi import Depends, Query, Request
from pydantic import BaseModel, BeforeValidator, Field
from sqlalchemy.engine import Engine

from zuoxi.ingest.limits import FIRST_YEAR, LAST_YEAR
from zuoxi.store.queries import CURSOR, ConversationFilter

MAX_ID = 2**31 - 1  # what an INTEGER column holds: larger numbers are refused (422), never sent to the database
Id = Annotated[int, Interval(ge=1, le=MAX_ID)]


def _store_engine(request: Request) -> Engine:
    return request.app.state.store.engine


DB = Annotated[Engine, Depends(_store_engine)]


def _blank_is_none(value):
    """A filter form sends its empty fields (`score_min=`): empty means "any"."""
    return None if isinstance(value, str) and not value.strip() else value


Score = Annotated[Annotated[float, Interval(ge=-1000, le=1000)] | None, BeforeValidator(_blank_is_none)]
Risk = Annotated[Annotated[float, Interval(ge=0, le=1)] | None, BeforeValidator(_blank_is_none)]
# Days of the years a contact centre's conversations are in (the years an import takes): 0001-01-01 at +08:00 is
# before year 1 in UTC, and 9999-12-31 has no day after it, so both overflowed into a 500 on every filtered page.
Day = Annotated[
    Annotated[date, Interval(ge=date(FIRST_YEAR, 1, 1), le=date(LAST_YEAR, 12, 31))] | None,
    BeforeValidator(_blank_is_none),
]


def filters(
    request: Request,
    agent_id: str | None = None,
    team: str | None = None,
    channel: str | None = None,
    scorecard: str | None = None,
    date_from: Day = None,
    date_to: Day = None,
    score_min: Score = None,
    score_max: Score = None,
    failed_rule: str | None = None,
    risk_min: Risk = None,
    q: str | None = None,
    page: int = Query(1, ge=1, le=100_000),
    per_page: int = Query(50, ge=1, le=500),
    after: str | None = Query(None, pattern=CURSOR),
    before: str | None = Query(None, pattern=CURSOR),
) -> ConversationFilter:
    """The list/dashboard/export filters, as query parameters (each bounded; blank means any);
    `after`/`before`: a list page's neighbour, by the cursor the page gave."""
    return ConversationFilter(
        agent_id or None,
        team or None,
        channel or None,
        scorecard or None,
        date_from,
        date_to,
        score_min,
        score_max,
        failed_rule or None,
        risk_min,
        q or None,
        page,
        per_page,
        tz=request.app.state.tz,
        after=after or None,
        before=before or None,
    )


Filter = Annotated[ConversationFilter, Depends(filters)]


class AuditFilter(BaseModel):
    """The audit log's filters (page and API): who (a username), what (an action or its prefix), when."""

    who: Annotated[str | None, Field(max_length=100), BeforeValidator(_blank_is_none)] = None
    action: Annotated[str | None, Field(max_length=50), BeforeValidator(_blank_is_none)] = None
    date_from: Day = None
    date_to: Day = None
    page: Annotated[int, Interval(ge=1, le=100_000)] = 1
    per_page: Annotated[int, Interval(ge=1, le=500)] = 100
