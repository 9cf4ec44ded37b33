"""HTTP API of the dispatch core; the main app mounts it under ``/api/dispatch``.

Errors: 422 for a body or query that does not validate (FastAPI's list of field errors) or
that does not fit the order (``{"detail": "message"}``), 404 for an unknown order, 409 for
an action the order's status does not accept (the message names the status and the
allowed actions).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Path, Query, Request, Response, status
from fastapi.routing import APIRoute

from dispatch.errors import DispatchError
from dispatch.schemas import (
    FeedbackCreate,
    IdempotencyKey,
    JudgementCreate,
    OrderCreate,
    OrderDetail,
    OrderList,
    OrderPublic,
    OrderQuery,
    Problem,
    Stats,
    StatsQuery,
    UnitList,
    VerificationCreate,
)
from dispatch.service import DispatchService

KeyHeader = Annotated[
    IdempotencyKey | None,
    Header(
        alias="Idempotency-Key",
        description="A retry with the same key is answered with the order as it stands "
        "and changes nothing.",
    ),
]


UNKNOWN = {404: {"model": Problem, "description": "No such order"}}
CHANGES = {
    **UNKNOWN,
    409: {"model": Problem, "description": "The order's status does not accept this action"},
}

# Ids are INTEGER columns: 32-bit on PostgreSQL; larger numbers cannot name an order.
OrderId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class _DispatchRoute(APIRoute):
    """Answers the service's errors with their HTTP status and message."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except DispatchError as error:
                raise HTTPException(error.status_code, str(error)) from error

        return handle


def create_router(service: DispatchService) -> APIRouter:
    """The dispatch core's routes over ``service``, without a prefix."""
    router = APIRouter(route_class=_DispatchRoute, tags=["dispatch"])

    @router.get("/health", responses={503: {"model": Problem}})
    def health() -> dict[str, str]:
        """``{"status": "ok"}`` while the database answers."""
        if not service.ping():
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "database unavailable")
        return {"status": "ok"}

    @router.post(
        "/orders",
        status_code=status.HTTP_201_CREATED,
        responses={200: {"model": OrderPublic, "description": "Idempotency-Key seen before"}},
    )
    def create_order(body: OrderCreate, response: Response, key: KeyHeader = None) -> OrderPublic:
        """Accept and dispatch an order (201); a known Idempotency-Key answers it again (200)."""
        order, created = service.create_order(data=body, idempotency_key=key)
        if not created:
            response.status_code = status.HTTP_200_OK
        return order

    @router.get("/orders")
    def list_orders(query: Annotated[OrderQuery, Query()]) -> OrderList:
        return service.list_orders(query=query)

    @router.get("/orders/{order_id}", responses=UNKNOWN)
    def get_order(order_id: OrderId) -> OrderDetail:
        return service.get_order(order_id=order_id)

    @router.post("/orders/{order_id}/feedback", responses=CHANGES)
    def report_feedback(
        order_id: OrderId, body: FeedbackCreate, key: KeyHeader = None
    ) -> OrderPublic:
        return service.report_feedback(order_id=order_id, data=body, idempotency_key=key)

    @router.post("/orders/{order_id}/verification", responses=CHANGES)
    def start_verification(order_id: OrderId, body: VerificationCreate) -> OrderPublic:
        return service.start_verification(order_id=order_id, data=body)

    @router.post("/orders/{order_id}/verdict", responses=CHANGES)
    def record_verdict(
        order_id: OrderId, body: JudgementCreate, key: KeyHeader = None
    ) -> OrderPublic:
        return service.record_verdict(order_id=order_id, data=body, idempotency_key=key)

    @router.post("/orders/{order_id}/review", responses=CHANGES)
    def record_review(
        order_id: OrderId, body: JudgementCreate, key: KeyHeader = None
    ) -> OrderPublic:
        return service.record_review(order_id=order_id, data=body, idempotency_key=key)

    @router.get("/stats")
    def get_stats(query: Annotated[StatsQuery, Query()]) -> Stats:
        return service.stats(query=query)

    @router.get("/units")
    def list_units() -> UnitList:
        return service.units()

    return router
