"""The background supervisor: flags overdue orders on its own, survives a failing sweep,
stops promptly, and runs with the standalone app (``python -m dispatch``)."""

from __future__ import annotations

import threading

from dispatch_factories import order_body
from fastapi.testclient import TestClient

from dispatch.app import create_app
from dispatch.config import DispatchConfig
from dispatch.schemas import OrderCreate
from dispatch.supervisor import start_supervisor

WAIT_S = 60  # generous: the machine is shared


def test_supervisor_flags_overdue_orders_in_the_background(service, clock) -> None:
    order, _ = service.create_order(data=OrderCreate.model_validate(order_body(kind="crowd")))
    handle = start_supervisor(service, interval_s=0.05)
    try:
        assert handle.wait_for_sweeps(2, timeout_s=WAIT_S)
        assert service.get_order(order_id=order.id).supervised is False
        clock.advance(minutes=61)
        done = handle.sweeps
        assert handle.wait_for_sweeps(done + 2, timeout_s=WAIT_S)
        flagged = service.get_order(order_id=order.id)
        assert (flagged.supervised, flagged.level, flagged.overdue) == (True, 2, True)
        assert [h.action for h in flagged.history].count("overdue") == 1  # once, not per sweep
        assert handle.flagged == 1
    finally:
        handle.stop()
    assert not handle.running


def test_a_failing_sweep_does_not_end_supervision(service, monkeypatch) -> None:
    calls = []

    def flaky() -> list[int]:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database restarting")
        return []

    monkeypatch.setattr(service, "supervise_overdue", flaky)
    handle = start_supervisor(service, interval_s=0.05)
    try:
        assert handle.wait_for_sweeps(3, timeout_s=WAIT_S)
        assert handle.running
    finally:
        handle.stop()


def test_stop_is_prompt_with_a_long_interval(service) -> None:
    handle = start_supervisor(service, interval_s=3600)
    assert handle.wait_for_sweeps(1, timeout_s=WAIT_S)
    handle.stop(timeout_s=WAIT_S)
    assert not handle.running


def _supervisors() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "dispatch-supervisor"]


def test_the_standalone_app_runs_the_supervisor(tmp_path) -> None:
    config = DispatchConfig.model_validate({"supervision": {"interval_s": 0.05}})
    before = len(_supervisors())
    app = create_app(config, f"sqlite:///{tmp_path}/d.db")
    with TestClient(app) as client:
        assert len(_supervisors()) == before + 1
        assert client.post("/api/dispatch/orders", json=order_body()).status_code == 201
    assert len(_supervisors()) == before
    quiet = create_app(config, f"sqlite:///{tmp_path}/e.db", supervise=False)
    with TestClient(quiet):
        assert len(_supervisors()) == before
