"""Uploads imported in the background: a job's progress and per-file errors, for the upload page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from zuoxi.store import utc_now
from zuoxi.store.tables import ImportJob


@dataclass(frozen=True)
class JobView:
    id: int
    user_id: int | None
    status: str  # queued | running | done | failed
    files: int
    files_done: int
    conversations: int
    errors: list[str]


def create_import_job(engine: Engine, user_id: int | None, files: int) -> int:
    """A queued job for `files` uploaded files; returns its id."""
    with Session(engine) as session, session.begin():
        job = ImportJob(
            user_id=user_id,
            status="queued",
            files=files,
            files_done=0,
            conversations=0,
            errors=[],
            created_at=utc_now(),
        )
        session.add(job)
        session.flush()
        return job.id


def update_import_job(engine: Engine, job_id: int, **values: Any) -> None:
    with Session(engine) as session, session.begin():
        job = session.get_one(ImportJob, job_id)
        for name, value in values.items():
            setattr(job, name, value)


def import_job(engine: Engine, job_id: int) -> JobView | None:
    with Session(engine) as session:
        job = session.get(ImportJob, job_id)
        if job is None:
            return None
        return JobView(
            job.id, job.user_id, job.status, job.files, job.files_done, job.conversations, list(job.errors or [])
        )
