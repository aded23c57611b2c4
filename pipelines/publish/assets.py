"""The publish assets: the serving file and exports after every mart was rebuilt in this run, then
the community scorecard built from what was published."""

import json
from collections.abc import Sequence

import dagster as dg

from pipelines.core.agenda import Agenda
from pipelines.models.project import dbt_project
from pipelines.core.privacy import MARTS_SCHEMA, PrivacyRule, privacy_rules
from pipelines.publish.serving import PublishRefused, publish
from pipelines.core.registry import Registry
from pipelines.core.resources import WAREHOUSE_POOL, BackboneResource

SERVING_KEY = dg.AssetKey(["publish", "serving_database"])


def _privacy_rules() -> dict[str, list[PrivacyRule]]:
    """Each mart's privacy rule, as declared in its dbt yml."""
    return privacy_rules(json.loads(dbt_project().manifest_path.read_text()))


def mart_keys() -> list[dg.AssetKey]:
    """The asset keys of the dbt project's marts, which publish waits for."""
    manifest = json.loads(dbt_project().manifest_path.read_text())
    return sorted(dg.AssetKey([MARTS_SCHEMA, node["name"]]) for node in manifest["nodes"].values()
                  if node["resource_type"] == "model" and node["config"].get("schema") == MARTS_SCHEMA)


def build_publish_asset(mart_keys: Sequence[dg.AssetKey], agenda: Agenda) -> dg.AssetsDefinition:
    @dg.asset(
        key=SERVING_KEY,
        deps=list(mart_keys),
        group_name="publish",
        kinds={"duckdb", "parquet"},
        pool=WAREHOUSE_POOL,
        description="serving.duckdb (replaced atomically) and exports/<mart>.parquet and .csv for analysts.",
    )
    def serving_database(backbone: BackboneResource) -> dg.MaterializeResult:
        home = backbone.paths
        try:
            published = publish(home.warehouse, home.serving, home.exports, _privacy_rules(),
                                agenda.privacy.min_cell_size)
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


def build_scorecard_asset(registry: Registry, agenda: Agenda) -> dg.AssetsDefinition:
    @dg.asset(
        key=dg.AssetKey(["publish", "scorecard_site"]),
        deps=[SERVING_KEY],
        group_name="publish",
        kinds={"html"},
        description="The community scorecard: static pages under site/ built from serving.duckdb alone "
        "(overview, one page per indicator, program and partner, bright spots, partner data health).",
    )
    def scorecard_site(backbone: BackboneResource) -> dg.MaterializeResult:
        # Jinja2 and the chart renderer load when the site is built, not with the definitions.
        from pipelines.publish.scorecard.build import build_site
        from pipelines.publish.published import SiteError

        home = backbone.paths
        try:
            site = build_site(home.serving, home.site, _privacy_rules(), agenda, registry,
                              chart_cache=home.chart_cache)
        except SiteError as exc:
            raise dg.Failure(description=str(exc)) from None
        return dg.MaterializeResult(metadata={
            "site": dg.MetadataValue.path(str(site.index)),
            "pages": dg.MetadataValue.md("\n".join(f"- {page}" for page in site.pages)),
        })

    return scorecard_site
