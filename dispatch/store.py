"""The dispatch core's database: engine setup and migrations, SQLite or PostgreSQL by URL.

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> engine = open_engine(f"sqlite:///{folder}/data/dispatch.db")
    >>> current_revision(engine) == head_revision()
    True
    >>> engine.dispose()
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, make_url

# Alembic's version table, named for this component so it can share a PostgreSQL database.
VERSION_TABLE = "alembic_version_dispatch"
MIGRATIONS = Path(__file__).with_name("migrations")
# Execution option of the engine the service writes through: on SQLite such transactions
# start with BEGIN IMMEDIATE, taking the write lock before their first read.
WRITE_OPTION = "dispatch_write"
# How long a SQLite writer waits for another writer's lock before "database is locked".
DEFAULT_BUSY_TIMEOUT_S = 30.0


def open_engine(
    url: str, *, migrate: bool = True, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S
) -> Engine:
    """An engine for ``url``, migrated to the newest schema unless ``migrate`` is False.

    SQLite: creates the file's folder, enables WAL, foreign keys and a busy timeout, and
    lets the service take the write lock at BEGIN (see ``WRITE_OPTION``). PostgreSQL
    (``postgresql+psycopg://…``) needs no setup beyond the URL.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(parsed, pool_pre_ping=True)
    else:
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed)
        _configure_sqlite(engine, busy_timeout_s)
    if migrate:
        upgrade(engine)
    return engine


def _configure_sqlite(engine: Engine, busy_timeout_s: float) -> None:
    # pysqlite opens transactions lazily and on its own terms; take over (SQLAlchemy's
    # documented recipe) so BEGIN is explicit and writers can ask for BEGIN IMMEDIATE.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def alembic_config(*, connection: Connection | None = None, url: str | None = None) -> Config:
    """Alembic's Config for the dispatch migrations, built in code.

    Give ``connection`` to migrate inside the caller's transaction, or ``url``.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the schema up to ``revision`` (``alembic upgrade``)."""
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection=connection), revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Migrate the schema down to ``revision`` (``alembic downgrade``); ``base`` drops it all."""
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection=connection), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()
