"""Pydantic schemas of the REST API (separate from the table models)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from rules.zones import ZoneConfig
from vision.types import EventKind


class EventPublic(BaseModel):
    id: str
    camera_id: str
    camera_name: str
    township: str
    zone_id: str
    preset: str | None
    kind: str
    label: str | None
    state: str
    review: str
    review_note: str | None
    confidence: float
    count: int | None
    severity: str
    boxes: list[list[float]]
    started_at: datetime
    ended_at: datetime | None
    snapshot_url: str | None
    clip_url: str | None
    clip_state: str
    order_id: str | None
    order_status: str | None


class EventsPublic(BaseModel):
    data: list[EventPublic]
    count: int


class EventQuery(BaseModel):
    kind: EventKind | None = None
    camera_id: str | None = None
    township: str | None = None
    review: Literal["pending", "auto", "confirmed", "rejected", "attached"] | None = None
    state: Literal["active", "ended"] | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = Field(default=50, ge=1, le=500)
    offset: int = Field(default=0, ge=0)


class ConfirmRequest(BaseModel):
    actor: str | None = Field(default=None, max_length=64,
                              description="Ignored: the signed-in account is recorded.")
    note: str = Field(default="", max_length=500)


class RejectRequest(BaseModel):
    actor: str | None = Field(default=None, max_length=64, description="Ignored (see confirm).")
    reason: str = Field(min_length=1, max_length=500, description="Why it is a false positive.")


class RelabelRequest(BaseModel):
    actor: str | None = Field(default=None, max_length=64, description="Ignored (see confirm).")
    kind: EventKind


class ZonePublic(BaseModel):
    id: str
    name: str
    polygon: list[tuple[float, float]]
    kinds: list[str]


class PresetPublic(BaseModel):
    token: str
    name: str
    zones: list[ZonePublic]


class ZonesUpdate(BaseModel):
    """The complete zone list of one view (a fixed camera, or one PTZ preset)."""

    zones: list[ZoneConfig] = Field(max_length=32)


class ZonesPublic(BaseModel):
    camera_id: str
    preset: str | None
    zones: list[ZoneConfig]
    active: list[str] = Field(description="Zone ids the running detector uses now.")
    saved_to: str | None = Field(default=None, description="Configuration file written.")


class CameraStatusPublic(BaseModel):
    state: str
    last_frame_at: datetime | None = Field(description="Last packet (or frame) received.")
    fps: float = Field(description="Stream frame rate (every packet, decoded or not).")
    bitrate_kbps: float = Field(description="Bitrate of the analysed stream.")
    frames: int = Field(description="Pictures decoded.")
    analysed: int
    reconnects: int
    keyframes_only: bool = Field(description="Only keyframes are decoded (patrol sampling).")
    gop_frames: int | None
    transport: str | None
    record_state: str | None = Field(description="Main stream recorded for clips, if separate.")
    record_bitrate_kbps: float | None
    preset: str | None = Field(description="PTZ preset the camera is at (patrol tours).")
    error: str | None
    detector_ms: dict[str, float]


class CameraPublic(BaseModel):
    id: str
    name: str
    township: str
    grid: str
    location: dict[str, float] | None
    source: dict[str, str]
    analyse_fps: float
    zones: list[ZonePublic]
    presets: list[PresetPublic]
    tour: dict[str, object] | None = Field(description="Patrol-tour status (PTZ cameras).")
    status: CameraStatusPublic | None
    snapshot_url: str
