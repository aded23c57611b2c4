"""The models stage's definitions: the agenda copied into the warehouse, and the dbt project's
models and tests as assets and asset checks, run by dbt from its own environment."""

from __future__ import annotations

import dagster as dg

from pipelines.core.agenda import Agenda
from pipelines.core.partnership import Partnership
from pipelines.core.registry import Registry
from pipelines.models.assets import build_agenda_asset, build_dbt_assets, dbt_resource


def models_definitions(registry: Registry, agenda: Agenda) -> dg.Definitions:
    return dg.Definitions(
        assets=[build_agenda_asset(agenda), build_dbt_assets(Partnership(registry, agenda))],
        resources={"dbt": dbt_resource()},
    )
