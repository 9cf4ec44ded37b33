"""Configuration of the dispatch core: participating units, routing by kind, levels, deadlines.

Every field has a default, so ``DispatchConfig()`` is a working county; a YAML section
overrides what a site needs. Errors name the key path that is wrong.

Example:
    >>> cfg = DispatchConfig()
    >>> cfg.route_for("smoke").units, cfg.route_for("smoke").lead_unit
    (['environment', 'agriculture'], 'environment')
    >>> cfg.route_for("no-such-kind") is cfg.fallback_route
    True
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dispatch.types import Identifier


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UnitConfig(_Strict):
    """A participating unit (参勤单位, standard 4.3.1.1)."""

    name: str = Field(
        min_length=1, max_length=64, description="Chinese display name, e.g. 环保 or 城管."
    )


class RouteConfig(_Strict):
    """Which units dispose of one kind of order, who leads, and the time limit."""

    units: list[str] = Field(
        min_length=1,
        description="Unit ids (keys of `units`) that receive the order, lead first by convention.",
    )
    lead: str | None = Field(
        default=None,
        description="Lead unit for joint disposal (standard 6.2.4); must be one of `units`. "
        "Unset: the first of `units`.",
    )
    deadline_minutes: int = Field(
        gt=0,
        le=60 * 24 * 30,
        description="Disposal time limit at level 1 (township sub-centre), in minutes.",
    )
    level2_deadline_minutes: int | None = Field(
        default=None,
        gt=0,
        le=60 * 24 * 30,
        description="Disposal time limit at level 2 (county centre), in minutes. "
        "Unset: the same as `deadline_minutes`.",
    )
    level2_min_count: int | None = Field(
        default=None,
        gt=0,
        le=10**6,
        description="An order whose `count` (e.g. people in a crowd) reaches this goes to "
        "level 2, the county centre, as a major incident (6.2.1.2.3 a). Unset: no such rule.",
    )

    @model_validator(mode="after")
    def _lead_is_a_unit(self) -> RouteConfig:
        if self.lead is not None and self.lead not in self.units:
            raise ValueError(f"lead {self.lead!r} is not one of units {self.units}")
        if len(set(self.units)) != len(self.units):
            raise ValueError(f"units {self.units} name a unit twice")
        return self

    @property
    def lead_unit(self) -> str:
        return self.lead or self.units[0]

    def deadline_for(self, level: int) -> int:
        """Minutes allowed for disposal at ``level``."""
        if level == 2 and self.level2_deadline_minutes is not None:
            return self.level2_deadline_minutes
        return self.deadline_minutes


DEFAULT_UNITS: dict[str, UnitConfig] = {
    "public_security": UnitConfig(name="公安"),
    "city_management": UnitConfig(name="城管"),
    "environment": UnitConfig(name="环保"),
    "agriculture": UnitConfig(name="农业"),
    "market_supervision": UnitConfig(name="市场监管"),
    "construction": UnitConfig(name="建设"),
    "transport": UnitConfig(name="交通"),
    "water": UnitConfig(name="水利"),
    # The township sub-centre's own joint-enforcement team (联勤队伍, standard 6.2.1.2.2 a):
    # takes orders whose kind has no route until the unclear-handling issue lands.
    "township_centre": UnitConfig(name="乡镇（街道）联勤分中心"),
}

# DESIGN §2 default routing. Dust is led by construction: site dust control is the
# construction department's supervision duty; environment assists and monitors.
DEFAULT_ROUTES: dict[str, RouteConfig] = {
    "smoke": RouteConfig(units=["environment", "agriculture"], deadline_minutes=2 * 60),
    "dust": RouteConfig(units=["construction", "environment"], deadline_minutes=24 * 60),
    "stall": RouteConfig(units=["city_management", "market_supervision"], deadline_minutes=4 * 60),
    # 50 people and more is a major gathering for a county: the county centre coordinates.
    "crowd": RouteConfig(units=["public_security"], deadline_minutes=60, level2_min_count=50),
    "other": RouteConfig(units=["township_centre"], deadline_minutes=24 * 60),
}


class PatrolTeamsConfig(_Strict):
    """Patrol teams (联勤队伍, 4.4): who takes a level-1 order first, who reinforces."""

    first_responder: bool = Field(
        default=True,
        description="A level-1 order with a grid goes first to an on-duty patrol member of "
        "that grid, if there is one (6.2.1.2.2 a); departments get it on hand-over.",
    )
    first_responder_kinds: list[Identifier] | None = Field(
        default=None,
        description="Kinds a patrol member takes first; unset: every kind.",
    )
    unit: Identifier = Field(
        default="township_centre",
        description="The unit an order assigned to a patrol member is recorded under (the "
        "township sub-centre's joint-enforcement team); one of `units`.",
    )
    neighbours: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Neighbouring grids by grid, for reinforcement (6.2.3.2). A grid not "
        "listed takes the nearest on-duty members of the township's other grids.",
    )
    reinforcement_members: int = Field(
        default=2,
        ge=1,
        le=50,
        description="Patrol members sent when a reinforcement request names no number.",
    )


class SupervisionConfig(_Strict):
    """Supervision of orders past their time limit (督办, 6.2.4)."""

    interval_s: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="How often the background supervisor looks for overdue orders, seconds.",
    )
    escalate_overdue: bool = Field(
        default=True,
        description="An overdue level-1 order goes to level 2: the county centre supervises.",
    )
    reminder_minutes: int = Field(
        default=60,
        gt=0,
        le=60 * 24 * 7,
        description="While an order stays overdue, the supervisor records a reminder (催办) "
        "this often, in minutes.",
    )


class AssessmentConfig(_Strict):
    """Weights of the assessment score (standard 8.3-8.4); each rate counts 0-100 points.

    Score = 100 × Σ weight × rate / Σ weights of the rates that exist (a unit without
    closed orders has no on-time rate, say). Redo and not-disposed rates count inverted.
    """

    on_time: float = Field(
        default=0.3, ge=0, le=100, description="Weight of the on-time disposal rate."
    )
    closure: float = Field(default=0.25, ge=0, le=100, description="Weight of the closure rate.")
    verification: float = Field(
        default=0.15, ge=0, le=100, description="Weight of the footage verification pass rate."
    )
    no_redo: float = Field(
        default=0.15, ge=0, le=100, description="Weight of 1 - redo rate."
    )
    disposed: float = Field(
        default=0.15, ge=0, le=100, description="Weight of 1 - not-disposed rate."
    )

    @model_validator(mode="after")
    def _some_weight(self) -> AssessmentConfig:
        if not any(self.model_dump().values()):
            raise ValueError("all weights are 0: give at least one a positive weight")
        return self


class DispatchConfig(_Strict):
    """The dispatch core's section of the configuration."""

    county_centre: str = Field(
        default="县联勤指挥中心",
        min_length=1,
        max_length=128,
        description="Name of the county centre that coordinates level-2 orders.",
    )
    township_centre_suffix: str = Field(
        default="联勤分中心",
        max_length=32,
        description="Appended to an order's township to name the sub-centre coordinating "
        "level-1 orders, e.g. 新桥镇 + 联勤分中心.",
    )
    utc_offset_hours: float = Field(
        default=8,
        ge=-12,
        le=14,
        description="Offset of the centre's local time from UTC (China: 8, no daylight "
        "saving); dates in order codes are local dates. Stored times stay UTC.",
    )
    units: dict[Identifier, UnitConfig] = Field(
        default_factory=lambda: dict(DEFAULT_UNITS),
        description="Participating units by id (lowercase letters, digits, underscores). "
        "Given, it replaces the default set.",
    )
    routes: dict[Identifier, RouteConfig] = Field(
        default_factory=lambda: dict(DEFAULT_ROUTES),
        description="Routing by order kind: units, lead unit and time limits. Given, it "
        "replaces the default set.",
    )
    fallback_route: RouteConfig = Field(
        default=DEFAULT_ROUTES["other"],
        description="Route for a kind that `routes` does not name: the township sub-centre.",
    )
    default_level: Literal[1, 2] = Field(
        default=1,
        description="Response level of an order that names none (standard 6.2.1.2: level 1, "
        "the township sub-centre, is the default).",
    )
    county_severities: list[str] = Field(
        default_factory=lambda: ["critical"],
        description="Severities that raise an order to level 2 (county centre) when the "
        "order names no level: major incidents, standard 6.2.1.2.3 a.",
    )
    out_of_scope: dict[Identifier, str] = Field(
        default_factory=dict,
        description="Kinds that are not joint-enforcement work, with the competent "
        "department each is copied to (6.2.1.1), e.g. {tax_dispute: 税务局}.",
    )
    first_response_units: list[Identifier] = Field(
        default_factory=lambda: ["township_centre"],
        min_length=1,
        description="Units that give first response to an urgent out-of-scope order while "
        "its competent department is instructed to come (6.2.1.1).",
    )
    follow_up_minutes: int = Field(
        default=24 * 60,
        gt=0,
        le=60 * 24 * 30,
        description="Time limit for following up an unclear report, in minutes.",
    )
    patrol: PatrolTeamsConfig = Field(
        default_factory=PatrolTeamsConfig,
        description="Patrol teams: first response, reinforcement.",
    )
    supervision: SupervisionConfig = Field(
        default_factory=SupervisionConfig, description="Overdue orders: flags, escalation."
    )
    assessment: AssessmentConfig = Field(
        default_factory=AssessmentConfig, description="Weights of the assessment score."
    )

    @model_validator(mode="after")
    def _routes_name_known_units(self) -> DispatchConfig:
        named = [(f"routes.{kind}.units", route.units) for kind, route in self.routes.items()]
        named.append(("fallback_route.units", self.fallback_route.units))
        named.append(("first_response_units", self.first_response_units))
        named.append(("patrol.unit", [self.patrol.unit]))
        for path, units in named:
            for unit_id in units:
                if unit_id not in self.units:
                    raise ValueError(
                        f"{path}: unknown unit {unit_id!r}; add it under `units` "
                        f"or use one of {sorted(self.units)}"
                    )
        return self

    def route_for(self, kind: str) -> RouteConfig:
        """The route of ``kind``, or ``fallback_route`` for a kind not configured."""
        return self.routes.get(kind, self.fallback_route)

    def unit_name(self, unit_id: str) -> str:
        unit = self.units.get(unit_id)
        return unit.name if unit else unit_id
