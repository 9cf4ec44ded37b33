"""Accounts for API tests: make a user of a role and authenticate a client as it."""

from __future__ import annotations

import itertools

import pytest

from api.auth.accounts import add_user

_names = itertools.count(1)


@pytest.fixture
def as_role():
    """``as_role(client, ctx, "operator", unit=None)``: a new account of that role; the
    client sends its bearer token from then on. Returns the token."""
    def login(client, ctx, role: str, unit: str | None = None) -> str:
        _, _, token = add_user(ctx.sessions, name=f"{role}-{next(_names)}", role=role,
                               unit=unit if role == "department" else None,
                               password="correct-horse-battery")
        client.headers["Authorization"] = f"Bearer {token}"
        return token
    return login
