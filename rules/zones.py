"""Zones: polygons in normalised image coordinates, each watching some event kinds."""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from vision.types import Detections, EventKind

# Smoke and dust are diffuse regions: they count by overlap. Stalls and crowds stand on
# the ground: they count where their foot point (bottom centre of the box) lies.
REGION_KINDS = frozenset({EventKind.SMOKE, EventKind.DUST})


class TimeWindow(BaseModel):
    """A daily time window, e.g. stalls watched 07:00-20:00 on weekdays."""

    model_config = ConfigDict(extra="forbid")
    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM, local time.")
    end: str = Field(pattern=r"^([01]\d|2[0-4]):[0-5]\d$",
                     description="HH:MM, local time; before start means past midnight.")
    days: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5, 6, 7], min_length=1,
                            description="ISO weekdays, 1 = Monday .. 7 = Sunday.")

    @field_validator("days")
    @classmethod
    def _weekdays(cls, days: list[int]) -> list[int]:
        bad = [d for d in days if not 1 <= d <= 7]
        if bad:
            raise ValueError(f"days {bad} are not ISO weekdays (1 = Monday .. 7 = Sunday)")
        return sorted(set(days))


class ZoneConfig(BaseModel):
    """A polygon (3 to 10 vertices, as commercial cameras allow) and the kinds it watches."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="Zone id, unique per camera.")
    name: str = Field(default="", max_length=100, description="Display name (e.g. 人行道).")
    polygon: list[tuple[float, float]] = Field(
        min_length=3, max_length=10,
        description="Vertices as [x, y] in 0..1 of the image width and height.",
    )
    kinds: list[EventKind] = Field(min_length=1, description="Event kinds watched in this zone.")
    # Per-zone knobs, as commercial city-management cameras expose them. ``None`` keeps the
    # kind's rule from the ``rules`` section.
    sensitivity: int = Field(
        default=50, ge=1, le=100,
        description="1 (only blatant cases) .. 100 (everything suspicious); 50 keeps the "
        "detector's own thresholds.",
    )
    min_duration_s: float | None = Field(
        default=None, ge=0.0, le=86400, description="Minimum duration before an event starts.")
    repeat_interval_s: float | None = Field(
        default=None, ge=0.0, le=86400, description="Repeat-alarm interval (cooldown).")
    count_threshold: int | None = Field(
        default=None, ge=1, le=100000, description="Crowd: people needed in a cluster.")
    schedule: list[TimeWindow] = Field(
        default_factory=list,
        description="When the zone is watched (local time); empty means always.")
    shield: list[list[tuple[float, float]]] = Field(
        default_factory=list, max_length=8,
        description="Shield areas: polygons (0..1 coordinates) where nothing is detected.",
    )

    @field_validator("polygon")
    @classmethod
    def _normalised(cls, polygon: list[tuple[float, float]]) -> list[tuple[float, float]]:
        for i, (x, y) in enumerate(polygon):
            if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                raise ValueError(
                    f"vertex {i} ({x}, {y}) is outside 0..1: give coordinates as fractions "
                    "of the image width and height"
                )
        area = cv2.contourArea(np.array(polygon, np.float32))
        if area <= 1e-4:
            raise ValueError("polygon has no area (vertices collinear or repeated)")
        return polygon

    @field_validator("shield")
    @classmethod
    def _shield_polygons(cls, shields: list[list[tuple[float, float]]]) -> list[list[tuple[float, float]]]:
        for j, poly in enumerate(shields):
            if not 3 <= len(poly) <= 10:
                raise ValueError(f"shield area {j} needs 3 to 10 vertices, not {len(poly)}")
            for i, (x, y) in enumerate(poly):
                if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                    raise ValueError(f"shield area {j} vertex {i} ({x}, {y}) is outside 0..1")
        return shields


class Zone:
    """A zone laid on frames of one size; ``trigger`` says which detections fall inside.

    Example:
        >>> z = Zone(ZoneConfig(id="a", polygon=[(0, 0), (0.5, 0), (0.5, 1), (0, 1)],
        ...                     kinds=["stall"]), width=100, height=100)
        >>> z.trigger(Detections(np.array([[10, 10, 20, 40], [60, 10, 70, 40]]),
        ...                      np.array([0.9, 0.9])), EventKind.STALL).tolist()
        [True, False]
    """

    def __init__(self, config: ZoneConfig, width: int, height: int) -> None:
        self.config = config
        self.width, self.height = width, height
        pts = np.array(config.polygon, np.float64) * [width, height]
        self.points = np.round(pts).astype(np.int32)
        self.mask = np.zeros((height, width), np.uint8)
        cv2.fillPoly(self.mask, [self.points], 1)
        # Integral image: the zone area inside any box in O(1).
        self._integral = cv2.integral(self.mask, sdepth=cv2.CV_32S)
        self.shield_mask: np.ndarray | None = None
        if config.shield:
            self.shield_mask = np.zeros((height, width), np.uint8)
            for poly in config.shield:
                pts = np.round(np.array(poly, np.float64) * [width, height]).astype(np.int32)
                cv2.fillPoly(self.shield_mask, [pts], 1)
        # what detectors look at: the zone less its shield areas
        self.watched = self.mask if self.shield_mask is None else self.mask & (1 - self.shield_mask)

    @property
    def id(self) -> str:
        return self.config.id

    def watches(self, kind: EventKind) -> bool:
        return kind in self.config.kinds

    def overlap(self, detections: Detections) -> np.ndarray:
        """Share of each box's area that lies inside the zone."""
        if not len(detections):
            return np.zeros(0, np.float32)
        xyxy = np.round(detections.xyxy).astype(np.int64)
        x1 = np.clip(xyxy[:, 0], 0, self.width)
        y1 = np.clip(xyxy[:, 1], 0, self.height)
        x2 = np.clip(xyxy[:, 2], 0, self.width)
        y2 = np.clip(xyxy[:, 3], 0, self.height)
        ii = self._integral
        inside = ii[y2, x2] - ii[y1, x2] - ii[y2, x1] + ii[y1, x1]
        area = np.maximum((x2 - x1) * (y2 - y1), 1)
        return (inside / area).astype(np.float32)

    def contains_points(self, xy: np.ndarray) -> np.ndarray:
        xs = np.clip(np.round(xy[:, 0]).astype(np.int64), 0, self.width - 1)
        ys = np.clip(np.round(xy[:, 1]).astype(np.int64), 0, self.height - 1)
        return self.mask[ys, xs].astype(bool)

    def shielded(self, detections: Detections, kind: EventKind) -> np.ndarray:
        """Which detections lie in a shield area: by their centre for smoke and dust, by
        their foot point for stalls and crowds."""
        if self.shield_mask is None or not len(detections):
            return np.zeros(len(detections), bool)
        xyxy = detections.xyxy
        cx = (xyxy[:, 0] + xyxy[:, 2]) / 2
        y = (xyxy[:, 1] + xyxy[:, 3]) / 2 if kind in REGION_KINDS else xyxy[:, 3] - 1
        xs = np.clip(np.round(cx).astype(np.int64), 0, self.width - 1)
        ys = np.clip(np.round(y).astype(np.int64), 0, self.height - 1)
        return self.shield_mask[ys, xs].astype(bool)

    def trigger(self, detections: Detections, kind: EventKind, min_overlap: float = 0.3) -> np.ndarray:
        """Boolean array: which detections of ``kind`` count for this zone."""
        if not len(detections):
            return np.zeros(0, bool)
        if kind in REGION_KINDS:
            return self.overlap(detections) >= min_overlap
        feet = np.stack(
            [(detections.xyxy[:, 0] + detections.xyxy[:, 2]) / 2, detections.xyxy[:, 3] - 1], axis=1
        )
        return self.contains_points(feet)


def union_mask(zones: list[Zone], kind: EventKind) -> np.ndarray | None:
    """The pixels watched for ``kind`` by any zone (less their shield areas), or None when
    no zone watches it."""
    masks = [z.watched for z in zones if z.watches(kind)]
    if not masks:
        return None
    out = masks[0].copy()
    for m in masks[1:]:
        np.maximum(out, m, out=out)
    return out
