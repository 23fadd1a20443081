"""A database from before Alembic: what start-up used to do (missing tables, missing nullable columns filled from the stored JSON).

Revision ID: 0001
Revises:
"""

from alembic import op

from zuoxi.store import migrate
from zuoxi.store.tables import Base

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    connection = op.get_bind()
    Base.metadata.create_all(connection)
    migrate.add_missing_columns(connection)
    migrate.fill_stored_facts(connection)
