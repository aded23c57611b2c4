"""Quality assets written by Python for dbt to read: every submission's check results, and the
delivery calendar partner_data_health reports on."""

import dagster as dg

from pipelines.core.clock import run_as_of
from pipelines.core.registry import Registry
from pipelines.core.resources import WAREHOUSE_POOL, BackboneResource
from pipelines.ingest.assets import SUBMISSIONS, raw_key
from pipelines.quality.timeliness import write_calendar

CALENDAR_KEY = dg.AssetKey(["quality", "delivery_calendar"])  # the dbt source quality.delivery_calendar
CHECK_RESULTS = dg.AssetSpec(
    ["quality", "check_results"],
    group_name="ingest",
    kinds={"duckdb"},
    description="Each submission's expectation results: counts, sample values and source rows of every "
    "failure. Written by the raw assets' expectations checks; read by the alerts and partner_data_health.",
)


def build_calendar_asset(registry: Registry) -> dg.AssetsDefinition:
    @dg.asset(
        key=CALENDAR_KEY,
        # After every landing of the run (a partner job's too), so the health mart counts its deliveries.
        deps=[SUBMISSIONS.key, *[raw_key(ref) for ref in registry.datasets]],
        group_name="models",
        kinds={"duckdb"},
        pool=WAREHOUSE_POOL,
        description="Every delivery period of each partner dataset, from its first delivery to now, with its "
        "due date (cadence and grace_days from the partner registry). dbt's partner_data_health reads it.",
    )
    def delivery_calendar(context: dg.AssetExecutionContext, backbone: BackboneResource) -> dg.MaterializeResult:
        as_of = run_as_of(context.run.tags)
        with backbone.warehouse() as con:
            rows = write_calendar(con, registry, as_of)
        return dg.MaterializeResult(metadata={"dagster/row_count": rows, "as_of": as_of.isoformat()})

    return delivery_calendar
