"""The console's API on a running service (store, embedded dispatch core, HTTP server):
departments see and answer only their unit's orders, with photos; commanders review and
read statistics; zone edits are saved to the file and used by the running worker; live
updates arrive as server-sent events; clips the browser cannot play get a rendition."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path

import av
import cv2
import httpx
import numpy as np
import pytest
import yaml

from api.auth.accounts import add_user
from lianqin.config import load_config
from lianqin.runtime import Runtime
from patrol.tables import EventRow

PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("console-api")
    data = {
        "storage": {"database_url": f"sqlite:///{tmp / 'events.db'}",
                    "evidence_dir": str(tmp / "evidence")},
        "dispatch": {"database_url": f"sqlite:///{tmp / 'dispatch.db'}"},
        "cameras": [{"id": "cam", "township": "星甸街道", "analyse_fps": 2,
                     "source": {"type": "synthetic", "scene": "quiet", "seed": 1},
                     "zones": [{"id": "old", "polygon": [[0, 0], [1, 0], [1, 1]],
                                "kinds": ["dust"]}]},
                    {"id": "ptz", "township": "星甸街道", "analyse_fps": 2,
                     "source": {"type": "mock", "presets": {"1": "quiet", "2": "quiet"},
                                "move_s": 0.2},
                     "tour": {"settle_s": 0.2, "dwell_s": 2},
                     "presets": [{"token": "1", "zones": []}, {"token": "2", "zones": []}]}],
        "bridge": {"enabled": False},  # orders here are made by hand
        "api": {"port": 0},
    }
    path = tmp / "site.yaml"
    path.write_text("# site file\n" + yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    runtime = Runtime(load_config(path), port=0, config_path=path)
    url = runtime.start()
    tokens = {}
    for name, role, unit in (("ops", "operator", None), ("chief", "commander", None),
                             ("root", "admin", None), ("env", "department", "environment"),
                             ("cg", "department", "city_management")):
        tokens[name] = add_user(runtime.patrol.sessions, name=name, role=role, unit=unit,
                                password=PASSWORD)[2]
    clients = {name: httpx.Client(base_url=url, timeout=30,
                                  headers={"Authorization": f"Bearer {token}"})
               for name, token in tokens.items()}
    clients["service"] = httpx.Client(base_url=url, timeout=30, headers={
        "Authorization": f"Bearer {runtime.service_token}"})
    clients["anon"] = httpx.Client(base_url=url, timeout=30)
    yield {"runtime": runtime, "url": url, "path": path, "tmp": tmp, **clients}
    for client in clients.values():
        client.close()
    runtime.stop()


def _order(service) -> dict:
    resp = service["service"].post("/api/dispatch/orders", json={
        "kind": "smoke", "source": "video_patrol", "description": "麦田冒烟",
        "township": "星甸街道"})
    assert resp.status_code == 201, resp.text
    return resp.json()


def _png(color=(30, 140, 30)) -> bytes:
    ok, data = cv2.imencode(".png", np.full((60, 80, 3), color, np.uint8))
    assert ok
    return data.tobytes()


def test_departments_see_and_answer_only_their_own_orders(service):
    order = _order(service)
    oid = order["id"]
    assert "environment" in order["units"] and "city_management" not in order["units"]
    assert oid in [o["id"] for o in service["env"].get("/api/orders").json()["data"]]
    # Asking for another unit's orders still gives only its own.
    assert service["cg"].get("/api/orders", params={"unit": "environment"}).json()["data"] == []
    assert service["cg"].get(f"/api/orders/{oid}").status_code == 404
    refused = service["cg"].post(f"/api/orders/{oid}/feedback", data={"note": "done"})
    assert refused.status_code == 404
    bad = service["env"].post(f"/api/orders/{oid}/feedback", data={"note": "done"},
                              files=[("photos", ("x.jpg", b"not a picture", "image/jpeg"))])
    assert bad.status_code == 422 and "picture" in bad.json()["detail"]
    done = service["env"].post(f"/api/orders/{oid}/feedback", data={"note": "已扑灭"},
                               files=[("photos", ("site.png", _png(), "image/png"))])
    assert done.status_code == 200 and done.json()["status"] == "feedback_received", done.text
    detail = service["env"].get(f"/api/orders/{oid}").json()
    (feedback,) = detail["feedback"]
    assert feedback["unit"] == "environment" and feedback["note"] == "已扑灭"
    photo = feedback["photos"][0].removeprefix(service["url"])
    got = service["env"].get(photo)
    assert got.status_code == 200 and got.content[:2] == b"\xff\xd8"  # re-encoded JPEG
    assert service["anon"].get(photo).status_code == 401
    # Departments cannot judge; the commander can.
    body = {"effective": True, "note": "现场核实"}
    assert service["env"].post(f"/api/orders/{oid}/review", json=body).status_code == 403
    closed = service["chief"].post(f"/api/orders/{oid}/review", json=body)
    assert closed.status_code == 200 and closed.json()["status"] == "closed", closed.text
    history = service["chief"].get(f"/api/orders/{oid}").json()["history"]
    assert history[-1]["actor"] == "chief" and history[-1]["to_status"] == "closed"


def test_supervision_actions_pass_through_or_say_unsupported(service):
    oid = _order(service)["id"]
    resp = service["chief"].post(f"/api/orders/{oid}/remind", json={"note": "请尽快处置"})
    assert resp.status_code in (200, 201), resp.text
    assert service["env"].post(f"/api/orders/{oid}/remind", json={}).status_code == 403
    assert service["chief"].post(f"/api/orders/{oid}/delete", json={}).status_code == 422
    # Departments ask for support on their own orders only.
    assert service["cg"].post(f"/api/orders/{oid}/reinforce", json={"note": "人手不足"}).status_code == 404
    assert service["chief"].post(f"/api/orders/{oid}/reinforce", json={"note": "x"}).status_code == 403
    own = service["env"].post(f"/api/orders/{oid}/reinforce", json={"note": "人手不足"})
    # The dispatch core's answer comes through: with no patrol member on duty next door and
    # no unit named, it says why it cannot send anyone.
    assert own.status_code == 409, own.text
    assert "no reinforcement" in own.json()["detail"]


def test_statistics_for_commanders(service):
    _order(service)
    stats = service["chief"].get("/api/stats")
    assert stats.status_code == 200 and stats.json()["total"] >= 1
    assert stats.json()["by_kind"]["smoke"] >= 1
    trend = service["chief"].get("/api/stats/trend", params={"days": 3}).json()["days"]
    # the centre's days: China's local date, UTC+8 (after 16:00 UTC it is tomorrow there)
    today = datetime.now(timezone(timedelta(hours=8))).date()
    assert [d["day"] for d in trend] == [(today - timedelta(days=n)).isoformat()
                                         for n in (2, 1, 0)]
    assert trend[-1]["total"] >= 1
    assert service["env"].get("/api/stats").status_code == 403
    assert service["ops"].get("/api/stats").status_code == 403


def test_zone_edits_are_saved_and_used_by_the_running_worker(service):
    worker = service["runtime"].patrol.workers["cam"]
    assert list(worker.analyzers[None].detectors) == ["dust"]
    zone = {"id": "field", "name": "农田", "polygon": [[0, 0.2], [1, 0.2], [1, 1], [0, 1]],
            "kinds": ["smoke", "crowd"], "sensitivity": 70, "min_duration_s": 3,
            "repeat_interval_s": 120, "count_threshold": 12,
            "schedule": [{"start": "06:00", "end": "20:00", "days": [1, 2, 3, 4, 5]}],
            "shield": [[[0.8, 0.2], [1, 0.2], [1, 0.4]]]}
    assert service["chief"].put("/api/cameras/cam/zones", json={"zones": [zone]}).status_code == 403
    dup = service["root"].put("/api/cameras/cam/zones", json={"zones": [zone, zone]})
    assert dup.status_code == 422 and "twice" in json.dumps(dup.json())
    outside = service["root"].put("/api/cameras/cam/zones", json={"zones": [
        zone | {"polygon": [[0, 0], [1.5, 0], [1, 1]]}]})
    assert outside.status_code == 422 and "outside 0..1" in outside.text
    resp = service["root"].put("/api/cameras/cam/zones", json={"zones": [zone]})
    assert resp.status_code == 200, resp.text
    assert resp.json()["active"] == ["field"] and resp.json()["saved_to"] == str(service["path"])
    # The running worker analyses with the new zone and builds the detectors it needs.
    assert sorted(worker.analyzer.detectors) == ["crowd", "smoke"]
    assert [[list(v) for v in p] for p in worker.analyzer.zones[0].shield] == zone["shield"]
    saved = load_config(service["path"]).camera("cam").zones
    assert [z.id for z in saved] == ["field"] and saved[0].count_threshold == 12
    assert service["path"].with_name("site.yaml.bak").read_text().startswith("# site file")
    got = service["ops"].get("/api/cameras/cam/zones").json()
    assert got["zones"][0]["sensitivity"] == 70 and got["active"] == ["field"]
    deadline = time.monotonic() + 30  # frames keep being analysed with it
    analysed = worker.status.analysed
    while time.monotonic() < deadline and worker.status.analysed <= analysed + 2:
        time.sleep(0.2)
    assert worker.status.analysed > analysed + 2
    assert worker.analyzer.timings["smoke"].calls > 0


def test_zones_of_a_ptz_preset(service):
    worker = service["runtime"].patrol.workers["ptz"]
    zone = {"id": "east", "polygon": [[0, 0.2], [1, 0.2], [1, 1], [0, 1]], "kinds": ["smoke"]}
    unnamed = service["root"].put("/api/cameras/ptz/zones", json={"zones": [zone]})
    assert unnamed.status_code == 422 and "preset" in unnamed.text
    assert service["root"].put("/api/cameras/ptz/zones", params={"preset": "9"},
                               json={"zones": [zone]}).status_code == 404
    resp = service["root"].put("/api/cameras/ptz/zones", params={"preset": "2"},
                               json={"zones": [zone]})
    assert resp.status_code == 200 and resp.json()["active"] == ["east"], resp.text
    assert [z.id for z in worker.analyzers["2"].zones] == ["east"]
    assert worker.analyzers["1"].zones == []
    saved = load_config(service["path"]).camera("ptz")
    assert [z.id for z in saved.zones_at("2")] == ["east"] and saved.zones_at("1") == []
    wall = {c["id"]: c for c in service["ops"].get("/api/cameras").json()}
    assert wall["ptz"]["tour"]["presets"] == ["1", "2"]
    assert wall["ptz"]["presets"][1]["zones"][0]["id"] == "east"


def test_new_events_arrive_as_server_sent_events(service):
    received: list[dict] = []
    connected = threading.Event()

    def listen() -> None:
        with service["ops"].stream("GET", "/api/stream", timeout=30) as resp:
            assert resp.headers["content-type"].startswith("text/event-stream")
            connected.set()
            for line in resp.iter_lines():
                if line.startswith("data: "):
                    received.append(json.loads(line[6:]))
                    return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    assert connected.wait(30)
    bus = service["runtime"].patrol.bus
    deadline = time.monotonic() + 30
    while not received and time.monotonic() < deadline:
        bus.publish("events/cam/new", {"id": "evt-sse", "kind": "smoke"})
        thread.join(0.5)
    assert received and received[0]["id"] == "evt-sse" and received[0]["topic"] == "events/cam/new"
    assert service["anon"].get("/api/stream").status_code == 401


def test_clips_chromium_cannot_play_get_an_h264_rendition(service):
    evidence: Path = service["runtime"].config.storage.evidence_dir
    clip = evidence / "cam/x/mp4v/clip.mp4"
    clip.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(clip), "w") as out:
        stream = out.add_stream("mpeg4", rate=Fraction(10))
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        for i in range(20):
            image = np.full((96, 160, 3), (i * 10) % 255, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    with service["runtime"].patrol.sessions.begin() as s:
        s.add(EventRow(id="mp4v", camera_id="cam", zone_id="field", kind="smoke", state="ended",
                       review="pending", confidence=0.5, severity="high", boxes=[], start_ts=0.0,
                       started_at=datetime.now(UTC), clip="cam/x/mp4v/clip.mp4",
                       clip_state="ready"))
    event = service["ops"].get("/api/events/mp4v").json()
    assert event["clip_url"] == "/api/events/mp4v/clip.mp4"
    resp = service["ops"].get(event["clip_url"])
    assert resp.status_code == 200 and resp.headers["content-type"] == "video/mp4"
    served = service["tmp"] / "served.mp4"
    served.write_bytes(resp.content)
    with av.open(str(served)) as container:
        video = container.streams.video[0]
        assert video.codec_context.name == "h264"
        assert sum(1 for _ in container.decode(video)) == 20
    assert clip.with_name("clip.web.mp4").exists()  # made once, kept beside the original
