"""A sensor per file-delivering partner: new files in its inbox, once they have stopped changing, start
that partner's ingest job, for the datasets that have files and what depends on them."""

import hashlib
from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:  # define_asset_job's return type is not exported by dagster
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from pipelines.core.registry import Partner, Registry
from pipelines.core.resources import BackboneResource
from pipelines.ingest.deliveries import inbox_files
from pipelines.ingest.jobs import delivered_selection, partner_refs


def build_inbox_sensor(
    partner: Partner, registry: Registry, job: "UnresolvedAssetJobDefinition"
) -> dg.SensorDefinition:
    refs = partner_refs(registry, partner)

    @dg.sensor(
        name=f"inbox_{partner.id}",
        job=job,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Watches BACKBONE_HOME/inbox/{partner.id}/ for new {partner.name} files.",
    )
    def _sensor(context: dg.SensorEvaluationContext, backbone: BackboneResource) -> dg.SensorResult:
        home = backbone.paths
        settle = backbone.settle_seconds()
        scans = {ref.dataset_id: inbox_files(home, ref, settle) for ref in refs}
        waiting = {dataset: scan.ready for dataset, scan in scans.items()}
        files = sorted({path for paths in waiting.values() for path in paths})
        if not files:
            settling = sorted({path.name for scan in scans.values() for path in scan.settling})
            reason = (
                f"still being written (changed in the last {settle:g} s): {', '.join(settling)}"
                if settling
                else f"no files waiting in {home.inbox / partner.id}"
            )
            return dg.SensorResult(skip_reason=dg.SkipReason(reason))
        # The run key names the exact files (name, size, mtime): Dagster starts one run per new set.
        signature = "|".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)
        run_key = hashlib.sha256(signature.encode()).hexdigest()[:20]
        # Only what depends on the datasets that have files: new assessments need not rebuild enrollment's models.
        selection = delivered_selection([ref for ref in refs if waiting[ref.dataset_id]])
        graph = context.repository_def.asset_graph
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=run_key,
                    tags={"partner": partner.id},
                    asset_selection=sorted(selection.resolve(graph)),
                    asset_check_keys=sorted(selection.resolve_checks(graph)),
                )
            ]
        )

    return _sensor
