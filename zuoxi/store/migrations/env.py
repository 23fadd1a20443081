"""Alembic's environment: always run from `zuoxi.store.migrate`, on the connection it passes."""

from alembic import context

from zuoxi.store.tables import Base

context.configure(
    connection=context.config.attributes["connection"], target_metadata=Base.metadata, render_as_batch=True
)
with context.begin_transaction():
    context.run_migrations()
