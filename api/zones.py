"""Zone edits from the console: validated like the configuration file, written to it, and
handed to the running camera worker without a restart."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import yaml

from api.context import AppContext
from lianqin.config import ConfigError, parse_config
from patrol.analyzer import CameraAnalyzer
from patrol.config import CameraConfig
from rules.zones import ZoneConfig

_lock = threading.Lock()  # one zone edit at a time (file and worker)


class ZoneEditError(ValueError):
    """The edit does not fit the configuration; ``errors`` are (key path, message)."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{p}: {m}" for p, m in errors))


def _target(camera: CameraConfig, preset: str | None) -> object:
    if preset is None:
        if camera.presets:
            raise ZoneEditError([("preset", f"camera {camera.id} patrols presets; name one of "
                                             f"{[p.token for p in camera.presets]}")])
        return camera
    for p in camera.presets:
        if p.token == preset:
            return p
    raise KeyError(preset)


def check(ctx: AppContext, camera: CameraConfig, zones: list[ZoneConfig]) -> None:
    errors: list[tuple[str, str]] = []
    seen: set[str] = set()
    for i, zone in enumerate(zones):
        if zone.id in seen:
            errors.append((f"zones[{i}].id", f"zone id {zone.id!r} appears twice"))
        seen.add(zone.id)
        for kind in zone.kinds:
            if not ctx.config.rules.for_kind(kind).enabled:
                errors.append((f"zones[{i}].kinds", f"{kind} is disabled in rules.{kind}.enabled"))
    if errors:
        raise ZoneEditError(errors)


def save_to_file(path: Path, camera_id: str, preset: str | None, zones: list[ZoneConfig]) -> None:
    """Replace the zones of one view in the YAML file (validated before it is written;
    the previous file is kept as ``.bak``). Comments of the file are not preserved."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    cameras = data.get("cameras") or []
    entry = next((c for c in cameras if isinstance(c, dict) and c.get("id") == camera_id), None)
    if entry is None:
        raise ZoneEditError([("cameras", f"camera {camera_id} is not in {path}")])
    dumped = [z.model_dump(mode="json", exclude_defaults=True) for z in zones]
    if preset is None:
        entry["zones"] = dumped
    else:
        stop = next((p for p in entry.get("presets") or [] if p.get("token") == preset), None)
        if stop is None:
            raise ZoneEditError([("preset", f"preset {preset} is not in {path}")])
        stop["zones"] = dumped
    try:
        # ${VARS} stay as they are in the file; check with them substituted.
        parse_config(yaml.safe_load(yaml.safe_dump(data)), str(path))
    except ConfigError as exc:
        raise ZoneEditError(exc.errors) from None
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, default_flow_style=None)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    if path.exists():
        backup = path.with_name(path.name + ".bak")
        backup.write_bytes(path.read_bytes())
    os.replace(tmp, path)


def apply(ctx: AppContext, camera_id: str, preset: str | None,
          zones: list[ZoneConfig]) -> Path | None:
    """Validate, save (when the service runs from a file), update the configuration in
    memory and swap the running worker's analyzer for the view. Returns the file written."""
    camera = ctx.config.camera(camera_id)  # KeyError: unknown camera
    with _lock:
        target = _target(camera, preset)
        check(ctx, camera, zones)
        saved = None
        if ctx.config_path is not None:
            save_to_file(ctx.config_path, camera_id, preset, zones)
            saved = ctx.config_path
        target.zones = list(zones)
        worker = ctx.patrol.workers.get(camera_id) if ctx.patrol else None
        if worker is not None:
            _swap_analyzer(ctx, worker, preset, zones)
    return saved


def _swap_analyzer(ctx: AppContext, worker, preset: str | None,  # noqa: ANN001 - CameraWorker
                   zones: list[ZoneConfig]) -> None:
    old = worker.analyzers.get(preset)
    fresh = CameraAnalyzer(worker.camera.id, list(zones), ctx.config.detectors,
                           ctx.config.rules, preset=preset)
    worker.analyzers[preset] = fresh  # the analysis loop picks it up at its next frame
    latest = worker.latest_frame
    if old is not None and latest is not None and ctx.patrol is not None:
        # Events open in zones that changed end now, as at shutdown.
        for update in old.close(latest.ts, latest.wall_ts):
            ctx.patrol._on_end(update.event)  # noqa: SLF001 - the service's own end path


def active_zone_ids(ctx: AppContext, camera_id: str, preset: str | None) -> list[str]:
    worker = ctx.patrol.workers.get(camera_id) if ctx.patrol else None
    if worker is None or preset not in worker.analyzers:
        return []
    return [z.id for z in worker.analyzers[preset].zones]
