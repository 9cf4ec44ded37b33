"""Who may call what: deny by default. Every route of the app depends on an ``Allow``
guard unless its path is listed in ``PUBLIC`` (the route test enumerates both).

Browsers authenticate with the session cookie (HttpOnly, SameSite=Strict) and must send
the session's CSRF token in ``X-CSRF-Token`` on every state-changing request; API clients
send ``Authorization: Bearer <token>`` (no cookie, so no CSRF exposure).
"""

from __future__ import annotations

import hmac
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from api.auth.accounts import Principal, Role, by_cookie, by_token
from api.context import AppContext, get_context

SESSION_COOKIE = "lq_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# The only paths open without an account (prefix match for mounts ending in "/").
PUBLIC: tuple[str, ...] = (
    "/health",  # liveness for load balancers
    "/metrics",  # Prometheus scrapes (keep the port on the management network)
    "/login",  # the sign-in page
    "/api/auth/login",  # the sign-in request (rate-limited, audited)
    "/static/",  # the console's CSS and JavaScript
    "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json",  # API description, no data
    "/static-offline-docs/",  # Swagger UI's files (fastapi-offline)
    # Calls from an external dispatch core: the order bridge checks each one itself
    # (HMAC-SHA256 signature or bearer token from bridge.callbacks; orderbridge/http.py).
    "/api/bridge/",
)


def is_public(path: str) -> bool:
    return any(path == p or (p.endswith("/") and path.startswith(p)) for p in PUBLIC)


def _principal_sync(ctx: AppContext, request: Request) -> Principal | None:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return by_token(ctx.sessions, header[7:].strip(), ctx.service_token_hashes)
    cookie = request.cookies.get(SESSION_COOKIE)
    return by_cookie(ctx.sessions, cookie) if cookie else None


async def principal_of(request: Request) -> Principal | None:
    """The caller, or None; cached on the request."""
    if "principal" not in request.scope:
        ctx: AppContext = request.app.state.context
        request.scope["principal"] = await run_in_threadpool(_principal_sync, ctx, request)
    return request.scope["principal"]


class Allow:
    """A dependency that admits the given roles (admins always) and checks CSRF.

    ``page=True``: an anonymous browser is sent to the sign-in page instead of a 401.
    """

    def __init__(self, *roles: Role, page: bool = False) -> None:
        self.roles = frozenset(roles) | {Role.ADMIN}
        self.page = page

    def __repr__(self) -> str:
        return f"Allow({', '.join(sorted(self.roles))})"

    async def __call__(self, request: Request) -> Principal:
        who = await principal_of(request)
        if who is None:
            if self.page:
                target = quote(str(request.url.path) + ("?" + request.url.query if request.url.query else ""))
                raise HTTPException(303, "sign in first", headers={"Location": f"/login?next={target}"})
            raise HTTPException(401, "sign in or send a bearer token",
                                headers={"WWW-Authenticate": "Bearer"})
        if who.role not in self.roles:
            raise HTTPException(403, f"role {who.role} may not do this "
                                     f"(needs {' or '.join(sorted(self.roles))})")
        if who.via_cookie and request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not sent or not hmac.compare_digest(sent, who.csrf or ""):
                raise HTTPException(403, f"missing or wrong {CSRF_HEADER} header (CSRF)")
        return who


ANYONE = Allow(Role.OPERATOR, Role.COMMANDER, Role.DEPARTMENT, Role.SERVICE)
STAFF = Allow(Role.OPERATOR, Role.COMMANDER)
OPERATOR = Allow(Role.OPERATOR)
COMMANDER = Allow(Role.COMMANDER)
ORDERS_READ = Allow(Role.COMMANDER, Role.DEPARTMENT, Role.OPERATOR)
DEPARTMENT = Allow(Role.DEPARTMENT)
ADMIN = Allow()
DISPATCH_API = Allow(Role.COMMANDER, Role.SERVICE)  # the dispatch core's own API
EVIDENCE = Allow(Role.OPERATOR, Role.COMMANDER, Role.DEPARTMENT, Role.SERVICE)


def page(*roles: Role) -> Allow:
    return Allow(*roles, page=True)


Who = Annotated[Principal, Depends(ANYONE)]
ContextDep = Annotated[AppContext, Depends(get_context)]
