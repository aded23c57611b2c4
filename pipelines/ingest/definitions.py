"""The ingest stage's definitions: a raw asset per partner dataset, the submissions record, the
pipeline and partner jobs, a sensor per file-delivering partner and a schedule per pulled one."""

from __future__ import annotations

import dagster as dg

from pipelines.core.registry import FILE_KINDS, Registry
from pipelines.ingest.assets import SUBMISSIONS, build_raw_assets
from pipelines.ingest.jobs import build_partner_job, build_pipeline_job
from pipelines.ingest.schedules import build_pull_schedule
from pipelines.ingest.sensors import build_inbox_sensor


def ingest_definitions(registry: Registry) -> dg.Definitions:
    partners = list(registry.partners.values())
    partner_jobs = {partner.id: build_partner_job(registry, partner) for partner in partners}
    return dg.Definitions(
        assets=[*build_raw_assets(registry), SUBMISSIONS],
        jobs=[build_pipeline_job(), *partner_jobs.values()],
        sensors=[
            build_inbox_sensor(partner, registry, partner_jobs[partner.id])
            for partner in partners
            if partner.delivery.kind in FILE_KINDS
        ],
        schedules=[
            build_pull_schedule(partner, partner_jobs[partner.id])
            for partner in partners
            if partner.delivery.kind not in FILE_KINDS
        ],
    )
