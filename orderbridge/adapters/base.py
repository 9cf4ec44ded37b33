"""The dispatch-side contract the bridge needs, and how failures are classified."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any


class DeliveryError(RuntimeError):
    """A delivery failed. ``retryable`` says whether trying again later can help."""

    def __init__(self, message: str, *, retryable: bool, retry_after_s: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after_s = retry_after_s


# HTTP statuses worth retrying (PE3): server errors, timeouts, too early, too many requests.
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class DispatchAdapter(ABC):
    """A dispatch core as the bridge sees it. Every call may raise DeliveryError."""

    @abstractmethod
    def create_order(self, key: str, request: dict[str, Any]) -> dict[str, Any]:
        """Raise an order; ``key`` makes a repeat return the same order."""

    @abstractmethod
    def start_verification(self, order_id: str) -> dict[str, Any]:
        """Tell the dispatch core that the footage check has begun."""

    @abstractmethod
    def send_verdict(self, key: str, order_id: str, verdict: dict[str, Any]) -> dict[str, Any]:
        """Report the verification verdict; ``key`` makes a repeat apply once."""

    @abstractmethod
    def orders(self, **filters: Any) -> list[dict[str, Any]]:
        """Orders raised by video patrol, filtered (status, updated_since, ...)."""

    @abstractmethod
    def order(self, order_id: str) -> dict[str, Any]:
        """One order with its history."""

    def close(self) -> None:  # noqa: B027 - adapters without connections need nothing
        """Release connections."""
