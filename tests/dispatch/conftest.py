"""Fixtures of the dispatch core tests: a migrated store per test, a settable clock.

Every test that takes ``engine`` (or ``service``, ``client``) runs twice: on a SQLite file
and on PostgreSQL. The PostgreSQL server is the tests' own (see ``dispatch_pg``), started
once per session; each test gets the migrated database emptied, ids restarting at 1.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from dispatch_factories import FakeClock
from dispatch_pg import create_database, postgresql_server
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pytest_postgresql.executors import PostgreSQLExecutor
from sqlalchemy import Engine, text

from dispatch.api import create_router
from dispatch.config import DispatchConfig
from dispatch.models import Base
from dispatch.service import DispatchService
from dispatch.store import open_engine


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def config() -> DispatchConfig:
    return DispatchConfig()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgreSQLExecutor]:
    with postgresql_server() as executor:
        yield executor


@pytest.fixture(scope="session")
def pg_url(pg_server: PostgreSQLExecutor) -> str:
    """A database migrated to head once per session."""
    url = create_database(pg_server, "dispatch")
    open_engine(url).dispose()
    return url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once; each test gets a copy (faster than migrating)."""
    path = tmp_path_factory.mktemp("dispatch-template") / "dispatch.db"
    open_engine(f"sqlite:///{path}").dispose()  # the last close checkpoints the WAL
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        (tmp_path / "db").mkdir()
        shutil.copyfile(request.getfixturevalue("sqlite_template"), tmp_path / "db" / "dispatch.db")
        return f"sqlite:///{tmp_path}/db/dispatch.db"
    url: str = request.getfixturevalue("pg_url")
    engine = open_engine(url)
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    engine = open_engine(store_url)
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
