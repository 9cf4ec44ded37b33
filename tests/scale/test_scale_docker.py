"""The compose files parse and resolve (``docker-compose config``, no daemon needed), name
the parts a deployment needs, and the configurations they mount validate."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from helpers import require

from lianqin.config import load_config

DOCKER = Path(__file__).resolve().parents[2] / "docker"
ENV = {"POSTGRES_PASSWORD": "pw", "MINIO_ROOT_PASSWORD": "secret", "WORKERS": "5"}


def _config(compose: str, *extra: str) -> dict:
    binary = shutil.which("docker-compose")
    require(binary is not None, "docker-compose is not installed (scripts/system-deps.sh)")
    out = subprocess.run([binary, "-f", str(DOCKER / compose), *extra, "config"],
                         capture_output=True, text=True, env={**os.environ, **ENV},
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout)


def test_one_box_compose() -> None:
    cfg = _config("compose.yaml")
    assert set(cfg["services"]) == {"app", "postgres", "mosquitto"}
    app = cfg["services"]["app"]
    assert app["command"] == ["serve", "/config/lianqin.yaml"]
    assert "postgres:5432" in app["environment"]["LIANQIN_DATABASE_URL"]
    assert app["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_scale_compose_with_workers_broker_database_and_object_store() -> None:
    cfg = _config("compose.scale.yaml")
    services = cfg["services"]
    assert {"central", "worker", "mosquitto", "postgres", "minio"} <= set(services)
    worker = services["worker"]
    assert worker["command"][0] == "worker" and worker["deploy"]["replicas"] == 5
    env = worker["environment"]
    assert env["LIANQIN_MQTT_URL"] == "mqtt://mosquitto:1883"
    assert env["LIANQIN_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert env["LIANQIN_S3_SECRET_KEY"] == "secret"
    assert services["central"]["command"][0] == "central"
    assert "9108/healthz" in " ".join(worker["healthcheck"]["test"])
    gpu = _config("compose.scale.yaml", "--profile", "gpu")["services"]
    if "worker-gpu" in gpu:  # docker-compose 1.x lists profiled services too
        caps = gpu["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"][0]
        assert "video" in caps["capabilities"]  # NVDEC


def test_compose_refuses_a_missing_secret() -> None:
    binary = shutil.which("docker-compose")
    require(binary is not None, "docker-compose is not installed")
    env = {k: v for k, v in os.environ.items() if k not in ENV}
    out = subprocess.run([binary, "-f", str(DOCKER / "compose.scale.yaml"), "config"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode != 0 and "POSTGRES_PASSWORD" in out.stderr


@pytest.mark.parametrize("name", ["onebox.yaml", "county.yaml"])
def test_mounted_configurations_validate(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIANQIN_DATABASE_URL", "postgresql+psycopg://u:p@postgres/lianqin")
    monkeypatch.setenv("LIANQIN_DISPATCH_DATABASE_URL", "postgresql+psycopg://u:p@postgres/d")
    config = load_config(DOCKER / "config" / name)
    assert config.cameras and config.storage.database_url.startswith("postgresql")


def test_mosquitto_conf_is_accepted_by_mosquitto(tmp_path: Path) -> None:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    require(Path(binary).exists(), "mosquitto is not installed")
    from helpers import free_port

    port = free_port()
    text = (DOCKER / "mosquitto.conf").read_text().replace("listener 1883 0.0.0.0",
                                                          f"listener {port} 127.0.0.1")
    text = text.replace("/mosquitto/data/", f"{tmp_path}/")
    conf = tmp_path / "m.conf"
    conf.write_text(text)
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        import paho.mqtt.client as mqtt

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        for _ in range(100):
            try:
                client.connect("127.0.0.1", port)
                break
            except OSError:
                import time

                time.sleep(0.1)
        else:
            raise AssertionError(proc.stdout.read() if proc.poll() is not None else "no broker")
        client.disconnect()
    finally:
        proc.terminate()
        proc.wait(10)
