"""Statistics for assessment (standard 7.1.1.5 and 8): counts and rates over a window.

The window selects orders by creation time, ``[since, until)``. Rates divide by the orders
in the window and are ``None`` when there are none.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from dispatch.models import Assignment, Order
from dispatch.schemas import Stats
from dispatch.types import OrderStatus, Source


def compute(
    session: Session, *, since: datetime | None, until: datetime | None, now: datetime
) -> Stats:
    window: list[ColumnElement[bool]] = []
    if since is not None:
        window.append(Order.created_at >= since)
    if until is not None:
        window.append(Order.created_at < until)

    def count(*conditions: ColumnElement[bool]) -> int:
        return session.scalar(select(func.count(Order.id)).where(*window, *conditions)) or 0

    def grouped(column: InstrumentedAttribute[Any], *joins: Any) -> dict[str, int]:
        statement = select(column, func.count()).select_from(Order)
        for target in joins:
            statement = statement.join(target)
        rows = session.execute(statement.where(*window).group_by(column).order_by(column))
        return {str(key): n for key, n in rows}

    total = count()
    closed = session.execute(
        select(Order.created_at, Order.finished_at, Order.deadline).where(
            *window, Order.status == OrderStatus.CLOSED
        )
    ).all()
    durations = [(done - created).total_seconds() for created, done, _ in closed if done]
    on_time = sum(1 for _, done, deadline in closed if done and done <= deadline)
    final = (OrderStatus.CLOSED, OrderStatus.NOT_DISPOSED)
    return Stats(
        since=since,
        until=until,
        total=total,
        by_status={s.value: 0 for s in OrderStatus} | grouped(Order.status),
        by_kind=grouped(Order.kind),
        by_township=grouped(Order.township),
        by_unit=grouped(Assignment.unit, Order.assignments),
        by_level=grouped(Order.level),
        by_source={s.value: 0 for s in Source} | grouped(Order.source),
        overdue=count(Order.status.not_in(final), Order.deadline < now),
        closure_rate=_rate(len(closed), total),
        redo_rate=_rate(count(Order.redo_count > 0), total),
        not_disposed_rate=_rate(count(Order.status == OrderStatus.NOT_DISPOSED), total),
        on_time_rate=_rate(on_time, len(closed)),
        mean_time_to_close_s=sum(durations) / len(durations) if durations else None,
    )


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None
