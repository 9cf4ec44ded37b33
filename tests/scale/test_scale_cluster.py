"""A central service and three workers patrol 30 synthetic cameras over a real mosquitto,
a real PostgreSQL and an S3-compatible store (moto); one worker is SIGKILLed and its
cameras are taken over; a fourth worker joins and the load spreads; no event is lost or
duplicated, and repeating every message changes nothing."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
import yaml
from scale_peers import S3_ENV, mqtt_port, pg_url, s3_client, s3_endpoint  # noqa: F401
from sqlalchemy import create_engine, text

from lianqin.config import load_config
from patrol.footage import FootageRequests
from patrol.scale import ScaleSettings
from patrol.service import VerificationError

pytestmark = pytest.mark.slow

CAMERAS = 30
EVENT_CAMERAS = 6  # dust scenes that raise events; the others are quiet
TTL_S, HEARTBEAT_S = 6.0, 1.0
BUCKET = "evidence"
ADMIN_PASSWORD = "central-admin-password-1"


def _config(tmp: Path, pg: str) -> Path:
    cameras = []
    for i in range(CAMERAS):
        scene = "dust" if i < EVENT_CAMERAS else "quiet"
        cameras.append({
            "id": f"cam-{i:02d}", "township": "星甸街道",
            "analyse_fps": 1,
            "source": {"type": "synthetic", "scene": scene, "fps": 2, "width": 320,
                       "height": 180, "seed": i, "onset_s": 3, "encode": False},
            "zones": [{"id": "z", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]],
                       "kinds": ["dust"]}]})
    dispatch = pg.rsplit("/", 1)[0] + "/dispatch"
    data = {
        "storage": {"database_url": pg, "evidence_dir": str(tmp / "evidence")},
        "cameras": cameras,
        "rules": {"dust": {"persistence": {"n": 2, "m": 3}, "end_after_s": 600}},
        "review": {"auto_order_min_confidence": {"dust": 0.0}},
        "bridge": {"poll_interval_s": 0.5, "verify": False},
        "verification": {"settle_s": 0, "window_s": 2},
        "dispatch": {"database_url": dispatch},
        "api": {"host": "127.0.0.1", "port": 0},
    }
    path = tmp / "county.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


class Proc:
    """A ``python -m lianqin ...`` child; its output goes to a file we can grep."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self.proc = subprocess.Popen([sys.executable, "-m", "lianqin", *args],
                                     stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 90.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.text())
            if found:
                return found
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.log.name} exited:\n{self.text()[-3000:]}")
            time.sleep(0.3)
        raise AssertionError(f"no {pattern!r} in {self.log.name}:\n{self.text()[-3000:]}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
        self.proc.wait(30)


def _leases(engine) -> list[dict]:  # noqa: ANN001
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(text(
            "SELECT camera_id, worker_id, expires_at > now() AS live, analysed, "
            "last_analysed_at, now() AS db_now FROM camera_leases ORDER BY camera_id")
        ).mappings()]


def _poll(what: str, check, timeout: float, every: float = 0.5):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"{what}: not after {timeout} s (last: {last!r})")


class Recorder:
    """Subscribes to every event message (not through the shared group) and keeps them."""

    def __init__(self, port: int, subscribe: bool = True) -> None:
        self.messages: list[bytes] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = lambda _c, _u, msg: self.messages.append(msg.payload)
        self.ready = threading.Event()

        def on_connect(client, *_a) -> None:  # noqa: ANN001
            if subscribe:
                client.subscribe("lianqin/events/#", qos=1)
            self.ready.set()

        self.client.on_connect = on_connect
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def replay(self, messages: list[bytes]) -> int:
        for payload in list(messages):
            self.client.publish("lianqin/events/replayed", payload, qos=1).wait_for_publish(10)
        return len(messages)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_workers_share_take_over_and_rebalance(tmp_path: Path, pg_url: str,  # noqa: F811
                                                mqtt_port: int,  # noqa: F811
                                                s3_endpoint: str) -> None:  # noqa: F811
    config = _config(tmp_path, pg_url)
    env = {**os.environ, **S3_ENV, "YOLO_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
           "LIANQIN_MQTT_URL": f"mqtt://127.0.0.1:{mqtt_port}",
           "LIANQIN_S3_ENDPOINT_URL": s3_endpoint, "LIANQIN_S3_BUCKET": BUCKET,
           "LIANQIN_LEASE_TTL_S": str(TTL_S), "LIANQIN_HEARTBEAT_S": str(HEARTBEAT_S),
           "LIANQIN_METRICS_HOST": "127.0.0.1", "LIANQIN_METRICS_PORT": "0",
           "LIANQIN_ADMIN_PASSWORD": ADMIN_PASSWORD}
    procs: dict[str, Proc] = {}
    recorder = Recorder(mqtt_port)
    engine = create_engine(pg_url)
    try:
        procs["central"] = Proc(["central", str(config), "--port", "0"], env,
                                tmp_path / "central.log")
        central_url = procs["central"].wait_for(r"lianqin central serving on (\S+)/").group(1)
        assert recorder.ready.wait(10)
        for wid in ("w1", "w2", "w3"):
            procs[wid] = Proc(["worker", str(config), "--worker-id", wid], env,
                              tmp_path / f"{wid}.log")
        for wid in ("w1", "w2", "w3"):
            port = int(procs[wid].wait_for(r"/healthz and /metrics on port (\d+)").group(1))
            procs[wid].metrics_port = port  # type: ignore[attr-defined]

        # three workers: ten cameras each, every camera analysed
        def shared_and_patrolled() -> list[dict] | None:
            rows = _leases(engine)
            held = Counter(r["worker_id"] for r in rows if r["live"])
            ok = (len(rows) == CAMERAS and sorted(held.values()) == [10, 10, 10]
                  and all(r["analysed"] > 0 for r in rows))
            return rows if ok else None
        _poll("30 cameras shared 10/10/10 and patrolled", shared_and_patrolled, 120)
        for wid in ("w1", "w3"):  # each worker's own health and Prometheus figures
            port = procs[wid].metrics_port  # type: ignore[attr-defined]
            health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
            assert health.status_code == 200, health.text
            assert len(health.json()["cameras"]) == 10 and health.json()["mqtt"]
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
            assert f'lianqin_worker_cameras_held{{worker="{wid}"}} 10.0' in metrics
            for name in ("frames_analysed_total", "queue_depth", "detector_ms",
                         "outbox_depth", "mqtt_connected"):
                assert f"lianqin_worker_{name}" in metrics, name
            frames = re.search(r'^lianqin_worker_frames_analysed_total\{worker="\w+"\} (\S+)',
                               metrics, re.M)
            assert frames and float(frames.group(1)) >= 10

        # SIGKILL one worker: its cameras are taken over and patrolled again
        victim = {r["camera_id"] for r in _leases(engine) if r["worker_id"] == "w2"}
        killed_at = _leases(engine)[0]["db_now"]
        procs["w2"].kill()
        started = time.monotonic()

        def taken_over() -> bool:
            rows = _leases(engine)
            return all(r["live"] and r["worker_id"] in ("w1", "w3") for r in rows)
        _poll("w2's cameras leased by the survivors", taken_over, 30)
        leased_s = time.monotonic() - started

        def patrolled_again() -> bool:
            rows = _leases(engine)
            return all(r["last_analysed_at"] is not None and r["last_analysed_at"] > killed_at
                       and r["worker_id"] in ("w1", "w3") for r in rows)
        _poll("every camera patrolled again within 30 s of the kill", patrolled_again,
              30 - (time.monotonic() - started))
        print(f"takeover: leases in {leased_s:.1f} s, every camera analysed again in "
              f"{time.monotonic() - started:.1f} s ({len(victim)} cameras moved)")
        held = Counter(r["worker_id"] for r in _leases(engine))
        assert sorted(held.values()) == [15, 15]

        # a fourth worker joins: the load spreads (share ceil(30/3) = 10)
        procs["w4"] = Proc(["worker", str(config), "--worker-id", "w4"], env,
                           tmp_path / "w4.log")

        def spread() -> Counter | None:
            rows = _leases(engine)
            held = Counter(r["worker_id"] for r in rows if r["live"])
            return held if (held.get("w4", 0) >= 9 and max(held.values()) <= 10
                            and sum(held.values()) == CAMERAS) else None
        held = _poll("w4 takes a share", spread, 60)
        assert set(held) == {"w1", "w3", "w4"}

        # a verification's footage check runs on the worker that holds the camera
        footage = FootageRequests(ScaleSettings(mqtt_url=env["LIANQIN_MQTT_URL"]), engine,
                                  load_config(config))
        footage.start()
        try:
            check = footage.check_footage(camera_id="cam-00", zone_id="z", kind="dust",
                                          evidence_folder="cam-00/verify-test", name="after")
        finally:
            footage.stop()
        assert check.frames >= 2 and check.present  # the dust is still there
        s3_client(s3_endpoint).head_object(Bucket=BUCKET, Key=check.snapshot)
        with pytest.raises(VerificationError, match="not patrolled"):
            footage.check_footage(camera_id="nope", zone_id=None, kind="dust",
                                  evidence_folder="x", name="y")

        # events: every one a worker got acknowledged is in the store once, with evidence
        def events_in() -> list[dict] | None:
            with engine.connect() as conn:
                rows = [dict(r) for r in conn.execute(text(
                    "SELECT id, camera_id, review, snapshot FROM events")).mappings()]
            cams = {r["camera_id"] for r in rows}
            return rows if len(cams) >= EVENT_CAMERAS - 1 else None
        events = _poll("events from the dust cameras", events_in, 60)
        logs = "".join(p.text() for p in procs.values())
        acked = set(re.findall(r"broker acknowledged start event (\w+)", logs))
        stored = {e["id"] for e in events}
        assert acked, "no acknowledged events in the workers' logs"
        assert acked <= stored, f"acknowledged but not stored: {acked - stored}"
        s3 = s3_client(s3_endpoint)
        for event in events:
            s3.head_object(Bucket=BUCKET, Key=event["snapshot"])  # raises when missing
        # the console's evidence link: a signed-in account is sent on to a signed S3 URL
        with httpx.Client(base_url=central_url, timeout=30) as console:
            link = f"/evidence/{events[0]['snapshot']}"
            assert console.get(link).status_code == 401
            console.post("/api/auth/login", json={"name": "admin", "password": ADMIN_PASSWORD}
                         ).raise_for_status()
            moved = console.get(link, follow_redirects=False)
            assert moved.status_code == 307, moved.text
            assert "Signature" in moved.headers["location"]
            picture = httpx.get(moved.headers["location"], timeout=30)
            assert picture.status_code == 200 and picture.content[:2] == b"\xff\xd8"

        # orders: at most one per camera (a re-detection after takeover joins the order)
        def orders() -> Counter:
            with engine.connect() as conn:
                keys = conn.execute(text("SELECT payload FROM outbox WHERE topic = "
                                         "'order.create'")).scalars().all()
            return Counter((p if isinstance(p, dict) else json.loads(p))["camera_id"]
                           for p in keys)
        before_orders = orders()
        assert before_orders and max(before_orders.values()) == 1

        # repeat every message once more: each is recognised, no new event or order
        dup_before = _central_duplicates(procs["central"])
        with engine.connect() as conn:
            seen = conn.execute(text("SELECT count(*) FROM ingested_messages")).scalar_one()
        recorder.stop()
        replayer = Recorder(mqtt_port, subscribe=False)
        replayed = replayer.replay(recorder.messages)
        replayer.stop()
        assert replayed >= len(acked)
        _poll("every replayed message recognised as a repeat",
              lambda: _central_duplicates(procs["central"]) - dup_before >= replayed, 60, 1)
        assert _central_duplicates(procs["central"]) - dup_before == replayed
        with engine.connect() as conn:
            seen_after = conn.execute(text("SELECT count(*) FROM ingested_messages")
                                      ).scalar_one()
            ids = conn.execute(text("SELECT id FROM events")).scalars().all()
        assert len(ids) == len(set(ids))
        assert seen_after - seen < replayed  # only new messages of the running workers
        assert max(orders().values()) == 1
    finally:
        for proc in reversed(list(procs.values())):
            proc.kill(signal.SIGTERM) if proc.proc.poll() is None else None
        recorder.stop()
        engine.dispose()


def _central_duplicates(central: Proc) -> int:
    port = int(central.wait_for(r"/healthz and /metrics on port (\d+)").group(1))
    body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    found = re.search(r"^lianqin_central_messages_duplicate (\S+)$", body, re.M)
    return int(float(found.group(1))) if found else 0
