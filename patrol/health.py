"""A tiny HTTP endpoint per process: ``/healthz`` (JSON, 200 or 503) and ``/metrics``
(Prometheus text format), served from a daemon thread."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)


class HealthServer:
    """``health()`` returns ``(ok, details)``; ``refresh()`` runs before each scrape."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry,
                 health: Callable[[], tuple[bool, dict[str, Any]]],
                 refresh: Callable[[], None] | None = None) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                path = self.path.split("?")[0]
                if path == "/healthz":
                    ok, details = outer.health()
                    body = json.dumps({"status": "ok" if ok else "unhealthy", **details},
                                      default=str).encode()
                    self._send(200 if ok else 503, "application/json", body)
                elif path == "/metrics":
                    try:
                        outer.refresh()
                    except Exception:
                        log.exception("metrics refresh failed")
                    self._send(200, CONTENT_TYPE_LATEST, generate_latest(outer.registry))
                else:
                    self._send(404, "text/plain", b"not found: try /healthz or /metrics\n")

            def _send(self, status: int, ctype: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass  # scrapes every few seconds would flood the log

        self.registry = registry
        self.health = health
        self.refresh = refresh or (lambda: None)
        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, name="health",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
