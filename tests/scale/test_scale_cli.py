"""``lianqin worker`` / ``lianqin central`` refuse what cannot work, with the key to fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lianqin", *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})})


@pytest.fixture()
def sqlite_config(tmp_path: Path) -> Path:
    path = tmp_path / "one.yaml"
    path.write_text(f"storage: {{database_url: 'sqlite:///{tmp_path / 'x.db'}'}}\n")
    return path


def test_worker_refuses_sqlite(sqlite_config: Path) -> None:
    out = _run(["worker", str(sqlite_config)])
    assert out.returncode == 1 and "storage.database_url" in out.stderr


@pytest.mark.parametrize(("env", "message"), [
    ({"LIANQIN_HEARTBEAT_S": "9"}, "at most a third of lease_ttl_s"),
    ({"LIANQIN_MQTT_URL": "http://broker"}, "LIANQIN_MQTT_URL"),
    ({"LIANQIN_RETENTION_DAYS": '{"smoke": 0}'}, "at least 1 day"),
    ({"LIANQIN_RETENTION_DAYS": '{"fog": 3}'}, "LIANQIN_RETENTION_DAYS"),
])
def test_bad_settings_name_the_variable(sqlite_config: Path, env: dict[str, str],
                                        message: str) -> None:
    out = _run(["worker", str(sqlite_config)], env)
    assert out.returncode == 1 and message in out.stderr, out.stderr


def test_central_checks_its_settings_too(sqlite_config: Path) -> None:
    out = _run(["central", str(sqlite_config)], {"LIANQIN_LEASE_TTL_S": "1"})
    assert out.returncode == 1 and "LIANQIN_LEASE_TTL_S" in out.stderr, out.stderr
