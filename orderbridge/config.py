"""Configuration of the order bridge: where orders go and how delivery is retried."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EmbeddedTarget(_Strict):
    """The embedded dispatch core, reached over HTTP like any external one."""

    type: Literal["embedded"] = "embedded"
    url: str | None = Field(
        default=None,
        description="Base URL of its API; default: this service's own /api/dispatch.",
    )
    timeout_s: float = Field(default=10.0, gt=0, le=120, description="HTTP timeout per request.")


Target = Annotated[EmbeddedTarget, Field(discriminator="type")]


class RetryConfig(_Strict):
    base_s: float = Field(default=1.0, gt=0, le=60, description="First retry delay.")
    max_s: float = Field(default=60.0, gt=0, le=3600, description="Longest retry delay.")


class BridgeConfig(_Strict):
    enabled: bool = Field(default=True, description="Deliver orders and run verifications.")
    target: Target = Field(default_factory=EmbeddedTarget)
    evidence_base_url: str | None = Field(
        default=None,
        description="URL prefix under which the dispatch side can fetch evidence files; "
        "default: this service's own /evidence.",
    )
    poll_interval_s: float = Field(default=1.0, gt=0, le=300,
                                   description="How often the outbox and order states are checked.")
    retry: RetryConfig = Field(default_factory=RetryConfig)
    verify: bool = Field(default=True,
                         description="Verify reported disposals against fresh footage (6.3).")
