"""The detector contract: a frame in, scored regions out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from camera_adapters.frame import Frame
from vision.types import Detections, EventKind

# Detectors report candidates down to this fraction of their own ``min_confidence``, with
# that threshold in ``data["threshold"]``: the rules stage applies it, moved by each zone's
# sensitivity (50 keeps it; 100 halves it), so a sensitive zone sees weaker candidates.
REPORT_FLOOR = 0.5


class Detector(ABC):
    """Finds one kind of event in a camera's frames.

    A detector instance belongs to one camera: temporal detectors keep per-camera state
    (backgrounds, windows) between calls, and ``reset()`` forgets it (after a PTZ move,
    a reconnect). Detectors do no I/O.
    """

    kind: ClassVar[EventKind]

    @abstractmethod
    def detect(self, frame: Frame, mask: np.ndarray | None = None) -> Detections:
        """Score ``frame``.

        Args:
            frame: the decoded frame; frames arrive in time order (``frame.ts`` grows).
            mask: optional ``(H, W)`` uint8 mask (non-zero = watched) of the zones that
                watch this kind; detectors may skip work outside it.
        """

    def reset(self) -> None:  # noqa: B027 - stateless detectors need nothing
        """Forget temporal state."""
