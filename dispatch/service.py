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

from dispatch import assessment, intake, lifecycle, stats, supervision, teams, views
from dispatch.audit import SYSTEM_ACTOR, transition
from dispatch.config import DispatchConfig
from dispatch.errors import Conflict, InvalidInput, OrderNotFound
from dispatch.models import Assignment, Evidence, Feedback, HistoryEntry, Order
from dispatch.roster import Roster
from dispatch.routing import deadline_for
from dispatch.schemas import (
    ActionCreate,
    Assessment,
    FeedbackCreate,
    FollowUpComplete,
    JudgementCreate,
    OrderCreate,
    OrderDetail,
    OrderList,
    OrderPublic,
    OrderQuery,
    ReinforceCreate,
    Stats,
    StatsQuery,
    UnitList,
    UnitPublic,
    UnitsChange,
    VerificationCreate,
)
from dispatch.store import WRITE_OPTION
from dispatch.types import Action, EvidenceKind, EvidencePhase, MemberRole, OrderStatus, Scope

__all__ = ["SYSTEM_ACTOR", "DispatchService", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


class DispatchService(Roster):
    """The work-order system over one database. Thread-safe; one instance per process.

    Patrol teams and members: see :class:`dispatch.roster.Roster`.
    """

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
        """Accept and dispatch an order (or follow it up, or copy it); ``(order, created)``.

        An ``idempotency_key`` already used answers the existing order with ``created``
        False. The INSERT comes first and the unique constraint decides, so concurrent
        requests with one key make one order.
        """
        now = self._now()
        try:
            with self._write.begin() as session:
                order, member = intake.new_order(session, self.config, data, idempotency_key, now)
                session.add(order)
                session.flush()
                if member is not None:
                    teams.assign(order, member, MemberRole.FIRST, now)
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

    def complete_follow_up(self, *, order_id: int, data: FollowUpComplete) -> OrderPublic:
        """The follow-up of an unclear report is done: accept and dispatch, or copy (6.2.1.1)."""
        now = self._now()
        copies = data.scope == Scope.OUT_OF_SCOPE and not data.urgent
        with self._locked(order_id) as (session, order):
            action = Action.COPY if copies else Action.COMPLETE
            lifecycle.next_status(order.status, action, order_id=order.id)
            member = intake.complete_follow_up(session, self.config, order, data, now)
            if member is not None:
                teams.assign(order, member, MemberRole.FIRST, now)
            return self._view(order, now)

    # --- levels, hand-over, reinforcement, supervision (6.2.1.2, 6.2.3.2, 6.2.4) -----------

    def escalate(self, *, order_id: int, data: ActionCreate) -> OrderPublic:
        """Level 1 cannot handle it: level 2, the county centre, with a new time limit."""
        return self._apply(order_id, supervision.escalate_request, data)

    def hand_over(self, *, order_id: int, data: UnitsChange) -> OrderPublic:
        """To departments (from a patrol member) or to other units."""
        return self._apply(order_id, supervision.hand_over, data)

    def reinforce(self, *, order_id: int, data: ReinforceCreate) -> OrderPublic:
        """Units join and/or patrol members come from neighbouring grids."""
        return self._apply(order_id, supervision.reinforce, data)

    def supervise(self, *, order_id: int, data: UnitsChange) -> OrderPublic:
        """督办: instruct, may order joint disposal with a designated lead unit."""
        return self._apply(order_id, supervision.supervise, data)

    def remind(self, *, order_id: int, data: ActionCreate) -> OrderPublic:
        """催办: record a reminder to the units."""
        now = self._now()
        with self._locked(order_id) as (session, order):
            supervision.remind(session, order, actor=data.actor, note=data.note, now=now)
            return self._view(order, now)

    def supervise_overdue(self) -> list[int]:
        """Flag and escalate orders past their time limit, remind the long-overdue ones;
        the background supervisor calls this. Answers the ids of the orders changed."""
        now = self._now()
        with self._write.begin() as session:
            return supervision.sweep_overdue(session, self.config, now)

    def _apply(self, order_id: int, step: Callable[..., None], data: object) -> OrderPublic:
        now = self._now()
        with self._locked(order_id) as (session, order):
            step(session, self.config, order, data, now)
            return self._view(order, now)

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
            return stats.compute(
                session,
                since=query.since,
                until=query.until,
                group_by=query.group_by,
                now=self._now(),
                local=self._local,
            )

    def stats_csv(self, *, query: StatsQuery) -> str:
        """The metrics as CSV: one row per group, or one row ``all``."""
        return stats.to_csv(self.stats(query=query))

    def assessment(self, *, query: StatsQuery) -> Assessment:
        """Scores per unit and township from the configured weights (standard 8.3-8.4)."""
        with self._read.begin() as session:
            return assessment.assess(
                session, self.config, since=query.since, until=query.until, now=self._now()
            )

    def assessment_csv(self, *, query: StatsQuery) -> str:
        return assessment.to_csv(self.assessment(query=query))

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
                to = lifecycle.next_status(order.status, Action.FEEDBACK, order_id=order.id)
                unit = self._assigned_unit(order, data.unit)
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
                transition(
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
            _needs_camera(order, Action.VERIFICATION)
            if order.status != OrderStatus.VERIFYING:
                to = lifecycle.next_status(order.status, Action.VERIFICATION, order_id=order.id)
                transition(
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
        """The reporter's judgement against footage; only an order with a camera has one."""
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
                if action == Action.VERDICT:
                    _needs_camera(order, action)
                to = lifecycle.next_status(
                    order.status,
                    action,
                    effective=data.effective,
                    redo_count=order.redo_count,
                    order_id=order.id,
                )
                session.add_all(
                    intake.evidence_row(e, now, order_id=order.id) for e in data.evidence
                )
                if to == OrderStatus.REDO:
                    order.redo_count += 1
                    order.deadline = deadline_for(
                        self.config, kind=order.kind, level=order.level, start=now
                    )
                transition(
                    session,
                    order,
                    action,
                    to,
                    now=now,
                    actor=data.actor,
                    note=data.note,
                    request_key=key,
                )
                if to.is_final:
                    teams.release(session, order, now)
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
        return intake.unit_label(self.config, unit_id, lead=lead)


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


def _needs_camera(order: Order, action: Action) -> None:
    """Footage can judge only an order raised with a camera (standard 6.3)."""
    if order.camera_id is None:
        raise Conflict(
            f"cannot {action} order {order.id}: it has no camera, so there is no footage to "
            f"check; a commander judges it instead: POST /orders/{order.id}/review"
        )
