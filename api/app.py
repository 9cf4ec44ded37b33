"""The FastAPI application: REST API (OpenAPI at /docs), evidence files, the console.

Deny by default: every route depends on an ``Allow`` guard (api/auth/deps.py) unless its
path is in ``PUBLIC``; tests/api/test_api_access.py enumerates the routes to prove it.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Response
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.types import Scope

from api.auth.deps import DISPATCH_API, EVIDENCE, Allow
from api.context import AppContext
from api.metrics import patrol_registry
from api.routes import auth, cameras, events, orders, pages, stats, stream

HERE = Path(__file__).parent


class GuardedFiles(StaticFiles):
    """Evidence files (snapshots, clips, feedback photos) for signed-in accounts only."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        request = Request(scope)
        try:
            await EVIDENCE(request)
        except StarletteHTTPException as exc:
            return Response(exc.detail, status_code=exc.status_code, headers=exc.headers)
        return await super().get_response(path, scope)


def create_app(context: AppContext) -> FastAPI:
    # FastAPIOffline serves Swagger UI and ReDoc from the package, not from a CDN: command
    # centres run on closed networks.
    app = FastAPIOffline(
        title="lianqin",
        summary="Video patrol for joint-enforcement command centres (DB32/T 3335-2017). "
        "Authenticate with `Authorization: Bearer <token>` (`lianqin user add` prints one).",
        version="0.1.0",
    )
    app.state.context = context
    included: list[tuple[str, APIRouter, list[Allow]]] = [
        ("", module.router, []) for module in (auth, cameras, events, orders, stats, stream, pages)]
    if context.dispatch_router is not None:
        included.append(("/api/dispatch", context.dispatch_router, [DISPATCH_API]))
    bridge_router = context.extra.get("bridge_router")
    if bridge_router is not None:
        # /api/bridge: calls from an external dispatch side (verification requests, order
        # states), each checked by the bridge itself (HMAC signature or token).
        included.append(("", bridge_router, []))
    for prefix, router, guards in included:
        app.include_router(router, prefix=prefix, dependencies=[Depends(g) for g in guards])
    app.state.included = included
    store = context.extra.get("evidence_store")
    if store is not None and hasattr(store, "url"):
        # Evidence in an S3-compatible store: signed-in accounts are sent on to an
        # expiring signed URL (the object store serves the bytes, with byte ranges).
        @app.get("/evidence/{path:path}", include_in_schema=False,
                 dependencies=[Depends(EVIDENCE)])
        def evidence(path: str) -> RedirectResponse:
            if not path or ".." in path.split("/"):
                raise HTTPException(404, f"no evidence at {path}")
            return RedirectResponse(store.url(path), status_code=307)
    else:
        context.evidence_dir.mkdir(parents=True, exist_ok=True)
        app.mount("/evidence", GuardedFiles(directory=context.evidence_dir), name="evidence")
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.get("/health", tags=["health"])
    def health() -> dict[str, object]:
        """Public: liveness and each camera's state (no names, no addresses)."""
        workers = context.patrol.workers if context.patrol else {}
        states = {cid: w.refresh_state().state for cid, w in workers.items()}
        return {"status": "ok", "cameras": states}

    registry = patrol_registry(context.patrol)
    _bearer_in_openapi(app)

    @app.get("/metrics", tags=["health"], response_class=Response,
             responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
    def metrics() -> Response:
        """Public: Prometheus metrics (per camera state, fps, bitrate, counters)."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _bearer_in_openapi(app: FastAPI) -> None:
    """Declare the bearer token in the schema, so /docs offers "Authorize"."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = build()
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "An account's API token (`lianqin user add`)."}}
            schema["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi


def route_table(app: FastAPI) -> list[tuple[str, APIRoute, list[Allow]]]:
    """Every API route of the app as (full path, route, guards added at inclusion): what
    the access test enumerates (FastAPI keeps included routers unflattened)."""
    table = [(r.path, r, []) for r in app.routes if isinstance(r, APIRoute)]
    for prefix, router, guards in app.state.included:
        table += [(prefix + r.path, r, guards) for r in router.routes if isinstance(r, APIRoute)]
    return table
