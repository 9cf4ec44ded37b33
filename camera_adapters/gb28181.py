"""GB/T 28181 channels reached through the media platform that holds them.

The county's platform registers the cameras and NVRs over SIP; we never speak SIP. We ask
its HTTP API, as WVP-GB28181-pro exposes it, for devices, channels and a play URL, read
that URL as RTSP, and take snapshots from ZLMediaKit (the platform's media server):

- ``GET  /api/device/query/devices?page=1&count=N``             devices
- ``GET  /api/device/query/devices/{deviceId}/channels?page=&count=``  channels
- ``GET  /api/play/start/{deviceId}/{channelId}``               ``data.rtsp`` (and flv, rtmp...)
- ``GET  /api/play/stop/{deviceId}/{channelId}``                 release the stream
- ZLMediaKit ``GET /index/api/getSnap?secret=&url=&timeout_sec=&expire_sec=``  a JPEG

Every call carries the platform's token header (``access-token`` by default); answers are
``{"code": 0, "msg": ..., "data": ...}`` and a non-zero code is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import cv2
import httpx
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from camera_adapters.base import SourceError
from camera_adapters.frame import StreamInfo
from camera_adapters.rtsp import RtspBackedSource, RtspSourceConfig
from camera_adapters.secrets import mask_text, remember_secret

# Devices and channels are fetched in pages of this size.
PAGE_SIZE = 100


class Gb28181SourceConfig(BaseModel):
    """One GB/T 28181 channel, played through the platform's HTTP API."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["gb28181"] = "gb28181"
    platform_url: str = Field(pattern=r"^https?://\S+$", max_length=500,
                              description="Base URL of the platform API, e.g. http://10.0.0.9:18080.")
    token: SecretStr | None = Field(default=None, description="API token (use ${ENV}).")
    token_header: str = Field(default="access-token", max_length=64,
                              description="Header that carries the token.")
    device_id: str = Field(pattern=r"^[0-9A-Za-z]{1,32}$", description="20-digit device code.")
    channel_id: str = Field(pattern=r"^[0-9A-Za-z]{1,32}$", description="20-digit channel code.")
    media_url: str | None = Field(default=None, pattern=r"^https?://\S+$", max_length=500,
                                  description="ZLMediaKit HTTP API base URL, for snapshots.")
    media_secret: SecretStr | None = Field(default=None, description="ZLMediaKit API secret.")
    transport: Literal["tcp", "udp"] = Field(default="tcp", description="RTSP transport.")
    decode: Literal["auto", "keyframes", "all"] = Field(default="auto",
                                                        description="As for rtsp sources.")
    timeout_s: float = Field(default=10.0, gt=0, le=120, description="HTTP and RTSP timeouts.")
    fast_decode: bool = Field(default=False, description="As for rtsp sources.")
    hwaccel: Literal["cuda"] | None = Field(default=None, description="As for rtsp sources.")

    def remember_secrets(self) -> None:
        for secret in (self.token, self.media_secret):
            remember_secret(secret.get_secret_value() if secret else None)


@dataclass(frozen=True, slots=True)
class Gb28181Channel:
    device_id: str
    channel_id: str
    name: str
    online: bool
    ptz: bool


class PlatformError(SourceError):
    """The platform refused or failed a request; the message carries no token."""


class Gb28181Platform:
    """A client of the platform's HTTP API (and of its ZLMediaKit for snapshots)."""

    def __init__(self, base_url: str, *, token: str | None = None,
                 token_header: str = "access-token", media_url: str | None = None,
                 media_secret: str | None = None, timeout_s: float = 10.0) -> None:
        remember_secret(token)
        remember_secret(media_secret)
        headers = {token_header: token} if token else {}
        self._client = httpx.Client(base_url=base_url.rstrip("/"), headers=headers,
                                    timeout=timeout_s)
        self._media_url = media_url.rstrip("/") if media_url else None
        self._media_secret = media_secret
        self._timeout_s = timeout_s

    def _get(self, path: str, **params: Any) -> Any:
        try:
            response = self._client.get(path, params=params or None)
        except httpx.HTTPError as exc:
            raise PlatformError(f"platform {path}: {mask_text(str(exc)) or type(exc).__name__}") from None
        if response.status_code != 200:
            raise PlatformError(f"platform {path}: HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise PlatformError(f"platform {path}: answer is not JSON") from None
        if not isinstance(body, dict) or body.get("code") != 0:
            message = body.get("msg") if isinstance(body, dict) else body
            raise PlatformError(f"platform {path}: {mask_text(str(message))}")
        return body.get("data")

    def _pages(self, path: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            data = self._get(path, page=page, count=PAGE_SIZE) or {}
            batch = data.get("list") or []
            items.extend(batch)
            if not batch or len(items) >= int(data.get("total") or 0):
                return items
            page += 1

    def devices(self) -> list[dict[str, Any]]:
        return self._pages("/api/device/query/devices")

    def channels(self, device_id: str) -> list[Gb28181Channel]:
        out = []
        for ch in self._pages(f"/api/device/query/devices/{device_id}/channels"):
            channel_id = ch.get("channelId") or ch.get("deviceId") or ch.get("gbDeviceId") or ""
            status = ch.get("status", ch.get("onLine", True))
            online = status in (True, 1, "1", "ON", "on", "online")
            out.append(Gb28181Channel(device_id, str(channel_id), str(ch.get("name") or ""),
                                      online, int(ch.get("ptzType") or 0) in (1, 4)))
        return out

    def play(self, device_id: str, channel_id: str, protocol: str = "rtsp") -> str:
        """Ask the platform to pull the channel; returns its stream URL."""
        data = self._get(f"/api/play/start/{device_id}/{channel_id}") or {}
        url = data.get(protocol)
        if not url:
            raise PlatformError(f"platform gave no {protocol} URL for {device_id}/{channel_id}")
        return str(url)

    def stop(self, device_id: str, channel_id: str) -> None:
        self._get(f"/api/play/stop/{device_id}/{channel_id}")

    def snapshot(self, stream_url: str) -> np.ndarray:
        """A JPEG of ``stream_url`` taken by ZLMediaKit (``/index/api/getSnap``)."""
        if not self._media_url:
            raise PlatformError("no media_url configured for snapshots")
        params = {"secret": self._media_secret or "", "url": stream_url,
                  "timeout_sec": int(self._timeout_s), "expire_sec": 1}
        try:
            response = self._client.get(f"{self._media_url}/index/api/getSnap", params=params)
        except httpx.HTTPError as exc:
            raise PlatformError(f"media server getSnap: {mask_text(str(exc))}") from None
        image = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
        if response.status_code != 200 or image is None:
            raise PlatformError(f"media server getSnap: HTTP {response.status_code}, no picture")
        return image

    def close(self) -> None:
        self._client.close()


class Gb28181Source(RtspBackedSource):
    """A GB/T 28181 channel: asks the platform to play it, then reads the RTSP URL it gets
    (a new URL on every reconnect, since the platform may move the stream)."""

    def __init__(self, camera_id: str, config: Gb28181SourceConfig) -> None:
        config.remember_secrets()
        super().__init__(camera_id)
        self.config = config
        self.platform = Gb28181Platform(
            config.platform_url, token=_secret(config.token), token_header=config.token_header,
            media_url=config.media_url, media_secret=_secret(config.media_secret),
            timeout_s=config.timeout_s)
        self.play_url: str | None = None

    def open(self) -> StreamInfo:
        cfg = self.config
        self.play_url = self.platform.play(cfg.device_id, cfg.channel_id)
        self._rtsp = self._new_rtsp(RtspSourceConfig(
            url=self.play_url, transport=cfg.transport, decode=cfg.decode,
            fast_decode=cfg.fast_decode, hwaccel=cfg.hwaccel,
            connect_timeout_s=cfg.timeout_s, read_timeout_s=cfg.timeout_s))
        return self._rtsp.open()

    def snapshot(self) -> np.ndarray:
        url = self.play_url or self.platform.play(self.config.device_id, self.config.channel_id)
        return self.platform.snapshot(url)


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None
