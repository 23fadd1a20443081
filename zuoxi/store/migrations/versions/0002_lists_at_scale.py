"""Lists and dashboards at scale (issue 19): results carry their conversation's list columns and
which is its main result, the list indexes, PostgreSQL's search pairs, the dashboard's stats.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from zuoxi.store import migrate, stats

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    connection = op.get_bind()
    migrate.add_missing_columns(connection)
    migrate.fill_list_columns(connection)
    migrate.create_missing_indexes(connection)
    stats.rebuild(connection)
