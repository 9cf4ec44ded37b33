"""The HTTP contract the order bridge is written against, over a real SQLite file."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from dispatch_factories import START, order_body
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from dispatch.api import create_router
from dispatch.app import create_app
from dispatch.config import DispatchConfig
from dispatch.models import HistoryEntry, Order
from dispatch.service import DispatchService

FEEDBACK = {"unit": "environment", "note": "已到场扑灭", "photos": ["http://units/after-1.jpg"]}
VERIFY = {"actor": "video_patrol", "note": "re-checking cam-12 preset 3"}
EFFECTIVE = {"effective": True, "note": "no smoke on re-check", "actor": "video_patrol"}
NOT_EFFECTIVE = {"effective": False, "note": "smoke still visible", "actor": "video_patrol"}
REVIEW_OK = {"effective": True, "note": "现场照片显示已清理", "actor": "commander-li"}
REVIEW_BAD = {"effective": False, "note": "照片不能说明已处置", "actor": "commander-li"}


def create(client: TestClient, key: str | None = None, **overrides: Any) -> dict[str, Any]:
    headers = {"Idempotency-Key": key} if key else {}
    response = client.post("orders", json=order_body(**overrides), headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def post(client: TestClient, order_id: int, step: str, body: dict, key: str | None = None):
    headers = {"Idempotency-Key": key} if key else {}
    return client.post(f"orders/{order_id}/{step}", json=body, headers=headers)


def test_create_accepts_and_dispatches(client: TestClient) -> None:
    order = create(client)
    assert {"id", "status", "level", "units", "lead_unit", "deadline"} <= order.keys()
    assert order["status"] == "dispatched"
    assert (order["level"], order["centre"]) == (1, "新桥镇联勤分中心")
    assert (order["units"], order["lead_unit"]) == (["environment", "agriculture"], "environment")
    assert order["deadline"] == "2026-11-27T10:00:00Z"  # smoke: 2 h
    assert order["code"] == "WO-20261127-0001"
    assert order["location"] == {"lat": 31.95, "lon": 120.29}
    assert order["overdue"] is False

    detail = client.get(f"orders/{order['id']}").json()
    steps = [(h["action"], h["from_status"], h["to_status"]) for h in detail["history"]]
    assert steps == [("accept", None, "accepted"), ("dispatch", "accepted", "dispatched")]
    assert detail["history"][0]["actor"] == "video_patrol"
    assert "环保 (environment, lead)" in detail["history"][1]["note"]
    assert detail["evidence"] == [
        {
            "url": "http://evidence/ev-1.jpg",
            "kind": "snapshot",
            "phase": "before",
            "at": "2026-11-27T08:00:00Z",
        }
    ]
    assert detail["feedback"] == []


# The standard's paths (6.2.3, 6.3): steps after intake, and the status each one leads to.
PATHS = {
    "closed on first verdict": [
        ("feedback", FEEDBACK, "feedback_received"),
        ("verification", VERIFY, "verifying"),
        ("verdict", EFFECTIVE, "closed"),
    ],
    "redo then closed": [
        ("feedback", FEEDBACK, "feedback_received"),
        ("verification", VERIFY, "verifying"),
        ("verdict", NOT_EFFECTIVE, "redo"),
        ("feedback", FEEDBACK, "feedback_received"),
        ("verification", VERIFY, "verifying"),
        ("verdict", EFFECTIVE, "closed"),
    ],
    "redo then not disposed": [
        ("feedback", FEEDBACK, "feedback_received"),
        ("verification", VERIFY, "verifying"),
        ("verdict", NOT_EFFECTIVE, "redo"),
        ("feedback", FEEDBACK, "feedback_received"),
        ("verification", VERIFY, "verifying"),
        ("verdict", NOT_EFFECTIVE, "not_disposed"),
    ],
    "verdict straight after feedback": [
        ("feedback", FEEDBACK, "feedback_received"),
        ("verdict", EFFECTIVE, "closed"),
    ],
    "commander review, redo then closed": [
        ("feedback", FEEDBACK, "feedback_received"),
        ("review", REVIEW_BAD, "redo"),
        ("feedback", FEEDBACK, "feedback_received"),
        ("review", REVIEW_OK, "closed"),
    ],
    "commander review, not disposed": [
        ("feedback", FEEDBACK, "feedback_received"),
        ("review", REVIEW_BAD, "redo"),
        ("feedback", FEEDBACK, "feedback_received"),
        ("review", REVIEW_BAD, "not_disposed"),
    ],
}


@pytest.mark.parametrize("steps", PATHS.values(), ids=PATHS.keys())
def test_standard_paths(client: TestClient, clock, steps) -> None:
    order_id = create(client)["id"]
    for step, body, expected in steps:
        clock.advance(minutes=10)
        response = post(client, order_id, step, body)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == expected
    detail = client.get(f"orders/{order_id}").json()
    history = detail["history"]
    assert [h["to_status"] for h in history] == ["accepted", "dispatched"] + [
        expected for _, _, expected in steps
    ]
    assert all(
        h["from_status"] == p["to_status"] for p, h in zip(history, history[1:], strict=False)
    )
    redos = sum(1 for _, _, expected in steps if expected == "redo")
    assert detail["redo_count"] == redos
    final = steps[-1][2]
    assert detail["finished_at"] == detail["updated_at"]
    assert detail["overdue"] is False
    feedbacks = sum(1 for step, _, _ in steps if step == "feedback")
    assert len(detail["feedback"]) == feedbacks
    assert detail["feedback"][0]["photos"] == FEEDBACK["photos"]
    assert [e["phase"] for e in detail["evidence"]] == ["before"] + ["feedback"] * feedbacks
    assert final in ("closed", "not_disposed")


def test_redo_restarts_the_time_limit(client: TestClient, clock) -> None:
    order_id = create(client, kind="stall")["id"]
    clock.advance(hours=3)
    post(client, order_id, "feedback", {"unit": "城管", "note": "已劝离"})
    redone = post(client, order_id, "review", REVIEW_BAD).json()
    assert redone["deadline"] == "2026-11-27T15:00:00Z"  # 11:00 + stall's 4 h


def test_verdict_carries_after_evidence(client: TestClient) -> None:
    order_id = create(client)["id"]
    post(client, order_id, "feedback", FEEDBACK)
    after = [{"url": "http://evidence/after.mp4", "kind": "clip", "phase": "after"}]
    post(client, order_id, "verdict", {**EFFECTIVE, "evidence": after})
    evidence = client.get(f"orders/{order_id}").json()["evidence"]
    assert [(e["kind"], e["phase"]) for e in evidence][-1] == ("clip", "after")


def test_feedback_names_the_unit_by_id_or_display_name(client: TestClient) -> None:
    order_id = create(client, kind="dust")["id"]
    response = post(client, order_id, "feedback", {"unit": "建设", "note": "已覆盖裸土"})
    assert response.status_code == 200
    detail = client.get(f"orders/{order_id}").json()
    assert detail["feedback"][0]["unit"] == "construction"
    assert detail["history"][-1]["actor"] == "construction"


def test_repeated_verification_is_a_no_op(client: TestClient) -> None:
    order_id = create(client)["id"]
    post(client, order_id, "feedback", FEEDBACK)
    first = post(client, order_id, "verification", VERIFY)
    again = post(client, order_id, "verification", {})
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    actions = [h["action"] for h in client.get(f"orders/{order_id}").json()["history"]]
    assert actions.count("verification") == 1


def test_idempotent_create_makes_one_order(client: TestClient, engine) -> None:
    first = client.post("orders", json=order_body(), headers={"Idempotency-Key": "ev-1"})
    again = client.post(
        "orders", json=order_body(description="retried"), headers={"Idempotency-Key": "ev-1"}
    )
    other = client.post("orders", json=order_body(), headers={"Idempotency-Key": "ev-2"})
    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 201)
    assert again.json() == first.json()
    assert other.json()["id"] != first.json()["id"]
    with Session(engine) as session:
        assert session.scalar(select(func.count(Order.id))) == 2
        assert session.scalar(select(func.count(HistoryEntry.id))) == 4


def test_duplicate_verdict_applies_once(client: TestClient) -> None:
    order_id = create(client)["id"]
    post(client, order_id, "feedback", FEEDBACK)
    post(client, order_id, "verification", VERIFY)
    first = post(client, order_id, "verdict", NOT_EFFECTIVE, key="verdict-1")
    again = post(client, order_id, "verdict", NOT_EFFECTIVE, key="verdict-1")
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json()["status"] == "redo" and again.json()["redo_count"] == 1
    history = client.get(f"orders/{order_id}").json()["history"]
    assert [h["action"] for h in history].count("verdict") == 1
    # A new key is a new verdict, and redo does not accept one.
    fresh = post(client, order_id, "verdict", NOT_EFFECTIVE, key="verdict-2")
    assert fresh.status_code == 409


def test_a_key_used_for_another_action_is_refused(client: TestClient) -> None:
    order_id = create(client)["id"]
    post(client, order_id, "feedback", FEEDBACK, key="k-1")
    response = post(client, order_id, "verdict", EFFECTIVE, key="k-1")
    assert response.status_code == 422
    assert "was used for feedback" in response.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "orders/999", None),
        ("post", "orders/999/feedback", FEEDBACK),
        ("post", "orders/999/verification", VERIFY),
        ("post", "orders/999/verdict", EFFECTIVE),
        ("post", "orders/999/review", REVIEW_OK),
    ],
)
def test_unknown_order_is_404(client: TestClient, method, path, body) -> None:
    response = client.request(method, path, json=body)
    assert response.status_code == 404
    assert response.json() == {"detail": "order 999 does not exist"}


# steps to reach a status, the refused step, and what the 409 message must say
CONFLICTS = [
    ([], "verdict", EFFECTIVE, "it is dispatched; allowed actions: feedback"),
    ([], "review", REVIEW_OK, "it is dispatched; allowed actions: feedback"),
    ([], "verification", VERIFY, "it is dispatched; allowed actions: feedback"),
    (
        [("feedback", FEEDBACK)],
        "feedback",
        FEEDBACK,
        "it is feedback_received; allowed actions: verification, verdict, review",
    ),
    (
        [("feedback", FEEDBACK), ("verdict", EFFECTIVE)],
        "feedback",
        FEEDBACK,
        "it is closed; allowed actions: none, the order is final",
    ),
    (
        [("feedback", FEEDBACK), ("verdict", NOT_EFFECTIVE)],
        "verification",
        VERIFY,
        "it is redo; allowed actions: feedback",
    ),
]


@pytest.mark.parametrize(("setup", "step", "body", "message"), CONFLICTS)
def test_invalid_transition_is_409(client: TestClient, setup, step, body, message) -> None:
    order_id = create(client)["id"]
    for done, done_body in setup:
        assert post(client, order_id, done, done_body).status_code == 200
    before = client.get(f"orders/{order_id}").json()
    response = post(client, order_id, step, body)
    assert response.status_code == 409
    assert response.json()["detail"] == f"cannot {step} order {order_id}: {message}"
    assert client.get(f"orders/{order_id}").json() == before


@pytest.mark.parametrize(
    ("path", "body", "where"),
    [
        ("orders", order_body(source="twitter"), ["body", "source"]),
        ("orders", order_body(kind="Smoke!"), ["body", "kind"]),
        ("orders", order_body(description=""), ["body", "description"]),
        ("orders", order_body(location={"lat": 91, "lon": 0}), ["body", "location", "lat"]),
        ("orders", order_body(level=3), ["body", "level"]),
        ("orders", order_body(camera="cam-12"), ["body", "camera"]),
        (
            "orders",
            order_body(evidence=[{"url": "x", "kind": "video", "phase": "before"}]),
            ["body", "evidence", 0, "kind"],
        ),
        (
            "orders",
            {k: v for k, v in order_body().items() if k != "township"},
            ["body", "township"],
        ),
        ("orders/{id}/feedback", {"note": "x"}, ["body", "unit"]),
        ("orders/{id}/verdict", {"note": "x", "actor": "a"}, ["body", "effective"]),
        (
            "orders/{id}/verdict",
            {"effective": "maybe", "note": "x", "actor": "a"},
            ["body", "effective"],
        ),
        ("orders/{id}/review", {"effective": True, "note": "x"}, ["body", "actor"]),
    ],
)
def test_bad_body_is_422_naming_the_field(client: TestClient, path, body, where) -> None:
    order_id = create(client)["id"]
    response = client.post(path.format(id=order_id), json=body)
    assert response.status_code == 422
    assert where in [error["loc"] for error in response.json()["detail"]]


def test_feedback_from_an_unassigned_unit_is_422(client: TestClient) -> None:
    order_id = create(client)["id"]
    response = post(client, order_id, "feedback", {"unit": "公安", "note": "x"})
    assert response.status_code == 422
    assert response.json()["detail"] == (
        f"unit '公安' is not assigned to order {order_id}; "
        "its units: 环保 (environment), 农业 (agriculture)"
    )


def test_bad_query_is_422(client: TestClient) -> None:
    assert client.get("orders", params={"status": "done"}).status_code == 422
    assert client.get("orders", params={"limit": 0}).status_code == 422
    assert client.get("orders", params={"updated_since": "yesterday"}).status_code == 422
    assert client.get("orders", params={"offset": 10**20}).status_code == 422
    assert client.get("orders/abc").status_code == 422
    assert client.get(f"orders/{2**63}").status_code == 422
    assert client.get("orders/0").status_code == 422


def test_list_filters_and_pages_newest_first(client: TestClient, clock) -> None:
    ids = {}
    for kind, source, township, camera in [
        ("smoke", "video_patrol", "新桥镇", "cam-1"),
        ("dust", "video_patrol", "新桥镇", "cam-2"),
        ("stall", "public_hotline", "周庄镇", None),
        ("crowd", "public_110", "周庄镇", None),
    ]:
        clock.advance(minutes=1)
        ids[kind] = create(client, kind=kind, source=source, township=township, camera_id=camera)[
            "id"
        ]
    clock.advance(minutes=1)
    post(client, ids["smoke"], "feedback", FEEDBACK)

    def listed(**params: Any) -> tuple[list[int], int]:
        answer = client.get("orders", params=params).json()
        return [o["id"] for o in answer["data"]], answer["count"]

    everything = [ids[k] for k in ("crowd", "stall", "dust", "smoke")]
    assert listed() == (everything, 4)
    assert listed(limit=2) == (everything[:2], 4)
    assert listed(limit=2, offset=2) == (everything[2:], 4)
    assert listed(status="feedback_received") == ([ids["smoke"]], 1)
    assert listed(status="dispatched", township="周庄镇") == ([ids["crowd"], ids["stall"]], 2)
    assert listed(source="public_110") == ([ids["crowd"]], 1)
    assert listed(camera_id="cam-2") == ([ids["dust"]], 1)
    assert listed(kind="stall") == ([ids["stall"]], 1)
    assert listed(unit="environment") == ([ids["dust"], ids["smoke"]], 2)
    assert listed(updated_since=(START + timedelta(minutes=5)).isoformat()) == ([ids["smoke"]], 1)
    # A naive time is UTC.
    assert listed(updated_since="2026-11-27T08:04:00") == ([ids["crowd"], ids["smoke"]], 2)


def test_overdue_until_final(client: TestClient, clock) -> None:
    crowd = create(client, kind="crowd")["id"]  # 1 h
    smoke = create(client, kind="smoke")["id"]  # 2 h
    clock.advance(minutes=61)
    assert client.get(f"orders/{crowd}").json()["overdue"] is True
    assert client.get(f"orders/{smoke}").json()["overdue"] is False
    post(client, crowd, "feedback", {"unit": "public_security", "note": "已疏散"})
    assert client.get(f"orders/{crowd}").json()["overdue"] is True  # not final yet
    closed = post(client, crowd, "verdict", EFFECTIVE).json()
    assert closed["overdue"] is False
    overdue = {o["id"]: o["overdue"] for o in client.get("orders").json()["data"]}
    assert overdue == {crowd: False, smoke: False}


def test_stats(client: TestClient, clock) -> None:
    empty = client.get("stats").json()
    assert empty["total"] == 0 and empty["closure_rate"] is None
    assert empty["by_status"]["closed"] == 0

    closed = create(client, kind="smoke")["id"]
    failed = create(client, kind="stall", township="周庄镇", source="public_hotline")["id"]
    create(client, kind="crowd", severity="critical", source="public_110")
    clock.advance(minutes=30)
    post(client, closed, "feedback", FEEDBACK)
    post(client, closed, "verdict", EFFECTIVE)  # closed after 30 min, on time
    for review in (REVIEW_BAD, REVIEW_BAD):
        post(client, failed, "feedback", {"unit": "城管", "note": "已处理"})
        post(client, failed, "review", review)
    clock.advance(minutes=31)  # the crowd order (1 h) is now overdue

    stats = client.get("stats").json()
    assert stats["total"] == 3
    assert stats["by_status"] == {
        "follow_up": 0,
        "copied": 0,
        "accepted": 0,
        "dispatched": 1,
        "feedback_received": 0,
        "verifying": 0,
        "redo": 0,
        "closed": 1,
        "not_disposed": 1,
    }
    assert stats["by_kind"] == {"crowd": 1, "smoke": 1, "stall": 1}
    assert stats["by_township"] == {"周庄镇": 1, "新桥镇": 2}
    assert stats["by_unit"] == {
        "agriculture": 1,
        "city_management": 1,
        "environment": 1,
        "market_supervision": 1,
        "public_security": 1,
    }
    assert stats["by_level"] == {"1": 2, "2": 1}
    assert stats["by_source"]["public_110"] == 1 and stats["by_source"]["unit"] == 0
    assert stats["overdue"] == 1
    assert stats["closure_rate"] == pytest.approx(1 / 3)
    assert stats["redo_rate"] == pytest.approx(1 / 3)
    assert stats["not_disposed_rate"] == pytest.approx(1 / 3)
    assert stats["on_time_rate"] == 1.0
    assert stats["mean_time_to_close_s"] == 30 * 60

    later = (START + timedelta(minutes=1)).isoformat()
    assert client.get("stats", params={"since": later}).json()["total"] == 0
    assert client.get("stats", params={"until": later}).json()["total"] == 3


def test_health_and_units(client: TestClient) -> None:
    assert client.get("health").json() == {"status": "ok"}
    units = client.get("units").json()
    assert {"id": "environment", "name": "环保"} in units["data"]
    assert units["count"] == len(units["data"])


def test_health_is_503_without_a_database(tmp_path, config) -> None:
    unreachable = create_engine(f"sqlite:///{tmp_path}/no-such-folder/dispatch.db")
    app = FastAPI()
    app.include_router(create_router(DispatchService(engine=unreachable, config=config)))
    with TestClient(app) as client:
        response = client.get("/health")
    assert response.status_code == 503
    assert response.json() == {"detail": "database unavailable"}


def test_standalone_app(tmp_path) -> None:
    app = create_app(DispatchConfig(), f"sqlite:///{tmp_path}/data/dispatch.db")
    with TestClient(app) as client:
        assert client.get("/api/dispatch/health").json() == {"status": "ok"}
        created = client.post("/api/dispatch/orders", json=order_body(kind="dust"))
        assert created.status_code == 201
        assert created.json()["lead_unit"] == "construction"
        assert (
            "/api/dispatch/orders/{order_id}/verdict" in client.get("/openapi.json").json()["paths"]
        )
    assert (tmp_path / "data" / "dispatch.db").is_file()


def test_run_as_a_process_of_its_own(tmp_path, monkeypatch) -> None:
    import dispatch.__main__ as entry

    served = {}
    monkeypatch.setattr(entry.uvicorn, "run", lambda app, **kw: served.update(app=app, **kw))
    config = tmp_path / "dispatch.yaml"
    config.write_text("routes:\n  smoke:\n    units: [agriculture]\n    deadline_minutes: 30\n")
    entry.main(
        ["--database", f"sqlite:///{tmp_path}/d.db", "--config", str(config), "--port", "9001"]
    )
    assert (served["host"], served["port"]) == ("127.0.0.1", 9001)
    with TestClient(served["app"]) as client:
        created = client.post("/api/dispatch/orders", json=order_body()).json()
    assert created["units"] == ["agriculture"]
    deadline, created_at = (datetime.fromisoformat(created[k]) for k in ("deadline", "created_at"))
    assert deadline - created_at == timedelta(minutes=30)
