"""The dispatch core's business logic: intake, dispatch, feedback, verification, judgement.

Every method takes keyword arguments, runs in one transaction and returns API schemas.
Writes on SQLite take the write lock when their transaction begins (``store.WRITE_OPTION``)
and lock the order row on PostgreSQL, so concurrent requests on one order apply in turn.

Example:
    >>> import tempfile
    >>> from dispatch.config import DispatchConfig
    >>> from dispatch.store import open_engine
    >>> engine = open_engine(f"sqlite:///{tempfile.mkdtemp()}/dispatch.db")
    >>> service = DispatchService(engine=engine, config=DispatchConfig())
    >>> order, created = service.create_order(data=OrderCreate(
    ...     kind="smoke", source="video_patrol", description="秸秆焚烧", township="新桥镇"))
    >>> order.status, order.units, created
    (<OrderStatus.DISPATCHED: 'dispatched'>, ['environment', 'agriculture'], True)
    >>> service.report_feedback(order_id=order.id, data=FeedbackCreate(
    ...     unit="环保", note="已扑灭")).status
    <OrderStatus.FEEDBACK_RECEIVED: 'feedback_received'>
    >>> engine.dispose()
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import Engine, Select, func, select, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from dispatch import lifecycle, stats, views
from dispatch.config import DispatchConfig
from dispatch.errors import InvalidInput, OrderNotFound
from dispatch.models import Assignment, Evidence, Feedback, HistoryEntry, Order
from dispatch.routing import deadline_for, plan_route
from dispatch.schemas import (
    EvidenceIn,
    FeedbackCreate,
    JudgementCreate,
    OrderCreate,
    OrderDetail,
    OrderList,
    OrderPublic,
    OrderQuery,
    Stats,
    StatsQuery,
    UnitList,
    UnitPublic,
    VerificationCreate,
)
from dispatch.store import WRITE_OPTION
from dispatch.types import Action, EvidenceKind, EvidencePhase, OrderStatus

SYSTEM_ACTOR = "dispatch"  # the actor of automatic transitions (dispatch on intake, redo)


def utcnow() -> datetime:
    return datetime.now(UTC)


class DispatchService:
    """The work-order system over one database. Thread-safe; one instance per process."""

    def __init__(
        self,
        *,
        engine: Engine,
        config: DispatchConfig,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.config = config
        self._clock = clock
        self._local = timezone(timedelta(hours=config.utc_offset_hours))
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(
            engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False
        )

    # --- intake (6.1, 6.2.1, 6.2.2) ------------------------------------------------------

    def create_order(
        self, *, data: OrderCreate, idempotency_key: str | None = None
    ) -> tuple[OrderPublic, bool]:
        """Accept and dispatch an order; ``(order, created)``.

        An ``idempotency_key`` already used answers the existing order with ``created``
        False. The INSERT comes first and the unique constraint decides, so concurrent
        requests with one key make one order.
        """
        now = self._now()
        try:
            with self._write.begin() as session:
                order = self._new_order(data, idempotency_key, now)
                session.add(order)
                session.flush()
                return self._view(order, now), True
        except IntegrityError:
            if idempotency_key is None:
                raise
            with self._read.begin() as session:
                existing = session.scalar(
                    select(Order).where(Order.idempotency_key == idempotency_key)
                )
                if existing is None:  # the constraint that failed was another one
                    raise
                return self._view(existing, now), False

    def _new_order(self, data: OrderCreate, key: str | None, now: datetime) -> Order:
        route = plan_route(
            self.config,
            kind=data.kind,
            township=data.township,
            severity=data.severity,
            level=data.level,
            now=now,
        )
        order = Order(
            kind=data.kind,
            source=data.source,
            description=data.description,
            township=data.township,
            grid=data.grid,
            lat=data.location.lat if data.location else None,
            lon=data.location.lon if data.location else None,
            camera_id=data.camera_id,
            zone_id=data.zone_id,
            event_id=data.event_id,
            severity=data.severity,
            level=route.level,
            centre=route.centre,
            lead_unit=route.lead_unit,
            deadline=route.deadline,
            status=OrderStatus.DISPATCHED,
            redo_count=0,
            idempotency_key=key,
            created_at=now,
            updated_at=now,
            assignments=[Assignment(unit=u, position=i) for i, u in enumerate(route.units)],
            evidence=[_evidence(e, now) for e in data.evidence],
        )
        names = ", ".join(self._unit_label(u, lead=u == route.lead_unit) for u in route.units)
        order.history = [
            HistoryEntry(
                at=now,
                actor=data.source,
                action=Action.ACCEPT,
                from_status=None,
                to_status=OrderStatus.ACCEPTED,
                note=f"kind {data.kind} from {data.source}",
            ),
            HistoryEntry(
                at=now,
                actor=SYSTEM_ACTOR,
                action=Action.DISPATCH,
                from_status=OrderStatus.ACCEPTED,
                to_status=OrderStatus.DISPATCHED,
                note=f"level {route.level}, {route.centre}; units {names}; "
                f"deadline {route.deadline.isoformat()}",
            ),
        ]
        return order

    # --- reading ---------------------------------------------------------------------------

    def get_order(self, *, order_id: int) -> OrderDetail:
        now = self._now()
        with self._read.begin() as session:
            order = session.scalar(
                select(Order)
                .where(Order.id == order_id)
                .options(
                    selectinload(Order.history),
                    selectinload(Order.evidence),
                    selectinload(Order.feedback).selectinload(Feedback.photos),
                )
            )
            if order is None:
                raise OrderNotFound(order_id)
            return views.order_detail(order, now=now, local=self._local)

    def list_orders(self, *, query: OrderQuery) -> OrderList:
        """Orders matching ``query``, newest first, with the count of all that match."""
        now = self._now()
        filtered = _filter(select(Order), query)
        with self._read.begin() as session:
            count = session.scalar(select(func.count()).select_from(filtered.subquery()))
            rows = session.scalars(
                filtered.order_by(Order.created_at.desc(), Order.id.desc())
                .limit(query.limit)
                .offset(query.offset)
            )
            return OrderList(data=[self._view(o, now) for o in rows], count=count or 0)

    def stats(self, *, query: StatsQuery) -> Stats:
        with self._read.begin() as session:
            return stats.compute(session, since=query.since, until=query.until, now=self._now())

    def ping(self) -> bool:
        """Whether the database answers."""
        try:
            with self._read.begin() as session:
                session.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    def units(self) -> UnitList:
        data = [UnitPublic(id=uid, name=u.name) for uid, u in self.config.units.items()]
        return UnitList(data=data, count=len(data))

    # --- disposal and feedback (6.2.3, 6.3) ------------------------------------------------

    def report_feedback(
        self, *, order_id: int, data: FeedbackCreate, idempotency_key: str | None = None
    ) -> OrderPublic:
        """A unit reports disposal: ``dispatched`` or ``redo`` → ``feedback_received``."""
        now = self._now()
        with self._locked(order_id) as (session, order):
            if not _replayed(session, order, idempotency_key, Action.FEEDBACK):
                unit = self._assigned_unit(order, data.unit)
                to = lifecycle.next_status(order.status, Action.FEEDBACK, order_id=order.id)
                photos = [
                    Evidence(
                        order_id=order.id,
                        url=url,
                        kind=EvidenceKind.PHOTO,
                        phase=EvidencePhase.FEEDBACK,
                        at=now,
                    )
                    for url in data.photos
                ]
                session.add(
                    Feedback(order_id=order.id, unit=unit, note=data.note, at=now, photos=photos)
                )
                _transition(
                    session,
                    order,
                    Action.FEEDBACK,
                    to,
                    now=now,
                    actor=unit,
                    note=data.note,
                    request_key=idempotency_key,
                )
            return self._view(order, now)

    def start_verification(self, *, order_id: int, data: VerificationCreate) -> OrderPublic:
        """The reporter starts checking footage: ``feedback_received`` → ``verifying``.

        Asking again while verifying changes nothing.
        """
        now = self._now()
        with self._locked(order_id) as (session, order):
            if order.status != OrderStatus.VERIFYING:
                to = lifecycle.next_status(order.status, Action.VERIFICATION, order_id=order.id)
                _transition(
                    session,
                    order,
                    Action.VERIFICATION,
                    to,
                    now=now,
                    actor=data.actor,
                    note=data.note,
                )
            return self._view(order, now)

    def record_verdict(
        self, *, order_id: int, data: JudgementCreate, idempotency_key: str | None = None
    ) -> OrderPublic:
        """The reporter's judgement against footage (camera orders)."""
        return self._judge(order_id, data, Action.VERDICT, idempotency_key)

    def record_review(
        self, *, order_id: int, data: JudgementCreate, idempotency_key: str | None = None
    ) -> OrderPublic:
        """The commander's judgement (orders without a camera)."""
        return self._judge(order_id, data, Action.REVIEW, idempotency_key)

    def _judge(
        self, order_id: int, data: JudgementCreate, action: Action, key: str | None
    ) -> OrderPublic:
        """Standard 6.3: effective → closed; not effective → redo once, then not disposed.

        A redo restarts the disposal time limit. A key seen before on this order is a
        retry: the order is answered as it stands.
        """
        now = self._now()
        with self._locked(order_id) as (session, order):
            if not _replayed(session, order, key, action):
                to = lifecycle.next_status(
                    order.status,
                    action,
                    effective=data.effective,
                    redo_count=order.redo_count,
                    order_id=order.id,
                )
                session.add_all(_evidence(e, now, order_id=order.id) for e in data.evidence)
                if to == OrderStatus.REDO:
                    order.redo_count += 1
                    order.deadline = deadline_for(
                        self.config, kind=order.kind, level=order.level, start=now
                    )
                _transition(
                    session,
                    order,
                    action,
                    to,
                    now=now,
                    actor=data.actor,
                    note=data.note,
                    request_key=key,
                )
            return self._view(order, now)

    # --- helpers ---------------------------------------------------------------------------

    @contextmanager
    def _locked(self, order_id: int) -> Iterator[tuple[Session, Order]]:
        with self._write.begin() as session:
            order = session.scalar(select(Order).where(Order.id == order_id).with_for_update())
            if order is None:
                raise OrderNotFound(order_id)
            yield session, order

    def _now(self) -> datetime:
        return self._clock().astimezone(UTC)  # a clock in another zone must not leak out

    def _view(self, order: Order, now: datetime) -> OrderPublic:
        return views.order_public(order, now=now, local=self._local)

    def _assigned_unit(self, order: Order, unit: str) -> str:
        """The id of ``unit`` (an id or a display name) if the order was dispatched to it."""
        by_name = {u.name: uid for uid, u in self.config.units.items()}
        unit_id = unit if unit in order.units else by_name.get(unit, unit)
        if unit_id not in order.units:
            assigned = ", ".join(self._unit_label(u) for u in order.units)
            raise InvalidInput(
                f"unit {unit!r} is not assigned to order {order.id}; its units: {assigned}"
            )
        return unit_id

    def _unit_label(self, unit_id: str, *, lead: bool = False) -> str:
        return f"{self.config.unit_name(unit_id)} ({unit_id}{', lead' if lead else ''})"


def _filter(statement: Select[tuple[Order]], query: OrderQuery) -> Select[tuple[Order]]:
    equal = {
        Order.status: query.status,
        Order.source: query.source,
        Order.kind: query.kind,
        Order.camera_id: query.camera_id,
        Order.township: query.township,
    }
    for column, value in equal.items():
        if value is not None:
            statement = statement.where(column == value)
    if query.unit is not None:
        statement = statement.where(Order.assignments.any(Assignment.unit == query.unit))
    if query.updated_since is not None:
        statement = statement.where(Order.updated_at >= query.updated_since)
    return statement


def _evidence(item: EvidenceIn, at: datetime, *, order_id: int | None = None) -> Evidence:
    return Evidence(order_id=order_id, url=item.url, kind=item.kind, phase=item.phase, at=at)


def _replayed(session: Session, order: Order, key: str | None, action: Action) -> bool:
    """Whether the request with Idempotency-Key ``key`` was already applied to ``order``.

    Raises :class:`InvalidInput` if the key was used for another action on the order.
    """
    if key is None:
        return False
    applied = session.scalar(
        select(HistoryEntry.action).where(
            HistoryEntry.order_id == order.id, HistoryEntry.request_key == key
        )
    )
    if applied is not None and applied != action:
        raise InvalidInput(
            f"Idempotency-Key {key!r} was used for {applied} on order {order.id}, not {action}"
        )
    return applied is not None


def _transition(
    session: Session,
    order: Order,
    action: Action,
    to: OrderStatus,
    *,
    now: datetime,
    actor: str,
    note: str,
    request_key: str | None = None,
) -> None:
    session.add(
        HistoryEntry(
            order_id=order.id,
            at=now,
            actor=actor,
            action=action,
            from_status=order.status,
            to_status=to,
            note=note,
            request_key=request_key,
        )
    )
    order.status = to
    order.updated_at = now
    if to.is_final:
        order.finished_at = now
