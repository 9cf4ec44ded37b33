"""RTSP cameras and NVR channels (Hikvision, Dahua, Uniview...) read with PyAV.

- TCP (interleaved) or UDP transport; connect and read timeouts, so a dead camera raises
  :class:`~camera_adapters.base.SourceError` instead of hanging (the worker reconnects).
- **Keyframe-only decoding**: a camera analysed at no more than one frame per GOP decodes
  only its keyframes (``skip_frame = NONKEY``, and only every k-th keyframe when the
  analysis rate is lower still). Every packet is still demuxed into the pre-roll ring, so
  clips stay complete. This is what makes hundreds of cameras per machine possible.
- **Main and sub stream**: with ``sub_url`` the sub stream is analysed and the main
  stream is only demuxed (no decoding) for clips, through :meth:`RtspSource.recording_source`.

Timestamps: a live stream's clock is anchored to the wall clock when the stream opens
(and re-anchored if it drifts by more than :data:`REANCHOR_S`), so that the sub and main
streams of one camera, and the sessions before and after a reconnect, share one timeline.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Literal

import av
import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from camera_adapters.base import FrameSource, SourceError
from camera_adapters.capabilities import (
    PacketSinkMixin,
    PacketSource,
    RecordingStreamMixin,
    SamplingMixin,
)
from camera_adapters.frame import EncodedPacket, Frame, StreamInfo
from camera_adapters.secrets import mask_text, mask_url, remember_secret, remember_url_secrets
from camera_adapters.secrets import with_credentials as _with_credentials
from camera_adapters.stats import IntakeStats

# Packets are stored on a 90 kHz clock (RTP's video clock) derived from the timeline.
TIME_BASE = Fraction(1, 90000)
# A stream clock that strays this far from the wall clock is re-anchored (camera clock
# drift, a timestamp jump after an encoder restart).
REANCHOR_S = 2.0
# An analysis period within this share of a GOP still counts as "one frame per GOP".
GOP_TOLERANCE = 0.05
# UDP: kernel socket buffer for the bursts of a 4–8 Mbit/s keyframe, and how long FFmpeg
# waits to reorder late packets (microseconds).
UDP_BUFFER_BYTES = 4 * 1024 * 1024
UDP_MAX_DELAY_US = 500_000
# How much of the stream FFmpeg reads to learn its parameters when it opens: 1 s is
# enough with the SDP's parameter sets and keeps a reconnect quick (the default 5 s is not).
ANALYZE_DURATION_US = 1_000_000
# Packets held for the next frame when no sink takes them (a camera decoded every k-th
# keyframe with a large k): about a minute at 25 fps.
MAX_PENDING = 1500


class RtspSourceConfig(BaseModel):
    """An RTSP stream. Credentials go in ``username``/``password`` (use ``${ENV}``) or in the URL."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["rtsp"] = "rtsp"
    url: str = Field(pattern=r"^rtsps?://\S+$", max_length=1000,
                     description="Main stream, e.g. rtsp://10.0.0.5:554/Streaming/Channels/101.")
    sub_url: str | None = Field(
        default=None, pattern=r"^rtsps?://\S+$", max_length=1000,
        description="Sub stream, analysed instead of the main one; clips still come from `url`.")
    username: str | None = Field(default=None, max_length=64, description="Camera user.")
    password: SecretStr | None = Field(default=None, description="Camera password (use ${ENV}).")
    transport: Literal["tcp", "udp"] = Field(
        default="tcp", description="RTP over the RTSP TCP connection (robust) or over UDP.")
    connect_timeout_s: float = Field(default=10.0, gt=0, le=120,
                                     description="Give up opening the stream after this long.")
    read_timeout_s: float = Field(default=10.0, gt=0, le=120,
                                  description="A stream silent this long counts as dropped.")
    decode: Literal["auto", "keyframes", "all"] = Field(
        default="auto", description="auto: keyframes only when the camera is analysed at no "
        "more than one frame per GOP; keyframes: always; all: every frame.")
    output_width: int | None = Field(
        default=None, ge=64, le=7680,
        description="Scale decoded pictures to this width (keeps the aspect ratio).")
    fast_decode: bool = Field(
        default=False, description="Skip the H.264/H.265 deblocking filter: about a third "
        "less decoding time per picture, at the price of some blockiness.")

    def main_url(self) -> str:
        return _with_credentials(self.url, self.username, _secret(self.password))

    def analysed_url(self) -> str:
        return _with_credentials(self.sub_url or self.url, self.username, _secret(self.password))

    def remember_secrets(self) -> None:
        remember_secret(_secret(self.password))
        remember_url_secrets(self.url)
        remember_url_secrets(self.sub_url)


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def keyframe_stride(analyse_fps: float, gop_s: float) -> int | None:
    """How many keyframes make one analysis period, or ``None`` when the camera is analysed
    more often than once per GOP (then every frame must be decoded).

    Example:
        >>> keyframe_stride(0.5, 2.0), keyframe_stride(0.1, 2.0), keyframe_stride(2, 2.0)
        (1, 5, None)
    """
    if analyse_fps <= 0 or gop_s <= 0:
        return None
    periods = 1.0 / (analyse_fps * gop_s)
    if periods < 1 - GOP_TOLERANCE:
        return None
    return max(1, int(periods + GOP_TOLERANCE))


class LiveClock:
    """Maps a stream's presentation times to a timeline anchored to the wall clock."""

    def __init__(self, epoch: float) -> None:
        self.epoch = epoch
        self._offset: float | None = None
        self.last_ts = float("-inf")

    def observe(self, pts_s: float, now: float) -> float:
        wall = now - self.epoch
        if self._offset is None or abs(pts_s + self._offset - wall) > REANCHOR_S:
            self._offset = wall - pts_s
        ts = max(pts_s + self._offset, self.last_ts + 1e-3)
        self.last_ts = ts
        return ts

    def map(self, pts_s: float) -> float:
        return pts_s + (self._offset or 0.0)

    def reset(self) -> None:
        self._offset = None


def _has_parameter_sets(data: bytes, codec: str) -> bool:
    """Whether an Annex-B access unit carries its SPS (H.264) or VPS (H.265) in band."""
    head = data[:512]
    start = 0
    while (i := head.find(b"\x00\x00\x01", start)) != -1 and i + 3 < len(head):
        nal = head[i + 3]
        if codec == "h264" and nal & 0x1F == 7:
            return True
        if codec == "hevc" and (nal >> 1) & 0x3F == 32:
            return True
        start = i + 3
    return False


class _RtspReader:
    """One RTSP session: opens, demuxes the video stream, turns packets into EncodedPackets
    on the shared timeline and counts them."""

    def __init__(self, url: str, config: RtspSourceConfig, clock: LiveClock,
                 stats: IntakeStats) -> None:
        self.url = url
        self.config = config
        self.clock = clock
        self.stats = stats
        self.container: av.container.InputContainer | None = None
        self.stream: av.video.stream.VideoStream | None = None
        self.info: StreamInfo | None = None
        self._packets: Iterator[av.Packet] | None = None
        self._held: av.Packet | None = None
        self._tb = 1 / 90000
        self._prefix: bytes | None = None  # parameter sets to put in front of keyframes

    def open(self) -> StreamInfo:
        cfg = self.config
        options = {"rtsp_transport": cfg.transport, "allowed_media_types": "video",
                   "timeout": str(int(cfg.read_timeout_s * 1e6)),
                   "analyzeduration": str(ANALYZE_DURATION_US)}
        if cfg.transport == "udp":
            options |= {"buffer_size": str(UDP_BUFFER_BYTES), "max_delay": str(UDP_MAX_DELAY_US)}
        try:
            # The read timeout is FFmpeg's own socket timeout. PyAV's read timeout would
            # install an interrupt callback that takes the GIL on every socket read: with
            # a hundred cameras that costs more CPU than the demuxing, and starves threads.
            # Its open timeout is dropped once the stream is open.
            self.container = av.open(self.url, options=options,
                                     timeout=(cfg.connect_timeout_s, None))
        except (av.FFmpegError, OSError) as exc:
            raise SourceError(f"cannot open {mask_url(self.url)}: {_reason(exc)}") from None
        if not self.container.streams.video:
            self.close()
            raise SourceError(f"{mask_url(self.url)} has no video stream")
        stream = self.stream = self.container.streams.video[0]
        ctx = stream.codec_context
        extradata = bytes(ctx.extradata) if ctx.extradata else b""
        annexb = extradata.startswith((b"\x00\x00\x01", b"\x00\x00\x00\x01"))
        self._prefix = extradata if annexb and ctx.name in ("h264", "hevc") else None
        fps = float(stream.average_rate or stream.guessed_rate or stream.base_rate or 25)
        self.info = StreamInfo(codec=ctx.name, width=ctx.width, height=ctx.height, fps=fps,
                               time_base=TIME_BASE,
                               extradata=None if annexb or not extradata else extradata,
                               transport=cfg.transport)
        self._packets = self.container.demux(stream)
        self._tb = float(stream.time_base or Fraction(1, 90000))
        self._held = None
        self.clock.reset()
        return self.info

    def next(self) -> tuple[list[av.Packet], EncodedPacket]:
        """The next access unit (packets sharing one timestamp: some servers send the
        parameter sets apart from the keyframe), raw and as stored; raises SourceError
        when the stream drops."""
        raws = [self._held] if self._held is not None else [self._pull()]
        self._held = None
        while True:
            packet = self._pull()
            if packet.pts != raws[0].pts:
                self._held = packet
                return raws, self._encoded(raws)
            raws.append(packet)

    def _pull(self) -> av.Packet:
        if self._packets is None or self.stream is None:
            raise SourceError("read() before open()")
        try:
            for packet in self._packets:
                if packet.size and packet.pts is not None:
                    return packet
        except (av.FFmpegError, OSError) as exc:
            raise SourceError(f"stream {mask_url(self.url)} dropped: {_reason(exc)}") from None
        raise SourceError(f"stream {mask_url(self.url)} ended")

    def _encoded(self, raws: list[av.Packet]) -> EncodedPacket:
        # Runs for every packet of every camera: kept to plain arithmetic (no Fractions).
        now = time.time()
        first = raws[0]
        if len(raws) == 1:
            key, data = first.is_keyframe, bytes(first)
        else:
            key = any(p.is_keyframe for p in raws)
            data = b"".join([bytes(p) for p in raws])
        tb = self._tb
        raw_pts = first.pts
        pts_s = raw_pts * tb
        ts = self.clock.observe(pts_s, now)
        self.stats.packet(len(data), keyframe=key, now=now, ts=pts_s)
        pts = round(ts * 90000)
        raw_dts = first.dts
        dts = pts if raw_dts is None or raw_dts == raw_pts else pts - round((raw_pts - raw_dts) * tb * 90000)
        if key and self._prefix and not _has_parameter_sets(data, self.info.codec):
            data = self._prefix + data  # clips must start decodable
        return EncodedPacket(data, pts, dts, ts, key)

    def close(self) -> None:
        if self.container is not None:
            with contextlib.suppress(av.FFmpegError):
                self.container.close()
            self.container = None
            self._packets = None
            self._held = None


def _one_packet(raws: list[av.Packet]) -> av.Packet:
    """One decoder input for an access unit that arrived in several packets."""
    if len(raws) == 1:
        return raws[0]
    first = raws[0]
    packet = av.Packet(b"".join(bytes(p) for p in raws))
    packet.pts, packet.dts, packet.time_base = first.pts, first.dts, first.time_base
    packet.is_keyframe = any(p.is_keyframe for p in raws)
    return packet


def _reason(exc: BaseException) -> str:
    """An FFmpeg error without the URL it repeats (which may carry a password)."""
    if isinstance(exc, av.FFmpegError) and exc.strerror:
        return mask_text(str(exc.strerror))
    return mask_text(str(exc))


class RtspRecorder(PacketSource):
    """The main stream, demuxed but never decoded, for clips of a camera analysed on its sub."""

    def __init__(self, camera_id: str, config: RtspSourceConfig, epoch: float) -> None:
        self.camera_id = camera_id
        self.stats = IntakeStats()
        self._reader = _RtspReader(config.main_url(), config, LiveClock(epoch), self.stats)

    def open(self) -> StreamInfo:
        return self._reader.open()

    def read_packets(self) -> list[EncodedPacket]:
        return [self._reader.next()[1]]

    def close(self) -> None:
        self._reader.close()


class RtspSource(FrameSource, RecordingStreamMixin, SamplingMixin, PacketSinkMixin):
    """An RTSP camera; see the module docstring.

    Example (needs a camera, so not run here)::

        source = RtspSource("gate", RtspSourceConfig(url="rtsp://10.0.0.5/ch1"))
        info = source.open(); frame = source.read(); source.close()
    """

    def __init__(self, camera_id: str, config: RtspSourceConfig, *, epoch: float | None = None,
                 stats: IntakeStats | None = None) -> None:
        config.remember_secrets()
        self.camera_id = camera_id
        self.config = config
        self.epoch = time.time() if epoch is None else epoch
        self._stats = stats or IntakeStats()
        self._reader = _RtspReader(config.analysed_url(), config, LiveClock(self.epoch),
                                   self._stats)
        self._analyse_fps: float | None = None
        self._pending: list[EncodedPacket] = []
        # Where packets go as they arrive (the worker's pre-roll ring), independently of
        # how often a picture is decoded; without one they ride on the next frame.
        self.packet_sink: Callable[[list[EncodedPacket]], None] | None = None
        self._keyframes_seen = 0
        self._key_ts: list[float] = []
        self._index = 0
        self.info: StreamInfo | None = None

    # -- capabilities ---------------------------------------------------------------
    @property
    def live(self) -> bool:
        return True

    @property
    def intake(self) -> IntakeStats:
        return self._stats

    def set_analysis_rate(self, fps: float) -> None:
        self._analyse_fps = fps

    def set_packet_sink(self, sink: Callable[[list[EncodedPacket]], None] | None) -> None:
        self.packet_sink = sink

    def recording_source(self) -> PacketSource | None:
        if self.config.sub_url is None:
            return None
        return RtspRecorder(self.camera_id, self.config, self.epoch)

    @property
    def gop_s(self) -> float | None:
        """Seconds between the last two keyframes seen."""
        return self._key_ts[-1] - self._key_ts[-2] if len(self._key_ts) > 1 else None

    def keyframe_stride(self) -> int | None:
        """Decode every k-th keyframe only (k returned), or ``None`` for every frame."""
        mode = self.config.decode
        if mode == "all":
            return None
        gop = self.gop_s
        if mode == "keyframes":
            if self._analyse_fps is None or gop is None:
                return 1
            return keyframe_stride(self._analyse_fps, gop) or 1
        if self._analyse_fps is None:
            return None
        if gop is None:
            return 1  # until the GOP is known: the first picture comes from a keyframe anyway
        return keyframe_stride(self._analyse_fps, gop)

    # -- frame source ---------------------------------------------------------------
    def open(self) -> StreamInfo:
        self.info = self._reader.open()
        self._pending.clear()
        self._keyframes_seen = 0
        self._key_ts.clear()
        ctx = self._reader.stream.codec_context
        ctx.thread_count = 1  # many cameras per machine: one decoding thread each is cheapest
        if self.config.fast_decode:
            ctx.options = {**ctx.options, "skip_loop_filter": "all"}
        return self.info

    def read(self) -> Frame | None:
        while True:
            raws, encoded = self._reader.next()
            if encoded.keyframe and self._pending:
                self._hand_on()
            self._pending.append(encoded)
            if encoded.keyframe:
                self._keyframes_seen += 1
                self._key_ts = [*self._key_ts[-1:], encoded.ts]
            frame = self._decode(raws, encoded)
            if frame is not None:
                return frame

    def _decode(self, raws: list[av.Packet], encoded: EncodedPacket) -> Frame | None:
        stride = self.keyframe_stride()
        ctx = self._reader.stream.codec_context
        if stride is None:
            ctx.skip_frame = "DEFAULT"
            frames = self._send(_one_packet(raws))
        else:
            if not encoded.keyframe or (self._keyframes_seen - 1) % stride:
                return None  # not sent to the decoder at all: the main saving
            ctx.skip_frame = "NONKEY"
            frames = self._send(_one_packet(raws))
            frames += self._send(None)  # drain: the keyframe comes out now, not a GOP later
            ctx.flush_buffers()
        if not frames:
            return None
        self._stats.decoded += 1
        return self._emit(frames[-1])

    def _hand_on(self) -> None:
        """Give the packets so far to the sink (once per GOP and per picture). Without a
        sink they wait for the next frame, at most MAX_PENDING of them."""
        if self.packet_sink is not None:
            self.packet_sink(self._pending)
            self._pending = []
        elif len(self._pending) > MAX_PENDING:
            del self._pending[:-MAX_PENDING]

    def _send(self, packet: av.Packet | None) -> list[av.VideoFrame]:
        try:
            return list(self._reader.stream.codec_context.decode(packet))
        except av.EOFError:
            return []
        except av.FFmpegError:
            return []  # a corrupt packet costs one picture, not the stream

    def _emit(self, vframe: av.VideoFrame) -> Frame:
        ts = self._reader.clock.map(float(vframe.pts * vframe.time_base)) \
            if vframe.pts is not None and vframe.time_base else self._reader.clock.last_ts
        width = self.config.output_width
        if width and width != vframe.width:
            height = max(2, round(vframe.height * width / vframe.width / 2) * 2)
            image = vframe.to_ndarray(format="bgr24", width=width, height=height)
        elif vframe.format.name == "yuv420p" and not vframe.width % 2 and not vframe.height % 2:
            # OpenCV's 4:2:0 → BGR is a third cheaper than swscale's for a 1080p picture
            image = cv2.cvtColor(vframe.to_ndarray(format="yuv420p"), cv2.COLOR_YUV2BGR_I420)
        else:
            image = vframe.to_ndarray(format="bgr24")
        if self.packet_sink is not None:
            self._hand_on()
        packets = tuple(self._pending)
        self._pending.clear()
        frame = Frame(self.camera_id, np.ascontiguousarray(image), ts, time.time(), self._index,
                      packets)
        self._index += 1
        return frame

    def close(self) -> None:
        self._reader.close()


__all__ = ["RtspRecorder", "RtspSource", "RtspSourceConfig", "keyframe_stride"]
