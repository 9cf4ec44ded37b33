"""ONVIF devices through onvif-zeep: device information, media profiles, stream and
snapshot URIs, PTZ presets. Requests are signed with a WS-Security UsernameToken
(password digest); snapshot URIs are fetched with HTTP Digest (or Basic) authentication.

The frames themselves come over RTSP from the profile's stream URI, so an ONVIF camera
gets everything an RTSP camera has: keyframe-only decoding, sub-stream analysis with
clips from the main stream, reconnects.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from camera_adapters.base import SourceError
from camera_adapters.capabilities import (
    PacketSource,
    Preset,
    PTZError,
    PTZMixin,
    RecordingStreamMixin,
)
from camera_adapters.frame import StreamInfo
from camera_adapters.http import fetch_jpeg
from camera_adapters.httpauth import camera_auth
from camera_adapters.rtsp import RtspBackedSource, RtspSource, RtspSourceConfig
from camera_adapters.secrets import mask_text, remember_secret

_STREAM_SETUP = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}


class OnvifSourceConfig(BaseModel):
    """An ONVIF camera; frames come from the RTSP URI of its media profile."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["onvif"] = "onvif"
    host: str = Field(min_length=1, max_length=253, description="Camera address.")
    port: int = Field(default=80, ge=1, le=65535, description="ONVIF (HTTP) port.")
    username: str | None = Field(default=None, max_length=64, description="ONVIF user.")
    password: SecretStr | None = Field(default=None, description="ONVIF password (use ${ENV}).")
    profile: str | None = Field(
        default=None, max_length=64,
        description="Media profile (token or name) for clips; default the first (main) one.")
    sub_profile: str | None = Field(
        default=None, max_length=64,
        description="Media profile (token or name) to analyse, e.g. the sub stream.")
    transport: Literal["tcp", "udp"] = Field(default="tcp", description="RTSP transport.")
    connect_timeout_s: float = Field(default=10.0, gt=0, le=120,
                                     description="ONVIF request and RTSP connect timeout.")
    read_timeout_s: float = Field(default=10.0, gt=0, le=120, description="RTSP read timeout.")
    decode: Literal["auto", "keyframes", "all"] = Field(default="auto",
                                                        description="As for rtsp sources.")
    output_width: int | None = Field(default=None, ge=64, le=7680,
                                     description="Scale decoded pictures to this width.")
    fast_decode: bool = Field(default=False, description="As for rtsp sources.")
    hwaccel: Literal["cuda"] | None = Field(default=None, description="As for rtsp sources.")

    def secret(self) -> str | None:
        return self.password.get_secret_value() if self.password is not None else None


@dataclass(frozen=True, slots=True)
class OnvifProfile:
    token: str
    name: str
    encoding: str | None
    width: int | None
    height: int | None
    fps: float | None
    ptz: bool


def _wsdl_dir() -> str:
    import onvif

    return os.path.join(os.path.dirname(os.path.dirname(onvif.__file__)), "wsdl")


def _field(obj: Any, *names: str) -> Any:
    for name in names:
        obj = getattr(obj, name, None) if obj is not None else None
    return obj


class OnvifDevice:
    """A connected ONVIF device. Every failure is raised as SourceError (PTZError for PTZ
    commands) with a message free of credentials."""

    def __init__(self, host: str, port: int, username: str | None, password: str | None,
                 *, timeout_s: float = 10.0) -> None:
        remember_secret(password)
        self.host, self.port = host, port
        self.username, self.password = username, password
        self.timeout_s = timeout_s
        self._camera: Any = None
        self._media: Any = None
        self._ptz: Any = None

    def connect(self) -> OnvifDevice:
        from onvif import ONVIFCamera
        from zeep.transports import Transport

        try:
            self._camera = ONVIFCamera(
                self.host, self.port, self.username or "", self.password or "", _wsdl_dir(),
                no_cache=True, transport=Transport(timeout=self.timeout_s,
                                                   operation_timeout=self.timeout_s))
            self._media = self._camera.create_media_service()
        except Exception as exc:
            raise SourceError(f"ONVIF {self.host}:{self.port}: {_why(exc)}") from None
        return self

    def _call(self, what: str, fn: Any, *args: Any, error: type[Exception] = SourceError) -> Any:
        if self._camera is None:
            self.connect()
        try:
            return fn(*args)
        except Exception as exc:
            raise error(f"ONVIF {self.host}:{self.port} {what}: {_why(exc)}") from None

    def information(self) -> dict[str, str]:
        info = self._call("GetDeviceInformation",
                          lambda: self._camera.devicemgmt.GetDeviceInformation())
        keys = ("Manufacturer", "Model", "FirmwareVersion", "SerialNumber", "HardwareId")
        return {k: str(getattr(info, k, "") or "") for k in keys}

    def profiles(self) -> list[OnvifProfile]:
        raw = self._call("GetProfiles", lambda: self._media.GetProfiles())
        out = []
        for p in raw or []:
            enc = getattr(p, "VideoEncoderConfiguration", None)
            limit = _field(enc, "RateControl", "FrameRateLimit")
            out.append(OnvifProfile(
                token=str(p.token), name=str(getattr(p, "Name", "") or p.token),
                encoding=str(enc.Encoding) if enc is not None and enc.Encoding else None,
                width=_field(enc, "Resolution", "Width"), height=_field(enc, "Resolution", "Height"),
                fps=float(limit) if limit else None,
                ptz=getattr(p, "PTZConfiguration", None) is not None))
        return out

    def profile(self, wanted: str | None, default_index: int = 0) -> OnvifProfile:
        """The profile named or tokened ``wanted``, else the ``default_index``-th one."""
        profiles = self.profiles()
        if not profiles:
            raise SourceError(f"ONVIF {self.host}:{self.port} has no media profiles")
        if wanted is None:
            return profiles[min(default_index, len(profiles) - 1)]
        for p in profiles:
            if wanted in (p.token, p.name):
                return p
        names = ", ".join(f"{p.name} ({p.token})" for p in profiles)
        raise SourceError(f"ONVIF {self.host}:{self.port}: no profile {wanted!r}; it has {names}")

    def stream_uri(self, token: str) -> str:
        res = self._call("GetStreamUri", lambda: self._media.GetStreamUri(
            {"StreamSetup": _STREAM_SETUP, "ProfileToken": token}))
        return str(res.Uri)

    def snapshot_uri(self, token: str) -> str:
        res = self._call("GetSnapshotUri",
                         lambda: self._media.GetSnapshotUri({"ProfileToken": token}))
        return str(res.Uri)

    def snapshot(self, token: str) -> np.ndarray:
        """A JPEG from the profile's snapshot URI (HTTP Digest or Basic, as challenged)."""
        with httpx.Client(auth=camera_auth(self.username, self.password),
                          timeout=self.timeout_s) as client:
            return fetch_jpeg(client, self.snapshot_uri(token))[0]

    def _ptz_service(self) -> Any:
        if self._ptz is None:
            self._ptz = self._call("PTZ service", lambda: self._camera.create_ptz_service(),
                                   error=PTZError)
        return self._ptz

    def presets(self, token: str) -> list[Preset]:
        ptz = self._ptz_service()
        raw = self._call("GetPresets", lambda: ptz.GetPresets({"ProfileToken": token}),
                         error=PTZError)
        return [Preset(str(p.token), str(getattr(p, "Name", "") or p.token)) for p in raw or []]

    def goto_preset(self, token: str, preset: str) -> None:
        ptz = self._ptz_service()
        self._call("GotoPreset", lambda: ptz.GotoPreset(
            {"ProfileToken": token, "PresetToken": preset}), error=PTZError)


def _why(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return mask_text(" ".join(text.split())[:300])


class OnvifSource(RtspBackedSource, PTZMixin, RecordingStreamMixin):
    """An ONVIF camera: profiles resolved at open, frames over RTSP, PTZ presets."""

    def __init__(self, camera_id: str, config: OnvifSourceConfig) -> None:
        remember_secret(config.secret())
        super().__init__(camera_id)
        self.config = config
        self.device = OnvifDevice(config.host, config.port, config.username, config.secret(),
                                  timeout_s=config.connect_timeout_s)
        self._main_token: str | None = None
        self._lock = threading.Lock()  # the capture and record threads both resolve profiles

    def rtsp_config(self) -> RtspSourceConfig:
        """Resolve the profiles to stream URIs (one ONVIF round trip per profile)."""
        cfg = self.config
        main = self.device.profile(cfg.profile)
        self._main_token = main.token
        url = self.device.stream_uri(main.token)
        sub_url = None
        if cfg.sub_profile is not None:
            sub_url = self.device.stream_uri(self.device.profile(cfg.sub_profile).token)
        return RtspSourceConfig(
            url=url, sub_url=sub_url, username=cfg.username, password=cfg.password,
            transport=cfg.transport, connect_timeout_s=cfg.connect_timeout_s,
            read_timeout_s=cfg.read_timeout_s, decode=cfg.decode, output_width=cfg.output_width,
            fast_decode=cfg.fast_decode, hwaccel=cfg.hwaccel)

    def _ensure_rtsp(self) -> RtspSource:
        with self._lock:
            if self._rtsp is None:
                self._rtsp = self._new_rtsp(self.rtsp_config())
            return self._rtsp

    def open(self) -> StreamInfo:
        return self._ensure_rtsp().open()

    def recording_source(self) -> PacketSource | None:
        if self.config.sub_profile is None:
            return None
        return self._ensure_rtsp().recording_source()

    # -- PTZ ----------------------------------------------------------------------------
    def _token(self) -> str:
        if self._main_token is None:
            try:
                self._main_token = self.device.profile(self.config.profile).token
            except SourceError as exc:
                raise PTZError(str(exc)) from None
        return self._main_token

    def presets(self) -> list[Preset]:
        return self.device.presets(self._token())

    def goto_preset(self, token: str) -> None:
        self.device.goto_preset(self._token(), token)

    def snapshot(self) -> np.ndarray:
        return self.device.snapshot(self._token())
