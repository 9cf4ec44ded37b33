"""Statistics for commanders: the dispatch core's figures, and a daily trend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from fastapi import APIRouter, Depends, Query

from api.auth.deps import COMMANDER
from api.context import ContextDep
from api.dispatch_client import dispatch_client

router = APIRouter(prefix="/api/stats", tags=["statistics"], dependencies=[Depends(COMMANDER)])


@router.get("")
def stats(ctx: ContextDep, since: datetime | None = None,
          until: datetime | None = None) -> dict[str, Any]:
    """Counts by status, kind, township, unit, level and source; closure, redo,
    not-disposed and on-time rates (``GET /api/dispatch/stats``)."""
    params = {k: v.isoformat() for k, v in (("since", since), ("until", until)) if v}
    return dispatch_client(ctx).call("GET", "/stats", params=params)


@router.get("/trend")
def trend(ctx: ContextDep, days: int = Query(default=14, ge=1, le=90)) -> dict[str, Any]:
    """Per day, oldest first: orders created, closed among them, on-time rate. Days are the
    centre's local days where the core groups by day (it says its UTC offset), else UTC
    days asked for one by one."""
    client = dispatch_client(ctx)
    now = datetime.now(UTC)
    # a day more than asked: the first local day begins after this, whatever the offset
    grouped = client.call("GET", "/stats", params={
        "since": (now - timedelta(days=days + 1)).isoformat(), "group_by": "day"})
    if grouped.get("group_by") == "day":
        local = timezone(timedelta(hours=float(grouped.get("utc_offset_hours") or 0)))
        today = now.astimezone(local).date()
        by_day = {g["key"]: g for g in grouped.get("groups", [])}
        keys = [(today - timedelta(days=back)).isoformat() for back in range(days - 1, -1, -1)]
        return {"days": [{"day": k, "total": by_day.get(k, {}).get("total", 0),
                          "closed": by_day.get(k, {}).get("closed", 0),
                          "on_time_rate": by_day.get(k, {}).get("on_time_rate")}
                         for k in keys]}
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    out = []
    for back in range(days - 1, -1, -1):
        start = today - timedelta(days=back)
        day = client.call("GET", "/stats", params={
            "since": start.isoformat(), "until": (start + timedelta(days=1)).isoformat()})
        out.append({"day": start.date().isoformat(), "total": day["total"],
                    "closed": day["by_status"].get("closed", 0),
                    "on_time_rate": day.get("on_time_rate")})
    return {"days": out}
