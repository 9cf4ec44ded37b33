"""Routing of a new order: response level, coordinating centre, units, lead unit, deadline.

Pure: configuration and values in, a :class:`Route` out.

Example:
    >>> from datetime import datetime, UTC
    >>> from dispatch.config import DispatchConfig
    >>> route = plan_route(DispatchConfig(), kind="dust", township="新桥镇", severity=None,
    ...                    level=None, now=datetime(2026, 11, 27, 8, tzinfo=UTC))
    >>> route.level, route.centre, route.units, route.lead_unit, route.deadline.isoformat()
    (1, '新桥镇联勤分中心', ('construction', 'environment'), 'construction', '2026-11-28T08:00:00+00:00')
    >>> crowd = plan_route(DispatchConfig(), kind="crowd", township="新桥镇", severity=None,
    ...                    level=None, now=datetime(2026, 11, 27, 8, tzinfo=UTC), count=80)
    >>> crowd.level, crowd.centre, crowd.reason
    (2, '县联勤指挥中心', 'count 80 reaches the level-2 threshold 50 for crowd')
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from dispatch.config import DispatchConfig
from dispatch.types import Campaign


@dataclass(frozen=True)
class Route:
    level: int
    centre: str
    units: tuple[str, ...]
    lead_unit: str
    deadline: datetime
    reason: str = ""  # why this level, for the audit trail


def level_and_reason(
    config: DispatchConfig,
    *,
    severity: str | None,
    level: int | None,
    kind: str | None = None,
    count: int | None = None,
    cross_area: bool = False,
    campaign: Campaign | str | None = None,
) -> tuple[int, str]:
    """The response level and why (standard 6.2.1.2).

    The order's own level wins. Otherwise level 2, the county centre, for a major
    incident (a severity in ``county_severities``, or a ``count`` reaching the kind's
    ``level2_min_count``), a cross-area incident or a county-led campaign; else the
    configured default, level 1.
    """
    if level is not None:
        return level, f"level {level} as requested"
    if severity is not None and severity in config.county_severities:
        return 2, f"severity {severity} is a major incident"
    threshold = config.route_for(kind).level2_min_count if kind else None
    if count is not None and threshold is not None and count >= threshold:
        return 2, f"count {count} reaches the level-2 threshold {threshold} for {kind}"
    if cross_area:
        return 2, "cross-area incident"
    if campaign == Campaign.COUNTY:
        return 2, "county-led campaign"
    return config.default_level, f"default level {config.default_level}"


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
    count: int | None = None,
    cross_area: bool = False,
    campaign: Campaign | str | None = None,
) -> Route:
    chosen, reason = level_and_reason(
        config,
        severity=severity,
        level=level,
        kind=kind,
        count=count,
        cross_area=cross_area,
        campaign=campaign,
    )
    route = config.route_for(kind)
    return Route(
        level=chosen,
        centre=centre_for(config, township=township, level=chosen),
        units=tuple(route.units),
        lead_unit=route.lead_unit,
        deadline=deadline_for(config, kind=kind, level=chosen, start=now),
        reason=reason,
    )
