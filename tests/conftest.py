"""Shared fixtures: the bundled samples, and a database per backend (SQLite, PostgreSQL)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
# PostgreSQL for the store tests: trust auth, database `test`; override with $ZUOXI_TEST_POSTGRES.
POSTGRES_URL = os.environ.get("ZUOXI_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def samples() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def postgres_admin():
    """An engine on the PostgreSQL test database; the test is skipped when no server answers."""
    try:
        from sqlalchemy import create_engine, text

        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # noqa: BLE001 - no driver, no server, refused: all mean "not here"
        pytest.skip(
            f"PostgreSQL not reachable at {POSTGRES_URL}: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        )
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A fresh, empty database URL: a SQLite file in tmp_path, or a PostgreSQL schema of its own
    (search_path set in the URL) that is dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'zuoxi-test.db'}"
        return
    from sqlalchemy import text

    admin = request.getfixturevalue("postgres_admin")
    schema = f"zuoxi_test_{uuid.uuid4().hex[:12]}"
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def store(db_url):
    from zuoxi.store import Store

    opened = Store(db_url)
    yield opened
    opened.close()


def read_by_id(path: Path) -> tuple[dict, list[str]]:
    """A file as a reader gives it: (the conversations by id, the errors as printed) — for the readers' tests."""
    from zuoxi.ingest import IngestError, read_file
    from zuoxi.model import Conversation

    records = list(read_file(path))
    return (
        {r.id: r for r in records if isinstance(r, Conversation)},
        [str(r) for r in records if isinstance(r, IngestError)],
    )


def starts(conversation) -> list[float | None]:
    """Each turn's start time, in seconds."""
    return [t.start for t in conversation.turns]


def as_before_0006(connection) -> None:
    """SQLite: the tables a deletion takes rows from as zuoxi made them before revision 0006 (no AUTOINCREMENT)."""
    from zuoxi.store.tables import ID_TABLES

    for name in ID_TABLES:
        made = connection.execute(text("SELECT sql FROM sqlite_master WHERE name = :n"), {"n": name}).scalar()
        connection.execute(text(f"ALTER TABLE {name} RENAME TO old_{name}"))
        connection.execute(text(made.replace("AUTOINCREMENT", "")))
        connection.execute(text(f"INSERT INTO {name} SELECT * FROM old_{name}"))
        connection.execute(text(f"DROP TABLE old_{name}"))
