"""Configuration of the intake service: cameras and their zones, storage, evidence, review."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from camera_adapters.registry import SourceConfig
from rules.config import RulesConfig
from rules.zones import ZoneConfig
from vision.config import DetectorsConfig
from vision.types import EventKind


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Location(_Strict):
    lat: float = Field(ge=-90, le=90, description="Latitude, WGS-84 degrees.")
    lon: float = Field(ge=-180, le=180, description="Longitude, WGS-84 degrees.")


class CameraConfig(_Strict):
    """One camera: where its pictures come from, where it stands, what it watches."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="Stable camera id.")
    name: str = Field(default="", max_length=100, description="Display name, e.g. 王庄村麦田东.")
    source: SourceConfig
    township: str = Field(min_length=1, max_length=64,
                          description="Township or street; routes level-1 orders (standard 6.2.1.2).")
    grid: str = Field(default="", max_length=64, description="Grid (网格) within the township.")
    location: Location | None = Field(default=None, description="Where the camera looks.")
    zones: list[ZoneConfig] = Field(default_factory=list, description="Watched zones.")
    analyse_fps: float = Field(default=2.0, gt=0, le=30,
                               description="Frames analysed per second (patrol sampling rate).")
    enabled: bool = Field(default=True, description="Patrol this camera.")

    @model_validator(mode="after")
    def _unique_zone_ids(self) -> CameraConfig:
        seen: set[str] = set()
        for zone in self.zones:
            if zone.id in seen:
                raise ValueError(f"zone id {zone.id!r} appears twice in camera {self.id!r}")
            seen.add(zone.id)
        return self


class StorageConfig(_Strict):
    database_url: str = Field(
        default="sqlite:///var/lianqin/lianqin.db",
        description="SQLAlchemy URL of the event store (SQLite file, or postgresql+psycopg://...).",
    )
    evidence_dir: Path = Field(default=Path("var/lianqin/evidence"),
                               description="Folder for snapshots and clips.")


class EvidenceConfig(_Strict):
    pre_roll_s: float = Field(default=5.0, ge=0, le=120, description="Clip seconds before the event.")
    post_roll_s: float = Field(default=8.0, ge=0, le=300, description="Clip seconds after the start.")
    jpeg_quality: int = Field(default=85, ge=30, le=100, description="Snapshot JPEG quality.")


class ReviewConfig(_Strict):
    """Acceptance (standard 6.2.1.1): sure events become orders, unclear ones go to an operator."""

    auto_order_min_confidence: dict[EventKind, float] = Field(
        default_factory=lambda: dict.fromkeys(EventKind, 0.6),
        description="Per kind: events at or above this confidence raise an order at once; "
        "below it they wait for an operator's confirmation in the console.",
    )


class VerificationConfig(_Strict):
    """Closed-loop verification against fresh footage (standard 6.3)."""

    settle_s: float = Field(default=2.0, ge=0, le=120,
                            description="Wait before looking (PTZ move, picture settling).")
    window_s: float = Field(default=10.0, gt=0, le=600, description="How long to look.")
    presence_ratio: float = Field(
        default=0.5, gt=0, le=1,
        description="Share of analysed frames with a hit in the zone above which the problem "
        "is judged still present.",
    )


class PatrolConfig(_Strict):
    """The part of the root configuration that the intake service reads."""

    cameras: list[CameraConfig] = Field(default_factory=list)
    detectors: DetectorsConfig = Field(default_factory=DetectorsConfig)
    rules: RulesConfig = Field(default_factory=RulesConfig)
    review: ReviewConfig = Field(default_factory=ReviewConfig)
    evidence: EvidenceConfig = Field(default_factory=EvidenceConfig)
    verification: VerificationConfig = Field(default_factory=VerificationConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)

    @field_validator("cameras")
    @classmethod
    def _unique_camera_ids(cls, cameras: list[CameraConfig]) -> list[CameraConfig]:
        seen: dict[str, int] = {}
        for i, cam in enumerate(cameras):
            if cam.id in seen:
                raise ValueError(f"camera id {cam.id!r} appears twice "
                                 f"(cameras[{seen[cam.id]}] and cameras[{i}])")
            seen[cam.id] = i
        return cameras

    def camera(self, camera_id: str) -> CameraConfig:
        for cam in self.cameras:
            if cam.id == camera_id:
                return cam
        raise KeyError(camera_id)
