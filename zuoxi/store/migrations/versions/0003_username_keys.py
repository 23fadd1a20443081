"""Usernames that differ only by case or width are one name in the database: `users.username_key`
(`zuoxi.store.users.username_key`, NFKC and case-folded) under a unique index, so two twins added at the same
moment cannot both be stored (the check was a loop in Python before).

Each user gets their key, oldest (lowest id) first. A database that already holds twins, as an older zuoxi could
let in when two were added at once, keeps them all: the first keeps the key, each later twin is left with NULL (the
index allows any number of those), still signs in by their exact name and can still be managed by it; a
twin of their name signs in as the first. Then the index is created.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

from zuoxi.store import migrate

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    connection = op.get_bind()
    migrate.add_missing_columns(connection)
    migrate.fill_username_keys(connection)
    migrate.create_missing_indexes(connection)
