"""Benchmark the scaled-out deployment: cameras per worker, broker and database load.

Usage:
    .venv/bin/python bench/bench_scale.py leases  [--cameras 10000] [--workers 40]
    .venv/bin/python bench/bench_scale.py cluster [--cameras 60] [--workers 3] [--seconds 60]

``leases`` runs the lease protocol alone (``patrol.leases``) for ``--cameras`` cameras and
``--workers`` simulated workers (threads, no video) on a PostgreSQL server it starts: time to
share the cameras out, the database work per second in steady state (transactions, rows
written), the time to take over a stopped worker's cameras and to rebalance when a worker
joins. This is the database side of a county-sized deployment.

``cluster`` starts a real deployment on loopback: PostgreSQL, mosquitto, ``lianqin
central`` and ``--workers`` ``lianqin worker`` processes patrolling ``--cameras`` synthetic
cameras at 0.5 analysed frames/s (320x180, no H.264 round trip), and measures for
``--seconds``: cameras per worker, frames analysed per second and CPU per worker (so
cameras per core), MQTT messages per second by kind, and database transactions and rows
written per second.

Both print a table and, last, a JSON summary. PostgreSQL comes from the installed server
binaries (run as the ``postgres`` user when started as root), or ``--database-url``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(msg: str) -> None:
    print(f"[bench_scale {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for base in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (base / name).exists():
            return str(base / name)
    raise SystemExit(f"PostgreSQL's {name} not found; pass --database-url")


@contextmanager
def postgres(url: str | None):  # noqa: ANN201
    """A PostgreSQL server of our own with databases lianqin and dispatch (or ``url``)."""
    if url:
        yield url
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(tmp, "postgres", "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    data = tmp / "data"
    subprocess.run([*prefix, _pg_bin("initdb"), "-D", str(data), "-U", "postgres",
                    "--auth=trust", "--no-sync"], check=True, stdout=subprocess.DEVNULL)
    opts = f"-p {port} -k {tmp} -h 127.0.0.1 -c max_connections=300 -c fsync=off"
    subprocess.run([*prefix, _pg_bin("pg_ctl"), "-D", str(data), "-o", opts, "-l",
                    str(tmp / "log"), "-w", "start"], check=True, stdout=subprocess.DEVNULL)
    try:
        for db in ("lianqin", "dispatch"):
            subprocess.run([*prefix, _pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(port),
                            "-U", "postgres", db], check=True)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/lianqin"
    finally:
        subprocess.run([*prefix, _pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)


def db_counters(engine: Any) -> dict[str, int]:
    with engine.connect() as conn:
        row = conn.execute(text(
            "SELECT xact_commit, tup_inserted, tup_updated, tup_deleted FROM "
            "pg_stat_database WHERE datname = current_database()")).one()
    return dict(zip(("commits", "inserted", "updated", "deleted"), row, strict=True))


def rates(before: dict[str, int], after: dict[str, int], seconds: float) -> dict[str, float]:
    return {k: round((after[k] - before[k]) / seconds, 1) for k in before}


# -- the lease protocol alone -------------------------------------------------------------
def bench_leases(args: argparse.Namespace) -> dict[str, Any]:
    from patrol.leases import LeaseManager
    from patrol.store import open_engine

    cameras = [f"cam-{i:05d}" for i in range(args.cameras)]
    with postgres(args.database_url) as url:
        engine = open_engine(url)
        engine.dispose()
        engine = create_engine(url, pool_size=args.workers + 5, max_overflow=10)
        stops: dict[str, threading.Event] = {}
        step_ms: list[float] = []
        counts = Counter()

        def worker(wid: str, stop: threading.Event) -> None:
            analysed: dict[str, int] = {}

            def progress() -> dict[str, tuple[int, float | None]]:
                now = time.time()
                for cam in mgr.wanted:
                    analysed[cam] = analysed.get(cam, 0) + 1
                return {c: (n, now) for c, n in analysed.items() if c in mgr.wanted}

            mgr = LeaseManager(engine, wid, cameras, ttl_s=args.ttl, progress=progress)
            while not stop.is_set():
                started = time.perf_counter()
                step = mgr.step()
                mgr.release(set(mgr.releasing))  # simulated cameras stop at once
                step_ms.append((time.perf_counter() - started) * 1000)
                counts[wid] = len(step.held)
                stop.wait(max(args.heartbeat - (time.perf_counter() - started), 0.01))
            counts.pop(wid, None)

        def start(wid: str) -> None:
            stops[wid] = threading.Event()
            threading.Thread(target=worker, args=(wid, stops[wid]), daemon=True).start()

        def wait_balanced(what: str, workers: int, dead: str = "",
                          timeout: float = 300) -> float:
            """Until every camera has a live lease of a live worker (not ``dead``) and
            every worker holds its fair share, give or take one."""
            share = -(-len(cameras) // workers)
            started = time.monotonic()
            while time.monotonic() - started < timeout:
                with engine.connect() as conn:
                    held = conn.execute(text(
                        "SELECT count(*) FROM camera_leases WHERE worker_id IS NOT NULL "
                        "AND worker_id <> :dead AND expires_at > now()"),
                        {"dead": dead}).scalar_one()
                live = dict(counts)
                if held == len(cameras) and len(live) == workers and \
                        max(live.values()) <= share and min(live.values()) >= share - workers:
                    took = time.monotonic() - started
                    log(f"{what}: {took:.1f} s")
                    return round(took, 1)
                time.sleep(0.2)
            raise SystemExit(f"{what}: not balanced after {timeout} s: {counts}")

        for i in range(args.workers):
            start(f"w{i:03d}")
        res: dict[str, Any] = {"cameras": len(cameras), "workers": args.workers,
                               "heartbeat_s": args.heartbeat, "lease_ttl_s": args.ttl}
        res["share_out_s"] = wait_balanced("all cameras shared out", args.workers)
        step_ms.clear()
        before, t0 = db_counters(engine), time.monotonic()
        time.sleep(args.seconds)
        res["steady"] = rates(before, db_counters(engine), time.monotonic() - t0)
        res["step_ms_p50"] = round(statistics.median(step_ms), 1)
        res["step_ms_p95"] = round(statistics.quantiles(step_ms, n=20)[18], 1)
        res["cameras_per_worker"] = sorted(Counter(counts).values())[-1]
        log(f"steady state: {res['steady']}, step p50 {res['step_ms_p50']} ms")
        stops.pop("w000").set()  # a worker dies (stops renewing)
        res["takeover_s"] = wait_balanced("a dead worker's cameras taken over",
                                          args.workers - 1, dead="w000")
        start("w-new")
        res["rebalance_join_s"] = wait_balanced("a joining worker takes its share",
                                                args.workers, dead="w000")
        for stop in stops.values():
            stop.set()
        time.sleep(args.heartbeat * 2)
        engine.dispose()
    return res


# -- a real deployment on loopback --------------------------------------------------------
def _config(tmp: Path, url: str, cameras: int, fps: float) -> Path:
    import yaml

    cams = []
    for i in range(cameras):
        scene = "dust" if i % 10 == 0 else "quiet"
        cams.append({"id": f"cam-{i:04d}", "township": "星甸街道", "analyse_fps": fps,
                     "source": {"type": "synthetic", "scene": scene, "fps": 2, "width": 320,
                                "height": 180, "seed": i, "onset_s": 5, "duration_s": 20,
                                "repeat_s": 20, "encode": False},
                     "zones": [{"id": "z", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]],
                                "kinds": ["dust"]}]})
    data = {"storage": {"database_url": url, "evidence_dir": str(tmp / "evidence")},
            "cameras": cams, "rules": {"dust": {"persistence": {"n": 2, "m": 3},
                                                "end_after_s": 5}},
            "bridge": {"verify": False}, "dispatch": {"database_url": url.rsplit("/", 1)[0]
                                                      + "/dispatch"},
            "api": {"host": "127.0.0.1", "port": 0}}
    path = tmp / "bench.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_cluster(args: argparse.Namespace) -> dict[str, Any]:
    import paho.mqtt.client as mqtt

    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    mport = free_port()
    (tmp / "m.conf").write_text(f"listener {mport} 127.0.0.1\nallow_anonymous true\n"
                                "max_queued_messages 100000\n")
    broker = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c",
                               str(tmp / "m.conf")], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    procs: list[subprocess.Popen] = []
    res: dict[str, Any] = {"cameras": args.cameras, "workers": args.workers,
                           "analyse_fps": args.fps}
    try:
        with postgres(args.database_url) as url:
            config = _config(tmp, url, args.cameras, args.fps)
            env = {**os.environ, "PYTHONUNBUFFERED": "1", "YOLO_OFFLINE": "1",
                   "LIANQIN_MQTT_URL": f"mqtt://127.0.0.1:{mport}",
                   "LIANQIN_METRICS_HOST": "127.0.0.1", "LIANQIN_METRICS_PORT": "0",
                   "LIANQIN_LEASE_TTL_S": "15", "LIANQIN_HEARTBEAT_S": "3"}

            def spawn(*cmd: str, name: str) -> subprocess.Popen:
                out = (tmp / f"{name}.log").open("wb")
                p = subprocess.Popen([sys.executable, "-m", "lianqin", *cmd], env=env,
                                     stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
                procs.append(p)
                return p

            def wait_log(name: str, pattern: str, timeout: float = 120) -> re.Match[str]:
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    found = re.search(pattern, (tmp / f"{name}.log").read_text(errors="replace"))
                    if found:
                        return found
                    time.sleep(0.3)
                raise SystemExit(f"{name} did not start; see {tmp / (name + '.log')}")

            spawn("central", str(config), "--port", "0", name="central")
            wait_log("central", r"serving on")
            workers = {f"w{i}": spawn("worker", str(config), "--worker-id", f"w{i}",
                                      name=f"w{i}") for i in range(args.workers)}
            for wid in workers:
                wait_log(wid, r"metrics on port")
            engine = create_engine(url)
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                with engine.connect() as conn:
                    ready = conn.execute(text("SELECT count(*) FROM camera_leases WHERE "
                                              "analysed > 0 AND expires_at > now()")).scalar_one()
                if ready == args.cameras:
                    break
                time.sleep(1)
            log(f"{ready} of {args.cameras} cameras leased and analysed; measuring")
            topics: Counter[str] = Counter()
            sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)

            def on_message(_c: Any, _u: Any, msg: Any) -> None:
                kind = json.loads(msg.payload).get("type", "status") if b"{" in msg.payload \
                    else "other"
                topics[msg.topic.split("/")[1] + ":" + str(kind)] += 1
            sub.on_message = on_message
            sub.connect("127.0.0.1", mport)
            sub.subscribe("lianqin/#", qos=1)
            sub.loop_start()
            cpu0 = {w: _cpu_s(p.pid) for w, p in workers.items()}
            with engine.connect() as conn:
                an0 = dict(conn.execute(text("SELECT worker_id, sum(analysed) FROM "
                                             "camera_leases GROUP BY worker_id")).all())
            before, t0 = db_counters(engine), time.monotonic()
            time.sleep(args.seconds)
            span = time.monotonic() - t0
            res["db_per_s"] = rates(before, db_counters(engine), span)
            sub.loop_stop()
            res["mqtt_messages_per_s"] = {k: round(v / span, 2) for k, v in topics.items()}
            with engine.connect() as conn:
                rows = conn.execute(text("SELECT worker_id, count(*), sum(analysed) FROM "
                                         "camera_leases GROUP BY worker_id")).all()
            per: dict[str, Any] = {}
            for wid, cams, analysed in rows:
                cpu = (_cpu_s(workers[wid].pid) - cpu0[wid]) / span
                fps = (analysed - an0.get(wid, 0)) / span
                per[wid] = {"cameras": cams, "analysed_fps": round(fps, 1),
                            "cpu_cores": round(cpu, 2),
                            "ms_cpu_per_frame": round(cpu * 1000 / fps, 1) if fps else None}
            res["per_worker"] = per
            engine.dispose()
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        broker.terminate()
        shutil.rmtree(tmp, ignore_errors=True)
    return res


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    leases = sub.add_parser("leases", help="the lease protocol at county size")
    leases.add_argument("--cameras", type=int, default=10000)
    leases.add_argument("--workers", type=int, default=40)
    leases.add_argument("--heartbeat", type=float, default=3.0)
    leases.add_argument("--ttl", type=float, default=15.0)
    leases.add_argument("--seconds", type=float, default=30.0)
    cluster = sub.add_parser("cluster", help="central + workers + broker on loopback")
    cluster.add_argument("--cameras", type=int, default=60)
    cluster.add_argument("--workers", type=int, default=3)
    cluster.add_argument("--fps", type=float, default=0.5, help="analysed frames/s per camera")
    cluster.add_argument("--seconds", type=float, default=60.0)
    for p in (leases, cluster):
        p.add_argument("--database-url", default=None, help="use this PostgreSQL instead")
    args = parser.parse_args()
    res = bench_leases(args) if args.mode == "leases" else bench_cluster(args)
    if args.mode == "cluster":
        print(f"{'worker':8s} {'cameras':>8s} {'frames/s':>9s} {'CPU cores':>10s} "
              f"{'CPU ms/frame':>13s}")
        for wid, row in sorted(res["per_worker"].items()):
            print(f"{wid:8s} {row['cameras']:8d} {row['analysed_fps']:9.1f} "
                  f"{row['cpu_cores']:10.2f} {row['ms_cpu_per_frame'] or 0:13.1f}")
        print("MQTT messages/s:", res["mqtt_messages_per_s"])
    print("database per second:", res.get("db_per_s") or res.get("steady"))
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
