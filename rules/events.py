"""The value types the rules stage emits: events and their updates, and per-zone hits."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from vision.types import Detections, EventKind


class EventState(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"


class UpdateType(StrEnum):
    START = "start"
    UPDATE = "update"
    END = "end"


@dataclass(frozen=True, slots=True)
class Event:
    """An episode of one kind in one zone of one camera.

    Times: ``start_ts``/``end_ts`` on the source timeline (seconds, as ``Frame.ts``);
    ``started_wall``/``ended_wall`` as UNIX time.
    """

    id: str
    camera_id: str
    zone_id: str
    kind: EventKind
    state: EventState
    start_ts: float
    started_wall: float
    confidence: float
    boxes: tuple[tuple[float, float, float, float], ...]
    severity: str
    count: int | None = None
    end_ts: float | None = None
    ended_wall: float | None = None


@dataclass(frozen=True, slots=True)
class ZoneHit:
    """What one analysed frame showed in one zone for one kind."""

    zone_id: str
    kind: EventKind
    hit: bool
    confidence: float
    detections: Detections
    count: int | None = None


@dataclass(frozen=True, slots=True)
class RuleUpdate:
    type: UpdateType
    event: Event


@dataclass(frozen=True, slots=True)
class RuleResult:
    """Everything ``RuleEngine.update`` decided for one frame."""

    updates: tuple[RuleUpdate, ...] = ()
    hits: tuple[ZoneHit, ...] = field(default=())
