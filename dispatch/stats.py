"""Statistics for assessment (standard 7.1.1.5 and 8): counts and rates over a window.

The window selects orders by creation time, ``[since, until)``. Rates divide by the orders
in the window (or the closed ones, or the footage verdicts) and are ``None`` when there
is nothing to divide by. Orders are read once and counted in Python: a county's orders
over a year fit in memory many times over.

Example:
    >>> rows = [OrderRow(1, "smoke", "新桥镇", 1, "video_patrol", OrderStatus.CLOSED,
    ...                  T0, T0 + timedelta(minutes=30), T0 + timedelta(hours=2), 0,
    ...                  None, None, False, ("environment",))]
    >>> m = metrics(rows, {1: [True]}, now=T0)
    >>> m.closure_rate, m.on_time_rate, m.mean_time_to_close_s, m.verification_pass_rate
    (1.0, 1.0, 1800.0, 1.0)
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import NamedTuple

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from dispatch.models import Assignment, HistoryEntry, Order
from dispatch.schemas import GroupStats, Metrics, Stats
from dispatch.types import Action, OrderStatus, Source

T0 = datetime(2026, 11, 27, 8, tzinfo=UTC)  # for the example above
METRIC_FIELDS = list(Metrics.model_fields)


class OrderRow(NamedTuple):
    id: int
    kind: str
    township: str
    level: int
    source: str
    status: OrderStatus
    created_at: datetime
    finished_at: datetime | None
    deadline: datetime
    redo_count: int
    overdue_at: datetime | None
    escalated_at: datetime | None
    supervised: bool
    units: tuple[str, ...]


def load(
    session: Session, *, since: datetime | None, until: datetime | None
) -> tuple[list[OrderRow], dict[int, list[bool]]]:
    """The orders created in the window, and each one's footage verdicts (effective?)."""
    window: list[ColumnElement[bool]] = []
    if since is not None:
        window.append(Order.created_at >= since)
    if until is not None:
        window.append(Order.created_at < until)
    units: dict[int, list[str]] = defaultdict(list)
    assigned = select(Assignment.order_id, Assignment.unit).join(Order).where(*window)
    for order_id, unit in session.execute(assigned.order_by(Assignment.position)):
        units[order_id].append(unit)
    verdicts: dict[int, list[bool]] = defaultdict(list)
    judged = (
        select(HistoryEntry.order_id, HistoryEntry.to_status)
        .join(Order)
        .where(*window, HistoryEntry.action == Action.VERDICT)
        .order_by(HistoryEntry.id)
    )
    for order_id, to_status in session.execute(judged):
        verdicts[order_id].append(to_status == OrderStatus.CLOSED)
    columns = [getattr(Order, f) for f in OrderRow._fields if f != "units"]
    rows = [
        OrderRow(*row, units=tuple(units.get(row[0], ())))
        for row in session.execute(select(*columns).where(*window).order_by(Order.id))
    ]
    return rows, verdicts


def metrics(rows: Iterable[OrderRow], verdicts: dict[int, list[bool]], *, now: datetime) -> Metrics:
    rows = list(rows)
    total = len(rows)
    closed = [r for r in rows if r.status == OrderStatus.CLOSED]
    durations = [(r.finished_at - r.created_at).total_seconds() for r in closed if r.finished_at]
    on_time = sum(
        1 for r in closed if r.finished_at and r.finished_at <= r.deadline and not r.overdue_at
    )
    judged = [passed for r in rows for passed in verdicts.get(r.id, ())]
    not_disposed = sum(1 for r in rows if r.status == OrderStatus.NOT_DISPOSED)
    return Metrics(
        total=total,
        closed=len(closed),
        not_disposed=not_disposed,
        copied=sum(1 for r in rows if r.status == OrderStatus.COPIED),
        overdue=sum(1 for r in rows if not r.status.is_final and r.deadline < now),
        escalated=sum(1 for r in rows if r.escalated_at is not None),
        supervised=sum(1 for r in rows if r.supervised),
        closure_rate=_rate(len(closed), total),
        on_time_rate=_rate(on_time, len(closed)),
        mean_time_to_close_s=sum(durations) / len(durations) if durations else None,
        redo_rate=_rate(sum(1 for r in rows if r.redo_count > 0), total),
        not_disposed_rate=_rate(not_disposed, total),
        verification_pass_rate=_rate(sum(judged), len(judged)),
    )


def group_keys(group_by: str, local: tzinfo) -> Callable[[OrderRow], Iterable[str]]:
    """The groups an order falls in: one, or one per unit for ``unit``."""
    if group_by == "unit":
        return lambda r: r.units
    if group_by == "day":
        return lambda r: (r.created_at.astimezone(local).date().isoformat(),)
    return lambda r: (str(getattr(r, group_by)),)


def grouped(
    rows: list[OrderRow], verdicts: dict[int, list[bool]], group_by: str, *,
    now: datetime, local: tzinfo,
) -> dict[str, Metrics]:
    members: dict[str, list[OrderRow]] = defaultdict(list)
    keys = group_keys(group_by, local)
    for row in rows:
        for key in keys(row):
            members[key].append(row)
    return {key: metrics(members[key], verdicts, now=now) for key in sorted(members)}


def compute(
    session: Session,
    *,
    since: datetime | None,
    until: datetime | None,
    now: datetime,
    group_by: str | None = None,
    local: tzinfo = UTC,
) -> Stats:
    rows, verdicts = load(session, since=since, until=until)
    overall = metrics(rows, verdicts, now=now)

    def count(keys: Callable[[OrderRow], Iterable[str]]) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for row in rows:
            for key in keys(row):
                counts[key] += 1
        return dict(sorted(counts.items()))

    groups = []
    if group_by is not None:
        by_group = grouped(rows, verdicts, group_by, now=now, local=local)
        groups = [GroupStats(key=k, **m.model_dump()) for k, m in by_group.items()]
    return Stats(
        since=since,
        until=until,
        total=overall.total,
        by_status={s.value: 0 for s in OrderStatus} | count(lambda r: (r.status.value,)),
        by_kind=count(lambda r: (r.kind,)),
        by_township=count(lambda r: (r.township,)),
        by_unit=count(lambda r: r.units),
        by_level=count(lambda r: (str(r.level),)),
        by_source={s.value: 0 for s in Source} | count(lambda r: (str(r.source),)),
        overdue=overall.overdue,
        escalated=overall.escalated,
        supervised=overall.supervised,
        closure_rate=overall.closure_rate,
        redo_rate=overall.redo_rate,
        not_disposed_rate=overall.not_disposed_rate,
        on_time_rate=overall.on_time_rate,
        mean_time_to_close_s=overall.mean_time_to_close_s,
        verification_pass_rate=overall.verification_pass_rate,
        group_by=group_by,
        utc_offset_hours=(local.utcoffset(now) or timedelta(0)).total_seconds() / 3600,
        groups=groups,
    )


def to_csv(stats: Stats) -> str:
    """One row per group (first column named after the grouping), or one row ``all``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([stats.group_by or "group", *METRIC_FIELDS])
    if stats.group_by is None:
        overall = stats.model_dump()
        overall |= {"closed": stats.by_status["closed"], "copied": stats.by_status["copied"],
                    "not_disposed": stats.by_status["not_disposed"]}
        writer.writerow(["all", *(cell(overall[f]) for f in METRIC_FIELDS)])
    for group in stats.groups:
        writer.writerow([group.key, *(cell(getattr(group, f)) for f in METRIC_FIELDS)])
    return out.getvalue()


def cell(value: object) -> str:
    if value is None:
        return ""
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None

