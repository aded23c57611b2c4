"""Alerts assets: the partner alert mails and the monthly digests.

Mail assets queue their mails in the outbox and then send every queued mail whose retry is due,
so whichever of them runs next also retries what an earlier run could not send.
"""

import datetime as dt

import dagster as dg

from pipelines.alerts.compose import compose, new_problems, next_deliveries
from pipelines.alerts.digest import compose_digest
from pipelines.alerts.health import health_markdown, recent_health
from pipelines.alerts.mail import MailerResource
from pipelines.alerts.outbox import MAX_ATTEMPTS, Delivered, Undelivered, deliver_queued, enqueue, reported, undelivered
from pipelines.core.agenda import Agenda
from pipelines.core.clock import run_as_of
from pipelines.core.registry import Registry
from pipelines.core.resources import WAREHOUSE_POOL, BackboneResource
from pipelines.quality.timeliness import due_statuses, overdue_reminders

ALERTS_KEY = dg.AssetKey(["alerts", "partner_alerts"])
DIGESTS_KEY = dg.AssetKey(["alerts", "partner_digests"])
MAIL_CHECK = "mail_delivered"


def _retry(next_attempt_at: dt.datetime | None) -> str:
    return f"retry at {next_attempt_at:%Y-%m-%d %H:%M} UTC" if next_attempt_at else "given up"


def _mails_table(delivered: list[Delivered]) -> dg.MetadataValue:
    if not delivered:
        return dg.MetadataValue.md("Nothing to send.")
    lines = ["| partner | recipients | subject | result |", "|---|---|---|---|"] + [
        f"| {d.partner} | {', '.join(d.recipients)} | {d.subject} | "
        f"{d.sent_to or f'{d.error}; {_retry(d.next_attempt_at)}'} |"
        for d in delivered
    ]
    return dg.MetadataValue.md("\n".join(lines))


def _waiting_table(waiting: list[Undelivered]) -> dg.MetadataValue:
    if not waiting:
        return dg.MetadataValue.md("Every mail was delivered.")
    lines = ["| partner | subject | attempts | status | last error |", "|---|---|---|---|---|"] + [
        f"| {w.partner} | {w.subject} | {w.attempts} | {_retry(w.next_attempt_at)} | {w.last_error or ''} |"
        for w in waiting
    ]
    return dg.MetadataValue.md("\n".join(lines))


def _outbox_metadata(delivered: list[Delivered], waiting: list[Undelivered]) -> dict[str, object]:
    return {
        "sent": sum(item.error is None for item in delivered),
        "still_queued": sum(item.status == "queued" for item in waiting),
        "given_up": sum(item.status == "failed" for item in waiting),
        "mails": _mails_table(delivered),
        "undelivered": _waiting_table(waiting),
    }


def build_alerts_asset(registry: Registry, agenda: Agenda) -> dg.AssetsDefinition:
    @dg.asset(
        key=ALERTS_KEY,
        group_name="alerts",
        kinds={"email"},
        pool=WAREHOUSE_POOL,
        check_specs=[
            dg.AssetCheckSpec(
                MAIL_CHECK,
                asset=ALERTS_KEY,
                description=f"Fails when a mail could not be delivered after {MAX_ATTEMPTS} attempts and was given up.",
            )
        ],
        description="Mails each partner's contacts (the backbone team in copy) about their own quarantined or "
        "unreadable deliveries and overdue datasets, one mail per partner, then sends every queued mail whose "
        "retry is due (outbox folder by default, SMTP when BACKBONE_SMTP_HOST is set). Started by a sensor after "
        "a pipeline run fails and by the reminder and mail-retry schedules.",
    )
    def partner_alerts(
        context: dg.AssetExecutionContext, backbone: BackboneResource, mailer: MailerResource
    ) -> dg.MaterializeResult:
        as_of = run_as_of(context.run.tags)
        with backbone.warehouse() as con:
            problems = new_problems(con, registry)
            by_table = due_statuses(con, registry.datasets, as_of)
            overdue = overdue_reminders(registry, by_table, reported(con))
            queued = 0
            for partner_id in sorted(problems.keys() | overdue.keys()):
                partner = registry.partners[partner_id]
                mine, late = problems.get(partner_id, []), overdue.get(partner_id, [])
                mail = compose(
                    partner, mine, late, next_deliveries(registry, partner, by_table), mailer.team_address, agenda
                )
                queued += enqueue(con, mail, [item.key for item in [*mine, *late]], at=as_of)
            delivered = deliver_queued(con, mailer, backbone.paths.outbox, due_by=as_of)
            waiting = undelivered(con)
            health = recent_health(con, periods=1)
        for item in delivered:
            if item.error:
                context.log.warning(f"mail to {item.partner} not delivered: {item.error}")
        given_up = [item for item in waiting if item.status == "failed"]
        return dg.MaterializeResult(
            metadata={
                "as_of": as_of.isoformat(),
                "queued": queued,
                **_outbox_metadata(delivered, waiting),
                "data_health": dg.MetadataValue.md(health_markdown(health)),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=MAIL_CHECK,
                    passed=not given_up,
                    severity=dg.AssetCheckSeverity.ERROR,
                    metadata={
                        "given_up": dg.MetadataValue.md(
                            "\n".join(f"- {item.partner}: {item.subject} ({item.last_error})" for item in given_up)
                            or "None."
                        )
                    },
                )
            ],
        )

    return partner_alerts


def build_digest_asset(registry: Registry, agenda: Agenda) -> dg.AssetsDefinition:
    @dg.asset(
        key=DIGESTS_KEY,
        group_name="alerts",
        kinds={"email"},
        pool=WAREHOUSE_POOL,
        description="Each partner's monthly digest (one per partner and month): its own delivery health and "
        "the movement of the shared indicators its data feeds. Started by the monthly digest schedule.",
    )
    def partner_digests(
        context: dg.AssetExecutionContext, backbone: BackboneResource, mailer: MailerResource
    ) -> dg.MaterializeResult:
        as_of = run_as_of(context.run.tags)
        with backbone.warehouse() as con:
            queued = sum(
                enqueue(con, compose_digest(con, registry, partner, as_of, mailer.team_address, agenda), [], at=as_of)
                for partner in registry.partners.values()
            )
            delivered = deliver_queued(con, mailer, backbone.paths.outbox, due_by=as_of)
            waiting = undelivered(con)
        return dg.MaterializeResult(
            metadata={"as_of": as_of.isoformat(), "queued": queued, **_outbox_metadata(delivered, waiting)}
        )

    return partner_digests
