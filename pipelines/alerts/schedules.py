"""When alerts run by themselves: daily reminders, mail retries with backoff, monthly digests.

Each run is stamped with its tick time (pipelines.core.clock), which it judges due dates and
backoff by.
"""

import datetime as dt
from typing import TYPE_CHECKING

import dagster as dg
import duckdb

from pipelines.alerts.outbox import due_for_retry
from pipelines.core.clock import as_of_tag, utc_now
from pipelines.core.resources import BackboneResource

if TYPE_CHECKING:  # define_asset_job's return type is not exported by dagster
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

RETRY_CRON = "*/10 * * * *"  # a little more often than the shortest backoff (5 minutes) is useful


def _tick(context: dg.ScheduleEvaluationContext) -> dt.datetime:
    """The tick's time in naive UTC, like the warehouse (now, when evaluated outside a tick)."""
    moment = context.scheduled_execution_time
    return moment.astimezone(dt.UTC).replace(tzinfo=None) if moment else utc_now()


def build_reminder_schedule(alerts_job: "UnresolvedAssetJobDefinition") -> dg.ScheduleDefinition:
    @dg.schedule(
        name="partner_reminders",
        cron_schedule="0 7 * * *",
        job=alerts_job,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Every morning: re-evaluates every dataset's delivered_on_time check and mails each partner "
        "one reminder per missed period (escalated to the backbone team from the second in a row).",
    )
    def partner_reminders(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        tick = _tick(context)
        return dg.RunRequest(run_key=f"reminders-{tick:%Y%m%dT%H%M}", tags=as_of_tag(tick))

    return partner_reminders


def build_mail_retry_schedule(alerts_job: "UnresolvedAssetJobDefinition") -> dg.ScheduleDefinition:
    @dg.schedule(
        name="retry_queued_mail",
        cron_schedule=RETRY_CRON,
        job=alerts_job,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Starts the alerts job when a mail the server refused or could not take is due for "
        "another try (exponential backoff, see alerts.outbox.next_attempt_at).",
    )
    def retry_queued_mail(
        context: dg.ScheduleEvaluationContext, backbone: BackboneResource
    ) -> dg.RunRequest | dg.SkipReason:
        tick = _tick(context)
        if not backbone.paths.warehouse.exists():
            return dg.SkipReason("No warehouse yet, so no mail.")
        try:
            with backbone.warehouse(read_only=True) as con:
                due = due_for_retry(con, tick)
        except duckdb.IOException:  # a run holds the warehouse's write lock
            return dg.SkipReason("The warehouse is busy; trying again at the next tick.")
        if not due:
            return dg.SkipReason("No queued mail is due for another try.")
        return dg.RunRequest(run_key=f"mail-retry-{tick:%Y%m%dT%H%M}", tags=as_of_tag(tick))

    return retry_queued_mail


def build_digest_schedule(digest_job: "UnresolvedAssetJobDefinition") -> dg.ScheduleDefinition:
    @dg.schedule(
        name="monthly_partner_digest",
        cron_schedule="0 8 1 * *",
        job=digest_job,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="On the 1st of each month: each partner's digest of its delivery health and of the "
        "indicators its data feeds.",
    )
    def monthly_partner_digest(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        tick = _tick(context)
        return dg.RunRequest(run_key=f"digest-{tick:%Y-%m}", tags=as_of_tag(tick))

    return monthly_partner_digest
