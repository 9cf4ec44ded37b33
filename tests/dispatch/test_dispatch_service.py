"""The service without HTTP: concurrency, idempotency, routing into orders."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from dispatch_factories import START, order_body
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispatch.config import DispatchConfig
from dispatch.errors import InvalidInput, InvalidTransition, OrderNotFound
from dispatch.models import HistoryEntry, Order
from dispatch.schemas import FeedbackCreate, JudgementCreate, OrderCreate, OrderQuery
from dispatch.service import DispatchService
from dispatch.types import OrderStatus

T = TypeVar("T")
THREADS = 8


def race(work: Callable[[], T], threads: int = THREADS) -> list[T]:
    """Run ``work`` in ``threads`` threads released together."""
    barrier = threading.Barrier(threads)

    def start() -> T:
        barrier.wait()
        return work()

    with ThreadPoolExecutor(threads) as pool:
        return [f.result() for f in [pool.submit(start) for _ in range(threads)]]


def count(engine, model: Any) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_same_key_in_concurrent_threads_makes_one_order(service: DispatchService, engine) -> None:
    data = OrderCreate.model_validate(order_body())
    results = race(lambda: service.create_order(data=data, idempotency_key="ev-race"))
    assert len({order.id for order, _ in results}) == 1
    assert sorted(created for _, created in results) == [False] * (THREADS - 1) + [True]
    assert count(engine, Order) == 1
    assert count(engine, HistoryEntry) == 2


def test_same_key_over_http_in_concurrent_threads_makes_one_order(client: TestClient, engine):
    def post() -> tuple[int, int]:
        response = client.post("orders", json=order_body(), headers={"Idempotency-Key": "k"})
        return response.status_code, response.json()["id"]

    results = race(post)
    assert sorted(code for code, _ in results) == [200] * (THREADS - 1) + [201]
    assert len({order_id for _, order_id in results}) == 1
    assert count(engine, Order) == 1


def test_concurrent_orders_without_key_are_all_created(service: DispatchService, engine) -> None:
    data = OrderCreate.model_validate(order_body())
    results = race(lambda: service.create_order(data=data))
    assert len({order.id for order, _ in results}) == THREADS
    assert count(engine, Order) == THREADS


def test_concurrent_verdicts_with_one_key_apply_once(service: DispatchService, engine) -> None:
    order, _ = service.create_order(data=OrderCreate.model_validate(order_body()))
    service.report_feedback(order_id=order.id, data=FeedbackCreate(unit="environment", note="x"))
    verdict = JudgementCreate(effective=False, note="still smoking", actor="video_patrol")
    results = race(
        lambda: service.record_verdict(order_id=order.id, data=verdict, idempotency_key="v")
    )
    assert {r.status for r in results} == {OrderStatus.REDO}
    assert {r.redo_count for r in results} == {1}
    with Session(engine) as session:
        verdicts = session.scalar(select(func.count()).where(HistoryEntry.action == "verdict"))
    assert verdicts == 1


def test_concurrent_verdicts_without_key_apply_in_turn(service: DispatchService) -> None:
    """Each judgement sees the status the previous one left: one redo, then 409s."""
    order, _ = service.create_order(data=OrderCreate.model_validate(order_body()))
    service.report_feedback(order_id=order.id, data=FeedbackCreate(unit="environment", note="x"))
    verdict = JudgementCreate(effective=False, note="still smoking", actor="video_patrol")

    def judge() -> str:
        try:
            return service.record_verdict(order_id=order.id, data=verdict).status
        except InvalidTransition:
            return "conflict"

    assert sorted(race(judge)) == ["conflict"] * (THREADS - 1) + ["redo"]


def test_errors(service: DispatchService) -> None:
    with pytest.raises(OrderNotFound, match="order 5 does not exist"):
        service.get_order(order_id=5)
    order, _ = service.create_order(data=OrderCreate.model_validate(order_body(kind="crowd")))
    with pytest.raises(InvalidInput, match="not assigned"):
        service.report_feedback(order_id=order.id, data=FeedbackCreate(unit="环保", note="x"))
    verdict = JudgementCreate(effective=True, note="ok", actor="video_patrol")
    with pytest.raises(InvalidTransition, match="it is dispatched"):
        service.record_verdict(order_id=order.id, data=verdict)


@pytest.mark.parametrize(
    ("overrides", "level", "centre", "units", "deadline"),
    [
        (
            {"kind": "smoke"},
            1,
            "新桥镇联勤分中心",
            ["environment", "agriculture"],
            timedelta(hours=2),
        ),
        (
            {"kind": "dust"},
            1,
            "新桥镇联勤分中心",
            ["construction", "environment"],
            timedelta(hours=24),
        ),
        (
            {"kind": "stall"},
            1,
            "新桥镇联勤分中心",
            ["city_management", "market_supervision"],
            timedelta(hours=4),
        ),
        ({"kind": "crowd"}, 1, "新桥镇联勤分中心", ["public_security"], timedelta(hours=1)),
        ({"kind": "littering"}, 1, "新桥镇联勤分中心", ["township_centre"], timedelta(hours=24)),
        (
            {"kind": "crowd", "severity": "critical"},
            2,
            "县联勤指挥中心",
            ["public_security"],
            timedelta(hours=1),
        ),
        (
            {"kind": "smoke", "level": 2},
            2,
            "县联勤指挥中心",
            ["environment", "agriculture"],
            timedelta(hours=2),
        ),
    ],
)
def test_orders_are_routed_by_kind_and_level(
    service: DispatchService, overrides, level, centre, units, deadline
) -> None:
    order, _ = service.create_order(data=OrderCreate.model_validate(order_body(**overrides)))
    assert (order.level, order.centre, order.units, order.lead_unit) == (
        level,
        centre,
        units,
        units[0],
    )
    assert order.deadline == START + deadline


def test_site_config_routes_its_own_kinds(engine, clock) -> None:
    config = DispatchConfig.model_validate(
        {"routes": {"waterlogging": {"units": ["water", "transport"], "deadline_minutes": 90}}}
    )
    service = DispatchService(engine=engine, config=config, clock=clock)
    body = order_body(kind="waterlogging", source="patrol_team", camera_id=None, evidence=None)
    order, _ = service.create_order(data=OrderCreate.model_validate(body))
    assert (order.units, order.lead_unit) == (["water", "transport"], "water")
    assert order.deadline == START + timedelta(minutes=90)
    listed = service.list_orders(query=OrderQuery(kind="waterlogging"))
    assert [o.id for o in listed.data] == [order.id]


def test_numeric_severity_is_kept_as_text(service: DispatchService) -> None:
    order, _ = service.create_order(data=OrderCreate.model_validate(order_body(severity=3)))
    assert order.severity == "3"
