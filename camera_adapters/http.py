"""Cameras that only offer a JPEG snapshot over HTTP, pulled every ``interval_s``."""

from __future__ import annotations

import threading
import time
from fractions import Fraction
from typing import Literal

import cv2
import httpx
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from camera_adapters.base import LiveSource, SourceError
from camera_adapters.frame import Frame, StreamInfo
from camera_adapters.httpauth import camera_auth
from camera_adapters.secrets import mask_text, mask_url, remember_secret, remember_url_secrets
from camera_adapters.stats import IntakeStats


class HttpSnapshotSourceConfig(BaseModel):
    """A snapshot URL (e.g. Hikvision ``/ISAPI/Streaming/channels/101/picture``)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["http"] = "http"
    url: str = Field(pattern=r"^https?://\S+$", max_length=1000, description="JPEG snapshot URL.")
    username: str | None = Field(default=None, max_length=64, description="Camera user.")
    password: SecretStr | None = Field(default=None, description="Camera password (use ${ENV}).")
    interval_s: float = Field(default=2.0, gt=0, le=3600, description="Seconds between pulls.")
    timeout_s: float = Field(default=5.0, gt=0, le=120, description="Per-request timeout.")
    verify_tls: bool = Field(default=True, description="Check the camera's TLS certificate.")

    def remember_secrets(self) -> None:
        remember_secret(self.password.get_secret_value() if self.password else None)
        remember_url_secrets(self.url)


def fetch_jpeg(client: httpx.Client, url: str) -> tuple[np.ndarray, int]:
    """GET ``url`` and decode it; returns the BGR picture and its size in bytes.
    Raises SourceError with a masked message."""
    try:
        response = client.get(url)
    except httpx.HTTPError as exc:
        raise SourceError(f"snapshot {mask_url(url)}: {mask_text(str(exc)) or type(exc).__name__}") from None
    if response.status_code != 200:
        raise SourceError(f"snapshot {mask_url(url)}: HTTP {response.status_code}")
    image = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        kind = response.headers.get("content-type", "?")
        raise SourceError(f"snapshot {mask_url(url)}: not a picture ({kind})")
    return image, len(response.content)


class HttpSnapshotSource(LiveSource):
    """Pulls a JPEG every ``interval_s`` (wall-clock paced); no packets, so no clips."""

    def __init__(self, camera_id: str, config: HttpSnapshotSourceConfig) -> None:
        config.remember_secrets()
        self.camera_id = camera_id
        self.config = config
        self._stats = IntakeStats()
        self._client: httpx.Client | None = None
        self._closed = threading.Event()
        self._epoch = time.time()
        self._next_due = 0.0
        self._first: np.ndarray | None = None
        self._index = 0

    def open(self) -> StreamInfo:
        cfg = self.config
        password = cfg.password.get_secret_value() if cfg.password else None
        self._closed.clear()
        self._client = httpx.Client(auth=camera_auth(cfg.username, password),
                                    timeout=cfg.timeout_s, verify=cfg.verify_tls)
        self._first = self._pull()
        height, width = self._first.shape[:2]
        return StreamInfo("mjpeg", width, height, 1.0 / cfg.interval_s, Fraction(1, 1000))

    def _pull(self) -> np.ndarray:
        if self._client is None:
            raise SourceError("read() before open()")
        image, size = fetch_jpeg(self._client, self.config.url)
        self._stats.packet(size, keyframe=True)
        self._stats.decoded += 1
        self._next_due = time.time() + self.config.interval_s
        return image

    def read(self) -> Frame | None:
        if self._first is not None:
            image, self._first = self._first, None
        else:
            if self._closed.wait(max(0.0, self._next_due - time.time())):
                return None
            image = self._pull()
        now = time.time()
        frame = Frame(self.camera_id, image, now - self._epoch, now, self._index)
        self._index += 1
        return frame

    def close(self) -> None:
        self._closed.set()
        if self._client is not None:
            self._client.close()
            self._client = None
