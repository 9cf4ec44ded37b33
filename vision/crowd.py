"""Crowd-gathering detection: people, grouped with a perspective-relative distance.

Method (the person-detection-plus-clustering approach of DESIGN.md section 7): find people
with a :class:`~vision.people.PersonDetector`, then link two people when the distance
between their feet (bottom-centre of the box) is at most ``cluster_eps`` times the mean of
their heights. Because apparent height shrinks with distance exactly as ground distances
do, the link is roughly the same number of metres anywhere in the view (single-linkage
DBSCAN with min_samples = 1 and a locally scaled eps). Each connected group of at least
``min_people`` is one detection; dwell time is left to the rules stage.

Groups from ``GROUP_FLOOR`` people up are reported, each with ``data["min_count"]`` (the
configured ``min_people``): the rules stage decides which count makes a crowd, so a zone's
own ``count_threshold`` may be lower or higher than the detector's. People are tracked
(:class:`~vision.tracking.IoUTracker`): ``metadata["persons"]`` carries each person's
``track`` id and ``dwell_s``, a group its members' median ``dwell_s``. Dense, distant
crowds are found with tiled inference when the YOLO model card asks for ``tiles``.

Cost: HOG people are searched at native resolution, or at ``hog_width`` when set (the
registry wraps the detector in a :class:`~vision.registry.ScaledDetector`) and, with
motion gating on, only in the regions that changed between whole-image searches every
``recheck_s`` (:class:`RegionSearch`).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from camera_adapters.frame import Frame
from vision.base import Detector
from vision.config import CrowdDetectorConfig, MotionGateConfig
from vision.hog import CELL, MARGIN_X, MARGIN_Y, person_windows
from vision.motion import changed_regions, small_gray
from vision.people import HogPersonDetector, PersonDetector, build_person_detector, nms
from vision.tracking import IoUTracker
from vision.types import Detections, EventKind
from vision.yolo import frame_key

GROUP_FLOOR = 3  # smallest group reported (the rules decide what count is a crowd)

MASK_MARGIN = 0.15  # fraction of the frame kept beside and below the zone mask's box, so
# people standing on the zone edge are still found whole; everything above the zone is
# kept, because zones are drawn on the ground and the people in them stand up out of them
FULL_SHARE = 0.5  # changed regions covering this share of the image: search it whole


def cluster_people(xyxy: np.ndarray, eps: float) -> np.ndarray:
    """Group labels (0..k-1) for person boxes, linking feet closer than eps x mean height."""
    n = len(xyxy)
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    feet = np.stack([(xyxy[:, 0] + xyxy[:, 2]) / 2, xyxy[:, 3]], axis=1)
    heights = xyxy[:, 3] - xyxy[:, 1]
    for i in range(n):
        dist = np.hypot(*(feet[i + 1:] - feet[i]).T)
        link = dist <= eps * (heights[i] + heights[i + 1:]) / 2
        for j in np.nonzero(link)[0] + i + 1:
            parent[find(int(j))] = find(i)
    roots = np.array([find(i) for i in range(n)])
    _, labels = np.unique(roots, return_inverse=True)
    return labels.astype(int)


class CrowdDetector(Detector):
    """Groups of at least ``min_people`` people standing close together.

    Each detection's box encloses the group; ``data["count"]`` is its size and the
    confidence is the mean person score. ``metadata["persons"]`` holds every person found
    (with ``data["group"]``: the index of its row in the result, or -1).

    Example:
        >>> det = CrowdDetector(CrowdDetectorConfig())
        >>> frame = Frame("cam", np.zeros((360, 640, 3), np.uint8), 0.0, 0.0, 0)
        >>> len(det.detect(frame)), len(det.detect(frame).metadata["persons"])
        (0, 0)
    """

    kind: ClassVar[EventKind] = EventKind.CROWD

    def __init__(self, config: CrowdDetectorConfig, persons: PersonDetector | None = None,
                 motion: MotionGateConfig | None = None) -> None:
        self.config = config
        self.persons = persons if persons is not None else build_person_detector(config)
        self.tracker = IoUTracker(min_iou=0.25, max_missed=4, high=config.person_confidence)
        self.regions = (RegionSearch(self.persons, motion, config.nms_iou)
                        if motion is not None and isinstance(self.persons, HogPersonDetector)
                        else None)

    def reset(self) -> None:
        self.tracker.reset()
        if self.regions is not None:
            self.regions.reset()

    def detect(self, frame: Frame, mask: np.ndarray | None = None) -> Detections:
        if mask is not None and not mask.any():  # no zone watches crowds here
            return Detections.empty(persons=_with_groups(Detections.empty(), np.zeros(0, int)))
        image, (ox, oy) = _crop_to_mask(frame.image, mask)
        if hasattr(self.persons, "key"):
            self.persons.key = frame_key(frame, image)
        people = (self.persons.detect(image) if self.regions is None
                  else self.regions.detect(image, frame.ts))
        if len(people) and (ox or oy):
            people = Detections(people.xyxy + np.array([ox, oy, ox, oy], np.float32),
                                people.confidence, people.data)
        cfg = self.config
        if len(people) == 0:
            return Detections.empty(persons=_with_groups(people, np.zeros(0, int)))
        ids = self.tracker.update(people.xyxy, people.confidence, frame.ts)
        dwell = np.array([self.tracker.dwell(i, frame.ts) for i in ids], np.float32)
        people = Detections(people.xyxy, people.confidence,
                            {**people.data, "track": ids, "dwell_s": dwell})
        labels = cluster_people(people.xyxy, cfg.cluster_eps)
        floor = min(GROUP_FLOOR, cfg.min_people)
        boxes, scores, counts, dwells = [], [], [], []
        group_of = np.full(len(people), -1)
        for label in np.unique(labels):
            members = labels == label
            count = int(members.sum())
            score = float(people.confidence[members].mean())
            if count < floor or score < cfg.min_confidence:
                continue
            sel = people.xyxy[members]
            group_of[members] = len(boxes)
            boxes.append([sel[:, 0].min(), sel[:, 1].min(), sel[:, 2].max(), sel[:, 3].max()])
            scores.append(score)
            counts.append(count)
            dwells.append(float(np.median(dwell[members])))
        persons = _with_groups(people, group_of)
        if not boxes:
            return Detections.empty(persons=persons)
        return Detections(np.asarray(boxes, np.float32), np.asarray(scores, np.float32),
                          {"count": np.asarray(counts, int),
                           "min_count": np.full(len(counts), cfg.min_people),
                           "dwell_s": np.asarray(dwells, np.float32)},
                          {"persons": persons})


class RegionSearch:
    """Frigate-style motion regions for the HOG person search: between whole-image
    searches every ``recheck_s``, only the regions that changed since the last search are
    searched, each widened by the margins of the largest HOG window (and at least that
    window's size) so that a person whose body moved there has its whole window in it.
    People found before are carried over unless a searched region held their whole window
    (a still person stays counted, and the tracker keeps its id and dwell time). Regions
    covering ``FULL_SHARE`` of the image or more are not worth it: the image is searched
    whole.
    """

    def __init__(self, persons: HogPersonDetector, motion: MotionGateConfig,
                 nms_iou: float) -> None:
        self.persons = persons
        self.motion = motion
        self.nms_iou = nms_iou
        self.window = persons.largest_window()
        self.pad = (int(MARGIN_X * self.window[0]) + CELL, int(MARGIN_Y * self.window[1]) + CELL)
        self.reset()

    def reset(self) -> None:
        self._ref: np.ndarray | None = None
        self._full_ts: float | None = None
        self._known = Detections.empty()
        self.full_searches = 0
        self.region_searches = 0

    def detect(self, image: np.ndarray, ts: float) -> Detections:
        """People in ``image``: searched whole, or in its changed regions only."""
        small = small_gray(image)
        regions = self._regions(small, image.shape, ts)
        if regions is None:
            people, self._full_ts = self.persons.detect(image), ts
            self.full_searches += 1
        else:
            people = self._search(image, regions)
            self.region_searches += 1
        self._ref, self._known = small, people
        return people

    def _regions(self, small: np.ndarray, shape: tuple[int, ...], ts: float
                 ) -> np.ndarray | None:
        """The changed regions (possibly none), or None when the image must be searched
        whole: first look, new image size, re-check due, or too much changed."""
        if (self._ref is None or self._ref.shape != small.shape or self._full_ts is None
                or not 0 <= ts - self._full_ts < self.motion.recheck_s):
            return None
        h, w = shape[:2]
        boxes = changed_regions(small, self._ref, (w, h), self.motion.threshold, self.pad)
        boxes = np.array([_at_least(b, self.window, (w, h)) for b in boxes], int).reshape(-1, 4)
        area = int(((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).sum())
        return None if area >= FULL_SHARE * w * h else boxes

    def _search(self, image: np.ndarray, regions: np.ndarray) -> Detections:
        """People found in the regions, and those known from before outside them."""
        boxes, scores = [], []
        for x1, y1, x2, y2 in regions:
            found = self.persons.detect(image[y1:y2, x1:x2])
            boxes.append(found.xyxy + np.array([x1, y1, x1, y1], np.float32))
            scores.append(found.confidence)
        known = self._known
        win = person_windows(known.xyxy)[:, :, None]
        searched = ((win[:, 0] >= regions[:, 0]) & (win[:, 2] <= regions[:, 2])
                    & (win[:, 1] >= regions[:, 1]) & (win[:, 3] <= regions[:, 3])).any(axis=1)
        boxes.append(known.xyxy[~searched])
        scores.append(known.confidence[~searched])
        xyxy, conf = np.concatenate(boxes), np.concatenate(scores)
        if not len(conf):
            return Detections.empty()
        keep, _ = nms(xyxy, conf, self.nms_iou)  # a person on a region's edge, found twice
        return Detections(xyxy[keep], conf[keep])


def _at_least(box: np.ndarray, size: tuple[int, int], limit: tuple[int, int]) -> list[int]:
    """``box`` grown about its centre to at least ``size`` (w, h), kept inside ``limit``."""
    out = [int(v) for v in box]
    for lo, need, end in ((0, size[0], limit[0]), (1, size[1], limit[1])):
        length = min(max(need, out[lo + 2] - out[lo]), end)
        start = out[lo] - (length - (out[lo + 2] - out[lo])) // 2
        out[lo] = min(max(start, 0), end - length)
        out[lo + 2] = out[lo] + length
    return out


def _with_groups(people: Detections, groups: np.ndarray) -> Detections:
    return Detections(people.xyxy, people.confidence, {**people.data, "group": groups})


def _crop_to_mask(image: np.ndarray, mask: np.ndarray | None
                  ) -> tuple[np.ndarray, tuple[int, int]]:
    """The part of the image where people standing in the watched zones can appear, and
    its offset: the zones' box widened by a margin, and everything above it."""
    if mask is None:
        return image, (0, 0)
    h, w = image.shape[:2]
    ys, xs = np.nonzero(mask)
    mx, my = int(MASK_MARGIN * w), int(MASK_MARGIN * h)
    x1, x2 = max(int(xs.min()) - mx, 0), min(int(xs.max()) + 1 + mx, w)
    y2 = min(int(ys.max()) + 1 + my, h)
    return image[:y2, x1:x2], (x1, 0)
