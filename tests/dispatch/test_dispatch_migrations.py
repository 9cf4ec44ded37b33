"""The migrations on both stores: from empty to head matches the models, down to base
drops everything, and 0001 → 0002 keeps the orders already there."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from dispatch_factories import order_body
from dispatch_pg import create_database
from sqlalchemy import Engine, inspect, text

from dispatch.config import DispatchConfig
from dispatch.models import Base
from dispatch.schemas import OrderCreate
from dispatch.service import DispatchService
from dispatch.store import VERSION_TABLE, current_revision, downgrade, open_engine, upgrade

INITIAL = "0001_dispatch_initial"


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/m.db"
    else:
        url = create_database(request.getfixturevalue("pg_server"), f"migrations_{id(request)}")
    engine = open_engine(url, migrate=False)
    yield engine
    engine.dispose()


def _differences(engine: Engine) -> list:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"version_table": VERSION_TABLE, "compare_type": True}
        )
        return compare_metadata(context, Base.metadata)


def test_head_matches_the_models_and_base_drops_all(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    assert _differences(empty_engine) == []
    downgrade(empty_engine, "base")
    assert set(inspect(empty_engine).get_table_names()) == {VERSION_TABLE}
    upgrade(empty_engine)
    assert _differences(empty_engine) == []


def test_upgrade_from_0001_keeps_orders(empty_engine: Engine, clock) -> None:
    upgrade(empty_engine, INITIAL)
    with empty_engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO dispatch_orders (kind, source, description, township, level, centre, "
            "lead_unit, deadline, status, redo_count, created_at, updated_at) VALUES "
            "('smoke', 'video_patrol', 'old', '新桥镇', 1, 'c', 'environment', "
            "'2026-11-27 10:00:00', 'dispatched', 0, '2026-11-27 08:00:00', "
            "'2026-11-27 08:00:00')"
        ))
    upgrade(empty_engine)
    assert current_revision(empty_engine) != INITIAL
    service = DispatchService(engine=empty_engine, config=DispatchConfig(), clock=clock)
    old = service.get_order(order_id=1)
    assert (old.scope, old.urgent, old.supervised, old.reminder_count, old.members) == (
        "in_scope", False, False, 0, [])
    # A copied order has no lead unit; going back to 0001 gives it an empty one.
    body = order_body(kind="x", scope="out_of_scope", competent_department="人社局")
    copied, _ = service.create_order(data=OrderCreate.model_validate(body))
    assert copied.lead_unit is None
    downgrade(empty_engine, INITIAL)
    with empty_engine.connect() as connection:
        leads = connection.execute(
            text("SELECT lead_unit FROM dispatch_orders ORDER BY id")).scalars().all()
    assert leads == ["environment", ""]
