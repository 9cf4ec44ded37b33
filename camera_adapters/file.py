"""Video files and still images as frame sources (offline scans, replays, snapshot cameras)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import cv2
import numpy as np
from av.bitstream import BitStreamFilterContext
from pydantic import BaseModel, ConfigDict, Field

from camera_adapters.base import FrameSource, SourceError
from camera_adapters.frame import EncodedPacket, Frame, StreamInfo

# Packets are kept in Annex-B form (start codes, parameter sets in band), as RTSP cameras
# send them, so one clip writer serves every source and MP4s need no extradata.
ANNEXB_FILTERS = {"h264": "h264_mp4toannexb", "hevc": "hevc_mp4toannexb"}
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


class FileSourceConfig(BaseModel):
    """A video file read with PyAV (any container and codec FFmpeg knows)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["file"] = "file"
    path: Path = Field(description="Video file to read.")
    realtime: bool = Field(
        default=False, description="Pace frames at the file's own rate, as a live camera would."
    )
    loop: bool = Field(default=False, description="Start again at the end (replays in demos).")


class ImagesSourceConfig(BaseModel):
    """A still image, or a folder of images taken as a time-ordered sequence."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["images"] = "images"
    path: Path = Field(description="An image file or a folder of images (sorted by name).")
    interval_s: float = Field(
        default=1.0, gt=0, le=86400, description="Seconds between consecutive images."
    )


class FileSource(FrameSource):
    """Decodes the first video stream of a file with PyAV and hands out its packets too.

    Frame timestamps are the stream's presentation times, so rules measure durations in
    video time whatever the decoding speed.
    """

    def __init__(self, camera_id: str, config: FileSourceConfig) -> None:
        self.camera_id = camera_id
        self.config = config
        self._container: av.container.InputContainer | None = None
        self._iter: Iterator[tuple[av.VideoFrame | None, EncodedPacket | None]] | None = None
        self._index = 0
        self._t0_wall = 0.0
        self._ts_offset = 0.0
        self._last_ts = 0.0
        self._pending: list[EncodedPacket] = []
        self._bsf: BitStreamFilterContext | None = None
        self.info: StreamInfo | None = None

    @property
    def live(self) -> bool:
        return self.config.realtime

    def open(self) -> StreamInfo:
        path = self.config.path
        if not path.is_file():
            raise SourceError(f"video file not found: {path}")
        try:
            self._container = av.open(str(path))
        except av.FFmpegError as exc:
            raise SourceError(f"cannot open video file {path}: {exc}") from exc
        if not self._container.streams.video:
            self.close()
            raise SourceError(f"{path} has no video stream")
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        ctx = stream.codec_context
        fps = float(stream.average_rate or stream.guessed_rate or 25)
        annexb = ANNEXB_FILTERS.get(ctx.name)
        self._bsf = BitStreamFilterContext(annexb, stream) if annexb else None
        self.info = StreamInfo(
            codec=ctx.name,
            width=ctx.width,
            height=ctx.height,
            fps=fps,
            time_base=stream.time_base or Fraction(1, 90000),
            extradata=None if annexb or not ctx.extradata else bytes(ctx.extradata),
        )
        self._iter = self._decode()
        if self._index == 0:  # a looping replay keeps its original pace clock
            self._t0_wall = time.time()
        return self.info

    def _decode(self) -> Iterator[tuple[av.VideoFrame | None, EncodedPacket | None]]:
        assert self._container is not None
        stream = self._container.streams.video[0]
        tb = float(stream.time_base)
        start = stream.start_time or 0
        for packet in self._container.demux(stream):
            pts, dts, key, size = packet.pts, packet.dts, packet.is_keyframe, packet.size
            data = None
            if size and pts is not None:
                data = bytes(packet)
                if self._bsf is not None:  # the filter consumes its input: give it a copy
                    copy = av.Packet(data)
                    copy.pts, copy.dts, copy.time_base = pts, dts, packet.time_base
                    copy.is_keyframe = key
                    filtered = self._bsf.filter(copy)
                    data = b"".join(bytes(f) for f in filtered) or None
            try:
                decoded = packet.decode()
            except av.FFmpegError:
                decoded = []  # a corrupt packet costs one frame, not the file
            encoded = None
            if data is not None:
                dts = dts if dts is not None else pts
                encoded = EncodedPacket(data, pts, dts, (pts - start) * tb, key)
            if not decoded:
                yield None, encoded
            for i, frame in enumerate(decoded):
                yield frame, encoded if i == 0 else None

    def read(self) -> Frame | None:
        if self._iter is None:
            raise SourceError("read() before open()")
        for vframe, encoded in self._iter:
            if encoded is not None:
                self._pending.append(encoded)
            if vframe is None:
                continue
            return self._emit(vframe)
        if self.config.loop and self._index:
            self._ts_offset = self._last_ts + 1.0 / (self.info.fps if self.info else 25)
            self.close()
            self.open()
            return self.read()
        return None

    def _emit(self, vframe: av.VideoFrame) -> Frame:
        ts = self._ts_offset + float(vframe.time or 0.0)
        if self.config.realtime:
            delay = self._t0_wall + ts - time.time()
            if delay > 0:
                time.sleep(delay)
        packets = tuple(self._pending)
        self._pending.clear()
        image = vframe.to_ndarray(format="bgr24")
        frame = Frame(self.camera_id, image, ts, time.time(), self._index, packets)
        self._index += 1
        self._last_ts = ts
        return frame

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None


def list_images(path: Path) -> list[Path]:
    """The images of a folder, sorted by name; a single image file as a one-item list."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise SourceError(f"no such image or folder: {path}")
    return sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


class ImagesSource(FrameSource):
    """Still images in name order, ``interval_s`` apart on the source timeline."""

    def __init__(self, camera_id: str, config: ImagesSourceConfig) -> None:
        self.camera_id = camera_id
        self.config = config
        self._paths: list[Path] = []
        self._index = 0

    def open(self) -> StreamInfo:
        self._paths = list_images(self.config.path)
        if not self._paths:
            raise SourceError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {self.config.path}")
        first = self._load(self._paths[0])
        return StreamInfo("mjpeg", first.shape[1], first.shape[0], 1.0 / self.config.interval_s,
                          Fraction(1, 1000))

    @staticmethod
    def _load(path: Path) -> np.ndarray:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise SourceError(f"cannot decode image {path}")
        return image

    def read(self) -> Frame | None:
        if self._index >= len(self._paths):
            return None
        image = self._load(self._paths[self._index])
        frame = Frame(self.camera_id, image, self._index * self.config.interval_s, time.time(),
                      self._index)
        self._index += 1
        return frame

    def __len__(self) -> int:
        return len(self._paths)

    def close(self) -> None:
        self._paths = []
