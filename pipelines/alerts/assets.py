"""The partner alerts asset: queue one mail per partner with its new problems, then send the queue."""


import dagster as dg

from pipelines.alerts.compose import compose, new_problems
from pipelines.alerts.mail import MailerResource
from pipelines.alerts.outbox import deliver_queued, enqueue
from pipelines.registry import Registry
from pipelines.resources import WAREHOUSE_POOL, BackboneResource

ALERTS_KEY = dg.AssetKey(["alerts", "partner_alerts"])


def build_alerts_asset(registry: Registry) -> dg.AssetsDefinition:
    @dg.asset(
        key=ALERTS_KEY,
        group_name="alerts",
        kinds={"email"},
        pool=WAREHOUSE_POOL,
        description="Mails each partner's contacts about their own quarantined or unreadable deliveries "
        "(outbox folder by default, SMTP when BACKBONE_SMTP_HOST is set). Started by a sensor after "
        "a pipeline run fails.",
    )
    def partner_alerts(context: dg.AssetExecutionContext, backbone: BackboneResource,
                       mailer: MailerResource) -> dg.MaterializeResult:
        with backbone.warehouse() as con:
            queued = 0
            for partner_id, problems in new_problems(con, registry).items():
                mail = compose(registry.partners[partner_id], problems)
                queued += enqueue(con, mail, [problem.key for problem in problems])
            delivered = deliver_queued(con, mailer, backbone.paths.outbox)
        failed = [item for item in delivered if item.error]
        for item in failed:
            context.log.warning(f"mail to {item.partner} stays queued: {item.error}")
        lines = ["| partner | recipients | subject | result |", "|---|---|---|---|"] + [
            f"| {d.partner} | {', '.join(d.recipients)} | {d.subject} | {d.error or d.sent_to} |" for d in delivered
        ]
        return dg.MaterializeResult(
            metadata={
                "queued": queued,
                "sent": len(delivered) - len(failed),
                "still_queued": len(failed),
                "mails": dg.MetadataValue.md("\n".join(lines) if delivered else "Nothing to send."),
            }
        )

    return partner_alerts
