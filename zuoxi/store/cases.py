"""What coaching's case library (zuoxi.coaching.library) reads and writes: promoted cases, the scored
conversations that may become cases, and the trainees' attempts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import select
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


def case_sources(engine: Engine) -> tuple[set[str], list[ScoredConversation]]:
    """The keys of the conversations already promoted, and every result of a stored conversation."""
    with Session(engine) as session:
        promoted = {key for key in session.scalars(select(TrainingCase.conversation_key)) if key is not None}
        rows = [
            ScoredConversation(*row)
            for row in session.execute(
                select(
                    ConversationRow.key,
                    ConversationRow.id,
                    ConversationRow.agent_id,
                    ResultRow.score,
                    ResultRow.final_score,
                    ResultRow.max_score,
                    ResultRow.failed_rules,
                    ResultRow.complaint_risk,
                ).join(ResultRow, ResultRow.conversation_key == ConversationRow.key)
            )
        ]
    return promoted, rows


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
