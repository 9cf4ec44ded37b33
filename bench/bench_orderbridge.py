"""Order-bridge benchmark: event → order latency through each adapter on loopback, and
outbox throughput on SQLite and PostgreSQL.

    python bench/bench_orderbridge.py                 # everything
    python bench/bench_orderbridge.py --skip-pg       # no PostgreSQL at hand
    python bench/bench_orderbridge.py --events 100 --rows 1000

Latency: an event is written as the intake writes it (event row and outbox row in one
transaction), the patrol bus announces it, the running ``OrderBridge`` wakes and delivers;
measured from just before the commit to the moment the bridge recorded the peer's
acknowledgement (``delivered_at``). Peers: the embedded dispatch core (uvicorn), an HTTP
receiver that checks HMAC signatures, mosquitto with a dispatch-side subscriber, an Open311
GeoReport v2 server. Throughput: N rows in the outbox, ``deliver_due`` until empty, against
an in-process adapter (the outbox's own cost: queries, bookkeeping, commits) and against
the webhook receiver over loopback. PostgreSQL: a scratch database on 127.0.0.1:5432
(user postgres, trust), dropped afterwards."""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "orderbridge")]

from bridge_peers import (  # noqa: E402
    Mosquitto,
    MqttDispatchSide,
    Open311Server,
    WebhookReceiver,
    add_event,
    until,
)
from helpers import free_port  # noqa: E402
from sqlalchemy import select  # noqa: E402

from lianqin.config import parse_config  # noqa: E402
from orderbridge.adapters.base import DispatchAdapter  # noqa: E402
from orderbridge.bridge import OrderBridge, build_adapter  # noqa: E402
from orderbridge.config import BridgeConfig  # noqa: E402
from orderbridge.outbox import OutboxDelivery  # noqa: E402
from patrol.service import PatrolService  # noqa: E402
from patrol.store import open_engine, session_factory  # noqa: E402
from patrol.tables import OutboxRow  # noqa: E402

SECRET = "benchmark-shared-secret"


class NullAdapter(DispatchAdapter):
    """Answers at once: what is left is the outbox's own cost."""

    def create_order(self, key: str, request: dict[str, Any], *, in_doubt: bool = False) -> dict:
        return {"id": key, "status": "dispatched"}

    def start_verification(self, order_id: str) -> dict:
        return {"id": order_id, "status": "verifying"}

    def send_verdict(self, key: str, order_id: str, verdict: dict, *, in_doubt: bool = False) -> dict:
        return {"id": order_id, "status": "closed"}

    def orders(self, **filters: Any) -> list[dict]:
        return []

    def order(self, order_id: str) -> dict:
        return {}


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def latency(name: str, target: dict[str, Any], events: int, tmp: Path) -> dict[str, float]:
    url = f"sqlite:///{tmp / f'lat-{name}.db'}"
    config = parse_config({"storage": {"database_url": url, "evidence_dir": str(tmp / "ev")},
                           "bridge": {"target": target, "poll_interval_s": 5, "verify": False}})
    engine = open_engine(url)
    sessions = session_factory(engine)
    patrol = PatrolService(config, sessions)
    bridge = OrderBridge(config.bridge, sessions, patrol, build_adapter(config.bridge, ""),
                         evidence_base_url="http://bench/evidence")
    bridge.start()
    samples = []
    try:
        for i in range(events + 5):
            t0 = datetime.now(UTC)
            add_event(sessions, f"{name}{i}")
            patrol.bus.publish("events/cam/new", {"id": f"{name}{i}"})
            row = until(lambda i=i: _delivered(sessions, f"event:{name}{i}"), 60, "delivery")
            if i >= 5:  # the first few warm connections up
                samples.append((row.delivered_at.replace(tzinfo=UTC) - t0).total_seconds() * 1000)
            time.sleep(0.01)
    finally:
        bridge.stop()
        engine.dispose()
    return {"p50": statistics.median(samples), "p95": pct(samples, 95), "max": max(samples),
            "n": len(samples)}


def _delivered(sessions, key: str) -> OutboxRow | None:
    with sessions() as s:
        row = s.scalars(select(OutboxRow).where(OutboxRow.key == key)).one_or_none()
    return row if row is not None and row.delivered_at is not None else None


def throughput(url: str, adapter: DispatchAdapter, rows: int, label: str) -> float:
    engine = open_engine(url)
    sessions = session_factory(engine)
    for i in range(rows):
        add_event(sessions, f"{label}-{i}")
    out = OutboxDelivery(sessions, adapter, evidence_base_url="http://bench/evidence", batch=200)
    t0 = time.perf_counter()
    delivered = 0
    while n := out.deliver_due():
        delivered += n
    elapsed = time.perf_counter() - t0
    assert delivered == rows and out.pending() == 0, (delivered, out.pending())
    engine.dispose()
    return rows / elapsed


def scratch_pg(base: str) -> tuple[str, Any]:
    import psycopg

    name = f"lianqin_bench_{os.getpid()}"
    admin = psycopg.connect(f"{base}/postgres", autocommit=True)
    admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    return f"postgresql+psycopg://{base.split('://', 1)[1]}/{name}", drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200, help="events per adapter (latency)")
    parser.add_argument("--rows", type=int, default=2000, help="outbox rows (throughput)")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432",
                        help="PostgreSQL server for the throughput run")
    parser.add_argument("--skip-pg", action="store_true")
    parser.add_argument("--only", nargs="*", default=None,
                        help="latency for these adapters only (embedded webhook mqtt open311)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    tmp = Path(tempfile.mkdtemp(prefix="bench-orderbridge-"))
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")

    from dispatch.app import create_app
    from dispatch.config import DispatchConfig
    from lianqin.server import bind, serve_in_thread

    dport, hook, o311 = free_port(), WebhookReceiver(free_port(), SECRET), Open311Server(free_port())
    server, thread = serve_in_thread(create_app(DispatchConfig(), f"sqlite:///{tmp / 'd.db'}"),
                                     bind("127.0.0.1", dport))
    hook.up()
    o311.up()
    broker = Mosquitto(tmp / "mosquitto", free_port())
    broker.start()
    side = MqttDispatchSide(broker.port)
    targets = {
        "embedded": {"type": "embedded", "url": f"http://127.0.0.1:{dport}/api/dispatch"},
        "webhook": {"type": "webhook", "url": hook.url, "secret": SECRET},
        "mqtt": {"type": "mqtt", "port": broker.port, "client_id": "bench-bridge"},
        "open311": {"type": "open311", "url": o311.url, "api_key": "k-311",
                    "service_codes": {"smoke": "SMK"}},
    }
    try:
        print("\nevent → order latency (ms), loopback")
        print("| adapter | p50 | p95 | max | events |\n| --- | --- | --- | --- | --- |")
        for name, target in targets.items():
            if args.only and name not in args.only:
                continue
            r = latency(name, target, args.events, tmp)
            print(f"| {name} | {r['p50']:.1f} | {r['p95']:.1f} | {r['max']:.1f} | {r['n']} |",
                  flush=True)

        print(f"\noutbox throughput ({args.rows} orders), orders/s")
        print("| store | in-process adapter | webhook over loopback |\n| --- | --- | --- |")
        stores = [("SQLite (WAL)", lambda: (f"sqlite:///{tmp / f'tp-{time.time_ns()}.db'}", None))]
        if not args.skip_pg:
            stores.append(("PostgreSQL", lambda: scratch_pg(args.pg)))
        for label, make in stores:
            figures = []
            for adapter in (NullAdapter(), build_adapter(BridgeConfig.model_validate(
                    {"target": targets["webhook"]}), "")):
                url, drop = make()
                try:
                    figures.append(throughput(url, adapter, args.rows, label[:3]))
                finally:
                    if drop:
                        drop()
            print(f"| {label} | {figures[0]:.0f} | {figures[1]:.0f} |", flush=True)
    finally:
        side.close()
        broker.stop()
        hook.down()
        o311.down()
        server.should_exit = True
        thread.join(10)
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
