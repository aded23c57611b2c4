"""The one Definitions object: every stage's assets, checks, jobs, schedules and sensors.

Built by a function Dagster calls when it loads the code location, so importing this module
reads nothing and parses nothing.
"""


from pathlib import Path

import dagster as dg

from pipelines.alerts.assets import build_alerts_asset, build_calendar_asset, build_digest_asset
from pipelines.alerts.checks import build_delivery_checks
from pipelines.alerts.mail import MailerResource
from pipelines.alerts.schedules import build_digest_schedule, build_mail_retry_schedule, build_reminder_schedule
from pipelines.alerts.sensors import build_alert_sensor
from pipelines.home import EXPECTATIONS_DIR, PARTNERS_DIR
from pipelines.ingest.assets import build_raw_assets, raw_key
from pipelines.ingest.schedules import build_pull_schedule
from pipelines.ingest.sensors import build_inbox_sensor
from pipelines.models.assets import build_agenda_asset, build_dbt_assets, dbt_resource
from pipelines.publish.assets import build_publish_asset
from pipelines.quality.checks import build_equity_coverage_check, build_expectations_checks
from pipelines.registry import FILE_KINDS, load_registry
from pipelines.resources import BackboneResource

PIPELINE_JOB = "backbone_pipeline"
ALERTS_JOB = "partner_alerts_job"
DIGEST_JOB = "partner_digest_job"


def build_definitions(partners_dir: Path = PARTNERS_DIR, expectations_dir: Path = EXPECTATIONS_DIR) -> dg.Definitions:
    registry = load_registry(partners_dir, expectations_dir)
    models = build_dbt_assets(registry)
    marts = [key for key in models.keys if key.path[0] == "marts"]
    alerts, digests = build_alerts_asset(registry), build_digest_asset(registry)
    delivery_checks = build_delivery_checks(registry)
    submissions = dg.AssetSpec(
        ["raw", "submissions"], group_name="ingest", kinds={"duckdb"},
        description="Every delivery: partner, dataset, file or URL, sha256, rows, status "
        "(pending / accepted / quarantined / unreadable) and why. Written by the raw assets and their checks.",
    )
    check_results = dg.AssetSpec(
        ["quality", "check_results"], group_name="ingest", kinds={"duckdb"},
        description="Each submission's expectation results: counts, sample values and source rows of every "
        "failure. Written by the raw assets' expectations checks; read by the alerts and partner_data_health.",
    )
    assets = [*build_raw_assets(registry), submissions, check_results, build_agenda_asset(registry),
              build_calendar_asset(registry), models, build_publish_asset(marts, registry),
              alerts, digests]

    not_alerts = dg.AssetSelection.all() - dg.AssetSelection.groups("alerts")
    pipeline = dg.define_asset_job(PIPELINE_JOB, selection=not_alerts,
                                   description="Ingest every partner, check, model and publish.")
    alerts_job = dg.define_asset_job(
        ALERTS_JOB, selection=dg.AssetSelection.assets(alerts) | dg.AssetSelection.checks(*delivery_checks),
        description="Evaluate every dataset's delivered_on_time check, mail partners about new problems and "
        "overdue datasets, and retry queued mail.",
    )
    digest_job = dg.define_asset_job(DIGEST_JOB, selection=dg.AssetSelection.assets(digests),
                                      description="Send each partner its monthly digest.")
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
    schedules += [build_reminder_schedule(alerts_job), build_mail_retry_schedule(alerts_job),
                  build_digest_schedule(digest_job)]
    return dg.Definitions(
        assets=assets,
        asset_checks=[*build_expectations_checks(registry), *delivery_checks, build_equity_coverage_check(registry)],
        jobs=[pipeline, alerts_job, digest_job, *partner_jobs.values()],
        schedules=schedules,
        sensors=sensors,
        resources={"backbone": BackboneResource(), "dbt": dbt_resource(), "mailer": MailerResource()},
        # One process per run: DuckDB admits a single writer, and steps then share no start-up cost.
        executor=dg.in_process_executor,
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
