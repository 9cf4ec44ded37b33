"""DispatchConfig validation, routing per kind and level, and the modules' doc examples."""

from __future__ import annotations

import doctest
import importlib
from contextlib import ExitStack as DoesNotRaise
from datetime import timedelta

import pytest
from dispatch_factories import START
from pydantic import ValidationError

from dispatch.config import DispatchConfig
from dispatch.routing import plan_route

# kind, severity, level asked, expected level, units, lead, deadline in minutes
ROUTES = [
    ("smoke", None, None, 1, ("environment", "agriculture"), "environment", 120),
    ("dust", None, None, 1, ("construction", "environment"), "construction", 24 * 60),
    ("stall", None, None, 1, ("city_management", "market_supervision"), "city_management", 240),
    ("crowd", None, None, 1, ("public_security",), "public_security", 60),
    ("other", None, None, 1, ("township_centre",), "township_centre", 24 * 60),
    ("flood", None, None, 1, ("township_centre",), "township_centre", 24 * 60),
    ("crowd", "critical", None, 2, ("public_security",), "public_security", 60),
    ("smoke", "high", 2, 2, ("environment", "agriculture"), "environment", 120),
    ("smoke", "critical", 1, 1, ("environment", "agriculture"), "environment", 120),
]


@pytest.mark.parametrize(
    ("kind", "severity", "level", "want_level", "units", "lead", "minutes"), ROUTES
)
def test_default_routing(kind, severity, level, want_level, units, lead, minutes) -> None:
    route = plan_route(
        DispatchConfig(), kind=kind, township="新桥镇", severity=severity, level=level, now=START
    )
    assert (route.level, route.units, route.lead_unit) == (want_level, units, lead)
    assert route.deadline == START + timedelta(minutes=minutes)
    assert route.centre == ("县联勤指挥中心" if want_level == 2 else "新桥镇联勤分中心")


def test_level_two_deadline_and_custom_kind_from_config() -> None:
    config = DispatchConfig.model_validate(
        {
            "county_centre": "江阴市联勤指挥中心",
            "routes": {
                "smoke": {
                    "units": ["environment", "agriculture"],
                    "lead": "agriculture",
                    "deadline_minutes": 120,
                    "level2_deadline_minutes": 45,
                },
                "illegal_parking": {"units": ["transport"], "deadline_minutes": 30},
            },
        }
    )
    smoke = plan_route(config, kind="smoke", township="t", severity=None, level=2, now=START)
    assert (smoke.lead_unit, smoke.centre) == ("agriculture", "江阴市联勤指挥中心")
    assert smoke.deadline == START + timedelta(minutes=45)
    parking = plan_route(
        config, kind="illegal_parking", township="t", severity=None, level=None, now=START
    )
    assert (parking.units, parking.deadline) == (("transport",), START + timedelta(minutes=30))
    # A kind the site config no longer routes falls back to the township sub-centre.
    dust = plan_route(config, kind="dust", township="t", severity=None, level=None, now=START)
    assert dust.units == ("township_centre",)


@pytest.mark.parametrize(
    ("raw", "expectation"),
    [
        ({}, DoesNotRaise()),
        ({"default_level": 2, "county_severities": []}, DoesNotRaise()),
        (
            {"units": {"Bad-Id": {"name": "x"}}},
            pytest.raises(ValidationError, match="units.Bad-Id"),
        ),
        (
            {"routes": {"smoke": {"units": ["nobody"], "deadline_minutes": 5}}},
            pytest.raises(ValidationError, match=r"routes\.smoke\.units: unknown unit 'nobody'"),
        ),
        (
            {"fallback_route": {"units": ["nobody"], "deadline_minutes": 5}},
            pytest.raises(ValidationError, match=r"fallback_route\.units: unknown unit"),
        ),
        (
            {
                "routes": {
                    "smoke": {"units": ["water"], "lead": "environment", "deadline_minutes": 5}
                }
            },
            pytest.raises(ValidationError, match="lead 'environment' is not one of units"),
        ),
        (
            {"routes": {"smoke": {"units": ["water"], "deadline_minutes": 0}}},
            pytest.raises(ValidationError, match=r"routes\.smoke\.deadline_minutes"),
        ),
        ({"default_level": 3}, pytest.raises(ValidationError, match="default_level")),
        (
            {"patrol": {"unit": "nobody"}},
            pytest.raises(ValidationError, match=r"patrol\.unit: unknown unit 'nobody'"),
        ),
        (
            {"first_response_units": ["water", "nobody"]},
            pytest.raises(ValidationError, match=r"first_response_units: unknown unit 'nobody'"),
        ),
        (
            {"assessment": {"on_time": 0, "closure": 0, "verification": 0, "no_redo": 0,
                            "disposed": 0}},
            pytest.raises(ValidationError, match="all weights are 0"),
        ),
        (
            {"routes": {"crowd": {"units": ["public_security"], "deadline_minutes": 60,
                                  "level2_min_count": 0}}},
            pytest.raises(ValidationError, match=r"routes\.crowd\.level2_min_count"),
        ),
        (
            {"supervision": {"interval_s": 0}},
            pytest.raises(ValidationError, match=r"supervision\.interval_s"),
        ),
        ({"out_of_scope": {"tax_dispute": "税务局"}}, DoesNotRaise()),
        ({"colour": "red"}, pytest.raises(ValidationError, match="Extra inputs")),
    ],
)
def test_config_validation(raw, expectation) -> None:
    with expectation:
        DispatchConfig.model_validate(raw)


def test_every_config_field_is_described() -> None:
    from dispatch.config import (
        AssessmentConfig,
        PatrolTeamsConfig,
        RouteConfig,
        SupervisionConfig,
        UnitConfig,
    )

    for model in (
        DispatchConfig,
        RouteConfig,
        UnitConfig,
        PatrolTeamsConfig,
        SupervisionConfig,
        AssessmentConfig,
    ):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"


@pytest.mark.parametrize(
    "module",
    [
        "assessment", "config", "lifecycle", "routing", "service", "stats", "store",
        "supervisor", "teams", "views",
    ],
)
def test_doc_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(f"dispatch.{module}"))
    assert result.failed == 0
