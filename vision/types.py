"""Value types of the vision stage: event kinds and per-frame detections."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np


class EventKind(StrEnum):
    """The four kinds of trouble the standard names (DB32/T 3335-2017 5.3, 5.5, 5.6)."""

    SMOKE = "smoke"  # 秸秆焚烧 straw-burning smoke
    DUST = "dust"  # 施工扬尘 construction dust
    STALL = "stall"  # 占道经营 illegal street stall
    CROWD = "crowd"  # 人群聚集 crowd gathering


@dataclass(frozen=True)
class Detections:
    """Scored regions found in one frame by one detector, as parallel arrays.

    Attributes:
        xyxy: ``(n, 4)`` float32 boxes in pixels (x1, y1, x2, y2).
        confidence: ``(n,)`` float32 scores in [0, 1].
        data: per-row extras, each an array of length n (e.g. ``"count"`` for crowd
            clusters, ``"still_s"`` for stall candidates).
        metadata: per-frame extras (e.g. ``"persons"``: the person boxes a crowd
            detector clustered), not filtered by indexing.

    Example:
        >>> d = Detections(np.array([[0, 0, 10, 10]]), np.array([0.9]))
        >>> len(d[d.confidence > 0.5])
        1
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    data: Mapping[str, np.ndarray] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)
        conf = np.asarray(self.confidence, dtype=np.float32).reshape(-1)
        if len(conf) != len(xyxy):
            raise ValueError(f"confidence has {len(conf)} rows, xyxy has {len(xyxy)}")
        data = {k: np.asarray(v) for k, v in self.data.items()}
        for key, value in data.items():
            if len(value) != len(xyxy):
                raise ValueError(f"data[{key!r}] has {len(value)} rows, expected {len(xyxy)}")
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "confidence", conf)
        object.__setattr__(self, "data", data)

    def mapped(self, scale: np.ndarray | float = 1.0, shift: np.ndarray | float = 0.0
               ) -> Detections:
        """The same detections with every box, those in ``metadata["persons"]`` too, taken
        to other pixels: ``xyxy * scale + shift`` (per coordinate, or one number)."""
        metadata = dict(self.metadata)
        persons = metadata.get("persons")
        if isinstance(persons, Detections):
            metadata["persons"] = persons.mapped(scale, shift)
        return Detections(self.xyxy * scale + shift, self.confidence, self.data, metadata)

    @classmethod
    def empty(cls, **metadata: Any) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), {}, metadata)

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: np.ndarray | slice | int) -> Detections:
        if isinstance(index, int):
            index = np.array([index])
        return Detections(
            self.xyxy[index],
            self.confidence[index],
            {k: v[index] for k, v in self.data.items()},
            self.metadata,
        )

    @property
    def area(self) -> np.ndarray:
        return (self.xyxy[:, 2] - self.xyxy[:, 0]) * (self.xyxy[:, 3] - self.xyxy[:, 1])
