"""Deny by default: every route of the app rejects anonymous and wrong-role callers,
except the few listed as public; sessions need the CSRF header; logins are rate-limited
and audited; `lianqin user add` prints a working token."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.routing import Mount

from api.app import create_app, route_table
from api.auth.accounts import MAX_FAILURES, Role, add_user
from api.auth.deps import CSRF_HEADER, PUBLIC, Allow, is_public
from api.auth.tables import AuditRow
from api.context import AppContext
from dispatch.api import create_router
from dispatch.config import DispatchConfig
from dispatch.service import DispatchService
from dispatch.store import open_engine as open_dispatch_engine
from lianqin.config import parse_config
from orderbridge.config import CallbackAuth
from orderbridge.http import verification_router
from orderbridge.requests import VerificationRequests
from patrol.service import PatrolService
from patrol.store import open_engine, session_factory

ROOT = Path(__file__).resolve().parents[2]
BRIDGE_TOKEN = "bridge-token-0123456789"


@pytest.fixture
def ctx(tmp_path: Path):
    config = parse_config({"storage": {"database_url": f"sqlite:///{tmp_path / 'e.db'}",
                                       "evidence_dir": str(tmp_path / "ev")}})
    engine = open_engine(config.storage.database_url)
    dispatch_engine = open_dispatch_engine(f"sqlite:///{tmp_path / 'd.db'}")
    sessions = session_factory(engine)
    router = create_router(DispatchService(engine=dispatch_engine, config=DispatchConfig()))
    patrol = PatrolService(config, sessions)
    # The order bridge's endpoints for an external dispatch core check their own caller.
    bridge = verification_router(VerificationRequests(sessions, patrol, evidence_base_url="x"),
                                 CallbackAuth(token=BRIDGE_TOKEN))
    yield AppContext(config=config, sessions=sessions, evidence_dir=tmp_path / "ev",
                     patrol=patrol, dispatch_router=router,
                     dispatch_url="http://127.0.0.1:9/api/dispatch",
                     extra={"bridge_router": bridge})
    engine.dispose()
    dispatch_engine.dispose()


def _guards(dependant) -> list[Allow]:  # noqa: ANN001 - fastapi Dependant
    found = [d.call for d in dependant.dependencies if isinstance(d.call, Allow)]
    for sub in dependant.dependencies:
        found += _guards(sub)
    return found


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path).replace(":path", "")


def test_every_route_is_guarded_or_listed_public(ctx):
    app = create_app(ctx)
    unguarded = [path for path, route, extra in route_table(app)
                 if not is_public(path) and not (extra or _guards(route.dependant))]
    assert unguarded == []
    # The public list names only what exists (no stale entries hiding a typo).
    paths = {path for path, _, _ in route_table(app)} | {
        r.path for r in app.routes if hasattr(r, "path") and not isinstance(r, Mount)}
    mounts = {r.path + "/" for r in app.routes if isinstance(r, Mount)}
    assert all(p in paths or p in mounts or any(q.startswith(p) for q in paths)
               for p in PUBLIC), (PUBLIC, paths, mounts)


def test_bridge_routes_check_their_own_caller(ctx):
    with TestClient(create_app(ctx)) as client:
        body = {"order_id": "o1", "camera_id": "cam1"}
        assert client.post("/api/bridge/verifications", json=body).status_code == 401
        wrong = {"Authorization": "Bearer not-the-token-at-all"}
        assert client.post("/api/bridge/verifications", json=body,
                           headers=wrong).status_code == 401
        right = {"Authorization": f"Bearer {BRIDGE_TOKEN}"}
        assert client.get("/api/bridge/verifications/nope", headers=right).status_code == 404


def test_every_route_rejects_anonymous_and_wrong_roles(ctx):
    app = create_app(ctx)
    client = TestClient(app)
    tokens = {}
    for role in Role:
        if role is not Role.SERVICE:
            _, _, tokens[role] = add_user(ctx.sessions, name=f"u-{role}", role=role,
                                          unit="environment" if role is Role.DEPARTMENT else None,
                                          password="correct-horse-battery")
    checked = 0
    for full_path, route, extra in route_table(app):
        if is_public(full_path):
            continue
        guard = (extra or _guards(route.dependant))[0]
        path = _concrete(full_path)
        for method in route.methods - {"HEAD"}:
            anon = client.request(method, path, json={}, follow_redirects=False)
            if guard.page:
                assert anon.status_code == 303 and anon.headers["location"].startswith("/login"), path
            else:
                assert anon.status_code == 401, (method, path, anon.status_code, anon.text)
            for role in set(tokens) - guard.roles:
                resp = client.request(method, path, json={}, follow_redirects=False,
                                      headers={"Authorization": f"Bearer {tokens[role]}"})
                assert resp.status_code == 403, (method, path, role, resp.status_code, resp.text)
            bad = client.request(method, path, json={}, follow_redirects=False,
                                 headers={"Authorization": "Bearer lq_not-a-token"})
            assert bad.status_code in (401, 303), (method, path, bad.status_code)
            checked += 1
    assert checked >= 30  # events, cameras, zones, orders, stats, users, pages, dispatch...
    # Evidence files need an account too; the public paths answer anonymously.
    (ctx.evidence_dir / "a.jpg").write_bytes(b"x")
    assert client.get("/evidence/a.jpg").status_code == 401
    assert client.get("/evidence/a.jpg", headers={
        "Authorization": f"Bearer {tokens[Role.DEPARTMENT]}"}).status_code == 200
    for path in ("/health", "/metrics", "/login", "/static/console.css", "/openapi.json", "/docs"):
        assert client.get(path).status_code == 200, path


def test_session_cookie_needs_the_csrf_header_for_changes(ctx):
    add_user(ctx.sessions, name="ops", role="operator", password="correct-horse-battery")
    client = TestClient(create_app(ctx))
    me = client.post("/api/auth/login", json={"name": "ops", "password": "correct-horse-battery"})
    assert me.status_code == 200 and me.json()["role"] == "operator"
    cookie = me.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert client.get("/api/events").status_code == 200  # reads need no token
    body = {"ids": ["nope"], "action": "confirm"}
    assert client.post("/api/events/bulk", json=body).status_code == 403
    assert client.post("/api/events/bulk", json=body,
                       headers={CSRF_HEADER: "forged"}).status_code == 403
    ok = client.post("/api/events/bulk", json=body, headers={CSRF_HEADER: me.json()["csrf"]})
    assert ok.status_code == 200 and ok.json()["failed"] == {"nope": "no such event"}
    assert client.post("/api/auth/logout", headers={CSRF_HEADER: me.json()["csrf"]}).status_code == 204
    assert client.get("/api/events").status_code == 401


def test_login_takes_json_only(ctx):
    """A cross-site form can post text/plain that looks like JSON; it must not sign in."""
    add_user(ctx.sessions, name="ops", role="operator", password="correct-horse-battery")
    client = TestClient(create_app(ctx))
    forged = client.post("/api/auth/login", headers={"Content-Type": "text/plain"},
                         content='{"name": "ops", "password": "correct-horse-battery"}')
    assert forged.status_code == 422 and "set-cookie" not in forged.headers


def test_failed_logins_are_rate_limited_and_audited(ctx):
    add_user(ctx.sessions, name="ops", role="operator", password="correct-horse-battery")
    client = TestClient(create_app(ctx))
    for _ in range(MAX_FAILURES):
        assert client.post("/api/auth/login", json={"name": "ops", "password": "guess"}).status_code == 401
    limited = client.post("/api/auth/login", json={"name": "ops", "password": "correct-horse-battery"})
    assert limited.status_code == 429 and limited.headers["retry-after"]
    # An unknown name fails the same way (and counts for the address).
    assert client.post("/api/auth/login", json={"name": "nobody", "password": "x"}).status_code == 429
    with ctx.sessions() as s:
        actions = [a for (a,) in s.execute(select(AuditRow.action).order_by(AuditRow.id))]
    assert actions.count("login_failed") == MAX_FAILURES and actions.count("login_limited") == 2
    _, _, admin = add_user(ctx.sessions, name="root", role="admin", password="correct-horse-battery")
    audit = client.get("/api/audit", headers={"Authorization": f"Bearer {admin}"}).json()
    assert audit[0]["action"] == "user_add" and any(a["action"] == "login_failed" for a in audit)


def test_department_accounts_need_a_unit_and_passwords_are_argon2(ctx):
    from api.auth.accounts import AccountError, list_users

    with pytest.raises(AccountError, match="unit"):
        add_user(ctx.sessions, name="env", role="department", password="correct-horse-battery")
    add_user(ctx.sessions, name="env", role="department", unit="environment",
             password="correct-horse-battery")
    (row,) = list_users(ctx.sessions)
    assert row.password_hash.startswith("$argon2id$") and "correct" not in row.password_hash


def test_cli_user_add_prints_a_working_token_last(ctx, tmp_path):
    url = f"sqlite:///{tmp_path / 'e.db'}"
    out = subprocess.run([sys.executable, "-m", "lianqin", "user", "add", "王指挥", "--role",
                          "commander", "--database", url], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("created 王指挥 (commander)") and lines[1].startswith("password: ")
    client = TestClient(create_app(ctx))
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {lines[-1]}"})
    assert me.status_code == 200 and me.json()["name"] == "王指挥"
    dup = subprocess.run([sys.executable, "-m", "lianqin", "user", "add", "王指挥", "--role",
                          "operator", "--database", url], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert dup.returncode == 1 and "exists" in dup.stderr
