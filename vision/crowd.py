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
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from camera_adapters.frame import Frame
from vision.base import Detector
from vision.config import CrowdDetectorConfig
from vision.people import PersonDetector, build_person_detector
from vision.tracking import IoUTracker
from vision.types import Detections, EventKind
from vision.yolo import frame_key

GROUP_FLOOR = 3  # smallest group reported (the rules decide what count is a crowd)

MASK_MARGIN = 0.15  # fraction of the frame kept beside and below the zone mask's box, so
# people standing on the zone edge are still found whole; everything above the zone is
# kept, because zones are drawn on the ground and the people in them stand up out of them


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

    def __init__(self, config: CrowdDetectorConfig,
                 persons: PersonDetector | None = None) -> None:
        self.config = config
        self.persons = persons if persons is not None else build_person_detector(config)
        self.tracker = IoUTracker(min_iou=0.25, max_missed=4, high=config.person_confidence)

    def reset(self) -> None:
        self.tracker.reset()

    def detect(self, frame: Frame, mask: np.ndarray | None = None) -> Detections:
        if mask is not None and not mask.any():  # no zone watches crowds here
            return Detections.empty(persons=_with_groups(Detections.empty(), np.zeros(0, int)))
        image, (ox, oy) = _crop_to_mask(frame.image, mask)
        if hasattr(self.persons, "key"):
            self.persons.key = frame_key(frame, image)
        people = self.persons.detect(image)
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
