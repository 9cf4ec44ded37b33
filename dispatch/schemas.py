"""API schemas of the dispatch core (pydantic), separate from the table models.

Request bodies forbid unknown fields, so a misspelt field is a 422 rather than lost data.
Naive datetimes in queries are taken as UTC; every datetime in answers is UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from dispatch.types import (
    Action,
    Campaign,
    DutyStatus,
    EvidenceKind,
    EvidencePhase,
    Identifier,
    MemberRole,
    OrderStatus,
    Scope,
    Source,
)


def _as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _number_as_text(value: object) -> object:
    # Severities arrive as words ("high") or numbers (3) depending on the sender.
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


# Short names some senders use for the public channels of standard 6.1 d.
SOURCE_ALIASES = {"110": "public_110", "hotline": "public_hotline", "online": "public_online"}
CLIP_SUFFIXES = (".mp4", ".mkv", ".avi", ".mov", ".ts", ".flv", ".webm")


def _source_alias(value: object) -> object:
    return SOURCE_ALIASES.get(value, value) if isinstance(value, str) else value


def _evidence_from_url(value: object) -> object:
    # A plain URL is evidence raised with the order: a clip by its suffix, else a snapshot.
    if not isinstance(value, str):
        return value
    path = value.split("?", 1)[0].lower()
    kind = EvidenceKind.CLIP if path.endswith(CLIP_SUFFIXES) else EvidenceKind.SNAPSHOT
    return {"url": value, "kind": kind, "phase": EvidencePhase.BEFORE}


UTCDatetime = Annotated[datetime, AfterValidator(_as_utc)]
SourceIn = Annotated[Source, BeforeValidator(_source_alias)]
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


EvidenceItem = Annotated[EvidenceIn, BeforeValidator(_evidence_from_url)]


class OrderCreate(_Request):
    """An order to raise (standard 6.1). ``level`` unset: decided by configuration.

    ``evidence`` items are objects or plain URLs (a snapshot, or a clip by its suffix).
    """

    kind: Kind
    source: SourceIn
    description: Text
    township: Name
    grid: Name | None = None
    location: Location | None = None
    camera_id: Ref | None = None
    zone_id: Ref | None = None
    event_id: Ref | None = None
    severity: Severity | None = None
    level: Literal[1, 2] | None = None
    count: int | None = Field(
        default=None, ge=0, le=10**6, description="How many, e.g. people in a crowd."
    )
    scope: Scope = Field(
        default=Scope.IN_SCOPE,
        description="Acceptance (6.2.1.1): in_scope, unclear (follow up first) or "
        "out_of_scope (copied to `competent_department`). A kind listed in the "
        "configuration's `out_of_scope` is out of scope whatever this says.",
    )
    competent_department: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    urgent: bool = Field(
        default=False,
        description="Out of scope but urgent: first response here, the department instructed.",
    )
    cross_area: bool = Field(default=False, description="Crosses townships: level 2.")
    campaign: Campaign | None = Field(
        default=None, description="Part of a campaign organised by the township or county."
    )
    evidence: list[EvidenceItem] = Field(default_factory=list, max_length=50)


class FollowUpComplete(_Request):
    """What following up an unclear report found (6.2.1.1); unset fields stay as they are."""

    actor: Name
    note: Text
    scope: Literal[Scope.IN_SCOPE, Scope.OUT_OF_SCOPE] = Scope.IN_SCOPE
    kind: Kind | None = None
    description: Text | None = None
    township: Name | None = None
    grid: Name | None = None
    location: Location | None = None
    count: int | None = Field(default=None, ge=0, le=10**6)
    competent_department: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    urgent: bool = False


class ActionCreate(_Request):
    """Who does it and why: escalation (level 1 cannot handle it), a reminder."""

    actor: Name
    note: Text


class UnitsChange(ActionCreate):
    """Hand-over or supervision: the units to dispose (added, or instead) and the lead."""

    units: list[Identifier] = Field(default_factory=list, max_length=20)
    lead_unit: Identifier | None = None


class ReinforceCreate(ActionCreate):
    """A request for support (6.2.3.2): units join, and/or patrol members from
    neighbouring grids; neither given: the configured number of members."""

    units: list[Identifier] = Field(default_factory=list, max_length=20)
    members: int | None = Field(default=None, ge=0, le=50)


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


GroupBy = Literal["kind", "township", "unit", "level", "source", "status", "day"]


class StatsQuery(BaseModel):
    """Orders created in ``[since, until)``; unset bounds are open."""

    since: UTCDatetime | None = None
    until: UTCDatetime | None = None
    group_by: GroupBy | None = None


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
    lead_unit: str | None = Field(description="None only for an order copied elsewhere.")
    deadline: datetime
    overdue: bool = Field(description="Deadline passed and the order is not final.")
    status: OrderStatus
    redo_count: int
    idempotency_key: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = Field(description="When the order became final.")
    count: int | None = None
    scope: Scope = Scope.IN_SCOPE
    competent_department: str | None = None
    urgent: bool = False
    cross_area: bool = False
    campaign: str | None = None
    members: list[OrderMemberPublic] = Field(
        default_factory=list, description="Patrol members working the order."
    )
    supervised: bool = Field(default=False, description="Under the centre's supervision.")
    overdue_at: datetime | None = Field(
        default=None, description="When the supervisor found it overdue."
    )
    escalated_at: datetime | None = None
    reminder_count: int = 0


class OrderMemberPublic(BaseModel):
    id: int
    name: str
    team: str
    grid: str | None
    role: MemberRole
    at: datetime


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


class Metrics(BaseModel):
    """Timeliness and outcome of a set of orders (standard 7.1.1.5, 8.3); rates are null
    when there is nothing to divide by."""

    total: int
    closed: int
    not_disposed: int
    copied: int
    overdue: int = Field(description="Open orders past their deadline now.")
    escalated: int = Field(description="Orders raised from level 1 to level 2.")
    supervised: int = Field(description="Orders under supervision (督办).")
    closure_rate: float | None = Field(description="closed / total")
    on_time_rate: float | None = Field(
        description="closed by their deadline, never found overdue / closed"
    )
    mean_time_to_close_s: float | None = Field(description="Mean created→closed, seconds.")
    redo_rate: float | None = Field(description="orders sent back at least once / total")
    not_disposed_rate: float | None = Field(description="not_disposed / total")
    verification_pass_rate: float | None = Field(
        description="footage verdicts that found the problem solved / footage verdicts"
    )


class GroupStats(Metrics):
    key: str = Field(description="The group: a kind, township, unit id, level, source, "
                     "status or local date (YYYY-MM-DD).")


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
    escalated: int
    supervised: int
    closure_rate: float | None = Field(description="closed / total")
    redo_rate: float | None = Field(description="orders sent back at least once / total")
    not_disposed_rate: float | None = Field(description="not_disposed / total")
    on_time_rate: float | None = Field(
        description="closed by their deadline, never found overdue / closed"
    )
    mean_time_to_close_s: float | None = Field(description="Mean created→closed, seconds.")
    verification_pass_rate: float | None = Field(
        description="footage verdicts that found the problem solved / footage verdicts"
    )
    group_by: str | None = None
    utc_offset_hours: float = Field(
        default=0, description="The centre's local time offset from UTC; `group_by=day` "
        "keys are local dates.")
    groups: list[GroupStats] = Field(
        default_factory=list, description="The metrics per group when `group_by` is given."
    )


class AssessmentRow(Metrics):
    key: str = Field(description="Unit id or township.")
    name: str = Field(description="The unit's display name, or the township.")
    score: float | None = Field(description="0-100 from the configured weights.")


class Assessment(BaseModel):
    """Assessment scores per unit and per township (standard 8.3-8.4)."""

    since: datetime | None
    until: datetime | None
    weights: dict[str, float]
    units: list[AssessmentRow]
    townships: list[AssessmentRow]


# --- patrol teams and members (4.4, 7.1.1.4) ---------------------------------------------


class TeamCreate(_Request):
    name: Name
    township: Name
    grid: Name | None = Field(default=None, description="The grid the team patrols.")


class MemberCreate(_Request):
    name: Name
    grid: Name | None = Field(default=None, description="Unset: the team's grid.")
    duty_status: DutyStatus = DutyStatus.OFF
    location: Location | None = None


class MemberUpdate(_Request):
    """Duty status and last known position, as a member's phone reports them."""

    duty_status: DutyStatus | None = None
    grid: Name | None = None
    location: Location | None = None


class MemberQuery(BaseModel):
    township: Name | None = None
    grid: Name | None = None
    duty_status: DutyStatus | None = None
    team_id: int | None = Field(default=None, ge=1, le=2**31 - 1)


class MemberPublic(BaseModel):
    id: int
    team_id: int
    team: str
    township: str
    name: str
    grid: str | None
    duty_status: DutyStatus
    location: Location | None
    position_at: datetime | None
    order_id: int | None = Field(description="The order the member is busy with.")
    updated_at: datetime


class MemberList(BaseModel):
    data: list[MemberPublic]
    count: int


class TeamPublic(BaseModel):
    id: int
    name: str
    township: str
    grid: str | None
    created_at: datetime
    members: list[MemberPublic]


class TeamList(BaseModel):
    data: list[TeamPublic]
    count: int
