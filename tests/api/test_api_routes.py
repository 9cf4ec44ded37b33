"""REST API over a real SQLite event store: events, review decisions, cameras, evidence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import select

from api.app import create_app
from api.context import AppContext
from api.routes.cameras import describe_source
from lianqin.config import parse_config
from patrol.service import PatrolService
from patrol.store import open_engine, session_factory
from patrol.tables import EventRow, OutboxRow

CONFIG = {
    "cameras": [{
        "id": "gate-01", "name": "东门", "township": "顶山街道",
        "source": {"type": "file", "path": __file__},  # any existing file passes config
        "zones": [{"id": "walk", "polygon": [[0, 0], [1, 0], [1, 1]], "kinds": ["stall"]}],
    }],
}


@pytest.fixture
def ctx(tmp_path: Path):
    config = parse_config(CONFIG | {"storage": {
        "database_url": f"sqlite:///{tmp_path / 'e.db'}", "evidence_dir": str(tmp_path / "ev")}})
    engine = open_engine(config.storage.database_url)
    sessions = session_factory(engine)
    context = AppContext(config=config, sessions=sessions, evidence_dir=tmp_path / "ev",
                         patrol=PatrolService(config, sessions))
    yield context
    engine.dispose()


@pytest.fixture
def client(ctx, as_role):
    client = TestClient(create_app(ctx))
    as_role(client, ctx, "operator")
    return client


def add_event(ctx, event_id: str, *, review="pending", kind="stall", minutes_ago=0):
    with ctx.sessions.begin() as s:
        s.add(EventRow(id=event_id, camera_id="gate-01", zone_id="walk", kind=kind,
                       state="active", review=review, confidence=0.4, severity="low",
                       boxes=[[1, 2, 3, 4]], start_ts=0.0, snapshot=f"gate-01/x/{event_id}/snapshot.jpg",
                       started_at=datetime.now(UTC) - timedelta(minutes=minutes_ago)))


def test_events_newest_first_with_filters(client, ctx):
    add_event(ctx, "old", minutes_ago=10)
    add_event(ctx, "new", kind="crowd")
    body = client.get("/api/events").json()
    assert body["count"] == 2 and [e["id"] for e in body["data"]] == ["new", "old"]
    assert body["data"][0]["snapshot_url"] == "/evidence/gate-01/x/new/snapshot.jpg"
    assert body["data"][0]["camera_name"] == "东门"
    assert [e["id"] for e in client.get("/api/events?kind=stall").json()["data"]] == ["old"]
    assert client.get("/api/events?township=顶山街道").json()["count"] == 2
    assert client.get("/api/events?township=nowhere").json()["count"] == 0
    assert client.get("/api/events?limit=0").status_code == 422


def test_confirm_raises_an_order_through_the_outbox(client, ctx):
    add_event(ctx, "e1")
    resp = client.post("/api/events/e1/confirm", json={"actor": "王五", "note": "确认摆摊"})
    assert resp.status_code == 200 and resp.json()["review"] == "confirmed"
    assert resp.json()["review_note"].startswith("operator-")  # the account, not the body
    with ctx.sessions() as s:
        row = s.scalars(select(OutboxRow)).one()
    assert row.key == "event:e1" and row.payload["township"] == "顶山街道"
    assert row.payload["source"] == "video_patrol" and "占道经营" in row.payload["description"]
    again = client.post("/api/events/e1/confirm", json={})
    assert again.status_code == 409 and "confirmed" in again.json()["detail"]


def test_reject_needs_a_reason_and_keeps_the_event(client, ctx):
    add_event(ctx, "e1")
    assert client.post("/api/events/e1/reject", json={}).status_code == 422
    resp = client.post("/api/events/e1/reject", json={"reason": "影子误报"})
    assert resp.json()["review"] == "rejected" and "影子误报" in resp.json()["review_note"]
    with ctx.sessions() as s:
        assert s.scalars(select(OutboxRow)).first() is None


def test_relabel(client, ctx):
    add_event(ctx, "e1")
    assert client.post("/api/events/e1/relabel", json={"kind": "crowd"}).json()["label"] == "crowd"
    assert client.post("/api/events/e1/relabel", json={"kind": "fire"}).status_code == 422


@pytest.mark.parametrize("path", ["/api/events/nope", "/api/cameras/nope"])
def test_unknown_ids_are_404(client, path):
    assert client.get(path).status_code == 404


def test_unknown_event_review_is_404(client):
    assert client.post("/api/events/nope/confirm", json={}).status_code == 404


def test_camera_sources_never_show_credentials():
    class RtspLike(BaseModel):  # stands in for URL-bearing sources (RTSP, ONVIF, HTTP)
        type: str = "rtsp"
        url: str

    camera = SimpleNamespace(source=RtspLike(url="rtsp://admin:hunter2@10.0.0.1:554/ch1"))
    assert describe_source(camera) == {"type": "rtsp", "url": "rtsp://admin:***@10.0.0.1:554/ch1"}


def test_evidence_files_are_served_with_ranges(client, ctx):
    path = ctx.evidence_dir / "gate-01/x/e1/clip.mp4"
    path.parent.mkdir(parents=True)
    path.write_bytes(bytes(range(256)) * 4)
    resp = client.get("/evidence/gate-01/x/e1/clip.mp4", headers={"Range": "bytes=10-19"})
    assert resp.status_code == 206 and resp.content == bytes(range(10, 20))
    assert client.get("/evidence/../e.db").status_code == 404


def test_openapi_and_console_render(client):
    assert "/api/events" in client.get("/openapi.json").json()["paths"]
    client.headers.pop("Authorization")
    assert client.get("/review", follow_redirects=False).headers["location"].startswith("/login")
    login = client.get("/login")
    assert login.status_code == 200 and "登录" in login.text
    assert "Sign in" in client.get("/login?lang=en").text
