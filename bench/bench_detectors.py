"""Benchmark the detectors on the synthetic scenes: speed on one core and hit rates.

Usage:
    .venv/bin/python bench/bench_detectors.py [--seconds 60] [--fps 2] [--scenes smoke,quiet]
        [--size 1280x720] [--detectors '{"crowd": {"hog_width": 640}}']

Each scene is rendered at ``--size`` (default 640x360), H.264 round-tripped like a camera, and analysed at
``--fps`` frames per second (2 in the product); the event begins at 8 s and is cleared at
``--clear`` s. Every detector sees every scene. Printed: frames analysed per second and
milliseconds per frame (mean, p95, max; and the process CPU time, mean and p95, which a
machine shared with other work disturbs less) per detector without motion gating, and the
mean with motion gating (the product's default: people and model detectors run only when the
watched area changed, and every ``recheck_s``), the synthetic source's own cost, and per
scene the share of analysed frames with a detection at the default threshold, split into
frames where the scene's event is present ("present", and "settled": after the detector's
intrinsic warm-up) and frames where it is not ("absent"). Last, the cost of the camera-shake
removal that runs once per frame before all detectors.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core, as each camera worker gets

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from camera_adapters.frame import Frame  # noqa: E402
from camera_adapters.synthetic import SCENES, SyntheticSource, SyntheticSourceConfig  # noqa: E402
from vision.base import Detector  # noqa: E402
from vision.config import DetectorsConfig  # noqa: E402
from vision.registry import build_detector  # noqa: E402
from vision.stabilise import Stabiliser  # noqa: E402
from vision.types import Detections, EventKind  # noqa: E402

ONSET_S = 8.0
# seconds after the event is first present before a detector can be expected to fire:
# smoke and dust accumulate evidence, the stall must stay still for min_still_s
SETTLE_S = {EventKind.SMOKE: 5.0, EventKind.DUST: 5.0, EventKind.STALL: 20.0,
            EventKind.CROWD: 1.0}


@dataclass
class Tally:
    """Timings and hit counts of one detector."""

    ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)  # process CPU time: robust to load
    gated_ms: list[float] = field(default_factory=list)
    gated_cpu_ms: list[float] = field(default_factory=list)
    hits: dict[str, dict[str, list[int]]] = field(default_factory=dict)

    def add(self, scene: str, bucket: str, fired: bool) -> None:
        counts = self.hits.setdefault(scene, {}).setdefault(bucket, [0, 0])
        counts[0] += int(fired)
        counts[1] += 1


def render(scene: str, seconds: float, fps: float, clear_at: float, size: tuple[int, int]
           ) -> tuple[list[Frame], list[bool], float]:
    """Frames of a scene, the truth per frame, and the source's ms per frame."""
    cfg = SyntheticSourceConfig(scene=scene, fps=fps, realtime=False, onset_s=ONSET_S,
                                width=size[0], height=size[1])
    frames, present = [], []
    with SyntheticSource("bench", cfg) as src:
        start = time.perf_counter()
        while (frame := src.read()) is not None and frame.ts <= seconds:
            if frame.ts >= clear_at and frame.ts - 1 / fps < clear_at:
                src.scene.clear(frame.ts)
            frames.append(frame)
            present.append(src.scene.present(frame.ts))
        cost = (time.perf_counter() - start) * 1000 / len(frames)
    return frames, present, cost


def run(scenes: list[str], seconds: float, fps: float, clear_at: float,
        size: tuple[int, int] = (640, 360), overrides: dict | None = None) -> None:
    """``overrides``: detector settings (as under ``detectors:`` in the site file)."""
    overrides = overrides or {}
    gated_cfg = DetectorsConfig.model_validate(overrides)
    cfg = gated_cfg.model_copy(update={"motion": gated_cfg.motion.model_copy(
        update={"enabled": False})})
    tallies = {kind: Tally() for kind in EventKind}
    source_ms = {}
    stabilise: list[float] = []
    for scene in scenes:
        frames, present, source_ms[scene] = render(scene, seconds, fps, clear_at, size)
        stabiliser = Stabiliser(gated_cfg.stabilise)
        for frame in frames:
            started = time.process_time()
            stabiliser.correct(frame.image, frame.ts)
            stabilise.append((time.process_time() - started) * 1000)
        first = next((f.ts for f, p in zip(frames, present, strict=True) if p), None)
        for kind, tally in tallies.items():
            detector = build_detector(kind, cfg)
            threshold = getattr(cfg, kind.value).min_confidence
            for frame, is_present in zip(frames, present, strict=True):
                found = _timed(detector, frame, tally.ms, tally.cpu_ms)
                fired = bool((found.confidence >= threshold).any())
                tally.add(scene, "present" if is_present else "absent", fired)
                if is_present and first is not None and frame.ts >= first + SETTLE_S[kind]:
                    tally.add(scene, "settled", fired)
            gated = build_detector(kind, gated_cfg)
            for frame in frames:
                _timed(gated, frame, tally.gated_ms, tally.gated_cpu_ms)
        print(f"  {scene}: {len(frames)} frames analysed", file=sys.stderr)
    report(tallies, source_ms, scenes, fps, size)
    print(f"\ncamera-shake removal (once per frame, before all detectors): "
          f"{np.mean(stabilise):.1f} ms CPU mean, {np.percentile(stabilise, 95):.1f} p95")


def _timed(detector: Detector, frame: Frame, wall: list[float], cpu: list[float]
           ) -> Detections:
    """The detector's answer; its wall-clock and process CPU milliseconds are appended."""
    start, start_cpu = time.perf_counter(), time.process_time()
    found = detector.detect(frame)
    cpu.append((time.process_time() - start_cpu) * 1000)
    wall.append((time.perf_counter() - start) * 1000)
    return found


def _rate(counts: list[int] | None) -> str:
    if not counts or counts[1] == 0:
        return "-"
    return f"{100 * counts[0] / counts[1]:.1f}% ({counts[1]})"


def report(tallies: dict[EventKind, Tally], source_ms: dict[str, float], scenes: list[str],
           fps: float, size: tuple[int, int]) -> None:
    print(f"\nlianqin detector benchmark: {size[0]}x{size[1]} synthetic scenes, H.264 round trip, "
          f"{fps:g} analysed fps, one core (cv2.setNumThreads(1))")
    print("\nsynthetic source (render + encode + decode, ms/frame):  " + "  ".join(
        f"{s} {ms:.1f}" for s, ms in source_ms.items()))
    print(f"\n{'detector':<8} {'frames/s':>9} {'mean ms':>8} {'p95 ms':>7} {'max ms':>7} "
          f"{'cpu ms':>7} {'cpu p95':>8} {'gated mean ms':>14} {'gated cpu ms':>13}")
    for kind, tally in tallies.items():
        ms, cpu = np.asarray(tally.ms), np.asarray(tally.cpu_ms)
        print(f"{kind.value:<8} {1000 / ms.mean():9.1f} {ms.mean():8.1f} "
              f"{np.percentile(ms, 95):7.1f} {ms.max():7.1f} {cpu.mean():7.1f} "
              f"{np.percentile(cpu, 95):8.1f} {np.mean(tally.gated_ms):14.1f} "
              f"{np.mean(tally.gated_cpu_ms):13.1f}")
    every = np.mean([np.mean(t.gated_ms) for t in tallies.values()])
    every_cpu = np.mean([np.mean(t.gated_cpu_ms) for t in tallies.values()])
    print(f"mean over detectors with motion gating: {every:.1f} ms per frame "
          f"({every_cpu:.1f} ms CPU)")
    print("\nhit rate: share of analysed frames with a detection at the default threshold "
          "(frames counted);\n'present': the scene's own event is present, 'settled': present "
          "and past the detector's warm-up, 'absent': not present")
    for bucket in ("present", "settled", "absent"):
        print(f"\n  {bucket:<8}" + "".join(f"{s:>14}" for s in scenes))
        for kind, tally in tallies.items():
            cells = "".join(f"{_rate(tally.hits.get(s, {}).get(bucket)):>14}" for s in scenes)
            print(f"  {kind.value:<8}{cells}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="scene length (s)")
    parser.add_argument("--fps", type=float, default=2.0, help="analysed frames per second")
    parser.add_argument("--clear", type=float, default=45.0, help="scene time of clear()")
    parser.add_argument("--scenes", default=",".join(SCENES), help="comma-separated scenes")
    parser.add_argument("--size", default="640x360", help="frame size WxH (e.g. 1280x720)")
    parser.add_argument("--detectors", type=json.loads, default={}, metavar="JSON",
                        help='detector settings, e.g. \'{"crowd": {"hog_width": 640}}\'')
    args = parser.parse_args(argv)
    scenes = [s for s in args.scenes.split(",") if s]
    unknown = set(scenes) - set(SCENES)
    if unknown:
        parser.error(f"unknown scenes {sorted(unknown)}; choose from {', '.join(SCENES)}")
    cv2.setNumThreads(1)
    width, height = (int(v) for v in args.size.lower().split("x"))
    run(scenes, args.seconds, args.fps, args.clear, (width, height), args.detectors)


if __name__ == "__main__":
    main()
