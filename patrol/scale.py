"""Settings of a scaled-out deployment (``lianqin worker`` / ``lianqin central``): the MQTT
broker, camera leases, the S3-compatible evidence store, evidence retention, and the
health/metrics port. Read from ``LIANQIN_*`` environment variables (the container way),
e.g. ``LIANQIN_MQTT_URL=mqtt://broker:1883``, ``LIANQIN_S3_BUCKET=evidence``; the
command line can override some. The cameras, detectors, rules and databases stay in the
one YAML file that every process of the deployment reads.
"""

from __future__ import annotations

import os
import socket
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from vision.types import EventKind


class ScaleSettings(BaseSettings):
    """Everything a worker or the central service needs beyond the YAML configuration."""

    model_config = SettingsConfigDict(env_prefix="LIANQIN_", extra="forbid")

    mqtt_url: str = Field(default="mqtt://127.0.0.1:1883",
                          description="MQTT 5 broker: mqtt://[user:password@]host:port.")
    topic_prefix: str = Field(default="lianqin", pattern=r"^[A-Za-z0-9_/-]{1,64}$",
                              description="Root of the MQTT topics (events, worker status).")
    worker_id: str = Field(default="", max_length=64,
                           description="This worker's id (default: host name and pid).")
    lease_ttl_s: float = Field(default=10.0, ge=2, le=300,
                               description="A camera lease not renewed for this long is "
                               "taken over by another worker (dead-worker takeover time).")
    heartbeat_s: float = Field(default=2.0, gt=0, le=60,
                               description="How often a worker renews its leases and "
                               "rebalances (at most a third of lease_ttl_s).")
    metrics_host: str = Field(default="0.0.0.0", description="Address of /healthz and /metrics.")
    metrics_port: int = Field(default=9108, ge=0, le=65535,
                              description="Port of /healthz and /metrics (0: a free one).")
    s3_bucket: str = Field(default="", max_length=63,
                           description="Evidence bucket; empty keeps evidence in the local "
                           "folder storage.evidence_dir (one box only).")
    s3_endpoint_url: str = Field(default="", description="S3-compatible endpoint (MinIO: "
                                 "http://minio:9000); empty: AWS.")
    s3_region: str = Field(default="us-east-1", description="Region for request signing.")
    s3_access_key: SecretStr = Field(default=SecretStr(""), description="Access key id.")
    s3_secret_key: SecretStr = Field(default=SecretStr(""), description="Secret access key.")
    s3_prefix: str = Field(default="", max_length=200,
                           description="Key prefix inside the bucket, e.g. county-a/.")
    evidence_url_ttl_s: int = Field(default=900, ge=10, le=7 * 86400,
                                    description="Lifetime of the signed evidence URLs "
                                    "handed to the console and the dispatch side.")
    retention_days: dict[EventKind, int] = Field(
        default_factory=lambda: {EventKind.SMOKE: 180, EventKind.DUST: 180,
                                 EventKind.STALL: 90, EventKind.CROWD: 90},
        description="Days evidence of each kind is kept after its event ended; evidence of "
        "events whose order is still open is never deleted.")
    retention_interval_s: float = Field(default=3600.0, ge=1, le=86400,
                                        description="How often the central service purges.")

    @field_validator("retention_days")
    @classmethod
    def _positive_days(cls, days: dict[EventKind, int]) -> dict[EventKind, int]:
        for kind, value in days.items():
            if value < 1:
                raise ValueError(f"retention_days.{kind} must be at least 1 day, not {value}")
        return days

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f"mqtt_url must look like mqtt://host:1883, not {url!r}")
        return url

    @model_validator(mode="after")
    def _heartbeat_fits(self) -> ScaleSettings:
        if self.heartbeat_s * 3 > self.lease_ttl_s:
            raise ValueError(f"heartbeat_s ({self.heartbeat_s}) must be at most a third of "
                             f"lease_ttl_s ({self.lease_ttl_s}) so a live worker never "
                             "loses its leases to one late heartbeat")
        return self

    def resolved_worker_id(self) -> str:
        return self.worker_id or f"{socket.gethostname()[:40]}-{os.getpid()}"

    @property
    def mqtt_host(self) -> str:
        return urlsplit(self.mqtt_url).hostname or "127.0.0.1"

    @property
    def mqtt_port(self) -> int:
        parts = urlsplit(self.mqtt_url)
        return parts.port or (8883 if parts.scheme == "mqtts" else 1883)

    @property
    def mqtt_credentials(self) -> tuple[str, str] | None:
        parts = urlsplit(self.mqtt_url)
        return (parts.username, parts.password or "") if parts.username else None


def build_evidence_store(settings: ScaleSettings, evidence_dir: Any, jpeg_quality: int = 85,
                         *, create_bucket: bool = False) -> Any:
    """The S3-compatible store when ``s3_bucket`` is set, else the local folder."""
    from patrol.evidence import EvidenceStore, S3EvidenceStore

    if not settings.s3_bucket:
        return EvidenceStore(evidence_dir, jpeg_quality)
    return S3EvidenceStore(
        settings.s3_bucket, prefix=settings.s3_prefix, jpeg_quality=jpeg_quality,
        url_ttl_s=settings.evidence_url_ttl_s, endpoint_url=settings.s3_endpoint_url or None,
        region=settings.s3_region, access_key=settings.s3_access_key.get_secret_value(),
        secret_key=settings.s3_secret_key.get_secret_value(), create_bucket=create_bucket)
