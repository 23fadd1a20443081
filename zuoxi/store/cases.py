"""What coaching's case library (zuoxi.coaching.library) reads and writes: promoted cases, the scored
conversations that may become cases, and the trainees' attempts."""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, case, func, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from zuoxi.model import Conversation
from zuoxi.store import masked_label
from zuoxi.store.tables import ConversationRow, ResultRow, TrainingAttempt, TrainingCase

T = TypeVar("T")


def masked_trainee(name: str) -> str:
    """A drill's trainee as attempts store and look it up: an agent id (else a username, or what `zuoxi train
    --trainee` was given) masked and canonical as users' and conversations' agent ids are (`masked_label`: `mask_id`,
    then canonical), so that an agent's drills match their conversations — `mask_text` masks some numeric ids
    `mask_id` keeps (a 16-digit number passing Luhn with no card's prefix). A blank one stays as it is."""
    return masked_label(name) or name


def promoted_cases(engine: Engine) -> list[tuple[str, str]]:
    """(id, YAML text) of every case promoted from a conversation, in id order."""
    with Session(engine) as session:
        return [(row.id, row.yaml) for row in session.scalars(select(TrainingCase).order_by(TrainingCase.id))]


@dataclass(frozen=True)
class ScoredConversation:
    """One result of a stored conversation: what makes it worth a case."""

    key: str
    conversation_id: str
    agent_id: str | None
    score: float
    final_score: float | None
    max_score: float
    failed_rules: str | None  # " CS-01 EM-02 "
    complaint_risk: float | None


@dataclass(frozen=True)
class Worth:
    """How much a result is worth as a case (coaching's weights, `zuoxi.coaching.library.WORTH`): `risk`
    × its complaint risk from `high_risk` on, the weight of each of `rules` it failed, and under `low` points
    `low_score` × (1 − score ÷ its max score, taken as at least 1). A result with none of these is worth nothing."""

    risk: float
    high_risk: float
    rules: dict[str, float]
    low_score: float
    low: float

    def sql(self) -> tuple[ColumnElement[float], ColumnElement[bool]]:
        """The worth as a SQL expression, summed in the order coaching sums it, and whether there is any."""
        r = ResultRow
        score = func.coalesce(r.final_score, r.score)
        high = r.complaint_risk >= self.high_risk
        failed = [r.failed_rules.contains(f" {rule} ", autoescape=True) for rule in self.rules]
        lower = score < self.low
        terms = [
            case((high, self.risk * r.complaint_risk), else_=0.0),
            *(case((clause, weight), else_=0.0) for clause, weight in zip(failed, self.rules.values(), strict=True)),
            case((lower, self.low_score * (1.0 - score / case((r.max_score > 1, r.max_score), else_=1.0))), else_=0.0),
        ]
        return functools.reduce(operator.add, terms), or_(high, *failed, lower)


def case_sources(engine: Engine, worth: Worth, limit: int) -> list[ScoredConversation]:
    """The `limit` conversations not yet promoted whose result is worth most as a case (`Worth`), best first, each
    with its best result; among equal worth the earliest stored first. Ranked in SQL on the results' list columns,
    reading `limit` rows: a conversation has a result per scorecard, so more are read until `limit` conversations
    are found (the rows of a conversation promoted since are not read at all)."""
    r, c = ResultRow, ConversationRow
    rank, worthy = worth.sql()
    promoted = select(TrainingCase.conversation_key).where(TrainingCase.conversation_key.is_not(None))
    with Session(engine) as session:
        fetch = limit
        while True:
            top = (
                select(r.pk, r.conversation_key, r.score, r.final_score, r.max_score, r.failed_rules, r.complaint_risk)
                .add_columns(rank.label("rank"))
                .where(worthy, r.conversation_key.not_in(promoted))
                .order_by(rank.desc(), r.pk)
                .limit(fetch)
                .subquery()
            )
            rows = session.execute(
                select(c.key, c.id, c.agent_id, top.c.score, top.c.final_score, top.c.max_score)
                .add_columns(top.c.failed_rules, top.c.complaint_risk)
                .join(top, top.c.conversation_key == c.key)
                .order_by(top.c.rank.desc(), top.c.pk)
            ).all()
            best: dict[str, ScoredConversation] = {}
            for row in rows:
                best.setdefault(row.key, ScoredConversation(*row))
            if len(best) >= limit or len(rows) < fetch:
                return list(best.values())[:limit]
            fetch *= 4


def promote_conversation(
    engine: Engine,
    key: str,
    user_id: int | None,
    build: Callable[[Conversation, Callable[[str], bool]], tuple[str, str, T]],
) -> T:
    """One transaction: `build(conversation, taken)` makes the case of stored conversation `key` (KeyError
    when there is none) as (id, YAML text, what to return); `taken(id)` says whether a promoted case has
    that id already. The case is stored with who promoted it."""
    with Session(engine) as session, session.begin():
        row = session.get(ConversationRow, key)
        if row is None:
            raise KeyError(key)
        case_id, text, made = build(
            Conversation.model_validate(row.data), lambda ident: session.get(TrainingCase, ident) is not None
        )
        session.add(
            TrainingCase(id=case_id, yaml=text, conversation_key=key, created_by=user_id, created_at=datetime.now(UTC))
        )
    return made


@dataclass(frozen=True)
class NewTrainingAttempt:
    case_id: str
    trainee: str  # an agent id or username; stored masked (`zuoxi train --trainee` is free text)
    outcome: str | None
    score: float
    max_score: float
    anger: list[float]
    engine: str  # the simulator's backend
    turns: list[dict[str, Any]]  # personal data already masked
    failed_rules: list[str]


def add_training_attempt(engine: Engine, attempt: NewTrainingAttempt) -> int:
    """Store an attempt, the trainee's name with personal data masked as conversations' agent ids are
    (`masked_trainee`: a trainee named by a phone number is that agent's masked id)."""
    with Session(engine) as session, session.begin():
        row = TrainingAttempt(
            **{**asdict(attempt), "trainee": masked_trainee(attempt.trainee)}, created_at=datetime.now(UTC)
        )
        session.add(row)
        session.flush()
        return row.id


@dataclass
class AttemptView:
    id: int
    case_id: str
    trainee: str
    outcome: str | None
    score: float
    created_at: datetime


def training_attempts(engine: Engine, trainee: str | None = None, case_id: str | None = None) -> list[AttemptView]:
    """The attempts of `trainee` (named as typed: it is masked as it was stored) and/or on case `case_id`
    (everyone's, every case's when None), oldest first."""
    query = select(TrainingAttempt).order_by(TrainingAttempt.created_at, TrainingAttempt.id)
    if trainee is not None:
        query = query.where(TrainingAttempt.trainee == masked_trainee(trainee))
    if case_id is not None:
        query = query.where(TrainingAttempt.case_id == case_id)
    with Session(engine) as session:
        return [
            AttemptView(a.id, a.case_id, a.trainee, a.outcome, a.score, a.created_at) for a in session.scalars(query)
        ]
