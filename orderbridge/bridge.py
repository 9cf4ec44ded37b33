"""The order bridge service: a thin loop around intake decisions, outbox delivery,
order-state sync, verification, and the MQTT event stream."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from fastapi import APIRouter
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from orderbridge.adapters.base import DeliveryError, DispatchAdapter
from orderbridge.adapters.embedded import EmbeddedDispatchAdapter
from orderbridge.adapters.local import LocallyTrackedAdapter
from orderbridge.adapters.mqtt import MqttAdapter
from orderbridge.adapters.open311 import Open311Adapter
from orderbridge.adapters.webhook import WebhookAdapter
from orderbridge.config import BridgeConfig
from orderbridge.http import HttpReplies, verification_router
from orderbridge.intake import IntakeGate
from orderbridge.outbox import OutboxDelivery, ReplySender
from orderbridge.requests import RequestError, VerificationRequests
from orderbridge.states import FINAL_STATES
from orderbridge.stream import EventStream
from orderbridge.verification import VerificationRunner
from patrol.service import PatrolService
from patrol.tables import EventRow

log = logging.getLogger(__name__)


def build_adapter(config: BridgeConfig, default_url: str,
                  sessions: sessionmaker[Session] | None = None) -> DispatchAdapter:
    """The adapter of ``config.target``. Adapters that keep order states locally need
    ``sessions`` (or a later ``bind``) before they can list orders."""
    target = config.target
    if target.type == "webhook":
        return WebhookAdapter(target, sessions)
    if target.type == "mqtt":
        return MqttAdapter(target, sessions)
    if target.type == "open311":
        return Open311Adapter(target, sessions)
    return EmbeddedDispatchAdapter(target.url or default_url, timeout_s=target.timeout_s)


class OrderBridge:
    def __init__(self, config: BridgeConfig, sessions: sessionmaker[Session],
                 patrol: PatrolService, adapter: DispatchAdapter, *,
                 evidence_base_url: str) -> None:
        self.config = config
        self.sessions = sessions
        self.adapter = adapter
        adapter.bind(sessions)
        base = config.evidence_base_url or evidence_base_url
        self.requests = (VerificationRequests(sessions, patrol, evidence_base_url=base)
                         if config.verify else None)
        self.http_replies = HttpReplies(config.callbacks)
        replies: dict[str, ReplySender] = {"http": self.http_replies}
        if isinstance(adapter, MqttAdapter):
            replies["mqtt"] = adapter
            adapter.on_verify_request = self._mqtt_request
        self.outbox = OutboxDelivery(sessions, adapter, retry=config.retry,
                                     evidence_base_url=base, replies=replies)
        self.verifier = VerificationRunner(sessions, patrol, adapter) if config.verify else None
        self.intake = (IntakeGate(sessions, patrol.config, config.intake)
                       if config.intake else None)
        self.stream = (EventStream(config.events, sessions, patrol.bus, patrol)
                       if config.events.enabled else None)
        self._unsubscribe = patrol.bus.subscribe("events/", self._on_bus)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_sync = 0.0

    def router(self) -> APIRouter | None:
        """The endpoints the dispatch side calls (verification requests; order states for
        a webhook target); None when ``bridge.callbacks`` has neither secret nor token."""
        auth = self.config.callbacks
        if not auth.secret and not auth.token:
            return None
        states = self.adapter.states if isinstance(self.adapter, WebhookAdapter) else None
        return verification_router(self.requests, auth, states=states)

    def _mqtt_request(self, request: dict[str, Any], reply: dict[str, Any]) -> None:
        if self.requests is None:
            log.warning("verification request by MQTT ignored: bridge.verify is off")
            return
        try:
            self.requests.submit(request, reply)
        except (RequestError, ValueError) as exc:
            log.warning("verification request by MQTT refused: %s", exc)

    def _on_bus(self, topic: str, _message: dict[str, Any]) -> None:
        if topic.endswith("/new"):
            self._wake.set()  # a new event may have put an order in the outbox

    def start(self) -> None:
        self.adapter.start()
        if self.requests is not None:
            self.requests.resume()
        if self.stream is not None:
            self.stream.start()
        self._thread = threading.Thread(target=self._loop, name="order-bridge", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._unsubscribe()
        if self._thread is not None:
            self._thread.join(10)
        if self.stream is not None:
            self.stream.stop()
        if self.verifier is not None:
            self.verifier.close()
        if self.requests is not None:
            self.requests.close()
        self.http_replies.close()
        self.adapter.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.config.poll_interval_s)
            self._wake.clear()
            if not self._stop.is_set():
                self.step()

    def step(self) -> None:
        """One round: decide pending events, deliver, sync order states, verify."""
        try:
            if self.intake is not None:
                self.intake.sweep()
            while self.outbox.deliver_due():
                pass
            if not self.adapter.pushes_states and (
                    time.monotonic() - self._last_sync >= self.config.status_poll_s):
                self.sync_states()
                self._last_sync = time.monotonic()
            if self.verifier is not None:
                self.verifier.poll()
        except DeliveryError as exc:
            log.warning("dispatch side unreachable: %s", exc)
        except Exception:
            log.exception("order bridge round failed")

    def sync_states(self) -> int:
        """Copy order states from the dispatch side onto our open events."""
        with self.sessions() as s:
            open_ids = sorted(set(s.scalars(select(EventRow.order_id).where(
                EventRow.order_id.is_not(None),
                EventRow.order_status.not_in(FINAL_STATES))).all()))
        if not open_ids:
            return 0
        changed = 0
        for order in self.adapter.poll_states(open_ids):
            if isinstance(self.adapter, LocallyTrackedAdapter):
                changed += self.adapter.states.apply(str(order["id"]), order["status"])
                continue
            with self.sessions.begin() as s:
                changed += s.execute(update(EventRow).where(
                    EventRow.order_id == str(order["id"]),
                    EventRow.order_status != order["status"],
                ).values(order_status=order["status"])).rowcount
        return changed
