"""Configuration of the rules stage: per-kind persistence, durations, cooldown, severity."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PersistenceConfig(_Strict):
    """An event may start only when ``n`` of the last ``m`` analysed frames had a hit."""

    n: int = Field(default=3, ge=1, le=100, description="Frames with a hit needed in the window.")
    m: int = Field(default=5, ge=1, le=100, description="Window length in analysed frames.")

    @model_validator(mode="after")
    def _n_within_m(self) -> PersistenceConfig:
        if self.n > self.m:
            raise ValueError(f"n ({self.n}) must not exceed m ({self.m})")
        return self


class KindRuleConfig(_Strict):
    """How detections of one kind become events (commercial cameras expose the same knobs:
    sensitivity, minimum duration, repeat-alarm interval, count threshold)."""

    enabled: bool = Field(default=True, description="Raise events of this kind at all.")
    min_confidence: float = Field(
        default=0.5, ge=0.0, le=1.0, description="A detection below this score is not a hit "
        "(for detections that carry no threshold of their own; the classical detectors and "
        "model cards give theirs)."
    )
    persistence: PersistenceConfig = Field(default_factory=PersistenceConfig)
    min_duration_s: float = Field(
        default=0.0, ge=0.0, le=86400,
        description="The persistence condition must hold this long before an event starts.",
    )
    end_after_s: float = Field(
        default=15.0, gt=0.0, le=3600,
        description="An active event ends after this long without a hit.",
    )
    cooldown_s: float = Field(
        default=120.0, ge=0.0, le=86400,
        description="Repeat-alarm interval: no new event in the same zone for this long after one ends.",
    )
    min_count: int | None = Field(
        default=None, ge=1, le=100000,
        description="Crowd only: people in a cluster needed for a hit.",
    )
    min_overlap: float = Field(
        default=0.3, gt=0.0, le=1.0,
        description="Smoke and dust regions: share of the box that must lie inside the zone.",
    )
    severity: Literal["low", "medium", "high"] = Field(
        default="medium", description="Severity given to events of this kind."
    )


def _kind(**overrides: object) -> KindRuleConfig:
    return KindRuleConfig.model_validate(overrides)


class RulesConfig(_Strict):
    """Per-kind rules. Defaults follow city-management practice (stall: 3 minutes still)."""

    smoke: KindRuleConfig = Field(
        default_factory=lambda: _kind(persistence={"n": 4, "m": 6}, severity="high")
    )
    dust: KindRuleConfig = Field(
        default_factory=lambda: _kind(persistence={"n": 4, "m": 6}, min_duration_s=10)
    )
    stall: KindRuleConfig = Field(
        default_factory=lambda: _kind(persistence={"n": 4, "m": 5}, min_duration_s=180,
                                      end_after_s=30, cooldown_s=600, severity="low")
    )
    crowd: KindRuleConfig = Field(
        default_factory=lambda: _kind(persistence={"n": 4, "m": 6}, min_duration_s=30,
                                      min_count=10, end_after_s=20)
    )

    def for_kind(self, kind: str) -> KindRuleConfig:
        return getattr(self, str(kind))
