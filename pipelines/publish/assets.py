"""The publish asset: runs after every mart it depends on was rebuilt in this run."""


from collections.abc import Sequence

import dagster as dg

import json

from pipelines.models.project import dbt_project
from pipelines.publish.serving import PublishRefused, privacy_rules, publish
from pipelines.resources import WAREHOUSE_POOL, BackboneResource


def build_publish_asset(mart_keys: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.asset(
        key=dg.AssetKey(["publish", "serving_database"]),
        deps=list(mart_keys),
        group_name="publish",
        kinds={"duckdb", "parquet"},
        pool=WAREHOUSE_POOL,
        description="serving.duckdb (replaced atomically) and exports/<mart>.parquet and .csv for analysts.",
    )
    def serving_database(backbone: BackboneResource) -> dg.MaterializeResult:
        home = backbone.paths
        try:
            rules = privacy_rules(json.loads(dbt_project().manifest_path.read_text()))
            published = publish(home.warehouse, home.serving, home.exports, rules)
        except PublishRefused as exc:
            raise dg.Failure(description=str(exc)) from None
        return dg.MaterializeResult(
            metadata={
                "serving_database": dg.MetadataValue.path(str(home.serving)),
                "tables": dg.MetadataValue.md(
                    "\n".join(["| mart | rows | exports |", "|---|---|---|"]
                              + [f"| {p.table} | {p.rows} | {p.parquet.name}, {p.csv.name} |" for p in published])
                ),
                "dagster/row_count": sum(p.rows for p in published),
            }
        )

    return serving_database
