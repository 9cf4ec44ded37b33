"""Kill the service while an order sits in the outbox; a restart delivers it exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from helpers import free_port
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

pytestmark = pytest.mark.slow


def _config(tmp: Path, dispatch_port: int, camera_enabled: bool) -> Path:
    data = {
        "storage": {"database_url": f"sqlite:///{tmp / 'events.db'}",
                    "evidence_dir": str(tmp / "evidence")},
        "cameras": [{
            "id": "field-1", "township": "星甸街道", "enabled": camera_enabled,
            "source": {"type": "synthetic", "scene": "smoke", "onset_s": 2, "seed": 5},
            "zones": [{"id": "f", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]], "kinds": ["smoke"]}],
        }],
        "rules": {"smoke": {"persistence": {"n": 3, "m": 5}, "cooldown_s": 5, "end_after_s": 5}},
        "review": {"auto_order_min_confidence": {"smoke": 0.0}},
        "bridge": {"target": {"type": "embedded",
                              "url": f"http://127.0.0.1:{dispatch_port}/api/dispatch",
                              "timeout_s": 2},
                   "poll_interval_s": 0.5, "retry": {"base_s": 0.5, "max_s": 1}},
        "dispatch": {"enabled": False},
    }
    path = tmp / ("serve-cams.yaml" if camera_enabled else "serve.yaml")
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def _serve(config: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "lianqin", "serve", str(config), "--port", "0"],
                            stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _rows(db: Path) -> list[tuple]:
    """The outbox rows; none while the service is still creating its tables."""
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT key, delivered_at FROM outbox")).all()
    except OperationalError:
        return []
    finally:
        engine.dispose()


def _scalar(db: Path, sql: str) -> int:
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar()
    finally:
        engine.dispose()


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_sigkill_with_an_order_in_the_outbox_then_exactly_once(tmp_path: Path):
    port = free_port()
    db, log = tmp_path / "events.db", tmp_path / "serve.log"
    # 1. Dispatch core down: events happen, their orders wait in the outbox. Kill -9.
    first = _serve(_config(tmp_path, port, camera_enabled=True), log)
    try:
        _wait(lambda: db.exists() and len(_rows(db)) >= 1, 120, "an order in the outbox")
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
    pending = _rows(db)
    assert pending and all(delivered is None for _, delivered in pending), log.read_text()

    # 2. The dispatch core comes up; the restarted service (cameras off) delivers.
    dispatch = subprocess.Popen([sys.executable, "-m", "dispatch", "--database",
                                 f"sqlite:///{tmp_path / 'dispatch.db'}", "--port", str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    orders_url = f"http://127.0.0.1:{port}/api/dispatch/orders"

    def orders() -> list[dict]:
        return httpx.get(orders_url, params={"limit": 500}).json()["data"]

    try:
        _wait(lambda: _reachable(orders_url), 30, "the dispatch core")
        config = _config(tmp_path, port, camera_enabled=False)
        for round_ in range(2):
            service = _serve(config, log)
            try:
                _wait(lambda: all(d is not None for _, d in _rows(db)), 60, "delivery")
            finally:
                os.killpg(service.pid, signal.SIGKILL)
                service.wait(10)
            keys = sorted(k for k, _ in _rows(db))
            # Events the killed process left active were ended at start (orphan repair).
            assert _scalar(db, "SELECT count(*) FROM events WHERE state = 'active'") == 0
            got = orders()
            assert sorted(f"event:{o['event_id']}" for o in got) == keys, (round_, got)
            # 3. Pretend the crash came after the POST but before the commit: the rows
            # look undelivered again; the next round must not duplicate a single order.
            engine = create_engine(f"sqlite:///{db}")
            with engine.begin() as conn:
                conn.execute(text("UPDATE outbox SET delivered_at = NULL"))
            engine.dispose()
    finally:
        dispatch.terminate()
        dispatch.wait(10)


def _reachable(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
