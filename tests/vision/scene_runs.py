"""Run detectors over synthetic cameras the way the product does: 2 analysed frames/s."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from camera_adapters.synthetic import SyntheticSource, SyntheticSourceConfig
from vision.base import Detector
from vision.types import Detections

ANALYSED_FPS = 2.0  # the analysis rate of the product: every 4th frame of an 8 fps camera

Box = tuple[float, float, float, float]


@dataclass
class SceneRun:
    """What a detector said on every analysed frame, with the scene's ground truth."""

    ts: list[float] = field(default_factory=list)
    present: list[bool] = field(default_factory=list)
    truth: list[Box | None] = field(default_factory=list)
    found: list[Detections] = field(default_factory=list)
    episodes: list[tuple[float, float | None]] = field(default_factory=list)

    def fired(self, min_confidence: float) -> list[bool]:
        """Per frame: a detection at ``min_confidence`` (crowd groups: of the detector's
        own ``min_count`` people, as the rules judge them at a zone's default settings)."""
        out = []
        for d in self.found:
            ok = d.confidence >= min_confidence
            if "min_count" in d.data:
                ok &= d.data["count"] >= d.data["min_count"]
            out.append(bool(ok.any()))
        return out


def overlaps(a: Box, b: Box) -> bool:
    """True when the boxes intersect over at least a third of the smaller one."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return ix * iy >= smaller / 3


def run_scene(detector: Detector, scene: str, *, until_s: float, onset_s: float = 6.0,
              clear_at: float | None = None, fps: float = ANALYSED_FPS,
              mask: np.ndarray | None = None, seed: int = 0) -> SceneRun:
    """Feed an unpaced, H.264 round-tripped synthetic camera to ``detector``.

    ``clear_at`` disposes of the event (as the demo does) at the first frame at or after it.
    """
    cfg = SyntheticSourceConfig(scene=scene, fps=fps, realtime=False, onset_s=onset_s,
                                seed=seed)
    run = SceneRun()
    cleared = False
    with SyntheticSource("test-cam", cfg) as src:
        while (frame := src.read()) is not None and frame.ts <= until_s:
            if clear_at is not None and not cleared and frame.ts >= clear_at:
                src.scene.clear(frame.ts)
                cleared = True
            run.ts.append(frame.ts)
            run.found.append(detector.detect(frame, mask))
            run.present.append(src.scene.present(frame.ts))
            run.truth.append(src.scene.event_box(frame.ts))
        run.episodes = src.scene.episodes()
    return run
