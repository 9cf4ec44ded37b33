"""Accounts: create, authenticate (argon2id), sessions, API tokens, rate limit, audit.

Keyword-only functions over a ``sessionmaker``; the routes and the CLI share them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from api.auth.tables import AuditRow, SessionRow, UserRow

_hasher = PasswordHasher()  # argon2id with the library's (RFC 9106 low-memory) defaults
# Verified against when the name is unknown, so a failed login takes the same time.
_DUMMY_HASH = _hasher.hash("not a password")

SESSION_TTL = timedelta(hours=12)  # one shift plus handover
# Failed logins: at most this many per name or per address within the window (429 after).
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
MIN_PASSWORD = 8


class Role(StrEnum):
    OPERATOR = "operator"  # reviews flagged events
    COMMANDER = "commander"  # orders, supervision, statistics
    DEPARTMENT = "department"  # its own unit's orders only
    ADMIN = "admin"  # cameras, zones, users; may do everything
    SERVICE = "service"  # machines: the order bridge, external dispatch integrations


class AccountError(ValueError):
    """A bad account request (duplicate name, short password, unit missing)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: from a session cookie (``csrf`` set) or a bearer token."""

    name: str
    role: Role
    unit: str | None = None
    csrf: str | None = None  # the session's CSRF token; None for bearer tokens

    @property
    def via_cookie(self) -> bool:
        return self.csrf is not None


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "lq_" + secrets.token_urlsafe(32)


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite drops the zone


def audit(s: Session, action: str, *, name: str | None = None, remote: str | None = None,
          detail: str | None = None) -> None:
    s.add(AuditRow(action=action, name=name, remote=remote, detail=detail))


def add_user(sessions: sessionmaker[Session], *, name: str, role: Role | str,
             password: str | None = None, unit: str | None = None,
             actor: str = "cli") -> tuple[UserRow, str, str]:
    """Create an account; returns (row, password, API token). A missing password is
    generated. Raises AccountError for a taken name, short password or a department
    without a unit."""
    role = Role(role)
    name = name.strip()
    if not name or len(name) > 64:
        raise AccountError("the name must have 1 to 64 characters")
    if role is Role.DEPARTMENT and not unit:
        raise AccountError("a department account needs --unit (the unit id, e.g. environment)")
    if role is not Role.DEPARTMENT and unit:
        raise AccountError("only department accounts belong to a unit")
    password = password or secrets.token_urlsafe(12)
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password needs at least {MIN_PASSWORD} characters")
    token = new_token()
    with sessions.begin() as s:
        if s.scalar(select(UserRow).where(UserRow.name == name)) is not None:
            raise AccountError(f"user {name!r} exists already")
        row = UserRow(name=name, role=role.value, unit=unit, password_hash=_hasher.hash(password),
                      token_hash=digest(token), disabled=False)
        s.add(row)
        audit(s, "user_add", name=name, detail=f"role {role.value} unit {unit or '-'} by {actor}")
    return row, password, token


def list_users(sessions: sessionmaker[Session]) -> list[UserRow]:
    with sessions() as s:
        return list(s.scalars(select(UserRow).order_by(UserRow.name)))


def set_disabled(sessions: sessionmaker[Session], *, name: str, disabled: bool, actor: str) -> UserRow:
    with sessions.begin() as s:
        row = s.scalar(select(UserRow).where(UserRow.name == name))
        if row is None:
            raise KeyError(name)
        row.disabled = disabled
        if disabled:
            s.execute(delete(SessionRow).where(SessionRow.user_id == row.id))
        audit(s, "user_disable" if disabled else "user_enable", name=name, detail=f"by {actor}")
        return row


def rotate_token(sessions: sessionmaker[Session], *, name: str, actor: str) -> str:
    token = new_token()
    with sessions.begin() as s:
        row = s.scalar(select(UserRow).where(UserRow.name == name))
        if row is None:
            raise KeyError(name)
        row.token_hash = digest(token)
        audit(s, "token_rotate", name=name, detail=f"by {actor}")
    return token


def count_users(sessions: sessionmaker[Session]) -> int:
    with sessions() as s:
        return s.scalar(select(func.count(UserRow.id))) or 0


class RateLimited(RuntimeError):
    pass


def login(sessions: sessionmaker[Session], *, name: str, password: str,
          remote: str | None) -> tuple[Principal, str] | None:
    """Check a password; returns (principal, session cookie) or None. Raises RateLimited
    after MAX_FAILURES failures for the name or the address within FAILURE_WINDOW.
    Every attempt is audited."""
    since = _now() - FAILURE_WINDOW
    with sessions.begin() as s:
        failures = s.scalar(select(func.count(AuditRow.id)).where(
            AuditRow.action == "login_failed", AuditRow.at >= since,
            (AuditRow.name == name) | (AuditRow.remote == remote))) or 0
        if failures >= MAX_FAILURES:
            audit(s, "login_limited", name=name, remote=remote)
    if failures >= MAX_FAILURES:
        raise RateLimited(f"too many failed logins; try again in {FAILURE_WINDOW.seconds // 60} minutes")
    with sessions.begin() as s:
        row = s.scalar(select(UserRow).where(UserRow.name == name))
        try:
            _hasher.verify(row.password_hash if row else _DUMMY_HASH, password)
            ok = row is not None and not row.disabled
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok:
            audit(s, "login_failed", name=name, remote=remote)
            return None
        if _hasher.check_needs_rehash(row.password_hash):
            row.password_hash = _hasher.hash(password)
        s.execute(delete(SessionRow).where(SessionRow.expires_at < _now()))  # housekeeping
        cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        s.add(SessionRow(id=digest(cookie), user_id=row.id, csrf=csrf,
                         expires_at=_now() + SESSION_TTL))
        row.last_login_at = _now()
        audit(s, "login", name=name, remote=remote)
        return Principal(row.name, Role(row.role), row.unit, csrf), cookie


def logout(sessions: sessionmaker[Session], *, cookie: str) -> None:
    with sessions.begin() as s:
        s.execute(delete(SessionRow).where(SessionRow.id == digest(cookie)))


def by_cookie(sessions: sessionmaker[Session], cookie: str) -> Principal | None:
    with sessions() as s:
        found = s.execute(select(SessionRow, UserRow).join(UserRow, SessionRow.user_id == UserRow.id)
                          .where(SessionRow.id == digest(cookie))).first()
    if found is None:
        return None
    sess, user = found
    if user.disabled or _aware(sess.expires_at) < _now():
        return None
    return Principal(user.name, Role(user.role), user.unit, sess.csrf)


def by_token(sessions: sessionmaker[Session], token: str,
             service_hashes: frozenset[str] = frozenset()) -> Principal | None:
    hashed = digest(token)
    for known in service_hashes:
        if hmac.compare_digest(known, hashed):
            return Principal("service", Role.SERVICE)
    with sessions() as s:
        user = s.scalar(select(UserRow).where(UserRow.token_hash == hashed))
    if user is None or user.disabled:
        return None
    return Principal(user.name, Role(user.role), user.unit)


def audit_log(sessions: sessionmaker[Session], *, limit: int = 200) -> list[AuditRow]:
    with sessions() as s:
        return list(s.scalars(select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)))


def ensure_admin(sessions: sessionmaker[Session], *, password: str | None) -> str | None:
    """On first start (no account at all) create ``admin``. Returns the password when it
    was generated here (to be shown once), None when given or when accounts exist."""
    if count_users(sessions):
        return None
    try:
        _, made, _ = add_user(sessions, name="admin", role=Role.ADMIN, password=password,
                              actor="first start")
    except AccountError:
        if count_users(sessions):  # another process made it first
            return None
        raise
    return None if password else made
