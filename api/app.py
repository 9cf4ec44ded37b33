"""The FastAPI application: REST API (OpenAPI at /docs), evidence files, the console."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.context import AppContext
from api.metrics import patrol_registry
from api.routes import cameras, events, orders

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")


def create_app(context: AppContext) -> FastAPI:
    # FastAPIOffline serves Swagger UI and ReDoc from the package, not from a CDN: command
    # centres run on closed networks.
    app = FastAPIOffline(
        title="lianqin",
        summary="Video patrol for joint-enforcement command centres (DB32/T 3335-2017)",
        version="0.1.0",
    )
    app.state.context = context
    app.include_router(cameras.router)
    app.include_router(events.router)
    app.include_router(orders.router)
    if context.dispatch_router is not None:
        app.include_router(context.dispatch_router, prefix="/api/dispatch", tags=["dispatch"])
    context.evidence_dir.mkdir(parents=True, exist_ok=True)
    app.mount("/evidence", StaticFiles(directory=context.evidence_dir), name="evidence")
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.get("/health", tags=["health"])
    def health() -> dict[str, object]:
        workers = context.patrol.workers if context.patrol else {}
        states = {cid: w.refresh_state().state for cid, w in workers.items()}
        return {"status": "ok", "cameras": states}

    registry = patrol_registry(context.patrol)

    @app.get("/metrics", tags=["health"], response_class=Response,
             responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
    def metrics() -> Response:
        """Prometheus metrics: per camera state, fps, bitrate, last frame, counters."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def console(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "console.html", {"title": "联勤视频巡查"})

    return app
