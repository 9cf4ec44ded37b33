"""Routing of a new order: response level, coordinating centre, units, lead unit, deadline.

Pure: configuration and values in, a :class:`Route` out.

Example:
    >>> from datetime import datetime, UTC
    >>> from dispatch.config import DispatchConfig
    >>> route = plan_route(DispatchConfig(), kind="dust", township="新桥镇", severity=None,
    ...                    level=None, now=datetime(2026, 11, 27, 8, tzinfo=UTC))
    >>> route.level, route.centre, route.units, route.lead_unit, route.deadline.isoformat()
    (1, '新桥镇联勤分中心', ('construction', 'environment'), 'construction', '2026-11-28T08:00:00+00:00')
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from dispatch.config import DispatchConfig


@dataclass(frozen=True)
class Route:
    level: int
    centre: str
    units: tuple[str, ...]
    lead_unit: str
    deadline: datetime


def choose_level(config: DispatchConfig, *, severity: str | None, level: int | None) -> int:
    """Standard 6.2.1.2: the order's own level, else level 2 for major severities, else 1."""
    if level is not None:
        return level
    if severity is not None and severity in config.county_severities:
        return 2
    return config.default_level


def centre_for(config: DispatchConfig, *, township: str, level: int) -> str:
    """Level 1 is coordinated by the township sub-centre, level 2 by the county centre."""
    return config.county_centre if level == 2 else f"{township}{config.township_centre_suffix}"


def deadline_for(config: DispatchConfig, *, kind: str, level: int, start: datetime) -> datetime:
    return start + timedelta(minutes=config.route_for(kind).deadline_for(level))


def plan_route(
    config: DispatchConfig,
    *,
    kind: str,
    township: str,
    severity: str | None,
    level: int | None,
    now: datetime,
) -> Route:
    chosen = choose_level(config, severity=severity, level=level)
    route = config.route_for(kind)
    return Route(
        level=chosen,
        centre=centre_for(config, township=township, level=chosen),
        units=tuple(route.units),
        lead_unit=route.lead_unit,
        deadline=deadline_for(config, kind=kind, level=chosen, start=now),
    )
