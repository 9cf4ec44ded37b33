"""Fixtures of the dispatch core tests: a migrated SQLite file per test, a settable clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dispatch_factories import FakeClock
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from dispatch.api import create_router
from dispatch.config import DispatchConfig
from dispatch.service import DispatchService
from dispatch.store import open_engine


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def config() -> DispatchConfig:
    return DispatchConfig()


@pytest.fixture
def engine(tmp_path) -> Iterator[Engine]:
    engine = open_engine(f"sqlite:///{tmp_path}/db/dispatch.db")
    yield engine
    engine.dispose()


@pytest.fixture
def service(engine: Engine, config: DispatchConfig, clock: FakeClock) -> DispatchService:
    return DispatchService(engine=engine, config=config, clock=clock)


@pytest.fixture
def client(service: DispatchService) -> Iterator[TestClient]:
    """The router mounted as the main app mounts it; requests take paths below the prefix."""
    app = FastAPI()
    app.include_router(create_router(service), prefix="/api/dispatch")
    with TestClient(app, base_url="http://testserver/api/dispatch/") as test_client:
        yield test_client
