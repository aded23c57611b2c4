"""Scheduled pulls for partners whose data we fetch (REST API, SQL database)."""

from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:  # define_asset_job's return type is not exported by dagster
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from pipelines.core.registry import Partner, RestApi, SqlPull


def build_pull_schedule(partner: Partner, job: "UnresolvedAssetJobDefinition") -> dg.ScheduleDefinition:
    assert isinstance(partner.delivery, (RestApi, SqlPull))
    return dg.ScheduleDefinition(
        name=f"pull_{partner.id}",
        cron_schedule=partner.delivery.schedule,
        job=job,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Pulls {partner.name}'s datasets ({partner.cadence.value} cadence).",
    )
