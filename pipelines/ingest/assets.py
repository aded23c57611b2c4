"""One raw asset per partner dataset: land whatever the partner delivered since the last run."""

import os

import dagster as dg

from pipelines.core.registry import FILE_KINDS, DatasetRef, Registry
from pipelines.core.resources import WAREHOUSE_POOL, BackboneResource
from pipelines.core.sql import ident
from pipelines.ingest.deliveries import collect, inbox_files, release
from pipelines.ingest.landing import Landed, ensure_tables, land_all
from pipelines.ingest.limits import ReadLimits, SettingError

DELIVERY_KINDS = {"csv_drop": "csv", "excel": "excel", "api": "api", "sql": "sql"}
SUBMISSIONS = dg.AssetSpec(
    ["raw", "submissions"],
    group_name="ingest",
    kinds={"duckdb"},
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
        settle = backbone.settle_seconds()
        try:
            limits = ReadLimits.from_env(os.environ)  # how large a delivery may be before it is refused unread
        except SettingError as exc:
            raise dg.Failure(description=str(exc)) from None
        workdir = home.archive / ".incoming"
        workdir.mkdir(parents=True, exist_ok=True)
        landed: list[Landed] = []
        if partner.delivery.kind in FILE_KINDS:
            for path in inbox_files(home, ref, settle).settling:
                context.log.info(
                    f"{ref.table}: {path.name} changed less than {settle:g} s ago; it is taken "
                    "once it has stopped changing"
                )
        with backbone.warehouse() as con:
            ensure_tables(con, ref)  # a first run may find nothing to land yet: the table still exists after it
            try:
                found = list(collect(home, ref, workdir, settle))
            except PullError as exc:
                raise dg.Failure(description=str(exc)) from None
            try:
                for (_, done), item in zip(
                    found,
                    land_all(con, ref, [delivery for delivery, _ in found], key, home.archive, limits),
                    strict=False,
                ):
                    landed.append(item)
                    context.log.info(f"{ref.table}: {item.source} -> {item.status} ({item.rows} rows)")
                    # The archive keeps the bytes by hash; a file rewritten since it was read stays for the next run.
                    if done is not None and item.sha256 is not None and not release(done, item.sha256):
                        context.log.warning(
                            f"{ref.table}: {item.source} changed after it was read; it stays in the "
                            "inbox for the next run"
                        )
            except BaseException:
                # An inbox file waits for the next run; a pull's file is not kept, the next run pulls again.
                for _, done in found:
                    if done is not None and done.parent == workdir:
                        done.unlink(missing_ok=True)
                raise
            total = con.execute(f"select count(*) from raw.{ident(ref.table)}").fetchone()[0]
        new = [item for item in landed if item.status not in ("duplicate", "changing")]
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
