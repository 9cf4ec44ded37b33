"""Orders as the dispatch side reports them (through the bridge's adapter)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from api.context import ContextDep
from orderbridge.adapters.base import DeliveryError

router = APIRouter(prefix="/api/orders", tags=["orders"])


@router.get("")
def list_orders(ctx: ContextDep, status: str | None = None) -> dict[str, Any]:
    """Work orders raised by video patrol, newest first, with their state."""
    if ctx.orders is None:
        raise HTTPException(503, "no dispatch target configured")
    try:
        data = ctx.orders.orders(status=status)
    except DeliveryError as exc:
        raise HTTPException(502, f"dispatch core unreachable: {exc}") from None
    return {"data": data, "count": len(data)}


@router.get("/{order_id}")
def get_order(order_id: str, ctx: ContextDep) -> dict[str, Any]:
    if ctx.orders is None:
        raise HTTPException(503, "no dispatch target configured")
    try:
        return ctx.orders.order(order_id)
    except DeliveryError as exc:
        raise HTTPException(404 if "404" in str(exc) else 502, str(exc)) from None
