"""Ids never reused on SQLite: the tables a conversation's deletion takes rows from (`zuoxi.store.tables.ID_TABLES`)
are rebuilt with AUTOINCREMENT, so that a new row never takes a deleted row's id (appeal 1, deleted with its
conversation, and the next appeal 1 were one appeal in the audit log). Their rows, ids and indexes are kept.
PostgreSQL's sequences never reused an id: nothing changes there. Only the rebuilt tables' indexes are made again:
creating every table's left a database of revision 0005 unable to upgrade (today's index over
`deleted_conversations.conversation_key`, a column revision 0007 adds).

Revision ID: 0006
Revises: 0005
"""

from alembic import op
from sqlalchemy import inspect, text

from zuoxi.store import migrate
from zuoxi.store.tables import ID_TABLES, Base

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name != "sqlite":
        return
    present = set(inspect(connection).get_table_names())
    for name in ID_TABLES:
        if name not in present:
            continue
        made = connection.execute(text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :n"), {"n": name})
        if "AUTOINCREMENT" in (made.scalar() or "").upper():
            continue
        with op.batch_alter_table(name, copy_from=Base.metadata.tables[name], recreate="always"):
            pass
    migrate.create_missing_indexes(connection, only=ID_TABLES)  # not a later revision's (0007's)
