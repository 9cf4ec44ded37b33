"""SIGKILL at random points of delivery, at least 100 times per adapter, against the real
peers; after recovery every order exists exactly once on the other side.

A small helper process imports the bridge once and forks a delivering child on demand
(so a kill-and-restart costs milliseconds, not an interpreter start); the test kills each
child with SIGKILL after a random delay. The last round is a real
``python -m orderbridge.deliver --until-empty`` process."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from bridge_peers import MqttDispatchSide, Open311Server, WebhookReceiver, add_event, until
from helpers import free_port
from sqlalchemy import select

from orderbridge.config import BridgeConfig
from patrol.tables import EventRow, OutboxRow

KILLS = 100  # SIGKILLs that must hit a child still delivering
MAX_ROUNDS = 600  # bound of the loop
# A kill lands at a random moment in [0, window); the window adapts to the machine's speed:
# it grows while kills land before any delivery and shrinks when children finish first.
WINDOW_S, WINDOW_MIN_S, WINDOW_MAX_S = 0.1, 0.01, 3.0
SECRET = "sigkill-test-shared-secret"

HELPER = r"""
import os, sys
from orderbridge.config import BridgeConfig
from orderbridge.deliver import deliver
import httpcore, orderbridge.adapters.mqtt, orderbridge.adapters.open311, orderbridge.adapters.webhook
from orderbridge.adapters.base import tls
tls()  # what every child would load again
database, config, base = sys.argv[1], BridgeConfig.model_validate_json(sys.argv[2]), sys.argv[3]
print("ready", flush=True)
for line in sys.stdin:
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            deliver(database, config, evidence_base_url=base, until_empty=True, max_s=30,
                    migrate=False)
            code = 0
        finally:
            os._exit(code)
    print(pid, flush=True)
    print(os.waitpid(pid, 0)[1], flush=True)
"""


def kill_loop(database: str, config: BridgeConfig, sessions, tmp: Path, seed: int,
              peer_count=None) -> dict:  # noqa: ANN001
    """Kill delivering children until KILLS hit one mid-work; then recover for real.

    ``peer_count`` (optional) says how many orders the peer holds: a kill after which the
    peer holds more than the store has recorded as delivered landed between the peer's
    answer and our commit, the window that idempotency keys must cover."""
    rng = random.Random(seed)
    helper = subprocess.Popen(
        [sys.executable, "-c", HELPER, database, config.model_dump_json(), "http://x/evidence"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=Path.cwd())
    assert helper.stdout.readline().strip() == "ready"
    kills = finished = progress = events = unrecorded = 0
    window = WINDOW_S
    try:
        for round_ in range(MAX_ROUNDS):
            if kills >= KILLS:
                break
            pending = _pending(sessions)
            if pending < 3:  # keep work in the outbox so that kills land mid-delivery
                for _ in range(5):
                    add_event(sessions, f"r{round_}x{events}")
                    events += 1
            before = _delivered(sessions)
            helper.stdin.write("go\n")
            helper.stdin.flush()
            pid = int(helper.stdout.readline())
            _sleep(rng.uniform(0, window))
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            status = int(helper.stdout.readline())
            if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
                kills += 1
                delivered = _delivered(sessions)
                moved = delivered > before
                progress += moved
                if peer_count is not None and peer_count() > delivered:
                    unrecorded += 1
                window = min(window * (1.0 if moved else 1.15), WINDOW_MAX_S)
            else:
                finished += 1
                window = max(window * 0.8, WINDOW_MIN_S)
    finally:
        helper.stdin.close()
        helper.wait(30)
    print(f"kills {kills} finished {finished} progress {progress} unrecorded {unrecorded} "
          f"events {events} window {window:.3f}")
    assert kills >= KILLS, f"only {kills} kills landed in {MAX_ROUNDS} rounds (seed {seed})"
    # Recovery: a real process, started as an operator would.
    cfg_file = tmp / "bridge.yaml"
    cfg_file.write_text(yaml.safe_dump({"bridge": config.model_dump(mode="json")}))
    done = subprocess.run([sys.executable, "-m", "orderbridge.deliver", "--database", database,
                           "--config", str(cfg_file), "--evidence-base-url", "http://x/evidence",
                           "--until-empty", "--max-s", "120"],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    with sessions() as s:
        rows = s.scalars(select(OutboxRow)).all()
        orders = {e.id: e.order_id for e in s.scalars(select(EventRow))}
    assert rows and all(r.delivered_at is not None and not r.dead for r in rows)
    return {"kills": kills, "finished": finished, "progress": progress, "events": events,
            "unrecorded": unrecorded,
            "orders": orders, "keys": sorted(r.key for r in rows)}


def _sleep(seconds: float) -> None:
    import time
    time.sleep(seconds)


def _pending(sessions) -> int:
    with sessions() as s:
        return len(s.scalars(select(OutboxRow.id).where(OutboxRow.delivered_at.is_(None))).all())


def _delivered(sessions) -> int:
    with sessions() as s:
        return len(s.scalars(select(OutboxRow.id).where(OutboxRow.delivered_at.is_not(None))).all())


def _check(result: dict) -> None:
    # Kills landed at different points: some after rows were recorded as delivered, or
    # after the peer took an order we had not yet recorded (deliveries to idempotent peers
    # are committed in groups), and some before anything moved.
    landed_mid_work = result["progress"] + result["unrecorded"]
    assert landed_mid_work > 0 and result["progress"] < result["kills"]
    assert len(result["keys"]) == result["events"]


@pytest.fixture
def store_url(tmp_path: Path, event_store) -> str:
    return f"sqlite:///{tmp_path / 'events.db'}"


def test_sigkill_embedded(tmp_path, event_store, store_url, dispatch_server):
    config = BridgeConfig.model_validate({
        "target": {"type": "embedded", "url": dispatch_server.url, "timeout_s": 5},
        "poll_interval_s": 0.05, "retry": {"base_s": 0.05, "max_s": 0.1}})
    result = kill_loop(store_url, config, event_store, tmp_path, seed=11,
                       peer_count=lambda: len(httpx.get(
                           f"{dispatch_server.url}/orders", params={"limit": 1000}
                       ).json()["data"]))
    _check(result)
    orders = httpx.get(f"{dispatch_server.url}/orders", params={"limit": 1000}).json()["data"]
    assert sorted(f"event:{o['event_id']}" for o in orders) == result["keys"]  # once each
    assert {str(o["id"]) for o in orders} == set(result["orders"].values())


def test_sigkill_webhook(tmp_path, event_store, store_url):
    receiver = WebhookReceiver(free_port(), SECRET)
    receiver.up()
    try:
        config = BridgeConfig.model_validate({
            "target": {"type": "webhook", "url": receiver.url, "secret": SECRET,
                       "response_id": "result.order_no"},
            "poll_interval_s": 0.05, "retry": {"base_s": 0.05, "max_s": 0.1}})
        result = kill_loop(store_url, config, event_store, tmp_path, seed=12)
        _check(result)
        assert sorted(receiver.answers) == result["keys"] and receiver.rejected == 0
        assert len(receiver.orders) == len(result["keys"])  # exactly one order per key
        assert set(receiver.orders) == set(result["orders"].values())
    finally:
        receiver.down()


def test_sigkill_mqtt(tmp_path, event_store, store_url, broker):
    side = MqttDispatchSide(broker.port)
    try:
        config = BridgeConfig.model_validate({
            "target": {"type": "mqtt", "port": broker.port, "client_id": "sigkill-bridge",
                       "timeout_s": 5},
            "poll_interval_s": 0.05, "retry": {"base_s": 0.05, "max_s": 0.1}})
        result = kill_loop(store_url, config, event_store, tmp_path, seed=13)
        _check(result)
        until(lambda: len(side.first) >= len(result["keys"]), 60, "every order on the broker")
        assert sorted(side.first) == result["keys"]  # each taken once (repeats deduplicated)
        assert all(side.first[k]["order"]["event_id"] == k.split(":", 1)[1] for k in side.first)
    finally:
        side.close()


def test_sigkill_open311(tmp_path, event_store, store_url):
    server = Open311Server(free_port())
    server.up()
    try:
        config = BridgeConfig.model_validate({
            "target": {"type": "open311", "url": server.url, "api_key": "k-311",
                       "service_codes": {"smoke": "SMK"}},
            "poll_interval_s": 0.05, "retry": {"base_s": 0.05, "max_s": 0.1}})
        result = kill_loop(store_url, config, event_store, tmp_path, seed=14)
        _check(result)
        # GeoReport v2 has no idempotency key: the server really holds one request per order.
        markers = sorted(r["description"].rsplit("[lianqin ", 1)[1].rstrip("]")
                         for r in server.requests.values())
        assert markers == result["keys"]
        assert set(server.requests) == set(result["orders"].values())
    finally:
        server.down()
