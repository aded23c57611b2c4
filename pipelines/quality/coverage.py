"""Equity coverage: can each indicator really be broken down by the groups the agenda requires?

A breakdown is only as good as the field behind it. This names, for the backbone team, every
indicator whose datasets lack a required field altogether, and every dataset that sends the
field but leaves it empty in too many accepted rows.
"""

from __future__ import annotations

import duckdb

from pipelines.core.agenda import BREAKDOWNS, Agenda
from pipelines.core.registry import DatasetRef, Registry
from pipelines.core.sql import ident

DIMENSION_FIELDS = {breakdown.name: breakdown.field for breakdown in BREAKDOWNS}  # the field behind each breakdown
MAX_EMPTY_SHARE = 0.05


def _empty_shares(con: duckdb.DuckDBPyConnection, table: str, fields: list[str]) -> dict[str, float]:
    """Share of accepted rows of raw.`table` where each field is empty, in one scan; {} before any accepted row."""
    if not con.execute(
        "select count(*) from information_schema.tables where table_schema = 'raw' and table_name = ?", [table]
    ).fetchone()[0]:
        return {}
    empties = ", ".join(f"count(*) filter (where r.{ident(field)} is null)" for field in fields)
    total, *empty = con.execute(
        f"select count(*), {empties} from raw.{ident(table)} r "
        "join raw.submissions s on s.submission_id = r._submission_id where s.status = 'accepted'"
    ).fetchone()
    return {field: count / total for field, count in zip(fields, empty, strict=True)} if total else {}


def coverage_gaps(agenda: Agenda, registry: Registry, con: duckdb.DuckDBPyConnection) -> list[str]:
    # (indicator, dimension, dataset, field) to judge; each dataset is scanned once for all its fields.
    judged: list[tuple[str, str, DatasetRef, str]] = []
    gaps = []
    for indicator in agenda.indicators:
        refs = [
            registry.dataset(dataset, partner)
            for partner, dataset in (source.split(".") for source in indicator.sources)
        ]
        for dimension in indicator.disaggregations:
            field = DIMENSION_FIELDS[dimension]
            providers = [ref for ref in refs if field in ref.suite.columns]
            if not providers:
                names = ", ".join(f"{ref.partner.id} {ref.dataset_id}" for ref in refs)
                gaps.append(f"{indicator.id} by {dimension}: none of its datasets ({names}) has the field '{field}'")
            judged += [(indicator.id, dimension, ref, field) for ref in providers]
    fields: dict[str, set[str]] = {}
    for *_, ref, field in judged:
        fields.setdefault(ref.table, set()).add(field)
    shares = {table: _empty_shares(con, table, sorted(names)) for table, names in fields.items()}
    for indicator_id, dimension, ref, field in judged:
        share = shares[ref.table].get(field)
        if share is not None and share > MAX_EMPTY_SHARE:
            gaps.append(
                f"{indicator_id} by {dimension}: {ref.partner.id} {ref.dataset_id} leaves '{field}' "
                f"empty in {share:.0%} of accepted rows"
            )
    return gaps
