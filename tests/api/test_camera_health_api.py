"""Camera health in the API and as Prometheus metrics; camera passwords appear nowhere."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from helpers import free_port

from api.app import create_app
from api.context import AppContext
from lianqin.config import parse_config
from patrol.service import PatrolService
from patrol.store import open_engine, session_factory

PASSWORD = "Very$ecret-Cam9"


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("LQ_CAM_PASSWORD", PASSWORD)
    port = free_port()  # nothing listens there: the camera stays offline
    config = parse_config({
        "storage": {"database_url": f"sqlite:///{tmp_path / 'e.db'}",
                    "evidence_dir": str(tmp_path / "ev")},
        "cameras": [
            {"id": "gate", "township": "顶山街道", "source": {
                "type": "rtsp", "url": f"rtsp://admin:{PASSWORD}@127.0.0.1:{port}/ch1",
                "connect_timeout_s": 1, "read_timeout_s": 1}},
            {"id": "nvr-2", "township": "顶山街道", "source": {
                "type": "onvif", "host": "127.0.0.1", "port": port, "username": "admin",
                "password": "${LQ_CAM_PASSWORD}", "connect_timeout_s": 1}},
            {"id": "snap", "township": "顶山街道", "source": {
                "type": "http", "url": f"http://127.0.0.1:{port}/snap.jpg?user=admin&pwd={PASSWORD}",
                "timeout_s": 1}},
        ]})
    engine = open_engine(config.storage.database_url)
    sessions = session_factory(engine)
    patrol = PatrolService(config, sessions)
    context = AppContext(config=config, sessions=sessions, evidence_dir=tmp_path / "ev",
                         patrol=patrol)
    yield context
    patrol.stop()
    engine.dispose()


def test_offline_cameras_report_masked_errors_in_api_metrics_and_logs(ctx, caplog, as_role):
    caplog.set_level(logging.DEBUG)
    ctx.patrol.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not all(
            w.status.error for w in ctx.patrol.workers.values()):
        time.sleep(0.2)
    client = TestClient(create_app(ctx))
    as_role(client, ctx, "admin")
    cameras = client.get("/api/cameras")
    assert cameras.status_code == 200
    by_id = {c["id"]: c for c in cameras.json()}
    assert by_id["gate"]["status"]["state"] in ("offline", "connecting")
    assert "refused" in by_id["gate"]["status"]["error"].lower()
    assert by_id["gate"]["source"]["url"].startswith("rtsp://admin:***@")
    assert by_id["nvr-2"]["source"]["host"] == "127.0.0.1"
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert 'lianqin_camera_up{camera="gate"} 0.0' in text
    assert 'lianqin_camera_reconnects_total{camera="gate"}' in text
    assert 'lianqin_camera_state{camera="gate",state="live"} 0.0' in text
    for body in (cameras.text, text, client.get("/api/cameras/gate").text,
                 client.get("/health").text, caplog.text,
                 " ".join(str(w.status.error) for w in ctx.patrol.workers.values())):
        assert PASSWORD not in body


def test_live_camera_metrics(tmp_path, as_role):
    config = parse_config({
        "storage": {"database_url": f"sqlite:///{tmp_path / 'e.db'}",
                    "evidence_dir": str(tmp_path / "ev")},
        "cameras": [{"id": "demo", "township": "顶山街道", "analyse_fps": 1,
                     "source": {"type": "synthetic", "scene": "quiet", "fps": 8}}]})
    engine = open_engine(config.storage.database_url)
    patrol = PatrolService(config, session_factory(engine))
    patrol.start()
    try:
        worker = patrol.workers["demo"]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and worker.status.frames < 20:
            time.sleep(0.2)
        ctx = AppContext(config=config, sessions=session_factory(engine),
                         evidence_dir=tmp_path / "ev", patrol=patrol)
        client = TestClient(create_app(ctx))
        as_role(client, ctx, "commander")
        text = client.get("/metrics").text
        status = client.get("/api/cameras/demo").json()["status"]
    finally:
        patrol.stop()
        engine.dispose()
    assert 'lianqin_camera_up{camera="demo"} 1.0' in text
    fps = float(next(line.split()[-1] for line in text.splitlines()
                     if line.startswith('lianqin_camera_fps{camera="demo"}')))
    assert fps == pytest.approx(8, abs=1.5)
    assert status["state"] == "live" and status["frames"] >= 20
