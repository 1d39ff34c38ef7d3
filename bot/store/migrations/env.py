"""Alembic environment: runs migrations on the connection Herald hands it."""

from __future__ import annotations

from alembic import context

from bot.store.schema import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - Herald always passes a connection
    raise RuntimeError("run migrations through `herald db upgrade`")

context.configure(connection=connection, target_metadata=metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
