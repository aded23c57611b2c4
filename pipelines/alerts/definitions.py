"""The alerts stage's definitions: partner alerts and digests, their jobs, the schedules that start
them (reminders, mail retries, the monthly digest), the sensor that follows failed pipeline runs,
and the mailer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import dagster as dg

from pipelines.alerts.assets import build_alerts_asset, build_digest_asset
from pipelines.alerts.jobs import build_alerts_job, build_digest_job
from pipelines.alerts.mail import MailerResource
from pipelines.alerts.schedules import build_digest_schedule, build_mail_retry_schedule, build_reminder_schedule
from pipelines.alerts.sensors import build_alert_sensor
from pipelines.core.agenda import Agenda
from pipelines.core.registry import Registry

if TYPE_CHECKING:  # define_asset_job's return type is not exported by dagster
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition


def alerts_definitions(
    registry: Registry, agenda: Agenda, followed_jobs: Sequence[UnresolvedAssetJobDefinition]
) -> dg.Definitions:
    """`followed_jobs`: the jobs whose failed runs start the alerts job (a quarantine, an unreadable file)."""
    alerts_job, digest_job = build_alerts_job(registry), build_digest_job()
    return dg.Definitions(
        assets=[build_alerts_asset(registry, agenda), build_digest_asset(registry, agenda)],
        jobs=[alerts_job, digest_job],
        schedules=[
            build_reminder_schedule(alerts_job),
            build_mail_retry_schedule(alerts_job),
            build_digest_schedule(digest_job),
        ],
        sensors=[build_alert_sensor(followed_jobs, alerts_job)],
        resources={"mailer": MailerResource()},
    )
