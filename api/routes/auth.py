"""Signing in and out, the caller's identity, and account administration (admins)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.auth import accounts
from api.auth.accounts import AccountError, Principal, RateLimited, Role
from api.auth.deps import ADMIN, ANYONE, SESSION_COOKIE
from api.context import ContextDep

router = APIRouter(tags=["auth"])


class LoginRequest(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class Me(BaseModel):
    name: str
    role: Role
    unit: str | None
    csrf: str | None = Field(description="Send as X-CSRF-Token on state-changing requests "
                             "made with the session cookie.")


class UserCreate(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    role: Role
    unit: str | None = Field(default=None, max_length=64)
    password: str | None = Field(default=None, min_length=8, max_length=256)


class UserPublic(BaseModel):
    name: str
    role: str
    unit: str | None
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None


class UserCreated(UserPublic):
    password: str
    token: str


class AuditPublic(BaseModel):
    at: datetime
    action: str
    name: str | None
    remote: str | None
    detail: str | None


def _remote(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.post("/api/auth/login", response_model=Me, responses={401: {}, 429: {}})
async def login(body: LoginRequest, request: Request, response: Response, ctx: ContextDep) -> Me:
    """Sign in: sets the session cookie. Failures are audited; after 5 failures for a
    name or an address within 15 minutes the answer is 429."""
    try:
        found = await run_in_threadpool(accounts.login, ctx.sessions, name=body.name,
                                        password=body.password, remote=_remote(request))
    except RateLimited as exc:
        raise HTTPException(429, str(exc), headers={"Retry-After": "900"}) from None
    if found is None:
        raise HTTPException(401, "wrong name or password")
    who, cookie = found
    response.set_cookie(SESSION_COOKIE, cookie, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https",
                        max_age=int(accounts.SESSION_TTL.total_seconds()), path="/")
    return Me(name=who.name, role=who.role, unit=who.unit, csrf=who.csrf)


@router.post("/api/auth/logout", status_code=204)
def logout(request: Request, response: Response, ctx: ContextDep,
           _who: Annotated[Principal, Depends(ANYONE)]) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        accounts.logout(ctx.sessions, cookie=cookie)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/api/auth/me", response_model=Me)
def me(who: Annotated[Principal, Depends(ANYONE)]) -> Me:
    return Me(name=who.name, role=who.role, unit=who.unit, csrf=who.csrf)


def _public(row) -> UserPublic:  # noqa: ANN001 - UserRow
    return UserPublic(name=row.name, role=row.role, unit=row.unit, disabled=row.disabled,
                      created_at=row.created_at, last_login_at=row.last_login_at)


@router.get("/api/users", response_model=list[UserPublic], dependencies=[Depends(ADMIN)])
def list_users(ctx: ContextDep) -> list[UserPublic]:
    return [_public(r) for r in accounts.list_users(ctx.sessions)]


@router.post("/api/users", response_model=UserCreated, status_code=201)
def add_user(body: UserCreate, ctx: ContextDep,
             who: Annotated[Principal, Depends(ADMIN)]) -> UserCreated:
    """Create an account; the answer shows its password and API token once."""
    try:
        row, password, token = accounts.add_user(
            ctx.sessions, name=body.name, role=body.role, unit=body.unit,
            password=body.password, actor=who.name)
    except AccountError as exc:
        raise HTTPException(409 if "exists" in str(exc) else 422, str(exc)) from None
    return UserCreated(**_public(row).model_dump(), password=password, token=token)


@router.post("/api/users/{name}/disable", response_model=UserPublic)
def disable_user(name: str, ctx: ContextDep,
                 who: Annotated[Principal, Depends(ADMIN)]) -> UserPublic:
    if name == who.name:
        raise HTTPException(409, "you cannot disable your own account")
    try:
        return _public(accounts.set_disabled(ctx.sessions, name=name, disabled=True, actor=who.name))
    except KeyError:
        raise HTTPException(404, f"no user {name!r}") from None


@router.post("/api/users/{name}/enable", response_model=UserPublic)
def enable_user(name: str, ctx: ContextDep,
                who: Annotated[Principal, Depends(ADMIN)]) -> UserPublic:
    try:
        return _public(accounts.set_disabled(ctx.sessions, name=name, disabled=False, actor=who.name))
    except KeyError:
        raise HTTPException(404, f"no user {name!r}") from None


@router.post("/api/users/{name}/token")
def rotate_token(name: str, ctx: ContextDep,
                 who: Annotated[Principal, Depends(ADMIN)]) -> dict[str, str]:
    """A new API token for the account; the old one stops working."""
    try:
        return {"token": accounts.rotate_token(ctx.sessions, name=name, actor=who.name)}
    except KeyError:
        raise HTTPException(404, f"no user {name!r}") from None


@router.get("/api/audit", response_model=list[AuditPublic], dependencies=[Depends(ADMIN)])
def audit(ctx: ContextDep, limit: int = 200) -> list[AuditPublic]:
    """Sign-ins (failed ones too) and account changes, newest first."""
    return [AuditPublic(at=r.at, action=r.action, name=r.name, remote=r.remote, detail=r.detail)
            for r in accounts.audit_log(ctx.sessions, limit=max(1, min(limit, 1000)))]
