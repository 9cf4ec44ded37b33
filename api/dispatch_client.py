"""The dispatch core's HTTP API as the console calls it (bearer token, errors mapped).

The console never reaches into the dispatch core's tables: it talks to its API exactly as
an external dispatch system would be talked to (DESIGN §3).
"""

from __future__ import annotations

import threading
from typing import Any

import httpx
from fastapi import HTTPException

from api.context import AppContext

_lock = threading.Lock()


class DispatchClient:
    def __init__(self, base_url: str, token: str | None, timeout_s: float = 10.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(base_url=base_url.rstrip("/"), headers=headers,
                                    timeout=timeout_s)

    def call(self, method: str, path: str, *, json: Any = None,
             params: dict[str, Any] | None = None) -> Any:
        """The answer's JSON; the dispatch core's 4xx is passed on with its message, a
        route it does not have is 501, an unreachable core 502."""
        try:
            resp = self._client.request(method, path, json=json, params=params)
        except httpx.HTTPError as exc:
            raise HTTPException(502, f"dispatch core unreachable: {type(exc).__name__}") from None
        if resp.status_code == 404 and _detail(resp) == "Not Found":
            raise HTTPException(501, f"this dispatch core has no {method} {path.split('?')[0]}")
        if resp.status_code == 405:
            raise HTTPException(501, f"this dispatch core does not support {method} {path}")
        if resp.status_code >= 400:
            status = resp.status_code if resp.status_code < 500 else 502
            raise HTTPException(status, _detail(resp))
        return resp.json()

    def close(self) -> None:
        self._client.close()


def _detail(resp: httpx.Response) -> Any:
    try:
        return resp.json().get("detail", resp.text[:300])
    except ValueError:
        return resp.text[:300]


def dispatch_client(ctx: AppContext) -> DispatchClient:
    """The context's client, made on first use; 503 when no dispatch core is configured."""
    if not ctx.dispatch_url:
        raise HTTPException(503, "no dispatch core configured")
    with _lock:
        client = ctx.extra.get("dispatch_client")
        if client is None:
            client = ctx.extra["dispatch_client"] = DispatchClient(ctx.dispatch_url,
                                                                   ctx.dispatch_token)
    return client
