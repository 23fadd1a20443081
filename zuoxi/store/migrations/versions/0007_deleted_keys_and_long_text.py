"""Deleted conversations keep the key they were stored under, and paths and failed items have no bound.

`deleted_conversations.conversation_key` (not null, indexed) came into the models after revision 0005 had shipped, and
0005 creates the table only where it is missing, so a database that a zuoxi of revision 0005 wrote lacked the column,
and every import then failed on it. The column is added where missing and filled with `key`: that zuoxi kept one key
per deleted conversation, the one it was stored under.

The columns that hold a path (`conversations.source`, `imported_files.path`, a call list's and the do-not-call list's
`source`, file:line) and a result's failed items (`results.failed_rules`, as many as a scorecard has) were at most 1,000
characters: on PostgreSQL a longer one failed the insert of a whole chunk (value too long for type character
varying(1000)), on SQLite, which keeps any length, it was stored. They become TEXT on PostgreSQL (a change of type
that rewrites nothing); SQLite's are left as they are declared, since it reads VARCHAR(1000) as text of any length.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy import inspect

from zuoxi.store import migrate
from zuoxi.store.tables import Base

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UNBOUNDED = (
    ("conversations", "source"),
    ("imported_files", "path"),
    ("results", "failed_rules"),
    ("campaign_customers", "source"),
    ("campaign_do_not_call", "source"),
)


def upgrade() -> None:
    connection = op.get_bind()
    deleted = Base.metadata.tables["deleted_conversations"]
    if "conversation_key" not in {c["name"] for c in inspect(connection).get_columns(deleted.name)}:
        op.add_column(deleted.name, sa.Column("conversation_key", sa.String(64), nullable=True))
        rows = sa.table(deleted.name, sa.column("key"), sa.column("conversation_key"))
        op.execute(rows.update().values(conversation_key=rows.c.key))
        with op.batch_alter_table(deleted.name) as batch:  # SQLite: the table rebuilt (rows are few, hashes)
            batch.alter_column("conversation_key", existing_type=sa.String(64), nullable=False)
    migrate.create_missing_indexes(connection, only=[deleted.name])
    if connection.dialect.name != "postgresql":
        return
    inspector = inspect(connection)
    for table, name in UNBOUNDED:
        if not inspector.has_table(table):
            continue
        column = next((c for c in inspector.get_columns(table) if c["name"] == name), None)
        if column is not None and getattr(column["type"], "length", None) is not None:
            op.alter_column(table, name, type_=sa.Text(), existing_type=column["type"])
