"""Probe a camera: connect, read until the GOP is known, describe the stream, keep a snapshot.
What ``lianqin camera probe`` prints."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import cv2

from camera_adapters.base import FrameSource, SourceError
from camera_adapters.capabilities import PTZError
from camera_adapters.frame import Frame
from camera_adapters.onvif import OnvifDevice
from camera_adapters.registry import AnySourceConfig, build_source
from camera_adapters.rtsp import RtspSourceConfig
from camera_adapters.secrets import mask_text, mask_url, remember_secret

# Read at most this many frames while waiting for a second keyframe (a GOP of 10 s at
# 30 fps is 300 frames).
MAX_PROBE_FRAMES = 400


@dataclass
class ProbeResult:
    source: str
    codec: str
    width: int
    height: int
    fps: float
    measured_fps: float | None
    gop_frames: int | None
    gop_s: float | None
    transport: str | None
    bitrate_kbps: float | None
    snapshot: str | None
    onvif: dict[str, Any] | None = field(default=None)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def source_for(target: str, *, transport: str = "tcp", timeout_s: float = 10.0
               ) -> tuple[AnySourceConfig, dict[str, Any] | None]:
    """A source config for a URL (rtsp://, http(s)://, onvif://user:pass@host:port), plus
    what an ONVIF device told about itself."""
    scheme = urlsplit(target).scheme.lower()
    if scheme in ("rtsp", "rtsps"):
        return RtspSourceConfig(url=target, transport=transport, connect_timeout_s=timeout_s,
                                read_timeout_s=timeout_s), None
    if scheme in ("http", "https"):
        from camera_adapters.http import HttpSnapshotSourceConfig

        return HttpSnapshotSourceConfig(url=target, timeout_s=timeout_s), None
    if scheme == "onvif":
        return _onvif(target, transport, timeout_s)
    raise SourceError(f"cannot probe {mask_url(target)}: use rtsp://, http(s)://, onvif:// "
                      "or a camera id of --config")


def _onvif(target: str, transport: str, timeout_s: float
           ) -> tuple[AnySourceConfig, dict[str, Any]]:
    parts = urlsplit(target)
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    remember_secret(password)
    device = OnvifDevice(parts.hostname or "", parts.port or 80, user, password,
                         timeout_s=timeout_s).connect()
    profiles = device.profiles()
    if not profiles:
        raise SourceError(f"ONVIF {parts.hostname}:{parts.port} has no media profiles")
    described = []
    for p in profiles:
        entry = asdict(p)
        entry["stream_uri"] = mask_url(device.stream_uri(p.token))
        try:
            entry["snapshot_uri"] = mask_url(device.snapshot_uri(p.token))
        except SourceError as exc:
            entry["snapshot_uri"] = None
            entry["snapshot_error"] = str(exc)
        described.append(entry)
    onvif: dict[str, Any] = {"device": device.information(), "profiles": described}
    try:
        onvif["presets"] = [asdict(p) for p in device.presets(profiles[0].token)]
    except PTZError as exc:
        onvif["presets"], onvif["ptz_error"] = None, str(exc)
    url = device.stream_uri(profiles[0].token)
    config = RtspSourceConfig(url=url, username=user, password=password, transport=transport,
                              connect_timeout_s=timeout_s, read_timeout_s=timeout_s)
    return config, onvif


def probe_source(source: FrameSource, *, label: str, snapshot: Path | None,
                 timeout_s: float = 15.0) -> ProbeResult:
    """Open ``source``, read until a whole GOP has been seen (or ``timeout_s``), close it."""
    info = source.open()
    started = time.monotonic()
    first: Frame | None = None
    keys: list[float] = []
    sizes: list[tuple[float, int]] = []  # (stream time, bytes) of every packet
    gop_frames: int | None = None
    try:
        for _ in range(MAX_PROBE_FRAMES):
            frame = source.read()
            if frame is None:
                break
            first = first or frame
            for p in frame.packets:
                sizes.append((p.ts, len(p.data)))
                if p.keyframe:
                    keys.append(p.ts)
            intake = source.intake
            gop_frames = intake.snapshot().gop_frames if intake is not None else None
            if (gop_frames is not None or len(keys) > 1 or not frame.packets
                    or time.monotonic() - started > timeout_s):
                break
    finally:
        source.close()
    if first is None:
        raise SourceError(f"{label}: opened, but no picture arrived")
    if snapshot is not None:
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(snapshot), first.image)
    gop_s = (keys[-1] - keys[-2]) if len(keys) > 1 else None
    if gop_frames is None and gop_s is not None:
        gop_frames = round(gop_s * info.fps)
    if gop_s is None and gop_frames is not None and info.fps:
        gop_s = gop_frames / info.fps
    # Rates on the stream's own clock: the packets buffered while the stream opened arrive
    # in a burst, so arrival times would overstate them.
    span = sizes[-1][0] - sizes[0][0] if len(sizes) > 1 else 0.0
    measured_fps = round((len(sizes) - 1) / span, 2) if span > 0 else None
    bitrate = round(8 * sum(n for _, n in sizes[1:]) / span / 1000, 1) if span > 0 else None
    return ProbeResult(
        source=label, codec=info.codec, width=first.width, height=first.height,
        fps=round(info.fps, 3), measured_fps=measured_fps,
        gop_frames=gop_frames, gop_s=round(gop_s, 3) if gop_s else None,
        transport=info.transport, bitrate_kbps=bitrate,
        snapshot=str(snapshot) if snapshot else None)


def probe(target: str, *, config: AnySourceConfig | None = None, snapshot: Path | None,
          transport: str = "tcp", timeout_s: float = 10.0) -> ProbeResult:
    """Probe a URL, or the source ``config`` of a configured camera (``target`` its id)."""
    onvif = None
    if config is None:
        config, onvif = source_for(target, transport=transport, timeout_s=timeout_s)
        label = mask_url(target)
    else:
        label = target
    source = build_source("probe", config)
    try:
        result = probe_source(source, label=label, snapshot=snapshot, timeout_s=timeout_s + 5)
    except SourceError as exc:
        raise SourceError(mask_text(str(exc))) from None
    result.onvif = onvif
    return result
