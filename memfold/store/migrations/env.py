"""Alembic environment: memfold runs migrations programmatically (see memfold.store.migrate)."""

from __future__ import annotations

from alembic import context

from memfold.store.fulltext import include_in_schema
from memfold.store.tables import metadata

config = context.config
connection = config.attributes.get("connection")

if connection is None:
    raise RuntimeError("memfold migrations run through memfold.store.migrate, which passes a connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    include_name=include_in_schema,
)
with context.begin_transaction():
    context.run_migrations()
