"""``lianqin scan``: analyse a video file, an image, or a folder of images offline, through
the same analyser and rules as the live cameras."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from camera_adapters.base import FrameSource
from camera_adapters.file import (
    IMAGE_SUFFIXES,
    FileSource,
    FileSourceConfig,
    ImagesSource,
    ImagesSourceConfig,
    list_images,
)
from patrol.analyzer import CameraAnalyzer
from patrol.config import PatrolConfig
from rules.config import PersistenceConfig
from rules.events import Event, UpdateType
from rules.zones import ZoneConfig
from vision.types import EventKind

log = logging.getLogger(__name__)

FULL_FRAME = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]


@dataclass(frozen=True, slots=True)
class Found:
    kind: str
    start_s: float
    end_s: float
    confidence: float

    def as_dict(self) -> dict[str, float | str]:
        return {"kind": self.kind, "start_s": round(self.start_s, 2),
                "end_s": round(self.end_s, 2), "confidence": round(self.confidence, 3)}


def open_source(path: Path, interval_s: float) -> tuple[FrameSource, int | None, bool]:
    """The source for ``path``, the number of frames if known, and whether it is one image."""
    if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES:
        images = list_images(path)
        return (ImagesSource("scan", ImagesSourceConfig(path=path, interval_s=interval_s)),
                len(images), len(images) == 1)
    return FileSource("scan", FileSourceConfig(path=path)), None, False


def scan(path: Path, config: PatrolConfig, *, kinds: Sequence[EventKind],
         fps: float = 2.0, interval_s: float = 1.0, progress: bool = True) -> list[Found]:
    """Events found in ``path``, in order of their start.

    A video is analysed at ``fps`` frames per second of video time; images are frames
    ``interval_s`` apart. For a single image the rules decide on that one frame.
    """
    source, total, single = open_source(path, interval_s)
    rules = config.rules
    if single:  # one frame is all the evidence there is
        temporal = [k.value for k in kinds if k is not EventKind.CROWD
                    and getattr(config.detectors, k.value).backend == "classical"]
        if temporal:
            log.warning("%s is a single image: the classical %s detector(s) need a sequence "
                        "and find nothing in one picture; give a model card for stills",
                        path.name, ", ".join(temporal))
        one = PersistenceConfig(n=1, m=1)
        rules = rules.model_copy(update={
            k.value: rules.for_kind(k).model_copy(update={"persistence": one, "min_duration_s": 0})
            for k in EventKind})
    zone = ZoneConfig(id="frame", name="whole frame", polygon=FULL_FRAME, kinds=list(kinds))
    analyzer = CameraAnalyzer("scan", [zone], config.detectors, rules)
    info = source.open()
    if total is None and info.fps:
        total = _frame_count(path)
    found: list[Found] = []
    next_ts, last = float("-inf"), None
    bar = tqdm(total=total, unit="frame", desc=path.name, disable=not progress, leave=False)
    try:
        for frame in source.frames():
            bar.update(1)
            last = frame
            if frame.ts < next_ts and not isinstance(source, ImagesSource):
                continue
            next_ts = max(next_ts + 1.0 / fps, frame.ts)
            for upd in analyzer.analyse(frame).result.updates:
                if upd.type is UpdateType.END:
                    found.append(_found(upd.event))
        if last is not None:
            found.extend(_found(u.event, last.ts) for u in analyzer.close(last.ts, time.time()))
    finally:
        bar.close()
        source.close()
    return sorted(found, key=lambda f: (f.start_s, f.kind))


def _found(event: Event, end_default: float | None = None) -> Found:
    end = event.end_ts if event.end_ts is not None else end_default
    return Found(str(event.kind), event.start_ts, end if end is not None else event.start_ts,
                 event.confidence)


def _frame_count(path: Path) -> int | None:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.frames:
            return int(stream.frames)
        if stream.duration and stream.average_rate:
            return int(stream.duration * stream.time_base * stream.average_rate)
    return None
