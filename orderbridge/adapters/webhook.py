"""A generic HTTP webhook: one signed JSON POST per order, verification start and verdict.

Body (UTF-8 JSON)::

    {"type": "order.create" | "order.verifying" | "order.verdict",
     "key": "<idempotency key>", "sent_at": "<ISO 8601 UTC>",
     "order": {...}                      # order.create: the order, fields mapped
     "order_id": "...", "verdict": {...} # order.verifying / order.verdict}

Headers: ``Idempotency-Key`` (the same on every retry of one message; the receiver keeps
the first answer), ``X-Lianqin-Event``, and the HMAC signature (``orderbridge.signing``).
A 2xx answer delivers; 408/425/429/5xx and network errors are retried with backoff
(Retry-After honoured); other 4xx go to the dead letters. The answer may carry the
receiver's order id and status (``response_id`` / ``response_status``); states later come
back through the callback router (``orderbridge.http``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy.orm import Session, sessionmaker

from orderbridge.adapters.base import send, tls
from orderbridge.adapters.local import LocallyTrackedAdapter, dig
from orderbridge.config import WebhookTarget
from orderbridge.signing import sign

EVENT_HEADER = "X-Lianqin-Event"


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{path}."))
        else:
            out[path] = value
    return out


def _unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, value in flat.items():
        node = out
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def map_fields(order: dict[str, Any], fields: dict[str, str | None],
               static: dict[str, Any] | None = None) -> dict[str, Any]:
    """Rename dotted fields (``location.lat`` → ``geo.latitude``); a None target drops the
    field; a mapped parent (``location``) moves the whole sub-object."""
    flat: dict[str, Any] = {}
    for path, value in _flatten(order).items():
        target: str | None = path
        for ours, theirs in fields.items():
            if path == ours or path.startswith(f"{ours}."):
                target = None if theirs is None else theirs + path[len(ours):]
                break
        if target is not None:
            flat[target] = value
    flat.update(static or {})
    return _unflatten(flat)


class WebhookAdapter(LocallyTrackedAdapter):
    def __init__(self, config: WebhookTarget, sessions: sessionmaker[Session] | None = None) -> None:
        super().__init__(config.status_map, sessions)
        self.config = config
        self._client = httpx.Client(timeout=config.timeout_s, verify=tls())

    def post(self, kind: str, key: str, body: dict[str, Any]) -> Any:
        """POST one signed message; the parsed answer (None when it has no JSON body)."""
        message = {"type": kind, "key": key,
                   "sent_at": datetime.now(UTC).isoformat(timespec="milliseconds"), **body}
        raw = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": key,
                   EVENT_HEADER: kind, **sign(self.config.secret, raw)}
        resp = send(self._client, "POST", self.config.url, content=raw, headers=headers)
        try:
            return resp.json() if resp.content else None
        except ValueError:
            return None

    def create_order(self, key: str, request: dict[str, Any], *,
                     in_doubt: bool = False) -> dict[str, Any]:
        order = map_fields(request, self.config.fields, self.config.static)
        answer = self.post("order.create", key, {"order": order})
        order_id = dig(answer, self.config.response_id)
        return {"id": str(order_id) if order_id not in (None, "") else key,
                "status": self.answered_status(answer, self.config.response_status, "sent")}

    def start_verification(self, order_id: str) -> dict[str, Any]:
        attempt = self.order(order_id)["redo_count"]  # one notice per disposal report
        self.post("order.verifying", f"verifying:{order_id}:{attempt}", {"order_id": order_id})
        self.states.apply(order_id, "verifying")
        return {"id": order_id, "status": "verifying"}

    def send_verdict(self, key: str, order_id: str, verdict: dict[str, Any], *,
                     in_doubt: bool = False) -> dict[str, Any]:
        ours = self.states.verdict_status(order_id, bool(verdict.get("effective")))
        answer = self.post("order.verdict", key, {"order_id": order_id,
                                                  "verdict": {**verdict, "status": ours}})
        return {"id": order_id,
                "status": self.answered_status(answer, self.config.response_status, ours)}

    def close(self) -> None:
        self._client.close()
