"""Multi-object tracking by box overlap, so dwell times and counts are per object.

An IoU tracker (Bochinski, Eiselein & Sikora, "High-speed tracking-by-detection without
using image information", AVSS 2017) with optimal assignment (Hungarian, scipy) in place
of the greedy match: at the analysis rate of the product (2 frames/s) people and objects
move little between frames, and a track survives ``max_missed`` frames without a match
(a person hidden by a passer-by). ByteTrack's second association of low-score boxes is
kept: boxes below ``high`` only extend existing tracks, never start one.

Example:
    >>> t = IoUTracker()
    >>> box = np.array([[10, 10, 30, 60]], np.float32)
    >>> t.update(box, np.array([0.9]), 0.0).tolist(), t.update(box + 2, np.array([0.9]), 1.0).tolist()
    ([1], [1])
    >>> t.dwell(1, 1.0)
    1.0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment


@dataclass
class Track:
    id: int
    box: np.ndarray
    first_ts: float
    last_ts: float
    anchor: np.ndarray  # centre where it was last seen still (for stillness)
    still_since: float
    hits: int = 1
    missed: int = 0


def intersections(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, m) intersection areas of (n, 4) and (m, 4) xyxy boxes."""
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)), np.float32)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    return np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)


def box_areas(xyxy: np.ndarray) -> np.ndarray:
    return (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (n, 4) and (m, 4) xyxy boxes."""
    inter = intersections(a, b)
    if not inter.size:
        return inter
    return inter / np.maximum(box_areas(a)[:, None] + box_areas(b)[None, :] - inter, 1e-6)


class IoUTracker:
    """Gives each box a persistent id. One verb: ``update(xyxy, scores, ts)``."""

    def __init__(self, min_iou: float = 0.3, max_missed: int = 4, high: float = 0.5,
                 still_tolerance: float = 0.3) -> None:
        self.min_iou = min_iou
        self.max_missed = max_missed
        self.high = high
        self.still_tolerance = still_tolerance  # centre may wander this share of the box
        self.tracks: dict[int, Track] = {}
        self._next = 1

    def reset(self) -> None:
        self.tracks.clear()

    def update(self, xyxy: np.ndarray, scores: np.ndarray, ts: float) -> np.ndarray:
        """Track ids for the boxes (0 for a low-score box that matched nothing)."""
        xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
        scores = np.asarray(scores, np.float32).reshape(-1)
        ids = np.zeros(len(xyxy), int)
        live = list(self.tracks.values())
        if live and len(xyxy):
            iou = iou_matrix(np.stack([t.box for t in live]), xyxy)
            rows, cols = linear_sum_assignment(-iou)
            for r, c in zip(rows, cols, strict=True):
                if iou[r, c] >= self.min_iou:
                    self._extend(live[r], xyxy[c], ts)
                    ids[c] = live[r].id
        matched = {int(i) for i in ids if i}
        for track in live:
            if track.id not in matched:
                track.missed += 1
                if track.missed > self.max_missed:
                    del self.tracks[track.id]
        for c in np.nonzero((ids == 0) & (scores >= self.high))[0]:
            box = xyxy[c]
            centre = _centre(box)
            self.tracks[self._next] = Track(self._next, box.copy(), ts, ts, centre, ts)
            ids[c] = self._next
            self._next += 1
        return ids

    def _extend(self, track: Track, box: np.ndarray, ts: float) -> None:
        centre = _centre(box)
        size = max(float(box[2] - box[0]), float(box[3] - box[1]), 1.0)
        if np.hypot(*(centre - track.anchor)) > self.still_tolerance * size:
            track.anchor, track.still_since = centre, ts  # it moved: stillness starts anew
        track.box, track.last_ts = box.copy(), ts
        track.hits += 1
        track.missed = 0

    def dwell(self, track_id: int, ts: float) -> float:
        """Seconds since the track was first seen (0 for an unknown id)."""
        t = self.tracks.get(int(track_id))
        return float(ts - t.first_ts) if t is not None else 0.0

    def still_for(self, track_id: int, ts: float) -> float:
        """Seconds the track has stayed in place (0 for an unknown id)."""
        t = self.tracks.get(int(track_id))
        return float(ts - t.still_since) if t is not None else 0.0


def _centre(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], np.float32)
