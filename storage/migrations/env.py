"""Alembic environment: runs on the connection `Database.migrate` opened (and locked)."""

from alembic import context

from storage.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("kumo's migrations run through storage.db.Database(url).migrate(), "
                       "which passes its connection in config.attributes['connection']")

context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite",
                  compare_type=True)
with context.begin_transaction():
    context.run_migrations()
