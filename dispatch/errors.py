"""Errors of the dispatch core, each with the HTTP status the API answers it with."""

from __future__ import annotations

from dispatch.types import Action, OrderStatus


class DispatchError(Exception):
    """Base of the errors a client can cause; ``str(error)`` is the message it gets."""

    status_code = 400


class OrderNotFound(DispatchError, LookupError):
    status_code = 404

    def __init__(self, order_id: int) -> None:
        self.order_id = order_id
        super().__init__(f"order {order_id} does not exist")


class InvalidTransition(DispatchError):
    """An action the order's current status does not accept."""

    status_code = 409

    def __init__(
        self,
        *,
        order_id: int | None,
        status: OrderStatus,
        action: Action,
        allowed: tuple[Action, ...],
    ) -> None:
        self.order_id, self.status, self.action, self.allowed = order_id, status, action, allowed
        subject = f"order {order_id}" if order_id is not None else "the order"
        names = ", ".join(allowed) or "none, the order is final"
        super().__init__(f"cannot {action} {subject}: it is {status}; allowed actions: {names}")


class InvalidInput(DispatchError, ValueError):
    """A well-formed body that does not fit the order, e.g. feedback from an unassigned unit."""

    status_code = 422


class Conflict(DispatchError):
    """A request the order's state rules out other than by status, e.g. escalating an order
    already at level 2, or a footage verdict on an order without a camera."""

    status_code = 409


class NotFound(DispatchError, LookupError):
    """An unknown patrol team or member."""

    status_code = 404
