"""Alembic environment of the dispatch core, configured from code (no alembic.ini).

``dispatch.store.alembic_config`` builds the Config. Online runs use the connection in
``config.attributes["connection"]`` (the caller's transaction) or else ``sqlalchemy.url``;
offline runs (``--sql``) render SQL for ``sqlalchemy.url``.
"""

from alembic import context
from sqlalchemy import Connection, create_engine

from dispatch.models import Base
from dispatch.store import VERSION_TABLE

config = context.config
OPTIONS = {
    "target_metadata": Base.metadata,
    "version_table": VERSION_TABLE,
    "render_as_batch": True,  # SQLite cannot ALTER most things; batch mode copies tables
    "compare_type": True,
}


def _run(connection: Connection) -> None:
    context.configure(connection=connection, **OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True, **OPTIONS)
    with context.begin_transaction():
        context.run_migrations()
elif (shared := config.attributes.get("connection")) is not None:
    _run(shared)
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.begin() as connection:
            _run(connection)
    finally:
        engine.dispose()
