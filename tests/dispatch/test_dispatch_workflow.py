"""The standard's paths through the HTTP API on both stores: intake from every source,
acceptance (follow-up, copied, urgent), the two response levels, escalation, supervision
of overdue orders, and the verdict by footage or by a commander."""

from __future__ import annotations

from typing import Any

import pytest
from dispatch_factories import order_body
from fastapi.testclient import TestClient

from dispatch.config import DispatchConfig

FEEDBACK = {"unit": "environment", "note": "已到场扑灭"}
EFFECTIVE = {"effective": True, "note": "no smoke on re-check", "actor": "video_patrol"}
NOT_EFFECTIVE = {"effective": False, "note": "smoke still visible", "actor": "video_patrol"}
REVIEW_OK = {"effective": True, "note": "现场照片显示已清理", "actor": "commander-li"}
REVIEW_BAD = {"effective": False, "note": "照片不能说明已处置", "actor": "commander-li"}
ESCALATE = {"actor": "新桥镇分中心-王", "note": "镇级无法协调，申请二级响应"}


def create(client: TestClient, status: int = 201, **overrides: Any) -> dict[str, Any]:
    response = client.post("orders", json=order_body(**overrides))
    assert response.status_code == status, response.text
    return response.json()


def act(client: TestClient, order_id: int, step: str, body: dict, status: int = 200) -> dict:
    response = client.post(f"orders/{order_id}/{step}", json=body)
    assert response.status_code == status, response.text
    return response.json()


def history(client: TestClient, order_id: int) -> list[dict[str, Any]]:
    return client.get(f"orders/{order_id}").json()["history"]


# --- intake (6.1) -----------------------------------------------------------------------

SOURCES = [
    ("video_patrol", "video_patrol"),
    ("unit", "unit"),
    ("patrol_team", "patrol_team"),
    ("public_110", "public_110"),
    ("public_hotline", "public_hotline"),
    ("public_online", "public_online"),
    ("110", "public_110"),
    ("hotline", "public_hotline"),
    ("online", "public_online"),
]


@pytest.mark.parametrize(("sent", "stored"), SOURCES)
def test_intake_from_every_source(client: TestClient, sent: str, stored: str) -> None:
    body = order_body(
        kind="stall",
        source=sent,
        camera_id=None,
        zone_id=None,
        event_id=None,
        count=3,
        evidence=["http://public/report-1.jpg", "http://public/report-1.mp4?t=3"],
    )
    response = client.post("orders", json=body)
    assert response.status_code == 201, response.text
    order = response.json()
    assert {"id", "status", "level", "units", "lead_unit", "deadline"} <= order.keys()
    assert (order["source"], order["status"], order["count"]) == (stored, "dispatched", 3)
    detail = client.get(f"orders/{order['id']}").json()
    assert [(e["kind"], e["phase"]) for e in detail["evidence"]] == [
        ("snapshot", "before"),
        ("clip", "before"),
    ]
    assert detail["history"][0]["actor"] == stored
    assert client.get("orders", params={"source": stored}).json()["count"] == 1


def test_the_bridges_request_with_count_and_no_optional_fields(client: TestClient) -> None:
    """The order bridge sends ``count`` (None or a number) and ``grid`` None."""
    body = order_body(kind="crowd", severity="medium") | {"count": None, "grid": None}
    order = create(client, **body)
    assert (order["count"], order["level"]) == (None, 1)


# --- acceptance (6.2.1.1) ---------------------------------------------------------------


def test_unclear_report_is_followed_up_then_dispatched(client: TestClient, clock) -> None:
    order = create(client, scope="unclear", source="public_hotline", kind="other",
                   camera_id=None, description="有人反映某处冒烟，位置不详")
    assert (order["status"], order["units"], order["lead_unit"]) == ("follow_up", [], None)
    assert order["deadline"] == "2026-11-28T08:00:00Z"  # follow_up_minutes: 24 h
    refused = client.post(f"orders/{order['id']}/feedback", json=FEEDBACK)
    assert refused.status_code == 409
    assert "it is follow_up; allowed actions: complete, copy" in refused.json()["detail"]

    clock.advance(minutes=20)
    done = act(client, order["id"], "follow-up", {
        "actor": "接警员-张", "note": "回电核实：新桥镇G-07田间焚烧秸秆", "kind": "smoke",
        "township": "新桥镇", "grid": "G-07", "location": {"lat": 31.95, "lon": 120.29},
    })
    assert (done["status"], done["kind"], done["units"]) == (
        "dispatched", "smoke", ["environment", "agriculture"])
    assert done["deadline"] == "2026-11-27T10:20:00Z"  # smoke 2 h from the completion
    assert done["location"] == {"lat": 31.95, "lon": 120.29}
    steps = [(h["action"], h["from_status"], h["to_status"], h["actor"])
             for h in history(client, order["id"])]
    assert steps == [
        ("follow_up", None, "follow_up", "public_hotline"),
        ("complete", "follow_up", "accepted", "接警员-张"),
        ("dispatch", "accepted", "dispatched", "dispatch"),
    ]
    # Completing twice is refused: the order is no longer being followed up.
    again = client.post(f"orders/{order['id']}/follow-up", json={"actor": "a", "note": "b"})
    assert again.status_code == 409


def test_follow_up_can_find_the_report_out_of_scope(client: TestClient) -> None:
    order = create(client, scope="unclear", camera_id=None, kind="other")
    copied = act(client, order["id"], "follow-up", {
        "actor": "接警员-张", "note": "核实为劳资纠纷", "scope": "out_of_scope",
        "competent_department": "人社局"})
    assert (copied["status"], copied["competent_department"]) == ("copied", "人社局")
    assert copied["finished_at"] is not None
    assert history(client, order["id"])[-1]["action"] == "copy"


def test_out_of_scope_is_copied_to_the_competent_department(client: TestClient) -> None:
    order = create(client, kind="wage_dispute", source="public_hotline", camera_id=None,
                   scope="out_of_scope", competent_department="人社局")
    assert (order["status"], order["units"], order["lead_unit"]) == ("copied", [], None)
    assert order["finished_at"] == order["created_at"]
    assert order["overdue"] is False
    steps = history(client, order["id"])
    assert [(h["action"], h["to_status"]) for h in steps] == [("copy", "copied")]
    assert "copied to 人社局" in steps[0]["note"]
    refused = client.post(f"orders/{order['id']}/feedback", json=FEEDBACK)
    assert refused.status_code == 409
    assert refused.json()["detail"].endswith("it is copied; allowed actions: none, the order is final")
    assert client.get("orders", params={"status": "copied"}).json()["count"] == 1


def test_out_of_scope_needs_a_department(client: TestClient) -> None:
    response = client.post("orders", json=order_body(kind="x", scope="out_of_scope"))
    assert response.status_code == 422
    assert "needs competent_department" in response.json()["detail"]


def test_urgent_out_of_scope_gets_first_response_and_instructs_the_department(
    client: TestClient,
) -> None:
    order = create(client, kind="gas_leak", camera_id=None, scope="out_of_scope",
                   competent_department="燃气公司", urgent=True, source="public_110")
    assert (order["status"], order["units"], order["lead_unit"]) == (
        "dispatched", ["township_centre"], "township_centre")
    steps = history(client, order["id"])
    assert [h["action"] for h in steps] == ["accept", "dispatch", "instruct"]
    assert "first response" in steps[1]["note"]
    assert steps[2]["note"] == "instructed 燃气公司 to the scene to dispose of it"
    act(client, order["id"], "feedback", {"unit": "township_centre", "note": "已疏散，燃气公司到场"})
    assert act(client, order["id"], "review", REVIEW_OK)["status"] == "closed"


TAX_ELSEWHERE = DispatchConfig.model_validate({"out_of_scope": {"tax_dispute": "税务局"}})


@pytest.mark.parametrize("config", [TAX_ELSEWHERE], ids=["tax-out-of-scope"])
def test_a_kind_configured_out_of_scope_is_copied(client: TestClient) -> None:
    order = create(client, kind="tax_dispute", camera_id=None)
    assert (order["status"], order["competent_department"]) == ("copied", "税务局")


# --- response levels (6.2.1.2) ----------------------------------------------------------

LEVELS = [
    ({"kind": "crowd", "count": 80}, 2, "count 80 reaches the level-2 threshold 50 for crowd"),
    ({"kind": "crowd", "count": 50}, 2, "count 50 reaches the level-2 threshold 50 for crowd"),
    ({"kind": "crowd", "count": 12}, 1, "default level 1"),
    ({"kind": "smoke", "count": 500}, 1, "default level 1"),  # smoke has no count rule
    ({"kind": "stall", "cross_area": True}, 2, "cross-area incident"),
    ({"kind": "dust", "campaign": "county"}, 2, "county-led campaign"),
    ({"kind": "dust", "campaign": "township"}, 1, "default level 1"),
    ({"kind": "crowd", "severity": "critical"}, 2, "severity critical is a major incident"),
    ({"kind": "crowd", "count": 80, "level": 1}, 1, "level 1 as requested"),
]


@pytest.mark.parametrize(("overrides", "level", "reason"), LEVELS)
def test_level_rules(client: TestClient, overrides, level, reason) -> None:
    order = create(client, **({"severity": "high"} | overrides))
    assert order["level"] == level
    assert order["centre"] == ("县联勤指挥中心" if level == 2 else "新桥镇联勤分中心")
    assert f"level {level} ({reason})" in history(client, order["id"])[1]["note"]


def test_level_one_escalates_to_level_two(client: TestClient, clock) -> None:
    order = create(client, kind="smoke")
    assert (order["level"], order["centre"]) == (1, "新桥镇联勤分中心")
    clock.advance(minutes=30)
    up = act(client, order["id"], "escalate", ESCALATE)
    assert (up["level"], up["centre"], up["status"]) == (2, "县联勤指挥中心", "dispatched")
    assert up["escalated_at"] == "2026-11-27T08:30:00Z"
    assert up["deadline"] == "2026-11-27T10:30:00Z"  # level 2's time limit from now
    last = history(client, order["id"])[-1]
    assert (last["action"], last["actor"], last["from_status"], last["to_status"]) == (
        "escalate", ESCALATE["actor"], "dispatched", "dispatched")
    assert last["note"].startswith("镇级无法协调，申请二级响应; level 2, 县联勤指挥中心")
    again = client.post(f"orders/{order['id']}/escalate", json=ESCALATE)
    assert again.status_code == 409
    assert again.json()["detail"] == f"order {order['id']} is already at level 2 (县联勤指挥中心)"
    # The order goes on at level 2 to its end.
    act(client, order["id"], "feedback", FEEDBACK)
    closed = act(client, order["id"], "verdict", EFFECTIVE)
    assert (closed["status"], closed["level"]) == ("closed", 2)
    assert client.get("stats").json()["escalated"] == 1


def test_escalation_uses_the_level_two_time_limit(engine, clock) -> None:
    from dispatch.schemas import ActionCreate, OrderCreate
    from dispatch.service import DispatchService

    config = DispatchConfig.model_validate({"routes": {"smoke": {
        "units": ["environment"], "deadline_minutes": 120, "level2_deadline_minutes": 45}}})
    service = DispatchService(engine=engine, config=config, clock=clock)
    order, _ = service.create_order(data=OrderCreate.model_validate(order_body()))
    up = service.escalate(order_id=order.id, data=ActionCreate(**ESCALATE))
    assert up.deadline - up.escalated_at == __import__("datetime").timedelta(minutes=45)


def test_escalation_is_refused_once_feedback_is_in(client: TestClient) -> None:
    order = create(client)
    act(client, order["id"], "feedback", FEEDBACK)
    refused = client.post(f"orders/{order['id']}/escalate", json=ESCALATE)
    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        f"cannot escalate order {order['id']}: it is feedback_received; allowed actions: "
        "verification, verdict, review, supervise, remind"
    )


# --- feedback and verdict (6.3) ----------------------------------------------------------


def test_footage_verdict_needs_a_camera(client: TestClient) -> None:
    order = create(client, kind="stall", camera_id=None, source="public_online")
    act(client, order["id"], "feedback", {"unit": "城管", "note": "已劝离"})
    for step, body in (("verdict", EFFECTIVE), ("verification", {"actor": "video_patrol"})):
        refused = client.post(f"orders/{order['id']}/{step}", json=body)
        assert refused.status_code == 409
        assert refused.json()["detail"] == (
            f"cannot {step} order {order['id']}: it has no camera, so there is no footage to "
            f"check; a commander judges it instead: POST /orders/{order['id']}/review"
        )
    assert client.get(f"orders/{order['id']}").json()["status"] == "feedback_received"


COMMANDER_PATHS = {
    "redo then closed": ([REVIEW_BAD, REVIEW_OK], ["redo", "closed"]),
    "redo then not disposed": ([REVIEW_BAD, REVIEW_BAD], ["redo", "not_disposed"]),
    "closed at once": ([REVIEW_OK], ["closed"]),
}


@pytest.mark.parametrize(("reviews", "expected"), COMMANDER_PATHS.values(),
                         ids=COMMANDER_PATHS.keys())
def test_orders_without_camera_are_judged_by_a_commander(client, clock, reviews, expected):
    order = create(client, kind="stall", camera_id=None, source="patrol_team")
    statuses = []
    for review in reviews:
        clock.advance(minutes=5)
        act(client, order["id"], "feedback", {"unit": "城管", "note": "已处理",
                                              "photos": ["http://units/p.jpg"]})
        statuses.append(act(client, order["id"], "review", review)["status"])
    assert statuses == expected
    detail = client.get(f"orders/{order['id']}").json()
    reviews_done = [h for h in detail["history"] if h["action"] == "review"]
    assert [(h["actor"], h["note"]) for h in reviews_done] == [
        (r["actor"], r["note"]) for r in reviews]
    assert detail["redo_count"] == expected.count("redo")
    assert [e["phase"] for e in detail["evidence"]] == ["before"] + ["feedback"] * len(reviews)


# --- supervision (6.2.4) -----------------------------------------------------------------


def test_overdue_order_is_flagged_escalated_and_reminded(client, service, clock) -> None:
    crowd = create(client, kind="crowd")["id"]  # 1 h
    smoke = create(client, kind="smoke")["id"]  # 2 h
    clock.advance(minutes=61)
    assert service.supervise_overdue() == [crowd]
    order = client.get(f"orders/{crowd}").json()
    assert (order["overdue"], order["supervised"], order["level"]) == (True, True, 2)
    assert order["overdue_at"] == "2026-11-27T09:01:00Z"
    assert order["deadline"] == "2026-11-27T09:00:00Z"  # kept: still overdue for the county
    steps = [(h["action"], h["actor"]) for h in order["history"][2:]]
    assert steps == [("overdue", "supervisor"), ("escalate", "supervisor")]
    assert "passed 1 min ago" in order["history"][2]["note"]
    assert client.get(f"orders/{smoke}").json()["supervised"] is False

    clock.advance(minutes=30)
    assert service.supervise_overdue() == []  # flagged already, no reminder due yet
    clock.advance(minutes=30)  # one hour after the flag: a reminder (reminder_minutes 60)
    assert service.supervise_overdue() == [crowd, smoke]  # and the smoke order is now late
    order = client.get(f"orders/{crowd}").json()
    assert order["reminder_count"] == 1
    assert order["history"][-1]["action"] == "remind"

    act(client, crowd, "feedback", {"unit": "public_security", "note": "已疏散"})
    closed = act(client, crowd, "review", REVIEW_OK)
    assert closed["status"] == "closed"
    stats = client.get("stats").json()
    assert stats["on_time_rate"] == 0.0 and stats["supervised"] == 2


def test_overdue_follow_up_is_flagged_but_not_escalated(client, service, clock) -> None:
    order = create(client, scope="unclear", camera_id=None)["id"]
    clock.advance(hours=25)
    assert service.supervise_overdue() == [order]
    detail = client.get(f"orders/{order}").json()
    assert (detail["supervised"], detail["level"]) == (True, 1)


def test_no_escalation_when_configured_off(engine, clock) -> None:
    from dispatch.schemas import OrderCreate
    from dispatch.service import DispatchService

    config = DispatchConfig.model_validate({"supervision": {"escalate_overdue": False}})
    service = DispatchService(engine=engine, config=config, clock=clock)
    order, _ = service.create_order(data=OrderCreate.model_validate(order_body(kind="crowd")))
    clock.advance(hours=2)
    assert service.supervise_overdue() == [order.id]
    assert service.get_order(order_id=order.id).level == 1


def test_manual_supervision_orders_joint_disposal_and_reminders(client: TestClient) -> None:
    order = create(client, kind="stall")["id"]
    supervised = act(client, order, "supervise", {
        "actor": "县中心-李", "note": "限两小时内清理", "units": ["transport", "city_management"],
        "lead_unit": "transport"})
    assert supervised["units"] == ["city_management", "market_supervision", "transport"]
    assert (supervised["lead_unit"], supervised["supervised"]) == ("transport", True)
    last = history(client, order)[-1]
    assert (last["action"], last["actor"]) == ("supervise", "县中心-李")
    assert "joint disposal: 城管 (city_management), 市场监管 (market_supervision), 交通 " \
           "(transport, lead)" in last["note"]
    # The joined unit can report disposal.
    reminded = act(client, order, "remind", {"actor": "县中心-李", "note": "请尽快反馈"})
    assert reminded["reminder_count"] == 1
    act(client, order, "feedback", {"unit": "交通", "note": "已清理"})
    assert act(client, order, "remind", {"actor": "县中心-李", "note": "请核查"})[
        "reminder_count"] == 2
    bad = client.post(f"orders/{order}/supervise", json={
        "actor": "a", "note": "b", "lead_unit": "water"})
    assert bad.status_code == 422 and "lead_unit 'water' is not one of" in bad.json()["detail"]
    unknown = client.post(f"orders/{order}/supervise", json={
        "actor": "a", "note": "b", "units": ["nobody"]})
    assert unknown.status_code == 422 and "unknown units ['nobody']" in unknown.json()["detail"]


def test_side_actions_on_a_final_order_are_409(client: TestClient) -> None:
    order = create(client, kind="smoke")["id"]
    act(client, order, "feedback", FEEDBACK)
    act(client, order, "verdict", EFFECTIVE)
    for step in ("escalate", "remind", "supervise", "handover", "reinforce"):
        response = client.post(f"orders/{order}/{step}", json={"actor": "a", "note": "b"})
        assert response.status_code == 409, step
        assert response.json()["detail"] == (
            f"cannot {step} order {order}: it is closed; allowed actions: none, the order is final"
        )


@pytest.mark.parametrize("step", ["escalate", "remind", "supervise", "handover", "reinforce",
                                  "follow-up"])
def test_side_actions_on_an_unknown_order_are_404(client: TestClient, step) -> None:
    response = client.post(f"orders/999/{step}", json={"actor": "a", "note": "b"})
    assert response.status_code == 404
