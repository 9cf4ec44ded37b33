"""The order bridge service: a thin loop around outbox delivery, order-state sync and
verification."""

from __future__ import annotations

import logging
import threading

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from orderbridge.adapters.base import DeliveryError, DispatchAdapter
from orderbridge.adapters.embedded import EmbeddedDispatchAdapter
from orderbridge.config import BridgeConfig
from orderbridge.outbox import OutboxDelivery
from orderbridge.verification import VerificationRunner
from patrol.orders import FINAL_ORDER_STATES
from patrol.service import PatrolService
from patrol.tables import EventRow

log = logging.getLogger(__name__)


def build_adapter(config: BridgeConfig, default_url: str) -> DispatchAdapter:
    target = config.target
    return EmbeddedDispatchAdapter(target.url or default_url, timeout_s=target.timeout_s)


class OrderBridge:
    def __init__(self, config: BridgeConfig, sessions: sessionmaker[Session],
                 patrol: PatrolService, adapter: DispatchAdapter, *,
                 evidence_base_url: str) -> None:
        self.config = config
        self.sessions = sessions
        self.adapter = adapter
        self.outbox = OutboxDelivery(sessions, adapter, retry=config.retry,
                                     evidence_base_url=config.evidence_base_url or evidence_base_url)
        self.verifier = VerificationRunner(sessions, patrol, adapter) if config.verify else None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="order-bridge", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        if self.verifier is not None:
            self.verifier.close()
        self.adapter.close()

    def _loop(self) -> None:
        while not self._stop.wait(self.config.poll_interval_s):
            self.step()

    def step(self) -> None:
        """One round: deliver, sync order states, start due verifications."""
        try:
            while self.outbox.deliver_due():
                pass
            self.sync_states()
            if self.verifier is not None:
                self.verifier.poll()
        except DeliveryError as exc:
            log.warning("dispatch core unreachable: %s", exc)
        except Exception:
            log.exception("order bridge round failed")

    def sync_states(self) -> int:
        """Copy order states from the dispatch side onto our open events."""
        with self.sessions() as s:
            open_ids = set(s.scalars(select(EventRow.order_id).where(
                EventRow.order_id.is_not(None),
                EventRow.order_status.not_in(FINAL_ORDER_STATES))).all())
        if not open_ids:
            return 0
        changed = 0
        with self.sessions.begin() as s:
            for order in self.adapter.orders():
                if str(order["id"]) in open_ids:
                    changed += s.execute(update(EventRow).where(
                        EventRow.order_id == str(order["id"]),
                        EventRow.order_status != order["status"],
                    ).values(order_status=order["status"])).rowcount
        return changed
