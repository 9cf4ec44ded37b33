"""Statistics and assessment (7.1.1.5, 8): counts by kind, township, unit, level and
source; rates; grouping, date ranges, CSV; scores per unit and township."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from dispatch_factories import order_body
from fastapi.testclient import TestClient

from dispatch.config import DispatchConfig

EFFECTIVE = {"effective": True, "note": "ok", "actor": "video_patrol"}
NOT_EFFECTIVE = {"effective": False, "note": "still there", "actor": "video_patrol"}
REVIEW_BAD = {"effective": False, "note": "no", "actor": "commander"}


def create(client: TestClient, **overrides: Any) -> int:
    response = client.post("orders", json=order_body(**overrides))
    assert response.status_code == 201, response.text
    return response.json()["id"]


def step(client: TestClient, order_id: int, name: str, body: dict) -> None:
    response = client.post(f"orders/{order_id}/{name}", json=body)
    assert response.status_code == 200, response.text


@pytest.fixture
def history(client: TestClient, clock, service) -> dict[str, int]:
    """Six orders over two days (local time UTC+8):

    day 1 (2026-11-27): smoke 新桥镇 closed in 30 min on the first verdict; smoke 新桥镇
    redone once by footage then closed (1 h 30); stall 周庄镇 hotline, no camera, not
    disposed after two reviews; crowd of 80 (level 2) left open, found overdue.
    day 2: a wage dispute copied to its department; dust 周庄镇 open.
    """
    ids = {}
    ids["smoke_ok"] = create(client, kind="smoke")
    ids["smoke_redo"] = create(client, kind="smoke", event_id="ev-2")
    ids["stall"] = create(client, kind="stall", township="周庄镇", camera_id=None,
                          source="public_hotline")
    ids["crowd"] = create(client, kind="crowd", count=80, source="public_110")
    clock.advance(minutes=30)
    step(client, ids["smoke_ok"], "feedback", {"unit": "environment", "note": "done"})
    step(client, ids["smoke_ok"], "verdict", EFFECTIVE)
    step(client, ids["smoke_redo"], "feedback", {"unit": "agriculture", "note": "done"})
    step(client, ids["smoke_redo"], "verdict", NOT_EFFECTIVE)
    for _ in range(2):
        step(client, ids["stall"], "feedback", {"unit": "城管", "note": "done"})
        step(client, ids["stall"], "review", REVIEW_BAD)
    clock.advance(minutes=60)
    step(client, ids["smoke_redo"], "feedback", {"unit": "agriculture", "note": "again"})
    step(client, ids["smoke_redo"], "verdict", EFFECTIVE)
    service.supervise_overdue()  # the crowd order (1 h) is overdue: flagged
    clock.advance(hours=24)
    ids["copied"] = create(client, kind="wage_dispute", camera_id=None, source="unit",
                           scope="out_of_scope", competent_department="人社局")
    ids["dust"] = create(client, kind="dust", township="周庄镇", source="patrol_team")
    return ids


def test_stats_counts_and_rates(client: TestClient, history) -> None:
    stats = client.get("stats").json()
    assert stats["total"] == 6
    assert stats["by_status"] | {} == {
        "follow_up": 0, "accepted": 0, "dispatched": 2, "feedback_received": 0,
        "verifying": 0, "redo": 0, "closed": 2, "not_disposed": 1, "copied": 1}
    assert stats["by_kind"] == {"crowd": 1, "dust": 1, "smoke": 2, "stall": 1,
                                "wage_dispute": 1}
    assert stats["by_township"] == {"周庄镇": 2, "新桥镇": 4}
    assert stats["by_unit"]["environment"] == 3 and stats["by_unit"]["construction"] == 1
    assert stats["by_level"] == {"1": 5, "2": 1}  # the crowd of 80 is level 2
    assert stats["by_source"]["public_110"] == 1 and stats["by_source"]["unit"] == 1
    assert stats["closure_rate"] == pytest.approx(2 / 6)
    assert stats["redo_rate"] == pytest.approx(2 / 6)  # smoke_redo and the stall
    assert stats["not_disposed_rate"] == pytest.approx(1 / 6)
    assert stats["on_time_rate"] == 1.0
    assert stats["mean_time_to_close_s"] == (30 * 60 + 90 * 60) / 2
    assert stats["verification_pass_rate"] == pytest.approx(2 / 3)  # 3 footage verdicts
    assert (stats["overdue"], stats["supervised"]) == (1, 1)


def test_stats_window_by_from_and_to(client: TestClient, history) -> None:
    day2 = "2026-11-28T00:00:00Z"
    assert client.get("stats", params={"from": day2}).json()["total"] == 2
    assert client.get("stats", params={"to": day2}).json()["total"] == 4
    assert client.get("stats", params={"since": day2}).json()["total"] == 2
    # A naive time is UTC.
    assert client.get("stats", params={"until": "2026-11-28T00:00:00"}).json()["total"] == 4
    assert client.get("stats", params={"from": "yesterday"}).status_code == 422
    assert client.get("stats", params={"group_by": "colour"}).status_code == 422


@pytest.mark.parametrize(
    ("group_by", "expected"),
    [
        ("kind", {"crowd": 1, "dust": 1, "smoke": 2, "stall": 1, "wage_dispute": 1}),
        ("township", {"周庄镇": 2, "新桥镇": 4}),
        ("level", {"1": 5, "2": 1}),
        ("source", {"patrol_team": 1, "public_110": 1, "public_hotline": 1, "unit": 1,
                    "video_patrol": 2}),
        ("day", {"2026-11-27": 4, "2026-11-28": 2}),
        ("unit", {"agriculture": 2, "city_management": 1, "construction": 1, "environment": 3,
                  "market_supervision": 1, "public_security": 1}),
    ],
)
def test_stats_grouped(client: TestClient, history, group_by, expected) -> None:
    stats = client.get("stats", params={"group_by": group_by}).json()
    assert stats["group_by"] == group_by
    assert {g["key"]: g["total"] for g in stats["groups"]} == expected
    assert stats["utc_offset_hours"] == 8  # days are the centre's local days, and it says so


def test_stats_per_kind_rates(client: TestClient, history) -> None:
    groups = {g["key"]: g for g in client.get("stats", params={"group_by": "kind"}).json()["groups"]}
    smoke = groups["smoke"]
    assert (smoke["closed"], smoke["redo_rate"], smoke["verification_pass_rate"]) == (
        2, 0.5, pytest.approx(2 / 3))
    assert groups["stall"]["not_disposed_rate"] == 1.0
    assert groups["stall"]["verification_pass_rate"] is None  # judged by a commander
    assert groups["crowd"]["overdue"] == 1 and groups["crowd"]["on_time_rate"] is None
    assert groups["wage_dispute"]["copied"] == 1


def test_stats_csv(client: TestClient, history) -> None:
    response = client.get("stats.csv", params={"group_by": "township"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="dispatch-stats.csv"' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [r["township"] for r in rows] == ["周庄镇", "新桥镇"]
    assert rows[1]["total"] == "4" and rows[1]["closure_rate"] == "0.5000"
    assert rows[0]["verification_pass_rate"] == ""  # no footage verdict in 周庄镇
    overall = list(csv.DictReader(io.StringIO(
        client.get("stats.csv").content.decode("utf-8-sig"))))
    assert len(overall) == 1 and overall[0]["group"] == "all"
    assert (overall[0]["total"], overall[0]["closed"], overall[0]["copied"]) == ("6", "2", "1")


def test_assessment_scores_units_and_townships(client: TestClient, history) -> None:
    result = client.get("assessment").json()
    assert result["weights"] == {"on_time": 0.3, "closure": 0.25, "verification": 0.15,
                                 "no_redo": 0.15, "disposed": 0.15}
    units = {u["key"]: u for u in result["units"]}
    # agriculture: smoke_ok and smoke_redo, both closed on time; one redo; verdicts 2/3.
    agriculture = units["agriculture"]
    assert agriculture["name"] == "农业"
    expected = 100 * (0.3 * 1 + 0.25 * 1 + 0.15 * (2 / 3) + 0.15 * 0.5 + 0.15 * 1)
    assert agriculture["score"] == pytest.approx(expected, abs=0.01)
    # environment has the open dust order too: closure 2/3, redo 1/3.
    expected = 100 * (0.3 * 1 + 0.25 * (2 / 3) + 0.15 * (2 / 3) + 0.15 * (2 / 3) + 0.15 * 1)
    assert units["environment"]["score"] == pytest.approx(expected, abs=0.01)
    # city management: the stall, not disposed: closure 0, redo 1, not disposed 1, no
    # on-time or verification rate: only 3 weights count, all at 0.
    assert units["city_management"]["score"] == 0.0
    scores = [u["score"] for u in result["units"] if u["score"] is not None]
    assert scores == sorted(scores, reverse=True)
    townships = {t["key"]: t for t in result["townships"]}
    assert set(townships) == {"新桥镇", "周庄镇"} and townships["新桥镇"]["name"] == "新桥镇"
    assert townships["新桥镇"]["score"] > townships["周庄镇"]["score"]


CLOSURE_ONLY = DispatchConfig.model_validate(
    {"assessment": {"on_time": 0, "closure": 1, "verification": 0, "no_redo": 0, "disposed": 0}}
)


@pytest.mark.parametrize("config", [CLOSURE_ONLY], ids=["closure-only"])
def test_assessment_weights_come_from_config_and_csv(client: TestClient, history) -> None:
    units = {u["key"]: u for u in client.get("assessment").json()["units"]}
    assert units["agriculture"]["score"] == 100.0  # closure only: both closed
    assert units["environment"]["score"] == pytest.approx(66.67)
    assert units["public_security"]["score"] == 0.0
    response = client.get("assessment.csv", params={"from": "2026-11-27T00:00:00Z"})
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0].keys() >= {"level", "key", "name", "score", "total", "on_time_rate"}
    levels = [r["level"] for r in rows]
    assert levels == sorted(levels, key=lambda v: v != "unit")  # units first
    assert {"key": "agriculture", "name": "农业", "score": "100.0000"}.items() <= rows[0].items()
