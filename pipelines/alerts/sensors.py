"""Alerts follow pipeline runs: a failed run (a quarantine, an unreadable file) starts the alerts job."""

from collections.abc import Sequence
from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:  # define_asset_job's return type is not exported by dagster
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition


def build_alert_sensor(
    monitored: "Sequence[UnresolvedAssetJobDefinition]", alerts_job: "UnresolvedAssetJobDefinition"
) -> dg.SensorDefinition:
    @dg.run_status_sensor(
        name="alert_partners_after_failed_run",
        run_status=dg.DagsterRunStatus.FAILURE,
        monitored_jobs=list(monitored),
        request_job=alerts_job,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Mails partners about quarantined or unreadable deliveries once a pipeline run failed.",
    )
    def alert_partners_after_failed_run(context: dg.RunStatusSensorContext) -> dg.RunRequest:
        return dg.RunRequest(run_key=context.dagster_run.run_id)

    return alert_partners_after_failed_run
