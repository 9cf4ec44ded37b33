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


def _unique_zone_ids(zones: list[ZoneConfig], where: str) -> None:
    seen: set[str] = set()
    for zone in zones:
        if zone.id in seen:
            raise ValueError(f"zone id {zone.id!r} appears twice in {where}")
        seen.add(zone.id)


class PresetConfig(_Strict):
    """One stop of a patrol tour: a PTZ preset of the camera and the zones seen from it."""

    token: str = Field(min_length=1, max_length=64,
                       description="The preset's token on the camera (`lianqin camera probe` "
                       "lists them).")
    name: str = Field(default="", max_length=100, description="Display name, e.g. 东侧麦田.")
    zones: list[ZoneConfig] = Field(default_factory=list, description="Zones seen from here.")
    dwell_s: float | None = Field(default=None, gt=0, le=3600,
                                  description="Analyse this long here (default tour.dwell_s).")

    @model_validator(mode="after")
    def _unique_zone_ids(self) -> PresetConfig:
        _unique_zone_ids(self.zones, f"preset {self.token!r}")
        return self


class TourConfig(_Strict):
    """How a camera with presets is patrolled: rounds of go to preset, settle, analyse."""

    settle_s: float = Field(default=3.0, ge=0, le=120,
                            description="Wait after a move before analysing (focus, exposure).")
    dwell_s: float = Field(default=30.0, gt=0, le=3600,
                           description="Analyse this long at each preset.")
    skip_after_failures: int = Field(
        default=3, ge=1, le=100,
        description="A preset that failed this many times in a row is skipped for skip_s.")
    skip_s: float = Field(default=1800.0, ge=0, le=86400,
                          description="How long a failing preset is left out of the rounds.")


class CameraConfig(_Strict):
    """One camera: where its pictures come from, where it stands, what it watches."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="Stable camera id.")
    name: str = Field(default="", max_length=100, description="Display name, e.g. 王庄村麦田东.")
    source: SourceConfig
    township: str = Field(min_length=1, max_length=64,
                          description="Township or street; routes level-1 orders (standard 6.2.1.2).")
    grid: str = Field(default="", max_length=64, description="Grid (网格) within the township.")
    location: Location | None = Field(default=None, description="Where the camera looks.")
    zones: list[ZoneConfig] = Field(default_factory=list,
                                    description="Watched zones (fixed cameras).")
    presets: list[PresetConfig] = Field(
        default_factory=list, description="PTZ presets patrolled in rounds, each with its zones "
        "(the source must support PTZ: onvif or mock).")
    tour: TourConfig = Field(default_factory=TourConfig, description="How presets are patrolled.")
    analyse_fps: float = Field(default=2.0, gt=0, le=30,
                               description="Frames analysed per second (patrol sampling rate).")
    enabled: bool = Field(default=True, description="Patrol this camera.")

    @model_validator(mode="after")
    def _check_zones_and_presets(self) -> CameraConfig:
        _unique_zone_ids(self.zones, f"camera {self.id!r}")
        if self.presets and self.zones:
            raise ValueError("a camera with presets defines its zones under each preset; "
                             "move `zones` into `presets[...].zones`")
        tokens = [p.token for p in self.presets]
        for token in tokens:
            if tokens.count(token) > 1:
                raise ValueError(f"preset {token!r} appears twice in camera {self.id!r}")
        if self.presets and self.source.type not in ("onvif", "mock"):
            raise ValueError(f"presets need a PTZ camera (source type onvif or mock), "
                             f"not {self.source.type}")
        return self

    def zones_at(self, preset: str | None) -> list[ZoneConfig]:
        """The zones watched at ``preset`` (``None``: a fixed camera's zones)."""
        if preset is None:
            return self.zones
        for p in self.presets:
            if p.token == preset:
                return p.zones
        raise KeyError(preset)

    def zone(self, zone_id: str, preset: str | None = None) -> ZoneConfig | None:
        zones = self.zones if preset is None else self.zones_at(preset)
        return next((z for z in zones if z.id == zone_id), None)


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
