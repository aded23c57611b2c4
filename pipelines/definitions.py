"""The one Definitions object: each stage assembles its own, and this merges them.

Built by a function Dagster calls when it loads the code location, so importing this module
reads nothing and parses nothing; the loading reads the partner registry and the agenda once and
hands them to every stage.
"""

from __future__ import annotations

import dagster as dg

from pipelines.alerts.definitions import alerts_definitions
from pipelines.core.partnership import Partnership, load_partnership
from pipelines.core.resources import BackboneResource
from pipelines.core.warehouse_lock import warehouse_executor
from pipelines.ingest.definitions import ingest_definitions
from pipelines.models.definitions import models_definitions
from pipelines.publish.definitions import publish_definitions
from pipelines.quality.definitions import quality_definitions


def build_definitions(partnership: Partnership | None = None) -> dg.Definitions:
    registry, agenda = partnership or load_partnership()
    ingest = ingest_definitions(registry)
    return dg.Definitions.merge(
        ingest,
        quality_definitions(registry, agenda),
        models_definitions(registry, agenda),
        publish_definitions(registry, agenda),
        alerts_definitions(registry, agenda, followed_jobs=list(ingest.jobs or [])),
        dg.Definitions(
            resources={"backbone": BackboneResource()},
            # One process per run: DuckDB admits a single writer, and steps then share no start-up cost.
            # It holds the warehouse lock while the steps execute.
            executor=warehouse_executor,
        ),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
