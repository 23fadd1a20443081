"""One main result per conversation and one open appeal per finding: unique partial indexes over
`results (conversation_key) WHERE main` and `appeals (result_pk, rule) WHERE status = 'open'`
(`zuoxi.store.tables.MAIN_ONCE`, `OPEN_APPEAL_ONCE`). Two analyses of one conversation with different scorecards
stored at once both made their result the main one (the conversation was counted twice), and an appeal sent twice at
once (a double click) was opened twice; the store now locks against both, and the indexes refuse what slips by.

A database that already holds such rows is repaired as each index is made: the first main result (lowest pk) stays
main, the others are not, and the dashboard's figures move with them; the first open appeal (lowest id) of a
finding stays, the later ones are deleted (the audit log keeps each one's reason). The earlier revisions, which make
every index of today's tables, repair the same way (`zuoxi.store.races`).

Revision ID: 0008
Revises: 0007
"""

from alembic import op
from sqlalchemy import inspect

from zuoxi.store.tables import MAIN_ONCE, OPEN_APPEAL_ONCE

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    connection = op.get_bind()
    for index in (MAIN_ONCE, OPEN_APPEAL_ONCE):
        assert index.table is not None
        if index.name not in {i["name"] for i in inspect(connection).get_indexes(index.table.name)}:
            index.create(connection)  # the rows it would refuse repaired first (zuoxi.store.tables)
