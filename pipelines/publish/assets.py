"""The publish step: after every mart was rebuilt in this run, the serving file, the exports and the
community scorecard built from them are written as one new version and swapped in together."""

import json
from collections.abc import Iterator, Sequence

import dagster as dg

from pipelines.core.agenda import Agenda
from pipelines.core.privacy import MARTS_SCHEMA, PrivacyRule, privacy_rules
from pipelines.core.registry import Registry
from pipelines.core.resources import WAREHOUSE_POOL, BackboneResource
from pipelines.models.project import dbt_project
from pipelines.publish.release import Version, release
from pipelines.publish.serving import PublishRefused, publish

SERVING_KEY = dg.AssetKey(["publish", "serving_database"])
SCORECARD_KEY = dg.AssetKey(["publish", "scorecard_site"])


def _privacy_rules() -> dict[str, list[PrivacyRule]]:
    """Each mart's privacy rule, as declared in its dbt yml."""
    return privacy_rules(json.loads(dbt_project().manifest_path.read_text()))


def mart_keys() -> list[dg.AssetKey]:
    """The asset keys of the dbt project's marts, which publish waits for."""
    manifest = json.loads(dbt_project().manifest_path.read_text())
    return sorted(
        dg.AssetKey([MARTS_SCHEMA, node["name"]])
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["config"].get("schema") == MARTS_SCHEMA
    )


def build_publish_asset(mart_keys: Sequence[dg.AssetKey], registry: Registry, agenda: Agenda) -> dg.AssetsDefinition:
    # One step makes both assets: the site is part of the version it describes, so a site that cannot
    # be built keeps the whole previous set published rather than new data beside an old site.
    @dg.multi_asset(
        name="publish",
        specs=[
            dg.AssetSpec(
                SERVING_KEY,
                deps=list(mart_keys),
                group_name="publish",
                kinds={"duckdb", "parquet"},
                description="serving.duckdb and exports/<mart>.parquet and .csv for analysts, "
                "published with the scorecard as one version.",
            ),
            dg.AssetSpec(
                SCORECARD_KEY,
                deps=[SERVING_KEY],
                group_name="publish",
                kinds={"html"},
                description="The community scorecard: static pages under site/ built from serving.duckdb "
                "alone (overview, one page per indicator, program and partner, bright spots, partner "
                "data health).",
            ),
        ],
        pool=WAREHOUSE_POOL,
    )
    def publish_version(backbone: BackboneResource) -> Iterator[dg.MaterializeResult]:
        # Jinja2 and the chart renderer load when the site is built, not with the definitions.
        from pipelines.publish.published import SiteError
        from pipelines.publish.scorecard.build import build_site

        home = backbone.paths
        rules = _privacy_rules()

        def write(version: Version):
            published = publish(home.warehouse, version.serving, version.exports, rules, agenda.privacy.min_cell_size)
            site = build_site(version.serving, version.site, rules, agenda, registry, chart_cache=home.chart_cache)
            return published, site

        try:
            published, site = release(home, write)
        except (PublishRefused, SiteError) as exc:
            raise dg.Failure(description=str(exc)) from None
        yield dg.MaterializeResult(
            asset_key=SERVING_KEY,
            metadata={
                "serving_database": dg.MetadataValue.path(str(home.serving)),
                "tables": dg.MetadataValue.md(
                    "\n".join(
                        ["| mart | rows | exports |", "|---|---|---|"]
                        + [f"| {p.table} | {p.rows} | {p.parquet.name}, {p.csv.name} |" for p in published]
                    )
                ),
                "dagster/row_count": sum(p.rows for p in published),
            },
        )
        yield dg.MaterializeResult(
            asset_key=SCORECARD_KEY,
            metadata={
                "site": dg.MetadataValue.path(str(home.site / "index.html")),
                "pages": dg.MetadataValue.md("\n".join(f"- {page}" for page in site.pages)),
            },
        )

    return publish_version
