"""The publish stage's definitions: once every mart is rebuilt, the serving database, the exports
and the community scorecard built from them, published together as one version."""

from __future__ import annotations

import dagster as dg

from pipelines.core.agenda import Agenda
from pipelines.core.registry import Registry
from pipelines.publish.assets import build_publish_asset, mart_keys


def publish_definitions(registry: Registry, agenda: Agenda) -> dg.Definitions:
    return dg.Definitions(assets=[build_publish_asset(mart_keys(), registry, agenda)])
