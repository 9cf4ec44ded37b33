"""A PostgreSQL server of the tests' own, started with pytest-postgresql's executor.

The server runs from the installed Debian binaries (``/usr/lib/postgresql/<v>/bin``). As
root, ``initdb`` and ``postgres`` refuse to run, so pg_ctl is called through a small
wrapper that runs it as the ``postgres`` user (``runuser``), in a folder that user owns.
Missing binaries skip the PostgreSQL tests, except under CI, where they fail.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from helpers import require
from port_for import get_port
from pytest_postgresql.executors import PostgreSQLExecutor

SERVICE_USER = "postgres"  # the Debian package's system user, owner of the data folder


def find_pg_ctl() -> str | None:
    """The newest installed ``pg_ctl`` (Debian keeps it out of PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_version)
    return found[-1] if found else shutil.which("pg_ctl")


def _version(path: str) -> float:
    try:
        return float(Path(path).parts[-3])
    except ValueError:
        return 0.0


def _as_service_user(pg_ctl: str, folder: Path) -> str:
    """A pg_ctl that runs as the postgres user, for a root test run; ``folder`` is handed over."""
    account = pwd.getpwnam(SERVICE_USER)
    wrapper = folder / "pg_ctl"
    wrapper.write_text(f'#!/bin/sh\nexec runuser -u {SERVICE_USER} -- "{pg_ctl}" "$@"\n')
    wrapper.chmod(0o755)
    folder.chmod(0o755)
    for path in (folder, wrapper):
        os.chown(path, account.pw_uid, account.pw_gid)
    return str(wrapper)


@contextmanager
def postgresql_server() -> Iterator[PostgreSQLExecutor]:
    """A running PostgreSQL server on a free port of 127.0.0.1, removed afterwards."""
    pg_ctl = find_pg_ctl()
    require(pg_ctl is not None, "PostgreSQL server binaries (pg_ctl) are not installed")
    assert pg_ctl is not None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVICE_USER)
        except KeyError:
            require(False, f"running as root and there is no {SERVICE_USER!r} user for PostgreSQL")
    # Not under pytest's basetemp: its folders are private to root, closed to postgres.
    folder = Path(tempfile.mkdtemp(prefix="lianqin-pg-"))
    executable = _as_service_user(pg_ctl, folder) if os.geteuid() == 0 else pg_ctl
    executor = PostgreSQLExecutor(
        executable=executable,
        host="127.0.0.1",
        port=get_port(None),
        datadir=str(folder / "data"),
        unixsocketdir=str(folder),
        logfile=str(folder / "postgresql.log"),
        startparams="-w",
        dbname="dispatch_tests",
        user="postgres",
        timeout=120,
    )
    try:
        executor.start()
        _wait_until_ready(executor, timeout_s=120)
        yield executor
    finally:
        try:
            executor.stop()
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def _wait_until_ready(executor: PostgreSQLExecutor, *, timeout_s: float) -> None:
    """The port opens before the server takes connections ("the database system is
    starting up"): connect until it does."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            _connect(executor).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _connect(executor: PostgreSQLExecutor) -> psycopg.Connection:
    return psycopg.connect(
        host=executor.host, port=executor.port, user=executor.user, dbname="postgres",
        autocommit=True, connect_timeout=10,
    )


def create_database(executor: PostgreSQLExecutor, name: str) -> str:
    """Create database ``name`` (dropping an old one) and answer its SQLAlchemy URL."""
    with _connect(executor) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://{executor.user}@{executor.host}:{executor.port}/{name}"
