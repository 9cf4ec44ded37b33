"""RTSP cameras and NVR channels (Hikvision, Dahua, Uniview...) read with PyAV.

- TCP (interleaved) or UDP transport; connect and read timeouts, so a dead camera raises
  :class:`~camera_adapters.base.SourceError` instead of hanging (the worker reconnects).
- **Keyframe-only decoding**: a camera analysed at no more than one frame per GOP decodes
  only its keyframes (``skip_frame = NONKEY``, and only every k-th keyframe when the
  analysis rate is lower still). Every packet is still demuxed into the pre-roll ring, so
  clips stay complete. This is what makes hundreds of cameras per machine possible.
- **Main and sub stream**: with ``sub_url`` the sub stream is analysed and the main
  stream is only demuxed (no decoding) for clips, through :meth:`RtspSource.recording_source`.
- **Cheap intake**: a keyframe is decoded by a decoder made for it and dropped after it,
  so no camera holds a decoder's picture pool between keyframes (3–5 MB of a 1080p
  stream); non-keyframes cost a few attribute look-ups in Python and a copy into the ring.
- **NVDEC** (``hwaccel: cuda``): keyframes (or every frame) are decoded on the GPU through
  PyAV's :class:`~av.codec.hwaccel.HWAccel`; without a usable CUDA device the source
  says so once in the log and decodes on the CPU.

Timestamps: a live stream's clock is anchored to the wall clock when the stream opens
(and re-anchored if it drifts by more than :data:`REANCHOR_S`), so that the sub and main
streams of one camera, and the sessions before and after a reconnect, share one timeline.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import threading
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Literal

import av
import av.codec.hwaccel
import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from camera_adapters.base import LiveSource, SourceError
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

log = logging.getLogger(__name__)

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
        default=False, description="Skip the H.264/H.265 deblocking filter and allow "
        "FFmpeg's non-bit-exact shortcuts: about a tenth less decoding time per picture, at "
        "the price of some blockiness.")
    hwaccel: Literal["cuda"] | None = Field(
        default=None, description="cuda: decode on an NVIDIA GPU (NVDEC); falls back to the "
        "CPU, with one log line, when no CUDA device can be opened.")

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
        self.hwaccel: av.codec.hwaccel.HWAccel | None = None  # set by RtspSource.open

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
                                     timeout=(cfg.connect_timeout_s, None),
                                     hwaccel=self.hwaccel)
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


class RtspSource(LiveSource, RecordingStreamMixin, SamplingMixin, PacketSinkMixin):
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
        self._stride: int | None = None  # keyframe_stride(), refreshed at each keyframe
        self._on_gpu = False
        self._own_decoder = True  # a decoder per keyframe (see _decode_keyframe)
        self.info: StreamInfo | None = None

    # -- capabilities ---------------------------------------------------------------
    def set_analysis_rate(self, fps: float) -> None:
        self._analyse_fps = fps
        self._stride = self.keyframe_stride()

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
        self._reader.hwaccel = cuda_hwaccel(self.camera_id) if self.config.hwaccel else None
        self.info = self._reader.open()
        self._pending.clear()
        self._keyframes_seen = 0
        self._key_ts.clear()
        self._stride = self.keyframe_stride()
        self._own_decoder = True
        ctx = self._reader.stream.codec_context
        self._on_gpu = bool(self._reader.hwaccel is not None and ctx.is_hwaccel)
        if self._reader.hwaccel is not None and not self._on_gpu:
            log.warning("camera %s: %s cannot be decoded with CUDA; decoding on the CPU",
                        self.camera_id, ctx.name)
        ctx.thread_count = 1  # many cameras per machine: one decoding thread each is cheapest
        ctx.options = {**ctx.options, **self._decoder_options()}
        return self.info

    def _decoder_options(self) -> dict[str, str]:
        if not self.config.fast_decode:
            return {}
        return {"skip_loop_filter": "all", "flags2": "+fast"}

    def read(self) -> Frame | None:
        next_packet = self._reader.next
        while True:
            raws, encoded = next_packet()
            if encoded.keyframe:
                if self._pending:
                    self._hand_on()
                self._keyframes_seen += 1
                self._key_ts = [*self._key_ts[-1:], encoded.ts]
                self._stride = stride = self.keyframe_stride()
                self._pending.append(encoded)
                if stride is None:
                    frame = self._decode_all(raws)
                elif (self._keyframes_seen - 1) % stride:
                    continue  # a keyframe not due: not sent to any decoder
                else:
                    frame = self._decode_keyframe(raws, encoded)
            else:
                self._pending.append(encoded)
                if self._stride is not None:
                    continue  # keyframes only: the main saving, a P-frame costs no decoding
                frame = self._decode_all(raws)
            if frame is not None:
                return frame

    def _decode_all(self, raws: list[av.Packet]) -> Frame | None:
        ctx = self._reader.stream.codec_context
        ctx.skip_frame = "DEFAULT"
        frames = self._send(ctx, _one_packet(raws))
        if not frames:
            return None
        self._stats.decoded += 1
        return self._emit(frames[-1], None)

    def _decode_keyframe(self, raws: list[av.Packet], encoded: EncodedPacket) -> Frame | None:
        """Decode one keyframe on its own. On the CPU with a decoder made for it and dropped
        with it: a camera then holds no decoder (nor its picture pool) between keyframes,
        and the decoder is set up in microseconds beside the keyframe's ~25 ms. On the GPU
        with the stream's decoder, drained and flushed (a CUDA decoder is costly to set up)."""
        packet = _one_packet(raws)
        stream_ctx = self._reader.stream.codec_context
        frames: list[av.VideoFrame] = []
        if not self._on_gpu and self._own_decoder:
            ctx = av.CodecContext.create(stream_ctx.name, "r")
            if stream_ctx.extradata:
                ctx.extradata = stream_ctx.extradata
            ctx.thread_count = 1
            ctx.options = self._decoder_options()
            frames = self._send(ctx, packet)
            frames += self._send(ctx, None)  # drain: the keyframe comes out now
        if not frames:
            # On the GPU; or a keyframe a fresh decoder cannot take (parameter sets sent
            # once, not in the SDP): the stream's decoder, which keeps them, from then on.
            stream_ctx.skip_frame = "NONKEY"
            frames = self._send(stream_ctx, packet)
            frames += self._send(stream_ctx, None)  # drain: now, not a GOP later
            stream_ctx.flush_buffers()
            if frames and self._own_decoder and not self._on_gpu:
                self._own_decoder = False
                log.info("camera %s: keyframes need the stream's decoder", self.camera_id)
        if not frames:
            return None
        self._stats.decoded += 1
        return self._emit(frames[-1], encoded.ts)

    def _hand_on(self) -> None:
        """Give the packets so far to the sink (once per GOP and per picture). Without a
        sink they wait for the next frame, at most MAX_PENDING of them."""
        if self.packet_sink is not None:
            self.packet_sink(self._pending)
            self._pending = []
        elif len(self._pending) > MAX_PENDING:
            del self._pending[:-MAX_PENDING]

    @staticmethod
    def _send(ctx: av.CodecContext, packet: av.Packet | None) -> list[av.VideoFrame]:
        try:
            return list(ctx.decode(packet))
        except av.EOFError:
            return []
        except av.FFmpegError:
            return []  # a corrupt packet costs one picture, not the stream

    def _emit(self, vframe: av.VideoFrame, ts: float | None) -> Frame:
        if ts is None:
            ts = self._reader.clock.map(float(vframe.pts * vframe.time_base)) \
                if vframe.pts is not None and vframe.time_base else self._reader.clock.last_ts
        width = self.config.output_width
        fmt = vframe.format.name
        even = not vframe.width % 2 and not vframe.height % 2
        if width and width != vframe.width:
            height = max(2, round(vframe.height * width / vframe.width / 2) * 2)
            image = vframe.to_ndarray(format="bgr24", width=width, height=height)
        elif fmt in ("yuv420p", "yuvj420p") and even:
            # OpenCV's 4:2:0 → BGR is a third cheaper than swscale's for a 1080p picture
            image = cv2.cvtColor(vframe.to_ndarray(format="yuv420p"), cv2.COLOR_YUV2BGR_I420)
        elif fmt == "nv12" and even:  # what NVDEC hands back
            image = cv2.cvtColor(vframe.to_ndarray(format="nv12"), cv2.COLOR_YUV2BGR_NV12)
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

    @property
    def on_gpu(self) -> bool:
        """Whether the open stream is decoded with CUDA."""
        return self._on_gpu

    def close(self) -> None:
        self._reader.close()


# -- NVDEC ------------------------------------------------------------------------------
_cuda_lock = threading.Lock()
_cuda_error: str | None = None  # why CUDA could not be used, once found out
_cuda_checked = False


class RtspBackedSource(LiveSource, SamplingMixin, PacketSinkMixin):
    """A camera whose frames come from an inner :class:`RtspSource`, made by the subclass
    (with :meth:`_new_rtsp`) once it knows the stream URL (ONVIF, GB/T 28181). The analysis
    rate and packet sink set before then are kept and handed on; reads and close go to it.
    """

    def __init__(self, camera_id: str) -> None:
        self.camera_id = camera_id
        self.epoch = time.time()
        self._stats = IntakeStats()
        self._rtsp: RtspSource | None = None
        self._analyse_fps: float | None = None
        self._sink: Callable[[list[EncodedPacket]], None] | None = None

    def set_analysis_rate(self, fps: float) -> None:
        self._analyse_fps = fps
        if self._rtsp is not None:
            self._rtsp.set_analysis_rate(fps)

    def set_packet_sink(self, sink: Callable[[list[EncodedPacket]], None] | None) -> None:
        self._sink = sink
        if self._rtsp is not None:
            self._rtsp.set_packet_sink(sink)

    def keyframe_stride(self) -> int | None:
        return self._rtsp.keyframe_stride() if self._rtsp is not None else None

    def _new_rtsp(self, config: RtspSourceConfig) -> RtspSource:
        """An inner source on this camera's timeline and intake figures, told the analysis
        rate and packet sink set so far."""
        rtsp = RtspSource(self.camera_id, config, epoch=self.epoch, stats=self._stats)
        if self._analyse_fps is not None:
            rtsp.set_analysis_rate(self._analyse_fps)
        rtsp.set_packet_sink(self._sink)
        return rtsp

    def read(self) -> Frame | None:
        if self._rtsp is None:
            raise SourceError("read() before open()")
        return self._rtsp.read()

    def close(self) -> None:
        if self._rtsp is not None:
            self._rtsp.close()


def cuda_hwaccel(camera_id: str = "") -> av.codec.hwaccel.HWAccel | None:
    """PyAV's CUDA settings for a decoder, or ``None`` (logged once per process) when no
    CUDA device can be opened here. All cameras share the device's primary context, so a
    hundred cameras do not make a hundred CUDA contexts."""
    global _cuda_checked, _cuda_error
    hwaccel = av.codec.hwaccel.HWAccel("cuda", allow_software_fallback=True,
                                       options={"primary_ctx": "1"})
    with _cuda_lock:
        if not _cuda_checked:
            _cuda_checked = True
            try:
                hwaccel.create(av.Codec("h264", "r"))  # opens the device, then lets it go
            except (av.FFmpegError, OSError, NotImplementedError, RuntimeError) as exc:
                _cuda_error = _reason(exc) or type(exc).__name__
                log.warning("camera %s: hwaccel cuda is not available (%s); decoding on the "
                            "CPU (this is said once for all cameras)", camera_id, _cuda_error)
            else:
                log.info("camera %s: decoding with CUDA (NVDEC)", camera_id)
        return None if _cuda_error is not None else hwaccel


def limit_malloc_arenas(arenas: int = 2, mmap_threshold: int | None = None) -> bool:
    """Cap glibc's malloc arenas for this process (what ``MALLOC_ARENA_MAX`` does), before
    the camera threads start. Each thread that decodes otherwise gets an arena of its own
    that keeps freed picture buffers: about 9 MB less RSS per 1080p camera with 2 arenas,
    at no measurable CPU cost. ``mmap_threshold`` (bytes, as ``MALLOC_MMAP_THRESHOLD_``)
    makes blocks that large go straight back to the system when freed (decoded pictures,
    BGR copies), instead of glibc raising the threshold and keeping them in the heap.
    Returns False where the C library is not glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = bool(libc.mallopt(-8, arenas))  # M_ARENA_MAX
        if mmap_threshold is not None:
            ok = bool(libc.mallopt(-3, mmap_threshold)) and ok  # M_MMAP_THRESHOLD
        return ok
    except (OSError, AttributeError):
        return False


__all__ = ["RtspRecorder", "RtspSource", "RtspSourceConfig", "cuda_hwaccel", "keyframe_stride",
           "limit_malloc_arenas"]
