"""The dispatch-side contract the bridge needs, and how failures are classified."""

from __future__ import annotations

import functools
import ssl
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from sqlalchemy.orm import Session, sessionmaker


@functools.cache
def tls() -> ssl.SSLContext:
    """One verifying TLS context for every HTTP client of the process (loading the CA
    bundle costs tens of milliseconds; a restarted delivery process should not wait)."""
    return httpx.create_ssl_context()


class DeliveryError(RuntimeError):
    """A delivery failed. ``retryable`` says whether trying again later can help."""

    def __init__(self, message: str, *, retryable: bool, retry_after_s: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after_s = retry_after_s


# HTTP statuses worth retrying (PE3): server errors, timeouts, too early, too many requests.
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
# A Retry-After longer than this is capped: a misconfigured peer must not park the queue
# for days.
MAX_RETRY_AFTER_S = 3600.0


def retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header: delay-seconds or an HTTP-date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def send(client: httpx.Client, method: str, url: str, *,
         errors: Callable[[str], str] = lambda text: text[:300], **kwargs: Any) -> httpx.Response:
    """One request to a peer; a 2xx answer is returned. A network error raises a retryable
    DeliveryError, any other answer one retryable as :data:`RETRYABLE_STATUS` says (with the
    peer's Retry-After), its message citing ``errors(answer body)``."""
    try:
        resp = client.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{method} {url}: {type(exc).__name__}: {exc}",
                            retryable=True) from exc
    if resp.status_code >= 300:
        raise DeliveryError(
            f"{method} {url}: HTTP {resp.status_code}: {errors(resp.text)}",
            retryable=resp.status_code in RETRYABLE_STATUS,
            retry_after_s=retry_after(resp.headers.get("Retry-After")))
    return resp


class DispatchAdapter(ABC):
    """A dispatch core as the bridge sees it. Every call may raise DeliveryError."""

    #: The peer returns the first answer for a repeated idempotency key. Where it does not
    #: (Open311), the outbox marks a row in flight before sending, and a repeat after a
    #: crash asks the adapter to look for the first copy (``in_doubt=True``).
    idempotent: bool = True
    #: Order states arrive by themselves (MQTT subscription, HTTP callbacks); otherwise
    #: the bridge polls ``poll_states``.
    pushes_states: bool = False

    @abstractmethod
    def create_order(self, key: str, request: dict[str, Any], *,
                     in_doubt: bool = False) -> dict[str, Any]:
        """Raise an order; ``key`` makes a repeat return the same order. Returns at least
        ``{"id", "status"}``."""

    @abstractmethod
    def start_verification(self, order_id: str) -> dict[str, Any]:
        """Tell the dispatch core that the footage check has begun."""

    @abstractmethod
    def send_verdict(self, key: str, order_id: str, verdict: dict[str, Any], *,
                     in_doubt: bool = False) -> dict[str, Any]:
        """Report the verification verdict; ``key`` makes a repeat apply once."""

    @abstractmethod
    def orders(self, **filters: Any) -> list[dict[str, Any]]:
        """Orders raised by video patrol, filtered (status, updated_since, ...)."""

    @abstractmethod
    def order(self, order_id: str) -> dict[str, Any]:
        """One order with its history."""

    def poll_states(self, order_ids: list[str]) -> list[dict[str, Any]]:
        """Current ``{"id", "status"}`` of the given open orders."""
        wanted = set(order_ids)
        return [o for o in self.orders() if str(o["id"]) in wanted]

    def bind(self, sessions: sessionmaker[Session]) -> None:  # noqa: B027 - optional
        """Give the adapter the event store (adapters that keep order states locally)."""

    def start(self) -> None:  # noqa: B027 - adapters without connections need nothing
        """Open connections and subscriptions (the bridge's own adapter only)."""

    def close(self) -> None:  # noqa: B027 - adapters without connections need nothing
        """Release connections."""
