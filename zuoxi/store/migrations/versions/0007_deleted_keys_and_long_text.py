"""Deleted conversations keep the key they were stored under: `deleted_conversations.conversation_key` (not null,
indexed) came into the models after revision 0005 had shipped, and 0005 creates the table only where it is missing, so
a database that a zuoxi of revision 0005 wrote lacked the column, and every import then failed on it. The column is
added where missing and filled with `key`: that zuoxi kept one key per deleted conversation, the one it was stored
under.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy import inspect

from zuoxi.store.tables import Base

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    connection = op.get_bind()
    deleted = Base.metadata.tables["deleted_conversations"]
    if "conversation_key" not in {c["name"] for c in inspect(connection).get_columns(deleted.name)}:
        op.add_column(deleted.name, sa.Column("conversation_key", sa.String(64), nullable=True))
        rows = sa.table(deleted.name, sa.column("key"), sa.column("conversation_key"))
        op.execute(rows.update().values(conversation_key=rows.c.key))
        with op.batch_alter_table(deleted.name) as batch:  # SQLite: the table rebuilt (rows are few, hashes)
            batch.alter_column("conversation_key", existing_type=sa.String(64), nullable=False)
    have = {i["name"] for i in inspect(connection).get_indexes(deleted.name)}
    for index in deleted.indexes:
        if index.name not in have:
            index.create(connection)
