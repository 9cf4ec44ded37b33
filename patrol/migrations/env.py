"""Alembic environment of the event store; run through patrol.store.open_engine."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from patrol.tables import Base

config = context.config
VERSION_TABLE = config.get_main_option("version_table") or "alembic_version_patrol"


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as conn:
        _migrate(conn)


def _migrate(connection) -> None:  # noqa: ANN001
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


run()
