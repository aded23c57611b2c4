"""One raw asset per partner dataset: land whatever the partner delivered since the last run."""


import dagster as dg

from pipelines.ingest.deliveries import collect
from pipelines.ingest.landing import Landed, land_all
from pipelines.core.registry import DatasetRef, Registry
from pipelines.core.resources import WAREHOUSE_POOL, BackboneResource
from pipelines.core.sql import ident, table_exists

DELIVERY_KINDS = {"csv_drop": "csv", "excel": "excel", "api": "api", "sql": "sql"}
SUBMISSIONS = dg.AssetSpec(
    ["raw", "submissions"], group_name="ingest", kinds={"duckdb"},
    description="Every delivery: partner, dataset, file or URL, sha256, rows, status "
    "(pending / accepted / quarantined / unreadable) and why. Written by the raw assets and their checks.",
)


def raw_key(ref: DatasetRef) -> dg.AssetKey:
    # Same key dagster-dbt gives the dbt source raw.<table>, so the lineage joins up by itself.
    return dg.AssetKey(["raw", ref.table])


def _landed_table(landed: list[Landed]) -> str:
    rows = ["| delivery | status | rows | rows with type errors | note |", "|---|---|---|---|---|"]
    rows += [
        f"| {item.source} | {item.status} | {item.rows} | {item.parse_error_rows} | {item.reason or ''} |"
        for item in landed
    ]
    return "\n".join(rows)


def build_raw_asset(ref: DatasetRef) -> dg.AssetsDefinition:
    partner = ref.partner

    @dg.asset(
        key=raw_key(ref),
        group_name="ingest",
        owners=partner.owners,
        kinds={DELIVERY_KINDS[partner.delivery.kind], "duckdb"},
        tags={"partner": partner.id, "dataset": ref.dataset_id},
        pool=WAREHOUSE_POOL,
        description=f"{ref.suite.description} Delivered by {partner.name} ({partner.delivery.kind}, "
        f"{partner.cadence.value}). Append-only landing with lineage; IDs pseudonymized.",
    )
    def _raw(context: dg.AssetExecutionContext, backbone: BackboneResource) -> dg.MaterializeResult:
        from pipelines.ingest.pulls import PullError  # with httpx and SQLAlchemy, at run time only

        home = backbone.paths
        key = backbone.link_key()
        workdir = home.archive / ".incoming"
        workdir.mkdir(parents=True, exist_ok=True)
        landed: list[Landed] = []
        with backbone.warehouse() as con:
            try:
                found = list(collect(home, ref, workdir))
            except PullError as exc:
                raise dg.Failure(description=str(exc)) from None
            for (_, done), item in zip(found, land_all(con, ref, [delivery for delivery, _ in found], key,
                                                          home.archive), strict=False):
                landed.append(item)
                context.log.info(f"{ref.table}: {item.source} -> {item.status} ({item.rows} rows)")
                if done is not None:
                    done.unlink(missing_ok=True)  # the archive keeps the bytes by hash
            # Nothing delivered yet, ever: the landing table is made by the first landing.
            total = (con.execute(f"select count(*) from raw.{ident(ref.table)}").fetchone()[0]
                     if table_exists(con, "raw", ref.table) else 0)
        new = [item for item in landed if item.status != "duplicate"]
        return dg.MaterializeResult(
            metadata={
                "new_submissions": len(new),
                "rows_landed": sum(item.rows for item in new),
                "unreadable_deliveries": sum(item.status == "unreadable" for item in new),
                "dagster/row_count": total,
                "deliveries": dg.MetadataValue.md(_landed_table(landed) if landed else "No new deliveries."),
            }
        )

    return _raw


def build_raw_assets(registry: Registry) -> list[dg.AssetsDefinition]:
    return [build_raw_asset(ref) for ref in registry.datasets]
