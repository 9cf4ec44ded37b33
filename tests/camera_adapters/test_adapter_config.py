"""Configuration of the network sources: clear key paths, secrets hidden, doctests run."""

from __future__ import annotations

import doctest
import importlib

import pytest

from camera_adapters.secrets import mask_text, mask_url, remember_secret, with_credentials
from lianqin.config import ConfigError, parse_config


def _camera(source: dict) -> dict:
    return {"cameras": [{"id": "c1", "township": "星甸街道", "source": source}]}


@pytest.mark.parametrize(("source", "path", "words"), [
    ({"type": "rtsp", "url": "http://x/y"}, "cameras[0].source.url", "pattern"),
    ({"type": "rtsp", "url": "rtsp://h/x", "transport": "sctp"}, "cameras[0].source.transport", "tcp"),
    ({"type": "rtsp", "url": "rtsp://h/x", "decode": "some"}, "cameras[0].source.decode", "keyframes"),
    ({"type": "onvif"}, "cameras[0].source.host", "missing"),
    ({"type": "onvif", "host": "h", "port": 70000}, "cameras[0].source.port", "65535"),
    ({"type": "gb28181", "platform_url": "http://p", "device_id": "3402", "channel_id": "x y"},
     "cameras[0].source.channel_id", "pattern"),
    ({"type": "http", "url": "http://cam/snap.jpg", "interval_s": 0}, "cameras[0].source.interval_s",
     "greater than 0"),
    ({"type": "rtsp", "url": "rtsp://h/x", "password": "${LQ_NOT_SET_ANYWHERE}"},
     "cameras[0].source.password", "LQ_NOT_SET_ANYWHERE is not set"),
])
def test_source_errors_name_the_key_path(source, path, words):
    with pytest.raises(ConfigError) as info:
        parse_config(_camera(source))
    errors = dict(info.value.errors)
    assert path in errors and words in errors[path], info.value.errors


def test_passwords_stay_hidden_in_dumps_and_text(monkeypatch):
    monkeypatch.setenv("LQ_GATE_PW", "Env-Secret-88")
    config = parse_config(_camera({"type": "rtsp", "url": "rtsp://gate/ch1", "username": "admin",
                                   "password": "${LQ_GATE_PW}"}))
    source = config.cameras[0].source
    assert "Env-Secret-88" not in repr(source) and "Env-Secret-88" not in source.model_dump_json()
    url = source.main_url()
    assert url == "rtsp://admin:Env-Secret-88@gate/ch1"
    source.remember_secrets()
    assert mask_text(f"decoder said: bad password Env-Secret-88 for {url}").count("***") == 2


def test_remembered_secrets_are_masked_even_outside_urls():
    remember_secret("Token-Xyz-123")
    assert mask_text("header access-token: Token-Xyz-123") == "header access-token: ***"
    assert mask_url("http://p/api?x=Token-Xyz-123") == "http://p/api?x=***"
    assert with_credentials("rtsp://h/x", "a b", "p@ss") == "rtsp://a%20b:p%40ss@h/x"


@pytest.mark.parametrize("name", ["camera_adapters.secrets", "camera_adapters.stats",
                                  "camera_adapters.rtsp", "camera_adapters.mock"])
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_the_commented_camera_examples_of_example_yaml_are_valid(monkeypatch):
    import yaml

    from lianqin.config import EXAMPLE

    text = EXAMPLE.read_text(encoding="utf-8")
    block = text[text.index("# ---- Real cameras"):text.index("# A recorded video")]
    lines = [line[4:] for line in block.splitlines() if line.startswith("  # ")
             and not line.startswith("  # ---")]
    entries = "\n".join(line for line in lines if line.startswith(("- ", "  ")))  # not prose
    cameras = yaml.safe_load(entries)
    for name in ("GATE01_PASSWORD", "FIELD02_PASSWORD", "WVP_TOKEN", "ZLM_SECRET",
                 "SNAP04_PASSWORD"):
        monkeypatch.setenv(name, "example-secret")
    config = parse_config({"cameras": cameras})
    assert [c.source.type for c in config.cameras] == ["rtsp", "onvif", "gb28181", "http", "mock"]
    assert [p.token for p in config.cameras[1].presets] == ["1", "2"]
