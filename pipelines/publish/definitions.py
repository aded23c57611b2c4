"""The publish stage's definitions: the serving database and exports once every mart is rebuilt,
then the community scorecard built from what was published."""

from __future__ import annotations

import dagster as dg

from pipelines.core.agenda import Agenda
from pipelines.core.registry import Registry
from pipelines.publish.assets import build_publish_asset, build_scorecard_asset, mart_keys


def publish_definitions(registry: Registry, agenda: Agenda) -> dg.Definitions:
    return dg.Definitions(assets=[build_publish_asset(mart_keys(), agenda), build_scorecard_asset(registry, agenda)])
