"""The root configuration: one YAML file, validated at start; errors name the key path."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dispatch.config import DispatchConfig
from orderbridge.config import BridgeConfig
from patrol.config import PatrolConfig

EXAMPLE = Path(__file__).with_name("example.yaml")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Names that pydantic puts into error locations for the member of a tagged union.
_UNION_TAGS = {"synthetic", "file", "images", "embedded", "webhook", "mqtt", "open311", "rtsp", "onvif", "gb28181", "http",
               "mock"}


class SiteConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(default="联勤指挥中心", max_length=100, description="Shown in the console.")


class ApiConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host: str = Field(default="127.0.0.1", description="Address the API and console listen on.")
    port: int = Field(default=8000, ge=0, le=65535, description="Port; 0 picks a free one.")
    public_url: str | None = Field(
        default=None, description="URL under which others reach this service (evidence links); "
        "default http://HOST:PORT.")


class EmbeddedDispatchConfig(DispatchConfig):
    """The embedded dispatch core (the default when no county platform is connected)."""

    enabled: bool = Field(default=True, description="Run the embedded dispatch core here.")
    database_url: str = Field(default="sqlite:///var/lianqin/dispatch.db",
                              description="Its own database (SQLite file or PostgreSQL URL).")


class LianqinConfig(PatrolConfig):
    site: SiteConfig = Field(default_factory=SiteConfig)
    bridge: BridgeConfig = Field(default_factory=BridgeConfig)
    dispatch: EmbeddedDispatchConfig = Field(default_factory=EmbeddedDispatchConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)


class ConfigError(ValueError):
    """The configuration is wrong; ``errors`` lists ``(key path, message)`` pairs."""

    def __init__(self, source: str, errors: list[tuple[str, str]]) -> None:
        self.source = source
        self.errors = errors
        lines = "\n".join(f"  {path}: {msg}" for path, msg in errors)
        super().__init__(f"{source}: {len(errors)} error(s)\n{lines}")


def key_path(loc: tuple[Any, ...]) -> str:
    """``('cameras', 2, 'source', 'file', 'path')`` → ``cameras[2].source.path``."""
    out = ""
    previous: Any = None
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif previous in ("source", "target") and part in _UNION_TAGS:
            pass  # the tag of the union member adds nothing for the reader
        else:
            out += f".{part}" if out else str(part)
        previous = part
    return out or "(top level)"


def _substitute_env(node: Any, path: str, errors: list[tuple[str, str]]) -> Any:
    """Replace ``${VAR}`` in strings (camera passwords stay out of the file)."""
    if isinstance(node, dict):
        return {k: _substitute_env(v, f"{path}.{k}" if path else str(k), errors)
                for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute_env(v, f"{path}[{i}]", errors) for i, v in enumerate(node)]
    if isinstance(node, str):
        def repl(match: re.Match[str]) -> str:
            value = os.environ.get(match.group(1))
            if value is None:
                errors.append((path, f"environment variable {match.group(1)} is not set"))
                return ""
            return value
        return _ENV.sub(repl, node)
    return node


def parse_config(data: Any, source: str = "<config>") -> LianqinConfig:
    """Validate a config already parsed from YAML; raise ConfigError with every problem."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(source, [("(top level)", "must be a mapping of sections")])
    errors: list[tuple[str, str]] = []
    data = _substitute_env(data, "", errors)
    if errors:
        raise ConfigError(source, errors)
    try:
        config = LianqinConfig.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = "unknown key (check the spelling; see lianqin/example.yaml)"
            elif err["type"] == "missing":
                message = "required key is missing"
            errors.append((key_path(tuple(err["loc"])), message))
        raise ConfigError(source, errors) from None
    errors.extend(semantic_errors(config))
    if errors:
        raise ConfigError(source, errors)
    return config


def semantic_errors(config: LianqinConfig) -> list[tuple[str, str]]:
    """Checks that need more than one field: files that must exist, unused kinds."""
    errors = []
    for i, cam in enumerate(config.cameras):
        path = getattr(cam.source, "path", None)
        if path is not None and not Path(path).exists():
            errors.append((f"cameras[{i}].source.path", f"{path} does not exist"))
        for j, zone in enumerate(cam.zones):
            for kind in zone.kinds:
                if not config.rules.for_kind(kind).enabled:
                    errors.append((f"cameras[{i}].zones[{j}].kinds",
                                   f"{kind} is disabled in rules.{kind}.enabled"))
    return errors


def load_config(path: str | Path) -> LianqinConfig:
    """Read and validate a YAML file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [("(file)", f"cannot read: {exc.strerror}")]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        raise ConfigError(str(path), [(where, f"YAML syntax: {getattr(exc, 'problem', exc)}")]) from None
    return parse_config(data, str(path))
