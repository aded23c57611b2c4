"""The alerts stage's jobs: partner alerts (after a failed run, daily, on mail retries) and digests."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg

from pipelines.alerts.assets import ALERTS_KEY, DIGESTS_KEY
from pipelines.core.registry import Registry
from pipelines.ingest.assets import raw_key
from pipelines.quality.checks import FRESHNESS_CHECK

if TYPE_CHECKING:  # define_asset_job's return type is not exported by dagster
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

ALERTS_JOB = "partner_alerts_job"
DIGEST_JOB = "partner_digest_job"


def build_alerts_job(registry: Registry) -> UnresolvedAssetJobDefinition:
    on_time = [dg.AssetCheckKey(raw_key(ref), FRESHNESS_CHECK) for ref in registry.datasets]
    return dg.define_asset_job(
        ALERTS_JOB,
        selection=dg.AssetSelection.assets(ALERTS_KEY) | dg.AssetSelection.checks(*on_time),
        description="Evaluate every dataset's delivered_on_time check, mail partners about new problems and "
        "overdue datasets, and retry queued mail.",
    )


def build_digest_job() -> UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        DIGEST_JOB, selection=dg.AssetSelection.assets(DIGESTS_KEY), description="Send each partner its monthly digest."
    )
