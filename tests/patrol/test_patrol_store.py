"""The event store migrates from empty to head and back, in WAL mode."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import inspect, text

from patrol.store import VERSION_TABLE, alembic_config, open_engine


def test_migrations_upgrade_and_downgrade(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'sub' / 'events.db'}"
    engine = open_engine(url)
    names = set(inspect(engine).get_table_names())
    assert {"events", "outbox", "verifications", VERSION_TABLE} <= names
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    cfg = alembic_config(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert "events" not in inspect(engine).get_table_names()
    engine.dispose()
    open_engine(url).dispose()  # and up again
