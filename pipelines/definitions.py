"""The one Definitions object: every stage's assets, checks, jobs, schedules and sensors.

Built by a function Dagster calls when it loads the code location, so importing this module
reads nothing and parses nothing.
"""


from pathlib import Path

import dagster as dg

from pipelines.alerts.assets import build_alerts_asset
from pipelines.alerts.mail import MailerResource
from pipelines.alerts.sensors import build_alert_sensor
from pipelines.home import EXPECTATIONS_DIR, PARTNERS_DIR
from pipelines.ingest.assets import build_raw_assets, raw_key
from pipelines.ingest.schedules import build_pull_schedule
from pipelines.ingest.sensors import build_inbox_sensor
from pipelines.models.assets import build_agenda_asset, build_dbt_assets, dbt_resource
from pipelines.publish.assets import build_publish_asset, build_scorecard_asset
from pipelines.quality.checks import build_equity_coverage_check, build_expectations_checks
from pipelines.registry import FILE_KINDS, load_registry
from pipelines.resources import BackboneResource

PIPELINE_JOB = "backbone_pipeline"
ALERTS_JOB = "partner_alerts_job"


def build_definitions(partners_dir: Path = PARTNERS_DIR, expectations_dir: Path = EXPECTATIONS_DIR) -> dg.Definitions:
    registry = load_registry(partners_dir, expectations_dir)
    models = build_dbt_assets(registry)
    marts = [key for key in models.keys if key.path[0] == "marts"]
    alerts = build_alerts_asset(registry)
    submissions = dg.AssetSpec(
        ["raw", "submissions"], group_name="ingest", kinds={"duckdb"},
        description="Every delivery: partner, dataset, file or URL, sha256, rows, status "
        "(pending / accepted / quarantined / unreadable) and why. Written by the raw assets and their checks.",
    )
    assets = [*build_raw_assets(registry), submissions, build_agenda_asset(registry), models,
              build_publish_asset(marts), build_scorecard_asset(registry), alerts]

    not_alerts = dg.AssetSelection.all() - dg.AssetSelection.groups("alerts")
    pipeline = dg.define_asset_job(PIPELINE_JOB, selection=not_alerts,
                                   description="Ingest every partner, check, model and publish.")
    alerts_job = dg.define_asset_job(ALERTS_JOB, selection=dg.AssetSelection.assets(alerts))
    partner_jobs = {
        partner.id: dg.define_asset_job(
            f"ingest_{partner.id}",
            selection=dg.AssetSelection.assets(
                *[raw_key(ref) for ref in registry.datasets if ref.partner.id == partner.id]
            ).downstream() - dg.AssetSelection.groups("alerts"),
            description=f"Land {partner.name}'s deliveries and rebuild what depends on them.",
        )
        for partner in registry.partners.values()
    }
    sensors = [
        build_inbox_sensor(partner, registry, partner_jobs[partner.id])
        for partner in registry.partners.values() if partner.delivery.kind in FILE_KINDS
    ]
    sensors.append(build_alert_sensor([pipeline, *partner_jobs.values()], alerts_job))
    schedules = [
        build_pull_schedule(partner, partner_jobs[partner.id])
        for partner in registry.partners.values() if partner.delivery.kind not in FILE_KINDS
    ]
    return dg.Definitions(
        assets=assets,
        asset_checks=[*build_expectations_checks(registry), build_equity_coverage_check(registry)],
        jobs=[pipeline, alerts_job, *partner_jobs.values()],
        schedules=schedules,
        sensors=sensors,
        resources={"backbone": BackboneResource(), "dbt": dbt_resource(), "mailer": MailerResource()},
        # One process per run: DuckDB admits a single writer, and steps then share no start-up cost.
        executor=dg.in_process_executor,
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
