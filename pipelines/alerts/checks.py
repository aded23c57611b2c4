"""Freshness checks: each raw dataset asset fails `delivered_on_time` while its partner is overdue.

Dagster's own freshness checks and policies judge when an asset was last materialized; a raw asset
is materialized by every ingest run whether or not its partner sent anything, so they would always
pass. These checks judge the partner's deliveries instead (raw.submissions, pipelines.alerts.due):
non-blocking, a warning for one missed period and an error from the second in a row. They run
with every ingest of the dataset and with the alerts job (the daily reminder schedule).
"""


import dagster as dg

from pipelines.alerts.clock import run_as_of
from pipelines.alerts.lateness import schedules
from pipelines.ingest.assets import raw_key
from pipelines.registry import DatasetRef, Registry
from pipelines.resources import WAREHOUSE_POOL, BackboneResource

FRESHNESS_CHECK = "delivered_on_time"


def build_delivery_check(ref: DatasetRef) -> dg.AssetChecksDefinition:
    partner = ref.partner

    @dg.asset_check(
        asset=raw_key(ref),
        name=FRESHNESS_CHECK,
        blocking=False,
        pool=WAREHOUSE_POOL,
        description=f"{partner.name} delivers {ref.dataset_id} once per {partner.cadence.value} period, due "
        f"{partner.grace_period_days} days after the period starts. Warns when a period was missed, errors "
        "from the second missed period in a row.",
    )
    def _check(context: dg.AssetCheckExecutionContext, backbone: BackboneResource) -> dg.AssetCheckResult:
        as_of = run_as_of(context.run.tags)
        with backbone.warehouse() as con:
            status = schedules(con, [ref], as_of)[ref.table]
        missed = ", ".join(period.label for period in reversed(status.missed))
        if not status.first_received_at:
            verdict = "No delivery yet: due dates start with the first delivery."
        elif status.overdue:
            verdict = f"Overdue: no delivery for {missed} (due on {status.missed[0].due_on})."
        else:
            verdict = f"Delivered on schedule; next delivery due by {status.next_due}."
        return dg.AssetCheckResult(
            passed=not status.overdue,
            severity=dg.AssetCheckSeverity.ERROR if len(status.missed) >= 2 else dg.AssetCheckSeverity.WARN,
            description=verdict,
            metadata={
                "as_of": as_of.isoformat(),
                "cadence": partner.cadence.value,
                "grace_days": partner.grace_period_days,
                "current_period": status.current.label,
                "last_delivery": status.last_received_at.isoformat() if status.last_received_at else "none yet",
                "missed_periods": missed or "none",
                "next_due": str(status.next_due) if status.next_due else "after the first delivery",
            },
        )

    return _check


def build_delivery_checks(registry: Registry) -> list[dg.AssetChecksDefinition]:
    return [build_delivery_check(ref) for ref in registry.datasets]
