"""A camera worker: a capture loop feeding the pre-roll ring, an analysis loop at the
patrol rate, evidence clips cut when their post-roll has arrived, verification probes."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from camera_adapters.base import FrameSource, SourceError
from camera_adapters.frame import Frame, StreamInfo
from camera_adapters.registry import build_source
from camera_adapters.ring import PacketRing
from camera_adapters.secrets import mask_text
from patrol.analyzer import Analysis, CameraAnalyzer
from patrol.config import CameraConfig, PatrolConfig
from patrol.evidence import EvidenceStore
from rules.events import ZoneHit

log = logging.getLogger(__name__)

# Reconnect backoff after a failed open or a dropped stream: 1 s doubling to 30 s, so a
# camera that returns is live again within seconds without hammering one that is down.
RECONNECT_MIN_S = 1.0
RECONNECT_MAX_S = 30.0
# A live camera with no frame for this long is "stalled" (shown in the console).
STALL_AFTER_S = 5.0
# Extra seconds the ring keeps beyond the pre-roll, so a clip's post-roll and a
# verification window can still be cut after they were recorded.
RING_MARGIN_S = 30.0


class CameraState(StrEnum):
    CONNECTING = "connecting"
    LIVE = "live"
    STALLED = "stalled"
    OFFLINE = "offline"
    ENDED = "ended"
    STOPPED = "stopped"


@dataclass
class CameraStatus:
    state: CameraState = CameraState.CONNECTING
    last_frame_wall: float | None = None
    frames: int = 0
    analysed: int = 0
    fps: float = 0.0
    reconnects: int = 0
    error: str | None = None


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
        self.analyzer = CameraAnalyzer(camera.id, camera.zones, config.detectors, config.rules)
        self.ring = PacketRing(config.evidence.pre_roll_s + config.evidence.post_roll_s
                               + config.verification.window_s + RING_MARGIN_S)
        self.info: StreamInfo | None = None
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
        for name, target in (("capture", self._capture_loop), ("analyse", self._analysis_loop)):
            thread = threading.Thread(target=target, name=f"{name}-{self.camera.id}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._new_frame:
            self._new_frame.notify_all()
        for thread in self._threads:
            thread.join(timeout)
        self.source.close()
        self.status.state = CameraState.STOPPED

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
            self._stop.wait(backoff)
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

    def ingest(self, frame: Frame) -> None:
        """Take a captured frame: packets into the ring, health figures, latest picture."""
        self.ring.extend(frame.packets)
        now = time.time()
        self._frame_times.append(now)
        if len(self._frame_times) > 1:
            span = self._frame_times[-1] - self._frame_times[0]
            self.status.fps = (len(self._frame_times) - 1) / span if span > 0 else 0.0
        self.status.frames += 1
        self.status.last_frame_wall = now
        self.status.state = CameraState.LIVE
        with self._new_frame:
            self._latest = frame
            self._new_frame.notify_all()

    def refresh_state(self) -> CameraStatus:
        """Status with ``stalled`` derived from the age of the last frame."""
        st = self.status
        if (st.state is CameraState.LIVE and st.last_frame_wall is not None
                and time.time() - st.last_frame_wall > STALL_AFTER_S):
            st.state = CameraState.STALLED
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
            if frame.ts < next_ts - 2 * period:  # the source's clock restarted (reconnect)
                self.analyzer.reset()
                next_ts = frame.ts
            if frame.ts < next_ts:
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
        if not packets or self.info is None:
            return None
        try:
            return self.evidence.write_clip(relative, self.info, packets)
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
