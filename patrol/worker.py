"""A camera worker: a capture loop feeding the pre-roll ring, an analysis loop at the
patrol rate, evidence clips cut when their post-roll has arrived, verification probes."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from camera_adapters.base import FrameSource, SourceError
from camera_adapters.capabilities import (
    PacketSinkMixin,
    PacketSource,
    PTZMixin,
    RecordingStreamMixin,
    SamplingMixin,
)
from camera_adapters.frame import EncodedPacket, Frame, StreamInfo
from camera_adapters.registry import build_source
from camera_adapters.ring import PacketRing
from camera_adapters.secrets import mask_text
from patrol.analyzer import Analysis, CameraAnalyzer
from patrol.config import CameraConfig, PatrolConfig
from patrol.evidence import EvidenceStore
from patrol.tour import PatrolTour
from rules.events import ZoneHit

log = logging.getLogger(__name__)

# Reconnect backoff after a failed open or a dropped stream: 1 s doubling to 5 s, so a
# camera (or NVR) that returns is live again within seconds of its return, while one that
# is down costs one connection attempt every 5 s. Each wait is jittered by ±20% so that
# hundreds of cameras behind one restarted NVR do not reconnect in lockstep.
RECONNECT_MIN_S = 1.0
RECONNECT_MAX_S = 5.0
RECONNECT_JITTER = 0.2
# A live camera with no packet for this long is "stalled" (shown in the console).
STALL_AFTER_S = 5.0
# Extra seconds the ring keeps beyond the longest clip (event or verification window),
# so that a clip can still be cut a little after its end was recorded. The ring is most of
# a camera's memory (a 4 Mbit/s main stream is 0.5 MB/s), so it is kept short.
RING_MARGIN_S = 5.0
# Frames whose time falls this share of a period early still count as due: keyframe-only
# cameras deliver one frame per GOP with a few ms of jitter.
DUE_TOLERANCE = 0.1


class CameraState(StrEnum):
    CONNECTING = "connecting"
    LIVE = "live"
    STALLED = "stalled"
    OFFLINE = "offline"
    ENDED = "ended"
    STOPPED = "stopped"


@dataclass
class CameraStatus:
    """Health of one camera. ``fps`` and ``bitrate_bps`` are the stream's own rates (every
    packet, decoded or not); ``frames`` counts decoded pictures."""

    state: CameraState = CameraState.CONNECTING
    last_frame_wall: float | None = None
    frames: int = 0
    analysed: int = 0
    fps: float = 0.0
    bitrate_bps: float = 0.0
    packets: int = 0
    bytes: int = 0
    gop_frames: int | None = None
    keyframes_only: bool = False
    reconnects: int = 0
    error: str | None = None
    record_state: CameraState | None = None  # the main stream, when clips come from it
    record_bitrate_bps: float = 0.0
    preset: str | None = None  # the PTZ preset the camera is at (patrol tours)


def _jittered(seconds: float) -> float:
    return seconds * random.uniform(1 - RECONNECT_JITTER, 1 + RECONNECT_JITTER)


@dataclass
class _PendingClip:
    start_ts: float
    end_ts: float
    relative: str
    on_done: Callable[[str | None], None]


@dataclass
class Probe:
    """Collects the zone hits of one (zone, kind) between two source times."""

    zone_id: str | None
    kind: str
    start_ts: float
    end_ts: float
    hits: list[ZoneHit] = field(default_factory=list)
    frames: list[Frame] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    def offer(self, analysis: Analysis) -> None:
        ts = analysis.frame.ts
        if ts < self.start_ts or self.done.is_set():
            return
        if ts > self.end_ts:
            self.done.set()
            return
        matching = [h for h in analysis.result.hits if h.kind == self.kind
                    and (self.zone_id is None or h.zone_id == self.zone_id)]
        if matching:
            best = max(matching, key=lambda h: (h.hit, h.confidence))
            self.hits.append(best)
            self.frames = [analysis.frame]  # keep only the latest frame for the snapshot


class CameraWorker:
    """Runs one camera until ``stop()``. Never raises out of its threads."""

    def __init__(self, camera: CameraConfig, config: PatrolConfig,
                 evidence: EvidenceStore, on_analysis: Callable[[CameraWorker, Analysis], None],
                 source: FrameSource | None = None) -> None:
        self.camera = camera
        self.evidence = evidence
        self.source = source or build_source(camera.id, camera.source)
        if isinstance(self.source, SamplingMixin):
            self.source.set_analysis_rate(camera.analyse_fps)
        if isinstance(self.source, PacketSinkMixin):
            self.source.set_packet_sink(self._take_packets)
        # The main stream recorded for clips, when the sub stream is analysed; found by the
        # record loop (asking an ONVIF camera for its profiles is network I/O).
        self.recorder: PacketSource | None = None
        # One analyzer per view: a fixed camera has one (key None), a PTZ camera on a tour
        # one per preset (its own zones, background models and open events).
        self.analyzers: dict[str | None, CameraAnalyzer] = {
            preset: CameraAnalyzer(camera.id, camera.zones_at(preset), config.detectors,
                                   config.rules, preset=preset)
            for preset in ([p.token for p in camera.presets] or [None])}
        self._preset: str | None = None if not camera.presets else camera.presets[0].token
        # While a PTZ camera moves and settles, its frames are not analysed.
        self._paused = threading.Event()
        if camera.presets:
            self._paused.set()  # until the tour (or a verification) has moved it
        # Whoever moves the camera holds this: the tour for one visit, or a verification.
        self.ptz_lock = threading.Lock()
        self.preempt = threading.Event()  # set while a verification wants or has the camera
        self.ring = PacketRing(max(config.evidence.pre_roll_s + config.evidence.post_roll_s,
                                   config.verification.window_s) + RING_MARGIN_S)
        self.info: StreamInfo | None = None  # the analysed stream
        self._record_info: StreamInfo | None = None  # the main stream, with a recorder
        self.status = CameraStatus()
        self._on_analysis = on_analysis
        self._stop = threading.Event()
        self._latest: Frame | None = None
        self._new_frame = threading.Condition()
        self._clips: list[_PendingClip] = []
        self._probes: list[Probe] = []
        self._lock = threading.Lock()
        self._frame_times: deque[float] = deque(maxlen=50)
        self._threads: list[threading.Thread] = []

    # -- life cycle -------------------------------------------------------------------
    def start(self) -> None:
        loops = [("capture", self._capture_loop), ("analyse", self._analysis_loop)]
        if isinstance(self.source, RecordingStreamMixin):
            loops.append(("record", self._record_loop))
        if self.camera.presets and isinstance(self.source, PTZMixin):
            tour = PatrolTour(self, self.source, self.camera.presets, self.camera.tour, self._stop)
            loops.append(("tour", tour.run))
        for name, target in loops:
            thread = threading.Thread(target=target, name=f"{name}-{self.camera.id}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._new_frame:
            self._new_frame.notify_all()
        for thread in self._threads:
            thread.join(timeout)
        # A thread still blocked in a network read closes its own stream when the read
        # times out (its ``finally``); closing it under the read could crash the demuxer.
        if not any(t.is_alive() for t in self._threads if t.name.startswith("capture")):
            self.source.close()
        if self.recorder is not None and not any(
                t.is_alive() for t in self._threads if t.name.startswith("record")):
            self.recorder.close()
        self.status.state = CameraState.STOPPED

    @property
    def analyzer(self) -> CameraAnalyzer:
        """The analyzer of the current view."""
        return self.analyzers[self._preset]

    @property
    def preset(self) -> str | None:
        return self._preset

    def leave_view(self) -> None:
        """Stop analysing: the camera is about to move."""
        self._paused.set()

    def arrive(self, preset: str) -> None:
        """The camera is at ``preset`` and its picture has settled: analyse it from now on,
        with that preset's zones and fresh background models."""
        analyzer = self.analyzers[preset]
        analyzer.reset_detectors()
        self._preset = preset
        self.status.preset = preset
        self._paused.clear()

    @property
    def clip_info(self) -> StreamInfo | None:
        """The stream that clips are cut from: the main stream when the sub is analysed."""
        return self._record_info if self.recorder is not None else self.info

    @property
    def latest_frame(self) -> Frame | None:
        return self._latest

    # -- capture ----------------------------------------------------------------------
    def _capture_loop(self) -> None:
        backoff = RECONNECT_MIN_S
        while not self._stop.is_set():
            try:
                self.status.state = CameraState.CONNECTING
                self.info = self.source.open()
                self.status.error = None
                backoff = RECONNECT_MIN_S
                if self._pump():
                    return  # the source ended (a file): nothing to reconnect to
            except SourceError as exc:
                self.status.error = mask_text(str(exc))
                log.warning("camera %s: %s", self.camera.id, self.status.error)
            except Exception as exc:  # a broken decoder must not kill the worker
                self.status.error = mask_text(f"{type(exc).__name__}: {exc}")
                log.exception("camera %s capture failed", self.camera.id)
            finally:
                self.source.close()
            if self._stop.is_set():
                return
            self.status.state = CameraState.OFFLINE
            self.status.reconnects += 1
            self._stop.wait(_jittered(backoff))
            backoff = min(backoff * 2, RECONNECT_MAX_S)

    def _find_recorder(self) -> PacketSource | None:
        """Ask the source for its main stream until it answers (None: no separate one)."""
        assert isinstance(self.source, RecordingStreamMixin)
        backoff = RECONNECT_MIN_S
        while not self._stop.is_set():
            try:
                return self.source.recording_source()
            except SourceError as exc:
                log.warning("camera %s main stream: %s", self.camera.id, mask_text(str(exc)))
            self._stop.wait(_jittered(backoff))
            backoff = min(backoff * 2, RECONNECT_MAX_S)
        return None

    def _record_loop(self) -> None:
        """The main stream of a camera analysed on its sub stream: packets into the ring."""
        recorder = self._find_recorder()
        if recorder is None:
            return
        self.ring.clear()  # drop sub-stream packets taken before the main stream was known
        self.recorder = recorder
        backoff = RECONNECT_MIN_S
        while not self._stop.is_set():
            try:
                self.status.record_state = CameraState.CONNECTING
                self._record_info = self.recorder.open()
                backoff = RECONNECT_MIN_S
                self.status.record_state = CameraState.LIVE
                while not self._stop.is_set():
                    self.ring.extend(self.recorder.read_packets())
            except SourceError as exc:
                log.warning("camera %s main stream: %s", self.camera.id, mask_text(str(exc)))
            except Exception:
                log.exception("camera %s main stream failed", self.camera.id)
            finally:
                self.recorder.close()
            if self._stop.is_set():
                return
            self.status.record_state = CameraState.OFFLINE
            self._stop.wait(_jittered(backoff))
            backoff = min(backoff * 2, RECONNECT_MAX_S)

    def _pump(self) -> bool:
        """Read frames until stopped; True when the source ended normally."""
        while not self._stop.is_set():
            frame = self.source.read()
            if frame is None:
                self.status.state = CameraState.ENDED
                return True
            self.ingest(frame)
        return False

    def _take_packets(self, packets: list[EncodedPacket]) -> None:
        """Packets of the analysed stream as they arrive: into the ring, unless clips come
        from the main stream."""
        if self.recorder is None:
            self.ring.extend(packets)

    def ingest(self, frame: Frame) -> None:
        """Take a captured frame: packets into the ring, health figures, latest picture."""
        if self.recorder is None:
            self.ring.extend(frame.packets)
        now = time.time()
        self._frame_times.append(now)
        if len(self._frame_times) > 1 and self.source.intake is None:
            span = self._frame_times[-1] - self._frame_times[0]
            self.status.fps = (len(self._frame_times) - 1) / span if span > 0 else 0.0
        self.status.frames += 1
        self.status.last_frame_wall = now
        self.status.state = CameraState.LIVE
        with self._new_frame:
            self._latest = frame
            self._new_frame.notify_all()

    def refresh_state(self) -> CameraStatus:
        """Status with the intake figures of a network source, and ``stalled`` derived from
        the age of the last packet (or frame, for sources without packet figures)."""
        st = self.status
        last = st.last_frame_wall
        intake = self.source.intake
        if intake is not None:
            snap = intake.snapshot()
            st.fps, st.bitrate_bps, st.gop_frames = snap.fps, snap.bitrate_bps, snap.gop_frames
            st.packets, st.bytes = snap.packets, snap.bytes
            last = snap.last_packet_wall or last
            st.last_frame_wall = last
            stride = getattr(self.source, "keyframe_stride", None)
            st.keyframes_only = bool(callable(stride) and stride() is not None)
        recorder_stats = getattr(self.recorder, "stats", None)
        if recorder_stats is not None:
            st.record_bitrate_bps = recorder_stats.snapshot().bitrate_bps
        if (st.state in (CameraState.LIVE, CameraState.STALLED) and last is not None):
            stalled = time.time() - last > STALL_AFTER_S
            st.state = CameraState.STALLED if stalled else CameraState.LIVE
        return st

    # -- analysis ---------------------------------------------------------------------
    def _analysis_loop(self) -> None:
        period = 1.0 / self.camera.analyse_fps
        next_ts = float("-inf")
        last_index = -1
        while not self._stop.is_set():
            with self._new_frame:
                while not self._stop.is_set() and (
                        self._latest is None or self._latest.index == last_index):
                    self._new_frame.wait(0.5)
                frame = self._latest
            if self._stop.is_set() or frame is None:
                return
            last_index = frame.index
            if self._paused.is_set():  # moving between presets
                self._flush_clips()
                continue
            if frame.ts < next_ts - 2 * period:  # the source's clock restarted (reconnect)
                self.analyzer.reset()
                next_ts = frame.ts
            if frame.ts < next_ts - DUE_TOLERANCE * period:
                self._flush_clips()
                continue
            next_ts = max(next_ts + period, frame.ts)
            self.analyse(frame)

    def analyse(self, frame: Frame) -> Analysis | None:
        """Analyse one frame and hand the result on; errors are logged, not raised."""
        try:
            analysis = self.analyzer.analyse(frame)
            self.status.analysed += 1
            self._on_analysis(self, analysis)
            self._offer_probes(analysis)
        except Exception:
            log.exception("camera %s: analysis failed on frame %d", self.camera.id, frame.index)
            analysis = None
        self._flush_clips()
        return analysis

    # -- clips and probes ---------------------------------------------------------------
    def schedule_clip(self, start_ts: float, end_ts: float, relative: str,
                      on_done: Callable[[str | None], None]) -> None:
        """Cut ``[start_ts, end_ts]`` from the ring once it has been recorded."""
        with self._lock:
            self._clips.append(_PendingClip(start_ts, end_ts, relative, on_done))

    def _flush_clips(self) -> None:
        latest = self.ring.latest_ts
        if latest is None:
            return
        with self._lock:
            due = [c for c in self._clips if latest >= c.end_ts]
            self._clips = [c for c in self._clips if latest < c.end_ts]
        for clip in due:
            clip.on_done(self.cut_clip(clip.start_ts, clip.end_ts, clip.relative))

    def cut_clip(self, start_ts: float, end_ts: float, relative: str) -> str | None:
        """Write ``[start_ts, end_ts]`` of the ring as an MP4; None when there is nothing
        to cut (a source without encoded packets, or a failure, which is logged)."""
        packets = self.ring.slice(start_ts, end_ts)
        if not packets or self.clip_info is None:
            return None
        try:
            return self.evidence.write_clip(relative, self.clip_info, packets)
        except Exception:
            log.exception("camera %s: clip %s failed", self.camera.id, relative)
            return None

    def add_probe(self, probe: Probe) -> None:
        with self._lock:
            self._probes.append(probe)

    def _offer_probes(self, analysis: Analysis) -> None:
        with self._lock:
            probes = list(self._probes)
        for probe in probes:
            probe.offer(analysis)
            if probe.done.is_set():
                with self._lock:
                    if probe in self._probes:
                        self._probes.remove(probe)
