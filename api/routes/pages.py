"""The console's pages: server-rendered shells (Jinja) whose JavaScript modules call the
REST API. Anonymous browsers are sent to the sign-in page; each page admits its roles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from api import i18n
from api.auth.accounts import Principal, Role
from api.auth.deps import page
from api.context import ContextDep

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parents[1] / "templates")
LANG_COOKIE = "lq_lang"

# Navigation: page → roles that see it (admins see everything).
NAV = (
    ("review", "/review", {Role.OPERATOR, Role.COMMANDER}),
    ("orders", "/orders", {Role.COMMANDER, Role.DEPARTMENT, Role.OPERATOR}),
    ("cameras", "/cameras", {Role.OPERATOR, Role.COMMANDER}),
    ("stats", "/stats", {Role.COMMANDER}),
    ("users", "/users", set()),
)
HOME = {Role.OPERATOR: "/review", Role.COMMANDER: "/orders", Role.DEPARTMENT: "/orders",
        Role.ADMIN: "/cameras", Role.SERVICE: "/docs"}


def _render(request: Request, ctx: ContextDep, name: str, who: Principal | None,
            **extra: object) -> HTMLResponse:
    lang = i18n.pick(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE))
    strings = i18n.STRINGS[lang]
    nav = [] if who is None else [
        {"key": key, "href": href, "label": strings[f"nav.{key}"]}
        for key, href, roles in NAV if who.role is Role.ADMIN or who.role in roles]
    site = getattr(getattr(ctx.config, "site", None), "name", "") or strings["title"]
    response = templates.TemplateResponse(request, name, {
        "t": strings, "lang": lang, "who": who, "nav": nav, "site": site,
        "i18n_json": json.dumps(strings, ensure_ascii=False),
        "me_json": json.dumps(None if who is None else {
            "name": who.name, "role": who.role.value, "unit": who.unit}),
        **extra})
    if request.query_params.get("lang") in i18n.LANGS:
        response.set_cookie(LANG_COOKIE, lang, samesite="strict", max_age=365 * 86400)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, ctx: ContextDep) -> HTMLResponse:
    return _render(request, ctx, "login.html", None)


@router.get("/", response_class=HTMLResponse)
async def home(request: Request,
               who: Annotated[Principal, Depends(page(*Role))]) -> RedirectResponse:
    return RedirectResponse(HOME[who.role], status_code=303)


@router.get("/review", response_class=HTMLResponse)
def review_page(request: Request, ctx: ContextDep,
                who: Annotated[Principal, Depends(page(Role.OPERATOR, Role.COMMANDER))]) -> HTMLResponse:
    townships = sorted({c.township for c in ctx.config.cameras})
    return _render(request, ctx, "review.html", who, cameras=ctx.config.cameras,
                   townships=townships)


@router.get("/orders", response_class=HTMLResponse)
def orders_page(request: Request, ctx: ContextDep,
                who: Annotated[Principal, Depends(page(Role.COMMANDER, Role.DEPARTMENT,
                                                       Role.OPERATOR))]) -> HTMLResponse:
    return _render(request, ctx, "orders.html", who)


@router.get("/cameras", response_class=HTMLResponse)
def cameras_page(request: Request, ctx: ContextDep,
                 who: Annotated[Principal, Depends(page(Role.OPERATOR, Role.COMMANDER))]) -> HTMLResponse:
    return _render(request, ctx, "cameras.html", who)


@router.get("/cameras/{camera_id}/zones", response_class=HTMLResponse)
def zones_page(camera_id: str, request: Request, ctx: ContextDep,
               who: Annotated[Principal, Depends(page())]) -> HTMLResponse:
    try:
        camera = ctx.config.camera(camera_id)
    except KeyError:
        raise HTTPException(404, f"no camera {camera_id!r}") from None
    preset = request.query_params.get("preset") or (camera.presets[0].token if camera.presets else None)
    return _render(request, ctx, "zones.html", who, camera=camera, preset=preset,
                   presets=[p.token for p in camera.presets])


@router.get("/stats", response_class=HTMLResponse)
def stats_page(request: Request, ctx: ContextDep,
               who: Annotated[Principal, Depends(page(Role.COMMANDER))]) -> HTMLResponse:
    return _render(request, ctx, "stats.html", who)


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, ctx: ContextDep,
               who: Annotated[Principal, Depends(page())]) -> HTMLResponse:
    return _render(request, ctx, "users.html", who)


