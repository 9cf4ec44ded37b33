"""Open311 GeoReport v2: one service request per order, its state polled.

* ``POST {url}/requests.{json|xml}`` (form-encoded): ``service_code`` per kind, ``lat``/
  ``long`` (or ``address_string`` = the township when the camera has no position),
  ``description``, ``media_url`` of the before snapshot, ``api_key``, ``jurisdiction_id``.
  The answer carries ``service_request_id`` (or a ``token``, resolved by
  ``GET tokens/{token}``).
* ``GET {url}/requests/{id}.{json|xml}`` for status: ``status_notes`` matching a configured
  phrase decides, else ``open`` → ``open_status`` and ``closed`` → ``closed_status``
  (default: disposal reported, our footage check follows).
* GeoReport v2 cannot update a request, so a *not effective* verdict raises a follow-up
  request (its description cites the first one and carries the after-snapshot); the
  order's state then follows that request. An effective verdict closes it on our side.
* GeoReport v2 has no idempotency key. Each description ends with ``[lianqin <key>]`` and
  the outbox marks a row in flight before sending; after a crash the adapter first looks
  for a request carrying the marker (``GET requests`` by service code and start date)
  and sends again only when there is none.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orderbridge.adapters.base import DeliveryError, send, tls
from orderbridge.adapters.local import LocallyTrackedAdapter
from orderbridge.config import Open311Target
from patrol.orders import TOPIC_ORDER_VERDICT
from patrol.tables import EventRow, OutboxRow

log = logging.getLogger(__name__)

# How far back the search for an in-doubt request looks (clock skew, slow outbox).
SEARCH_WINDOW = timedelta(days=2)
# GeoReport v2 allows descriptions up to 4,000 characters.
MAX_DESCRIPTION = 4000


def marker(key: str) -> str:
    return f"[lianqin {key}]"


def parse_requests(text: str, fmt: str) -> list[dict[str, Any]]:
    """A GeoReport v2 answer (list of requests, or the POST answer) as plain dicts."""
    if fmt == "json":
        import json

        data = json.loads(text)
        return data if isinstance(data, list) else [data]
    root = ET.fromstring(text)
    return [{child.tag: (child.text or "") for child in item} for item in root]


def parse_errors(text: str, fmt: str) -> str:
    try:
        items = parse_requests(text, fmt)
    except (ValueError, ET.ParseError):
        return text[:300]
    return "; ".join(f"{i.get('code', '?')} {i.get('description', '')}".strip() for i in items)


class Open311Adapter(LocallyTrackedAdapter):
    idempotent = False
    pushes_states = False

    def __init__(self, config: Open311Target, sessions: sessionmaker[Session] | None = None) -> None:
        super().__init__({}, sessions)
        self.config = config
        self.base = config.url.rstrip("/")
        self._client = httpx.Client(timeout=config.timeout_s, verify=tls())

    # -- HTTP -----------------------------------------------------------------------------
    def _call(self, method: str, path: str, **kwargs: Any) -> list[dict[str, Any]]:
        fmt = self.config.format
        url = f"{self.base}/{path}.{fmt}"
        resp = send(self._client, method, url, errors=lambda text: parse_errors(text, fmt),
                    **kwargs)
        try:
            return parse_requests(resp.text, fmt)
        except (ValueError, ET.ParseError) as exc:
            raise DeliveryError(f"{method} {url}: unreadable answer: {exc}", retryable=True) from None

    def _params(self) -> dict[str, str]:
        return {"jurisdiction_id": self.config.jurisdiction_id} if self.config.jurisdiction_id else {}

    def _post(self, key: str, request: dict[str, Any], description: str, media_url: str | None,
              *, in_doubt: bool) -> str:
        code = self.config.service_codes.get(request["kind"])
        if code is None:
            raise DeliveryError(f"no Open311 service_code for kind {request['kind']!r} "
                                "(bridge.target.service_codes)", retryable=False)
        if in_doubt:
            found = self._find(code, key)
            if found is not None:
                log.info("Open311 request for %s was made before the crash: %s", key, found)
                return found
        form = {**self._params(), "service_code": code,
                "description": f"{description[:MAX_DESCRIPTION - 80]} {marker(key)}"}
        location = request.get("location") or {}
        if location.get("lat") is not None and location.get("lon") is not None:
            form["lat"], form["long"] = str(location["lat"]), str(location["lon"])
        else:
            form["address_string"] = str(request.get("township") or "")
        if media_url:
            form["media_url"] = media_url
        if self.config.api_key:
            form["api_key"] = self.config.api_key
        answer = self._call("POST", "requests", data=form)
        first = answer[0] if answer else {}
        srid = first.get("service_request_id")
        if not srid and first.get("token"):
            srid = self._resolve_token(str(first["token"]))
        if not srid:
            raise DeliveryError(f"Open311 answered without a request id: {first}", retryable=True)
        return str(srid)

    def _resolve_token(self, token: str) -> str | None:
        items = self._call("GET", f"tokens/{token}", params=self._params())
        return next((str(i["service_request_id"]) for i in items if i.get("service_request_id")), None)

    def _find(self, code: str, key: str) -> str | None:
        since = (datetime.now(UTC) - SEARCH_WINDOW).strftime("%Y-%m-%dT%H:%M:%SZ")
        items = self._call("GET", "requests", params={**self._params(), "service_code": code,
                                                      "start_date": since})
        tag = marker(key)
        return next((str(i["service_request_id"]) for i in items
                     if tag in (i.get("description") or "")), None)

    # -- the adapter ------------------------------------------------------------------------
    def create_order(self, key: str, request: dict[str, Any], *,
                     in_doubt: bool = False) -> dict[str, Any]:
        media = next((e["url"] for e in request.get("evidence", [])
                      if e.get("kind") == "snapshot"), None)
        srid = self._post(key, request, request.get("description", ""), media, in_doubt=in_doubt)
        return {"id": srid, "status": self.config.open_status}

    def start_verification(self, order_id: str) -> dict[str, Any]:
        self.states.apply(order_id, "verifying")  # GeoReport v2 has no way to say it
        return {"id": order_id, "status": "verifying"}

    def send_verdict(self, key: str, order_id: str, verdict: dict[str, Any], *,
                     in_doubt: bool = False) -> dict[str, Any]:
        ours = self.states.verdict_status(order_id, bool(verdict.get("effective")))
        if ours != "redo":
            return {"id": order_id, "status": ours}
        order = self.order(order_id)
        with self.states._sessions()() as s:
            first = s.scalars(select(OutboxRow).where(
                OutboxRow.key == f"event:{order['event_id']}")).first()
        request = {**(first.payload if first is not None else {}), "kind": order["kind"]}
        media = next((e["url"] for e in verdict.get("evidence", [])
                      if e.get("kind") == "snapshot"), None)
        text = f"复核未通过，请再次处置（原工单 {order_id}）：{verdict.get('note', '')}"
        follow_up = self._post(key, request, text, media, in_doubt=in_doubt)
        return {"id": order_id, "status": "redo", "follow_up": follow_up}

    def _follow_ups(self, order_ids: list[str]) -> dict[str, str]:
        """Order id → the latest follow-up request raised by a not-effective verdict."""
        out: dict[str, str] = {}
        with self.states._sessions()() as s:
            rows = s.scalars(select(OutboxRow).where(
                OutboxRow.topic == TOPIC_ORDER_VERDICT, OutboxRow.delivered_at.is_not(None))
                .order_by(OutboxRow.id)).all()
        wanted = set(order_ids)
        for row in rows:
            follow_up = (row.response or {}).get("follow_up")
            if follow_up and str(row.payload.get("order_id")) in wanted:
                out[str(row.payload["order_id"])] = str(follow_up)
        return out

    def state_of(self, item: dict[str, Any], *, follow_up: bool) -> str:
        notes = item.get("status_notes") or ""
        for phrase, state in self.config.status_notes.items():
            if phrase in notes:
                return state
        if (item.get("status") or "").lower() == "closed":
            return self.config.closed_status
        return "redo" if follow_up else self.config.open_status

    def poll_states(self, order_ids: list[str]) -> list[dict[str, Any]]:
        follow_ups = self._follow_ups(order_ids)
        with self.states._sessions()() as s:
            current = dict(s.execute(select(EventRow.order_id, EventRow.order_status).where(
                EventRow.order_id.in_(order_ids), EventRow.parent_id.is_(None))).all())
        out = []
        for order_id in order_ids:
            remote = follow_ups.get(order_id, order_id)
            items = self._call("GET", f"requests/{remote}", params=self._params())
            if not items:
                continue
            state = self.state_of(items[0], follow_up=remote != order_id)
            if current.get(order_id) == "verifying" and state == self.config.closed_status:
                continue  # our footage check is under way; the closed request is why
            out.append({"id": order_id, "status": state, "note": items[0].get("status_notes")})
        return out

    def close(self) -> None:
        self._client.close()
