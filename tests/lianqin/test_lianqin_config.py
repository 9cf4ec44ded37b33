"""One YAML file, validated; every error names its key path; `lianqin config check`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lianqin.config import EXAMPLE, ConfigError, key_path, load_config, parse_config


def camera(**overrides):
    cam = {"id": "c1", "township": "星甸街道",
           "source": {"type": "synthetic", "scene": "quiet"},
           "zones": [{"id": "z", "polygon": [[0, 0], [1, 0], [1, 1]], "kinds": ["smoke"]}]}
    cam.update(overrides)
    return cam


def test_the_shipped_example_is_valid():
    config = load_config(EXAMPLE)
    assert len(config.cameras) == 5
    assert {c.source.scene for c in config.cameras} == {"smoke", "dust", "stall", "crowd", "quiet"}


@pytest.mark.parametrize(("data", "path", "words"), [
    ({"cameras": [camera(zones=[{"id": "z", "polygon": [[0, 0], [1.2, 0], [1, 1]],
                                 "kinds": ["smoke"]}])]},
     "cameras[0].zones[0].polygon", "outside 0..1"),
    ({"cameras": [camera(zones=[{"id": "z", "polygon": [[0, 0], [1, 0]], "kinds": ["smoke"]}])]},
     "cameras[0].zones[0].polygon", "at least 3"),
    ({"cameras": [camera(zones=[{"id": "z", "polygon": [[0, 0], [1, 0], [1, 1]],
                                 "kinds": ["fire"]}])]},
     "cameras[0].zones[0].kinds[0]", "smoke"),
    ({"cameras": [camera(source={"type": "synthetic", "scene": "volcano"})]},
     "cameras[0].source.scene", "quiet"),
    ({"cameras": [camera(source={"type": "carrier-pigeon"})]}, "cameras[0].source", "type"),
    ({"cameras": [camera(townshp="x")]}, "cameras[0].townshp", "unknown key"),
    ({"cameras": [{"id": "c1", "source": {"type": "synthetic", "scene": "quiet"}}]},
     "cameras[0].township", "missing"),
    ({"cameras": [camera(), camera()]}, "cameras", "appears twice"),
    ({"cameras": [camera(source={"type": "file", "path": "/no/such/video.mp4"})]},
     "cameras[0].source.path", "does not exist"),
    ({"rules": {"smoke": {"persistence": {"n": 7, "m": 5}}}}, "rules.smoke.persistence", "n (7)"),
    ({"cameras": [camera(analyse_fps=0)]}, "cameras[0].analyse_fps", "greater than 0"),
    ({"api": {"port": 70000}}, "api.port", "65535"),
])
def test_errors_name_the_key_path(data, path, words):
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    paths = {p: m for p, m in info.value.errors}
    assert path in paths, info.value.errors
    assert words in paths[path]


def test_every_error_is_reported_not_just_the_first():
    bad = {"cameras": [camera(analyse_fps=-1, townshp="x")], "api": {"port": -5}}
    with pytest.raises(ConfigError) as info:
        parse_config(bad)
    assert len(info.value.errors) == 3


def test_environment_variables_fill_secrets(monkeypatch):
    monkeypatch.setenv("SITE_NAME", "测试中心")
    assert parse_config({"site": {"name": "${SITE_NAME}"}}).site.name == "测试中心"
    with pytest.raises(ConfigError, match="NOT_SET_ANYWHERE is not set"):
        parse_config({"site": {"name": "${NOT_SET_ANYWHERE}"}})


def test_yaml_syntax_errors_give_the_line(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text("cameras:\n  - id: c1\n    zones: [\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.errors[0][0].startswith("line ")


def test_key_path_drops_union_tags():
    assert key_path(("cameras", 2, "source", "file", "path")) == "cameras[2].source.path"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lianqin", *args], capture_output=True,
                          text=True, timeout=120)


def test_config_check_cli(tmp_path: Path):
    ok = _cli("config", "check", str(EXAMPLE))
    assert ok.returncode == 0 and "5 cameras" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"cameras": [camera(analyse_fps=0, townshp="x")]}))
    result = _cli("config", "check", str(bad))
    assert result.returncode == 1
    assert "cameras[0].analyse_fps" in result.stderr and "cameras[0].townshp" in result.stderr
    assert "2 error(s)" in result.stderr
