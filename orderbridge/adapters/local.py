"""Adapters whose peer only sends updates keep order states on our side (``LocalOrders``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from orderbridge.adapters.base import DeliveryError, DispatchAdapter
from orderbridge.states import LocalOrders, StateError


def dig(data: Any, path: str) -> Any:
    """``data["a"]["b"]`` for ``path="a.b"``; None where any step is missing."""
    for part in path.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


class LocallyTrackedAdapter(DispatchAdapter):
    """Lists and reads orders from the event store; the peer pushes or is polled for states."""

    def __init__(self, status_map: dict[str, str], sessions: sessionmaker[Session] | None) -> None:
        self.states = LocalOrders(sessions, status_map)

    def bind(self, sessions: sessionmaker[Session]) -> None:
        self.states.sessions = sessions

    def orders(self, **filters: Any) -> list[dict[str, Any]]:
        return self.states.orders(**filters)

    def order(self, order_id: str) -> dict[str, Any]:
        try:
            return self.states.order(order_id)
        except StateError as exc:
            raise DeliveryError(str(exc), retryable=False) from None

    def answered_status(self, answer: Any, path: str, default: str) -> str:
        """The status a peer put in its answer, in our words; ``default`` when it gave none
        or one we cannot map."""
        status = dig(answer, path)
        if not isinstance(status, str):
            return default
        try:
            return self.states.normalise(status)
        except StateError:
            return default
