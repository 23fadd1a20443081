"""A call attempt is stored once: a unique index over `campaign_attempts` (customer, start time, disposition), so that
recording the same attempt again (`zuoxi campaign record` run twice, a dispositions file imported twice) cannot count
the call twice in the campaign's report (the repeat was stored as another attempt before).

A database that already holds repeats keeps the first of each (lowest id); a callback settled by a repeat is settled by
the first; the repeats are deleted. The customers' statuses are left as they are. This happens as the index is created
(`zuoxi.store.tables.ATTEMPT_ONCE`, `zuoxi.store.campaigns.drop_repeated_attempts`), so that the earlier revisions,
which create every index of today's tables, keep the first as well.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

from zuoxi.store import migrate

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    migrate.create_missing_indexes(op.get_bind())
