"""A real dispatch core on loopback for the bridge's tests."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from helpers import free_port

from dispatch.app import create_app
from dispatch.config import DispatchConfig
from lianqin.server import bind, serve_in_thread


class DispatchServer:
    """The embedded dispatch core served on a fixed loopback port; can go down and up."""

    def __init__(self, db: Path, port: int) -> None:
        self.db, self.port = db, port
        self.url = f"http://127.0.0.1:{port}/api/dispatch"
        self._server = None

    def up(self) -> None:
        app = create_app(DispatchConfig(), f"sqlite:///{self.db}")
        self._server, self._thread = serve_in_thread(app, bind("127.0.0.1", self.port))

    def down(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)

    def orders(self) -> list[dict]:
        return httpx.get(f"{self.url}/orders", params={"limit": 500}).json()["data"]


@pytest.fixture
def dispatch_server(tmp_path: Path):
    server = DispatchServer(tmp_path / "dispatch.db", free_port())
    server.up()
    yield server
    server.down()




@pytest.fixture
def event_store(tmp_path: Path):
    """A migrated SQLite event store (sessions)."""
    from patrol.store import open_engine, session_factory

    engine = open_engine(f"sqlite:///{tmp_path / 'events.db'}")
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def broker(tmp_path: Path):
    """A real mosquitto on a free loopback port, started for the test."""
    from bridge_peers import MOSQUITTO, Mosquitto
    from helpers import require

    require(Path(MOSQUITTO).exists(), "mosquitto is not installed (scripts/system-deps.sh)")
    server = Mosquitto(tmp_path / "mosquitto", free_port())
    server.start()
    yield server
    server.stop()
