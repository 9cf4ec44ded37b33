"""The store: migrations up and down, SQLite setup, UTC round trips, package data."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from setuptools import find_packages
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from dispatch.models import Base, Order
from dispatch.schemas import OrderCreate
from dispatch.store import (
    MIGRATIONS,
    VERSION_TABLE,
    alembic_config,
    current_revision,
    downgrade,
    head_revision,
    open_engine,
    upgrade,
)

TABLES = {
    "dispatch_orders",
    "dispatch_order_units",
    "dispatch_order_history",
    "dispatch_order_feedback",
    "dispatch_order_evidence",
    "dispatch_order_members",
    "dispatch_patrol_teams",
    "dispatch_patrol_members",
}


def test_upgrade_from_empty_matches_the_models_and_downgrade_base_drops_all(tmp_path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path}/a/b/dispatch.db", migrate=False)
    assert inspect(engine).get_table_names() == []
    upgrade(engine)
    assert (tmp_path / "a" / "b" / "dispatch.db").is_file()
    assert set(inspect(engine).get_table_names()) == TABLES | {VERSION_TABLE}
    assert current_revision(engine) == head_revision() is not None
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"version_table": VERSION_TABLE, "compare_type": True}
        )
        assert compare_metadata(context, Base.metadata) == []

    downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) == {VERSION_TABLE}
    assert current_revision(engine) is None
    upgrade(engine)  # and back up again
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_open_engine_is_idempotent_and_sets_sqlite_pragmas(tmp_path) -> None:
    url = f"sqlite:///{tmp_path}/dispatch.db"
    open_engine(url).dispose()
    engine = open_engine(url)  # already at head: nothing to do
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    engine.dispose()


def test_foreign_keys_are_enforced(engine) -> None:
    with pytest.raises(IntegrityError, match="(?i)foreign key"), engine.begin() as connection:
        connection.execute(
            text("INSERT INTO dispatch_order_units (order_id, unit, position) VALUES (99, 'x', 0)")
        )


def test_datetimes_come_back_aware_utc(service, engine, clock) -> None:
    clock.now = datetime(2026, 11, 27, 16, 30, tzinfo=timezone(timedelta(hours=8)))
    order, _ = service.create_order(
        data=OrderCreate(kind="crowd", source="public_110", description="聚集", township="t")
    )
    with engine.connect() as connection:
        stored = connection.exec_driver_sql("SELECT created_at FROM dispatch_orders").scalar()
    assert str(stored).startswith("2026-11-27 08:30:00")  # naive UTC text in SQLite
    with Session(engine) as session:
        row = session.scalars(select(Order)).one()
    assert row.created_at == datetime(2026, 11, 27, 8, 30, tzinfo=UTC)
    assert row.created_at.tzinfo is UTC and row.deadline.tzinfo is UTC
    assert order.created_at.tzinfo is UTC
    assert order.code == "WO-20261127-0001"  # the local (UTC+8) date


def test_naive_datetimes_are_refused(engine) -> None:
    with Session(engine) as session, pytest.raises(StatementError, match="naive datetime"):
        session.execute(select(Order).where(Order.created_at > datetime(2026, 1, 1)))


def test_migrations_ship_as_package_data() -> None:
    root = MIGRATIONS.parent.parent  # the repository, where pyproject.toml finds packages
    packages = find_packages(str(root), include=["dispatch*"])
    assert {"dispatch.migrations", "dispatch.migrations.versions"} <= set(packages)
    assert (MIGRATIONS / "env.py").is_file() and (MIGRATIONS / "script.py.mako").is_file()
    assert any((MIGRATIONS / "versions").glob("0001_*.py"))


def test_public_api_imports_from_the_package(tmp_path) -> None:
    """What a user types, in a fresh interpreter (pytest's path puts tests/ first)."""
    code = (
        "from dispatch import DispatchConfig, DispatchService, create_app, create_router, "
        "open_engine, upgrade, downgrade\n"
        f"app = create_app(DispatchConfig(), 'sqlite:///{tmp_path}/d.db')\n"
        "print([p for p in app.openapi()['paths'] if 'verdict' in p])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['/api/dispatch/orders/{order_id}/verdict']"


def test_migrations_render_for_postgresql() -> None:
    """Offline (``--sql``) rendering needs no server or driver; a live test comes later."""
    config = alembic_config(url="postgresql+psycopg://lianqin@db/lianqin")
    config.output_buffer = io.StringIO()
    command.upgrade(config, "head", sql=True)
    sql = config.output_buffer.getvalue()
    assert "CREATE TABLE alembic_version_dispatch" in sql
    assert "deadline TIMESTAMP WITH TIME ZONE NOT NULL" in sql
    assert "CONSTRAINT uq_dispatch_orders_idempotency_key UNIQUE (idempotency_key)" in sql
    config.output_buffer = io.StringIO()
    command.downgrade(config, "head:base", sql=True)
    assert "DROP TABLE dispatch_orders;" in config.output_buffer.getvalue()
