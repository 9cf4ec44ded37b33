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
    "crowd": RouteConfig(units=["public_security"], deadline_minutes=60),
    "other": RouteConfig(units=["township_centre"], deadline_minutes=24 * 60),
}


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

    @model_validator(mode="after")
    def _routes_name_known_units(self) -> DispatchConfig:
        named = [(f"routes.{kind}", route) for kind, route in self.routes.items()]
        named.append(("fallback_route", self.fallback_route))
        for path, route in named:
            for unit_id in route.units:
                if unit_id not in self.units:
                    raise ValueError(
                        f"{path}.units: unknown unit {unit_id!r}; add it under `units` "
                        f"or use one of {sorted(self.units)}"
                    )
        return self

    def route_for(self, kind: str) -> RouteConfig:
        """The route of ``kind``, or ``fallback_route`` for a kind not configured."""
        return self.routes.get(kind, self.fallback_route)

    def unit_name(self, unit_id: str) -> str:
        unit = self.units.get(unit_id)
        return unit.name if unit else unit_id
