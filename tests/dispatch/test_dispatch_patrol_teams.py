"""Patrol teams and members (4.4, 7.1.1.4): duty status and position, the grid's on-duty
member first (6.2.1.2.2 a), hand-over to departments, reinforcement from neighbouring
grids (6.2.3.2); on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from dispatch_factories import order_body
from fastapi.testclient import TestClient
from test_dispatch_service import race

from dispatch.config import DispatchConfig

ORDER_AT = {"lat": 31.95, "lon": 120.29}  # order_body's location, grid G-07 of 新桥镇


def team(client: TestClient, name: str, grid: str, township: str = "新桥镇") -> int:
    response = client.post("teams", json={"name": name, "township": township, "grid": grid})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def member(client: TestClient, team_id: int, name: str, duty: str = "on_duty",
           metres_north: float = 0, **extra: Any) -> dict[str, Any]:
    body = {"name": name, "duty_status": duty,
            "location": {"lat": ORDER_AT["lat"] + metres_north / 111_195, "lon": ORDER_AT["lon"]},
            **extra}
    response = client.post(f"teams/{team_id}/members", json=body)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def config() -> DispatchConfig:
    return DispatchConfig.model_validate({"patrol": {"neighbours": {"G-07": ["G-08", "G-06"]}}})


@pytest.fixture
def roster(client: TestClient) -> dict[str, int]:
    """Grid G-07: 老周 300 m away, 小陈 1.2 km away, 老李 off duty; G-08: 小王; G-09: 小赵
    (not a neighbour of G-07); 周庄镇 G-07: 小钱 (another township)."""
    g7, g8, g9 = team(client, "新桥七队", "G-07"), team(client, "新桥八队", "G-08"), team(
        client, "新桥九队", "G-09")
    other = team(client, "周庄七队", "G-07", township="周庄镇")
    ids = {
        "老周": member(client, g7, "老周", metres_north=300)["id"],
        "小陈": member(client, g7, "小陈", metres_north=1200)["id"],
        "老李": member(client, g7, "老李", duty="off")["id"],
        "小王": member(client, g8, "小王", metres_north=2000)["id"],
        "小赵": member(client, g9, "小赵", metres_north=100)["id"],
        "小钱": member(client, other, "小钱", metres_north=10)["id"],
    }
    return ids


def duty(client: TestClient, member_id: int) -> tuple[str, int | None]:
    found = client.get(f"members/{member_id}").json()
    return found["duty_status"], found["order_id"]


def test_the_grids_nearest_on_duty_member_takes_a_level_one_order_first(client, roster):
    first = client.post("orders", json=order_body()).json()
    assert (first["units"], first["lead_unit"]) == (["township_centre"], "township_centre")
    assert [(m["id"], m["role"], m["team"]) for m in first["members"]] == [
        (roster["老周"], "first", "新桥七队")]
    assert duty(client, roster["老周"]) == ("busy", first["id"])
    dispatch_note = client.get(f"orders/{first['id']}").json()["history"][1]["note"]
    assert "patrol member 老周" in dispatch_note and "6.2.1.2.2 a" in dispatch_note
    assert "departments on hand-over: 环保 (environment, lead), 农业 (agriculture)" in dispatch_note

    second = client.post("orders", json=order_body(event_id="ev-2")).json()
    assert [m["id"] for m in second["members"]] == [roster["小陈"]]
    third = client.post("orders", json=order_body(event_id="ev-3")).json()  # nobody left
    assert (third["members"], third["units"]) == ([], ["environment", "agriculture"])
    level2 = client.post("orders", json=order_body(kind="crowd", count=90)).json()
    assert level2["members"] == []  # level 2 goes to the county centre's units


def test_patrol_member_reports_then_is_released_when_closed(client, roster):
    order = client.post("orders", json=order_body()).json()
    client.post(f"orders/{order['id']}/feedback", json={"unit": "township_centre",
                                                         "note": "老周已现场扑灭"})
    closed = client.post(f"orders/{order['id']}/verdict", json={
        "effective": True, "note": "ok", "actor": "video_patrol"}).json()
    assert closed["status"] == "closed"
    assert closed["members"][0]["id"] == roster["老周"]  # who worked it stays on record
    assert duty(client, roster["老周"]) == ("on_duty", None)


def test_hand_over_to_departments_when_the_member_cannot_dispose(client, roster, clock):
    order = client.post("orders", json=order_body(kind="dust")).json()
    clock.advance(minutes=40)
    handed = client.post(f"orders/{order['id']}/handover", json={
        "actor": "老周", "note": "工地拒不整改，需建设部门到场"}).json()
    assert (handed["units"], handed["lead_unit"]) == (["construction", "environment"],
                                                      "construction")
    assert handed["deadline"] == "2026-11-28T08:40:00Z"  # dust's 24 h from the hand-over
    assert duty(client, roster["老周"]) == ("on_duty", None)
    last = client.get(f"orders/{order['id']}").json()["history"][-1]
    assert (last["action"], last["actor"]) == ("handover", "老周")
    assert "released 老周" in last["note"]
    # And to a unit named explicitly.
    other = client.post(f"orders/{order['id']}/handover", json={
        "actor": "分中心", "note": "移交水利", "units": ["water"]}).json()
    assert (other["units"], other["lead_unit"]) == (["water"], "water")


def test_reinforcement_comes_from_neighbouring_grids(client, roster):
    order = client.post("orders", json=order_body()).json()  # 老周 takes it
    reinforced = client.post(f"orders/{order['id']}/reinforce", json={
        "actor": "老周", "note": "火势蔓延，请求支援", "members": 3}).json()
    got = [(m["id"], m["role"]) for m in reinforced["members"]]
    # G-08 is a configured neighbour; G-09 and 周庄镇 are not; 小陈 is in G-07 itself.
    assert got == [(roster["老周"], "first"), (roster["小王"], "reinforcement")]
    assert duty(client, roster["小王"]) == ("busy", order["id"])
    assert duty(client, roster["小赵"])[0] == "on_duty"
    note = client.get(f"orders/{order['id']}").json()["history"][-1]["note"]
    assert "patrol members sent: 小王" in note and "3 members asked, 1 on duty nearby" in note
    # Nobody left nearby and no unit named: 409.
    refused = client.post(f"orders/{order['id']}/reinforce", json={"actor": "老周", "note": "再派"})
    assert refused.status_code == 409
    assert "no on-duty patrol member in the grids next to grid G-07 of 新桥镇" in refused.text
    # Units can join instead (joint disposal).
    joined = client.post(f"orders/{order['id']}/reinforce", json={
        "actor": "老周", "note": "请消防协助", "units": ["public_security"]}).json()
    assert joined["units"] == ["township_centre", "public_security"]
    # The hand-over releases the first member and the reinforcement alike.
    client.post(f"orders/{order['id']}/handover", json={"actor": "老周", "note": "交环保"})
    assert duty(client, roster["小王"]) == ("on_duty", None)


def test_without_configured_neighbours_the_townships_other_grids_reinforce(engine, clock):
    from dispatch.schemas import MemberCreate, OrderCreate, ReinforceCreate, TeamCreate
    from dispatch.service import DispatchService

    service = DispatchService(engine=engine, config=DispatchConfig(), clock=clock)
    near = service.create_team(data=TeamCreate(name="九队", township="新桥镇", grid="G-09"))
    far = service.create_team(data=TeamCreate(name="外镇", township="周庄镇", grid="G-01"))
    helper = service.add_member(team_id=near.id, data=MemberCreate(name="小赵", duty_status="on_duty"))
    service.add_member(team_id=far.id, data=MemberCreate(name="小钱", duty_status="on_duty"))
    order, _ = service.create_order(data=OrderCreate.model_validate(order_body()))
    assert order.members == []  # nobody on duty in G-07
    done = service.reinforce(order_id=order.id, data=ReinforceCreate(actor="a", note="b"))
    assert [m.id for m in done.members] == [helper.id]


def test_one_on_duty_member_goes_to_one_order_when_orders_race(client, roster, service):
    from dispatch.schemas import OrderCreate

    client.patch(f"members/{roster['小陈']}", json={"duty_status": "off"})
    data = OrderCreate.model_validate(order_body())
    orders = race(lambda: service.create_order(data=data)[0])
    with_member = [o for o in orders if o.members]
    assert len(with_member) == 1 and with_member[0].members[0].id == roster["老周"]


def test_member_duty_status_and_position(client: TestClient, roster, clock) -> None:
    clock.advance(minutes=5)
    moved = client.patch(f"members/{roster['老李']}", json={
        "duty_status": "on_duty", "location": {"lat": 31.9, "lon": 120.3}, "grid": "G-08"})
    assert moved.status_code == 200
    body = moved.json()
    assert (body["duty_status"], body["grid"], body["location"]) == (
        "on_duty", "G-08", {"lat": 31.9, "lon": 120.3})
    assert body["position_at"] == "2026-11-27T08:05:00Z"
    listed = client.get("members", params={"grid": "G-08", "duty_status": "on_duty"}).json()
    assert sorted(m["name"] for m in listed["data"]) == ["小王", "老李"]
    assert client.get("members", params={"township": "周庄镇"}).json()["count"] == 1
    teams = client.get("teams").json()
    assert teams["count"] == 4
    assert [m["name"] for m in teams["data"][0]["members"]] == ["老周", "小陈", "老李"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "detail"),
    [
        ("patch", "members/{id}", {"duty_status": "busy"}, 422, "busy is set by the dispatch"),
        ("patch", "members/{id}", {"duty_status": "asleep"}, 422, None),
        ("patch", "members/9999", {"duty_status": "off"}, 404, "patrol member 9999 does not exist"),
        ("get", "members/9999", None, 404, "patrol member 9999 does not exist"),
        ("post", "teams/9999/members", {"name": "x"}, 404, "patrol team 9999 does not exist"),
        ("post", "teams", {"name": "新桥七队", "township": "新桥镇"}, 409, "exists"),
        ("post", "teams", {"name": "t", "township": "新桥镇", "colour": "red"}, 422, None),
    ],
)
def test_roster_errors(client, roster, method, path, body, status, detail) -> None:
    response = client.request(method, path.format(id=roster["老周"]), json=body)
    assert response.status_code == status, response.text
    if detail:
        assert detail in response.json()["detail"]
