"""The jobs that start with ingest: the whole pipeline, and one per partner that a delivery starts.

What a delivery rebuilds is decided here once: its raw assets and everything downstream of them,
the alerts aside (they follow a failed run by their own sensor).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import dagster as dg

from pipelines.core.registry import DatasetRef, Partner, Registry
from pipelines.ingest.assets import raw_key

if TYPE_CHECKING:  # define_asset_job's return type is not exported by dagster
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

PIPELINE_JOB = "backbone_pipeline"
ALERTS_GROUP = "alerts"


def delivered_selection(refs: Iterable[DatasetRef]) -> dg.AssetSelection:
    """What new deliveries of `refs` rebuild: their raw assets and what depends on them."""
    return dg.AssetSelection.assets(*[raw_key(ref) for ref in refs]).downstream() - dg.AssetSelection.groups(
        ALERTS_GROUP
    )


def partner_refs(registry: Registry, partner: Partner) -> list[DatasetRef]:
    return [ref for ref in registry.datasets if ref.partner.id == partner.id]


def build_pipeline_job() -> UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        PIPELINE_JOB,
        selection=dg.AssetSelection.all() - dg.AssetSelection.groups(ALERTS_GROUP),
        description="Ingest every partner, check, model and publish.",
    )


def build_partner_job(registry: Registry, partner: Partner) -> UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        f"ingest_{partner.id}",
        selection=delivered_selection(partner_refs(registry, partner)),
        description=f"Land {partner.name}'s deliveries and rebuild what depends on them.",
    )
