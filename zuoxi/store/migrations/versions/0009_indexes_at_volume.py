"""Indexes that reads of a large database need (`zuoxi.store.tables.VOLUME_INDEXES`, docs/scale.md): the filter
menus' conversations not analysed, the dashboard's sums per day and its riskiest conversations of a scorecard or team,
a queue run's first result of each conversation (PostgreSQL), the open alerts newest first (SQLite).

On PostgreSQL each is a plain CREATE INDEX in the upgrade's transaction: writes to its table wait while it is built
(seconds for a million rows); reads go on. A SQLite database that was analysed (it has `sqlite_stat1`) gets the new
indexes' statistics too: without them its planner took the stats index for a week's figures over ix_stats_day and
read every cell of the grain (0.25 s instead of 0.01 s on 100,000 conversations).

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

ANALYSED = "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"
MADE = "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?"


def upgrade() -> None:
    connection = op.get_bind()
    inspector = inspect(connection)
    made = []
    for index in VOLUME_INDEXES:
        assert index.table is not None
        if index.name not in {i["name"] for i in inspector.get_indexes(index.table.name)}:
            index.create(connection)  # not on the other dialect (`ddl_if`)
            made.append(index.name)
    if connection.dialect.name == "sqlite" and connection.exec_driver_sql(ANALYSED).first():
        for name in made:
            if connection.exec_driver_sql(MADE, (name,)).first():
                connection.exec_driver_sql(f'ANALYZE "{name}"')  # a name from the models
