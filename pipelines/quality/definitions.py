"""The quality stage's definitions: the checks on every raw asset, the equity coverage check on the
published indicators, and what the checks write for dbt (check results, the delivery calendar)."""

from __future__ import annotations

import dagster as dg

from pipelines.core.agenda import Agenda
from pipelines.core.registry import Registry
from pipelines.quality.assets import CHECK_RESULTS, build_calendar_asset
from pipelines.quality.checks import build_delivery_checks, build_equity_coverage_check, build_expectations_checks


def quality_definitions(registry: Registry, agenda: Agenda) -> dg.Definitions:
    return dg.Definitions(
        assets=[CHECK_RESULTS, build_calendar_asset(registry)],
        asset_checks=[
            *build_expectations_checks(registry),
            *build_delivery_checks(registry),
            build_equity_coverage_check(registry, agenda),
        ],
    )
