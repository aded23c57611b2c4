"""Scheduled pulls for partners whose data we fetch (REST API, SQL database)."""

from __future__ import annotations

import dagster as dg

from pipelines.registry import Partner, RestApi, SqlPull


def build_pull_schedule(partner: Partner, job: dg.UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    assert isinstance(partner.delivery, (RestApi, SqlPull))
    return dg.ScheduleDefinition(
        name=f"pull_{partner.id}",
        cron_schedule=partner.delivery.schedule,
        job=job,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Pulls {partner.name}'s datasets ({partner.cadence.value} cadence).",
    )
