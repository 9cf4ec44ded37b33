"""The embedded dispatch core over HTTP (the same API an external system would offer)."""

from __future__ import annotations

from typing import Any

import httpx

from orderbridge.adapters.base import (
    RETRYABLE_STATUS,
    DeliveryError,
    DispatchAdapter,
    retry_after,
    tls,
)


class EmbeddedDispatchAdapter(DispatchAdapter):
    def __init__(self, base_url: str, *, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout_s, verify=tls())

    def _call(self, method: str, path: str, *, key: str | None = None,
              json: dict[str, Any] | None = None, params: dict[str, Any] | None = None) -> Any:
        headers = {"Idempotency-Key": key} if key else {}
        try:
            resp = self._client.request(method, path, json=json, params=params, headers=headers)
        except httpx.HTTPError as exc:  # refused, reset, timeout: the core is down or slow
            raise DeliveryError(f"{method} {path}: {type(exc).__name__}: {exc}",
                                retryable=True) from exc
        if resp.status_code >= 400:
            raise DeliveryError(
                f"{method} {path}: HTTP {resp.status_code}: {resp.text[:300]}",
                retryable=resp.status_code in RETRYABLE_STATUS, retry_after_s=retry_after(resp.headers.get("Retry-After")))
        return resp.json()

    def create_order(self, key: str, request: dict[str, Any], *,
                     in_doubt: bool = False) -> dict[str, Any]:
        return self._call("POST", "/orders", key=key, json=request)

    def start_verification(self, order_id: str) -> dict[str, Any]:
        return self._call("POST", f"/orders/{order_id}/verification",
                          json={"actor": "video_patrol"})

    def send_verdict(self, key: str, order_id: str, verdict: dict[str, Any], *,
                     in_doubt: bool = False) -> dict[str, Any]:
        return self._call("POST", f"/orders/{order_id}/verdict", key=key, json=verdict)

    def orders(self, **filters: Any) -> list[dict[str, Any]]:
        params = {"source": "video_patrol", "limit": 500,
                  **{k: v for k, v in filters.items() if v is not None}}
        return self._call("GET", "/orders", params=params)["data"]

    def order(self, order_id: str) -> dict[str, Any]:
        return self._call("GET", f"/orders/{order_id}")

    def close(self) -> None:
        self._client.close()

