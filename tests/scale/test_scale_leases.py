"""The lease protocol on a real PostgreSQL: fair shares, no camera held twice, release
before rebalancing, takeover after expiry, and a clean leave."""

from __future__ import annotations

import time

import pytest
from scale_peers import pg_url  # noqa: F401
from sqlalchemy import create_engine, text

from patrol.leases import LeaseManager, fair_share, lease_table
from patrol.store import open_engine

CAMERAS = [f"c{i:02d}" for i in range(10)]


@pytest.fixture()
def engine(pg_url: str):  # noqa: F811, ANN201
    open_engine(pg_url).dispose()  # migrations
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM camera_leases"))
        conn.execute(text("DELETE FROM scale_workers"))
    yield engine
    engine.dispose()


def _holders(engine) -> dict[str, str | None]:  # noqa: ANN001
    return {r["camera_id"]: r["worker_id"] for r in lease_table(engine) if r["live"]}


@pytest.mark.parametrize(("cameras", "workers", "share"), [(30, 3, 10), (30, 4, 8),
                                                           (10, 0, 10), (1, 5, 1)])
def test_fair_share(cameras: int, workers: int, share: int) -> None:
    assert fair_share(cameras, workers) == share


def test_share_rebalance_and_takeover(engine) -> None:  # noqa: ANN001
    a = LeaseManager(engine, "a", CAMERAS, ttl_s=2)
    first = a.step()
    assert first.held == set(CAMERAS) and first.live_workers == 1
    b = LeaseManager(engine, "b", CAMERAS, ttl_s=2)
    assert b.step().held == set()  # all taken: b waits for a to give some back
    step = a.step()  # a sees two workers: five above its share are marked, still held
    assert step.share == 5 and len(step.held) == 5 and len(a.releasing) == 5
    assert set(_holders(engine).values()) == {"a"}  # not given back before they stopped
    a.release(set(a.releasing))
    b.step()
    holders = _holders(engine)
    assert sorted(holders.values()).count("a") == 5 and list(holders.values()).count("b") == 5
    # a dies (no more heartbeats): after the TTL, b takes over everything
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(b.wanted) < len(CAMERAS):
        time.sleep(0.5)
        b.step()
    assert b.wanted == set(CAMERAS)
    epochs = {r["camera_id"]: r["epoch"] for r in lease_table(engine)}
    assert all(e >= 1 for e in epochs.values()) and max(epochs.values()) == 2
    # a comes back: it learns its leases are gone
    back = a.step()
    assert back.lost == set(holders_of(holders, "a")) and back.held == set()
    b.release_all()
    assert not _holders(engine)


def holders_of(holders: dict[str, str | None], worker: str) -> list[str]:
    return [c for c, w in holders.items() if w == worker]


def test_progress_is_recorded_with_the_renewal(engine) -> None:  # noqa: ANN001
    now = time.time()
    a = LeaseManager(engine, "a", CAMERAS[:2], ttl_s=5,
                     progress=lambda: {"c00": (7, now), "c01": (0, None), "zz": (3, now)})
    a.step()
    a.step()
    rows = {r["camera_id"]: r for r in lease_table(engine)}
    assert rows["c00"]["analysed"] == 7 and rows["c00"]["last_analysed_at"] is not None
    assert rows["c01"]["analysed"] == 0 and rows["c01"]["last_analysed_at"] is None


def test_sqlite_is_refused(tmp_path) -> None:  # noqa: ANN001
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(ValueError, match="PostgreSQL"):
        LeaseManager(engine, "a", CAMERAS)
