"""The composition root: stores, dispatch core, API server, order bridge, camera workers,
started in that order and stopped in reverse."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy import Engine

from api.app import create_app
from api.auth.accounts import digest, ensure_admin, new_token
from api.context import AppContext
from camera_adapters.base import FrameSource
from dispatch.api import create_router
from dispatch.config import DispatchConfig
from dispatch.service import DispatchService
from dispatch.store import open_engine as open_dispatch_engine
from dispatch.supervisor import start_supervisor
from lianqin.config import LianqinConfig
from lianqin.server import bind, serve_in_thread
from orderbridge.bridge import OrderBridge, build_adapter
from patrol.bus import EventBus
from patrol.service import PatrolService
from patrol.store import open_engine, session_factory

log = logging.getLogger(__name__)


class Runtime:
    """Everything of one ``lianqin serve`` / ``lianqin demo`` process."""

    def __init__(self, config: LianqinConfig, *, port: int | None = None,
                 sources: dict[str, FrameSource] | None = None, patrol: bool = True,
                 config_path: Path | None = None, evidence_store: Any = None) -> None:
        self.config = config
        # An S3-compatible evidence store (scaled out): the console links to signed URLs.
        self.evidence_store = evidence_store
        self.config_path = config_path  # zone edits from the console are saved there
        # In-process token of this service (order bridge, console → dispatch API); never stored.
        self.service_token = new_token()
        self.admin_password: str | None = None  # set when the first start created `admin`
        self.context: AppContext | None = None
        self.port = config.api.port if port is None else port
        self._sources = sources
        self._run_patrol = patrol
        self.url = ""
        self.engines: list[Engine] = []
        self.patrol: PatrolService | None = None
        self.bridge: OrderBridge | None = None
        self.dispatch: DispatchService | None = None
        self.dispatch_supervisor: Any = None
        self._server: uvicorn.Server | None = None
        self._server_thread: threading.Thread | None = None

    def start(self) -> str:
        cfg = self.config
        engine = open_engine(cfg.storage.database_url)
        self.engines.append(engine)
        sessions = session_factory(engine)
        self.admin_password = ensure_admin(sessions,
                                           password=os.environ.get("LIANQIN_ADMIN_PASSWORD"))
        if self.admin_password:
            log.warning("first start: created the account 'admin' with password %s "
                        "(change it, or set LIANQIN_ADMIN_PASSWORD before the first start)",
                        self.admin_password)
        sock = bind(cfg.api.host, self.port)
        host, port = sock.getsockname()[:2]
        self.url = f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}"
        public = (cfg.api.public_url or self.url).rstrip("/")

        router = None
        if cfg.dispatch.enabled:
            dispatch_engine = open_dispatch_engine(cfg.dispatch.database_url)
            self.engines.append(dispatch_engine)
            core = DispatchConfig.model_validate(
                cfg.dispatch.model_dump(exclude={"enabled", "database_url"}))
            self.dispatch = DispatchService(engine=dispatch_engine, config=core)
            # overdue orders flagged, escalated and reminded (standard 6.2.4)
            self.dispatch_supervisor = start_supervisor(self.dispatch)
            router = create_router(self.dispatch)

        self.patrol = PatrolService(cfg, sessions, EventBus(), self._sources)
        adapter = self._adapter(sessions)
        if cfg.bridge.enabled:  # built before the app: it brings the /api/bridge router
            self.bridge = OrderBridge(cfg.bridge, sessions, self.patrol, self._adapter(sessions),
                                      evidence_base_url=f"{public}/evidence")
        own = cfg.bridge.target.url is None  # our own /api/dispatch: send the service token
        context = AppContext(config=cfg, sessions=sessions, evidence_dir=cfg.storage.evidence_dir,
                             patrol=self.patrol, orders=adapter, dispatch_router=router,
                             dispatch_url=cfg.bridge.target.url or f"{self.url}/api/dispatch",
                             dispatch_token=self.service_token if own else None,
                             service_token_hashes=frozenset({digest(self.service_token)}),
                             config_path=self.config_path, public_url=public,
                             extra={"bridge_router": self.bridge.router() if self.bridge else None,
                                    "evidence_store": self.evidence_store})
        self.context = context
        self._server, self._server_thread = serve_in_thread(create_app(context), sock)
        if self.bridge is not None:
            self.bridge.start()
        if self._run_patrol:
            self.patrol.start()
        log.info("lianqin serving on %s", self.url)
        return self.url

    def _adapter(self, sessions):  # noqa: ANN001, ANN202 - a DispatchAdapter
        adapter = build_adapter(self.config.bridge, default_url=f"{self.url}/api/dispatch",
                                sessions=sessions)
        client = getattr(adapter, "_client", None)
        if self.config.bridge.target.url is None and client is not None:
            # The embedded core behind this API checks roles like every route.
            client.headers["Authorization"] = f"Bearer {self.service_token}"
        return adapter

    def stop(self) -> None:
        if self.context is not None:
            self.context.shutdown.set()  # live streams (SSE) end, so the server can stop
        if self.patrol is not None:
            self.patrol.stop()
        if self.bridge is not None:
            self.bridge.stop()
        if self._server is not None:
            self._server.should_exit = True
            if self._server_thread is not None:
                self._server_thread.join(10)
        if self.dispatch_supervisor is not None:
            self.dispatch_supervisor.stop()
        for engine in reversed(self.engines):
            engine.dispose()
