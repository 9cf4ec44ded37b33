"""The dispatch core as an application of its own, e.g. ``python -m dispatch``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from dispatch.api import create_router
from dispatch.config import DispatchConfig
from dispatch.service import DispatchService
from dispatch.store import open_engine
from dispatch.supervisor import start_supervisor

PREFIX = "/api/dispatch"  # the same path as when the main app mounts the router


def create_app(
    config: DispatchConfig, database_url: str, *, prefix: str = PREFIX, supervise: bool = True
) -> FastAPI:
    """A FastAPI app serving the dispatch API under ``prefix``.

    Opens (and migrates) the database now; while the app runs, the background supervisor
    flags overdue orders (``supervise``); disposes of the engine at shutdown.
    """
    engine = open_engine(database_url)
    service = DispatchService(engine=engine, config=config)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        supervisor = start_supervisor(service) if supervise else None
        try:
            yield
        finally:
            if supervisor is not None:
                supervisor.stop()
            engine.dispose()

    app = FastAPI(title="lianqin dispatch core", version="1", lifespan=lifespan)
    app.include_router(create_router(service), prefix=prefix)
    app.state.dispatch = service
    return app
