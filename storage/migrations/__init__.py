"""Alembic migrations of the metadata DB (run by `storage.db.Database.migrate`). A package so
that a non-editable install ships them."""
