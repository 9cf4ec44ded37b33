"""API schemas of the dispatch core (pydantic), separate from the table models.

Request bodies forbid unknown fields, so a misspelt field is a 422 rather than lost data.
Naive datetimes in queries are taken as UTC; every datetime in answers is UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from dispatch.types import Action, EvidenceKind, EvidencePhase, Identifier, OrderStatus, Source


def _as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _number_as_text(value: object) -> object:
    # Severities arrive as words ("high") or numbers (3) depending on the sender.
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


UTCDatetime = Annotated[datetime, AfterValidator(_as_utc)]
Text = Annotated[str, Field(min_length=1, max_length=4000)]
Name = Annotated[str, Field(min_length=1, max_length=64)]
Ref = Annotated[str, Field(min_length=1, max_length=128)]
Url = Annotated[str, Field(min_length=1, max_length=2048)]
Kind = Annotated[Identifier, Field(examples=["smoke"])]
Severity = Annotated[str, BeforeValidator(_number_as_text), Field(min_length=1, max_length=32)]
IdempotencyKey = Annotated[str, Field(min_length=1, max_length=200)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Location(_Request):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class EvidenceIn(_Request):
    url: Url
    kind: EvidenceKind
    phase: EvidencePhase = EvidencePhase.BEFORE


class OrderCreate(_Request):
    """An order to raise (standard 6.1). ``level`` unset: decided by configuration."""

    kind: Kind
    source: Source
    description: Text
    township: Name
    grid: Name | None = None
    location: Location | None = None
    camera_id: Ref | None = None
    zone_id: Ref | None = None
    event_id: Ref | None = None
    severity: Severity | None = None
    level: Literal[1, 2] | None = None
    evidence: list[EvidenceIn] = Field(default_factory=list, max_length=50)


class FeedbackCreate(_Request):
    """A unit's disposal report; ``unit`` is a unit id or its display name."""

    unit: Name
    note: Text
    photos: list[Url] = Field(default_factory=list, max_length=50)


class VerificationCreate(_Request):
    actor: Name = "video_patrol"
    note: str = Field(default="", max_length=4000)


class JudgementCreate(_Request):
    """A verdict (reporter, against footage) or review (commander): effective or not."""

    effective: bool
    note: Text
    actor: Name
    evidence: list[EvidenceIn] = Field(default_factory=list, max_length=50)


class OrderQuery(BaseModel):
    """Filters of ``GET /orders``; all optional, combined with AND."""

    status: OrderStatus | None = None
    source: Source | None = None
    kind: Kind | None = None
    camera_id: Ref | None = None
    township: Name | None = None
    unit: Name | None = None
    updated_since: UTCDatetime | None = None
    limit: int = Field(default=100, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=10**9)


class StatsQuery(BaseModel):
    """Orders created in ``[since, until)``; unset bounds are open."""

    since: UTCDatetime | None = None
    until: UTCDatetime | None = None


class OrderPublic(BaseModel):
    id: int
    code: str = Field(description="Readable reference, WO-<created date>-<id>.")
    kind: str
    source: Source
    description: str
    township: str
    grid: str | None
    location: Location | None
    camera_id: str | None
    zone_id: str | None
    event_id: str | None
    severity: str | None
    level: int
    centre: str = Field(description="The centre coordinating the order at its level.")
    units: list[str]
    lead_unit: str
    deadline: datetime
    overdue: bool = Field(description="Deadline passed and the order is not final.")
    status: OrderStatus
    redo_count: int
    idempotency_key: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = Field(description="When the order became final.")


class OrderList(BaseModel):
    data: list[OrderPublic]
    count: int = Field(description="Orders matching the filters, ignoring limit and offset.")


class HistoryPublic(BaseModel):
    at: datetime
    actor: str
    action: Action
    from_status: OrderStatus | None
    to_status: OrderStatus
    note: str


class EvidencePublic(BaseModel):
    url: str
    kind: EvidenceKind
    phase: EvidencePhase
    at: datetime


class FeedbackPublic(BaseModel):
    unit: str
    note: str
    photos: list[str]
    at: datetime


class OrderDetail(OrderPublic):
    history: list[HistoryPublic]
    evidence: list[EvidencePublic]
    feedback: list[FeedbackPublic]


class Problem(BaseModel):
    """The answer to every error but a validation error: one message for a person."""

    detail: str


class UnitPublic(BaseModel):
    id: str
    name: str


class UnitList(BaseModel):
    data: list[UnitPublic]
    count: int


class Stats(BaseModel):
    """Statistics for assessment (standard 7.1.1.5, 8); rates are null without orders."""

    since: datetime | None
    until: datetime | None
    total: int
    by_status: dict[str, int]
    by_kind: dict[str, int]
    by_township: dict[str, int]
    by_unit: dict[str, int] = Field(description="An order counts once for each of its units.")
    by_level: dict[str, int]
    by_source: dict[str, int]
    overdue: int
    closure_rate: float | None = Field(description="closed / total")
    redo_rate: float | None = Field(description="orders sent back at least once / total")
    not_disposed_rate: float | None = Field(description="not_disposed / total")
    on_time_rate: float | None = Field(description="closed by their deadline / closed")
    mean_time_to_close_s: float | None = Field(description="Mean created→closed, seconds.")
