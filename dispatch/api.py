"""HTTP API of the dispatch core; the main app mounts it under ``/api/dispatch``.

Errors: 422 for a body or query that does not validate (FastAPI's list of field errors) or
that does not fit the order (``{"detail": "message"}``), 404 for an unknown order, 409 for
an action the order's status does not accept (the message names the status and the
allowed actions).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated

from fastapi import (
    APIRouter,
    Depends,
    Header,
    HTTPException,
    Path,
    Query,
    Request,
    Response,
    status,
)
from fastapi.routing import APIRoute

from dispatch.errors import DispatchError
from dispatch.schemas import (
    ActionCreate,
    Assessment,
    FeedbackCreate,
    FollowUpComplete,
    GroupBy,
    IdempotencyKey,
    JudgementCreate,
    MemberCreate,
    MemberList,
    MemberPublic,
    MemberQuery,
    MemberUpdate,
    OrderCreate,
    OrderDetail,
    OrderList,
    OrderPublic,
    OrderQuery,
    Problem,
    ReinforceCreate,
    Stats,
    StatsQuery,
    TeamCreate,
    TeamList,
    TeamPublic,
    UnitList,
    UnitsChange,
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
CSV = {200: {"content": {"text/csv": {}}, "description": "CSV, UTF-8, header row first"}}


def stats_query(
    since: datetime | None = None,
    until: datetime | None = None,
    from_: Annotated[datetime | None, Query(alias="from", description="= since")] = None,
    to: Annotated[datetime | None, Query(description="= until")] = None,
    group_by: GroupBy | None = None,
) -> StatsQuery:
    """Orders created in ``[from, until)`` (``since``/``until`` are the same bounds)."""
    return StatsQuery(since=from_ or since, until=to or until, group_by=group_by)


StatsParams = Annotated[StatsQuery, Depends(stats_query)]


def _csv(text: str, name: str) -> Response:
    return Response(
        text.encode("utf-8-sig"),  # with a BOM, so spreadsheet programs read the Chinese right
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


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

    @router.post("/orders/{order_id}/follow-up", responses=CHANGES)
    def complete_follow_up(order_id: OrderId, body: FollowUpComplete) -> OrderPublic:
        """An unclear report followed up: accept and dispatch it, or copy it elsewhere."""
        return service.complete_follow_up(order_id=order_id, data=body)

    @router.post("/orders/{order_id}/escalate", responses=CHANGES)
    def escalate(order_id: OrderId, body: ActionCreate) -> OrderPublic:
        """Level 1 cannot handle it: level 2, the county centre (409 if already there)."""
        return service.escalate(order_id=order_id, data=body)

    @router.post("/orders/{order_id}/handover", responses=CHANGES)
    def hand_over(order_id: OrderId, body: UnitsChange) -> OrderPublic:
        """To the kind's departments (no units given) or to the units named."""
        return service.hand_over(order_id=order_id, data=body)

    @router.post("/orders/{order_id}/reinforce", responses=CHANGES)
    def reinforce(order_id: OrderId, body: ReinforceCreate) -> OrderPublic:
        """Units join; patrol members come from neighbouring grids (409 if none at all)."""
        return service.reinforce(order_id=order_id, data=body)

    @router.post("/orders/{order_id}/supervise", responses=CHANGES)
    def supervise(order_id: OrderId, body: UnitsChange) -> OrderPublic:
        """督办: instruct; units named join for joint disposal, under ``lead_unit``."""
        return service.supervise(order_id=order_id, data=body)

    @router.post("/orders/{order_id}/remind", responses=CHANGES)
    def remind(order_id: OrderId, body: ActionCreate) -> OrderPublic:
        """催办: a reminder, recorded and counted."""
        return service.remind(order_id=order_id, data=body)

    @router.get("/stats")
    def get_stats(query: StatsParams) -> Stats:
        return service.stats(query=query)

    @router.get("/stats.csv", response_class=Response, responses=CSV)
    def get_stats_csv(query: StatsParams) -> Response:
        return _csv(service.stats_csv(query=query), "dispatch-stats")

    @router.get("/assessment")
    def get_assessment(query: StatsParams) -> Assessment:
        return service.assessment(query=query)

    @router.get("/assessment.csv", response_class=Response, responses=CSV)
    def get_assessment_csv(query: StatsParams) -> Response:
        return _csv(service.assessment_csv(query=query), "dispatch-assessment")

    @router.post("/teams", status_code=status.HTTP_201_CREATED,
                 responses={409: {"model": Problem}})
    def create_team(body: TeamCreate) -> TeamPublic:
        return service.create_team(data=body)

    @router.get("/teams")
    def list_teams() -> TeamList:
        return service.list_teams()

    @router.post("/teams/{team_id}/members", status_code=status.HTTP_201_CREATED,
                 responses={404: {"model": Problem}})
    def add_member(team_id: OrderId, body: MemberCreate) -> MemberPublic:
        return service.add_member(team_id=team_id, data=body)

    @router.get("/members")
    def list_members(query: Annotated[MemberQuery, Query()]) -> MemberList:
        return service.list_members(query=query)

    @router.get("/members/{member_id}", responses={404: {"model": Problem}})
    def get_member(member_id: OrderId) -> MemberPublic:
        return service.get_member(member_id=member_id)

    @router.patch("/members/{member_id}", responses={404: {"model": Problem}})
    def update_member(member_id: OrderId, body: MemberUpdate) -> MemberPublic:
        """Duty status (on_duty, off) and last known position."""
        return service.update_member(member_id=member_id, data=body)

    @router.get("/units")
    def list_units() -> UnitList:
        return service.units()

    return router
