"""In-process event bus: the embedded default. (At scale, MQTT takes this role.)"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[str, dict[str, Any]], None]


class EventBus:
    """Topic → handlers. ``publish`` calls handlers synchronously; a failing handler is
    logged and does not stop the others or the publisher."""

    def __init__(self) -> None:
        self._handlers: list[tuple[str, Handler]] = []
        self._lock = threading.Lock()

    def subscribe(self, prefix: str, handler: Handler) -> Callable[[], None]:
        """Call ``handler(topic, message)`` for topics starting with ``prefix``; returns an
        unsubscribe function."""
        entry = (prefix, handler)
        with self._lock:
            self._handlers.append(entry)

        def unsubscribe() -> None:
            with self._lock:
                if entry in self._handlers:
                    self._handlers.remove(entry)

        return unsubscribe

    def publish(self, topic: str, message: dict[str, Any]) -> None:
        with self._lock:
            handlers = [h for p, h in self._handlers if topic.startswith(p)]
        for handler in handlers:
            try:
                handler(topic, message)
            except Exception:
                log.exception("event bus handler failed for %s", topic)
