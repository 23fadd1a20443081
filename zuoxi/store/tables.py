"""SQLAlchemy tables. JSON columns hold the canonical conversation and the full result, so a
newer zuoxi can re-read old rows; the scalar columns are what lists and dashboards filter on."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String, Boolean, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class ConversationRow(Base):
    __tablename__ = "conversations"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the canonical content
    id: Mapped[str] = mapped_column(String(200), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    agent_id: Mapped[str | None] = mapped_column(String(100), index=True)
    team: Mapped[str | None] = mapped_column(String(100), index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    turn_count: Mapped[int] = mapped_column(Integer)
    source: Mapped[str | None] = mapped_column(String(1000))
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    data: Mapped[dict] = mapped_column(JSON)


class ResultRow(Base):
    __tablename__ = "results"
    __table_args__ = (UniqueConstraint("conversation_key", "scorecard"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_key: Mapped[str] = mapped_column(ForeignKey("conversations.key", ondelete="CASCADE"))
    scorecard: Mapped[str] = mapped_column(String(100), index=True)
    score: Mapped[float] = mapped_column(Float, index=True)
    max_score: Mapped[float] = mapped_column(Float)
    veto: Mapped[bool] = mapped_column(Boolean)
    analyzed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    data: Mapped[dict] = mapped_column(JSON)


class ImportedFile(Base):
    """A file whose every conversation is stored: a re-run skips it if its content is unchanged."""

    __tablename__ = "imported_files"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    path: Mapped[str] = mapped_column(String(1000))
    conversations: Mapped[int] = mapped_column(Integer)
    errors: Mapped[int] = mapped_column(Integer)
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


Index("ix_results_conversation", ResultRow.conversation_key)
