"""Deleted conversations stay out: `deleted_conversations` holds the content key of each conversation
`zuoxi conversation delete` removed, so that reading the same conversation again does not store it again
(`zuoxi.store.tables.DeletedConversation`). Conversations deleted before this revision left no key behind and are
not kept out.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

from zuoxi.store.tables import Base

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    Base.metadata.tables["deleted_conversations"].create(op.get_bind(), checkfirst=True)
