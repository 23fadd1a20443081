"""Indexes that reads of a large database need (`zuoxi.store.tables.VOLUME_INDEXES`, docs/scale.md): the filter
menus' conversations not analysed, the dashboard's sums per day and its riskiest conversations of a scorecard or team,
a queue run's first result of each conversation (PostgreSQL), the open alerts newest first (SQLite).

On PostgreSQL each is a plain CREATE INDEX in the upgrade's transaction: writes to its table wait while it is built
(seconds for a million rows); reads go on.

Revision ID: 0009
Revises: 0008
"""

from alembic import op
from sqlalchemy import inspect

from zuoxi.store.tables import VOLUME_INDEXES

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    connection = op.get_bind()
    inspector = inspect(connection)
    for index in VOLUME_INDEXES:
        assert index.table is not None
        if index.name not in {i["name"] for i in inspector.get_indexes(index.table.name)}:
            index.create(connection)  # not on the other dialect (`ddl_if`)
