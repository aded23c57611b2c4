"""Partner data health as the dbt mart marts.partner_data_health last computed it, in the rows the
scorecard reads too (pipelines.publish.published.DataHealthRow).

Read for the partner_alerts asset's metadata (every partner) and for a partner's digest (its own
rows only). The mart is the one place the health figures are computed.
"""

from __future__ import annotations

from dataclasses import fields

import duckdb

from pipelines.core.sql import table_exists
from pipelines.publish.published import DataHealthRow


def recent_health(
    con: duckdb.DuckDBPyConnection, partner_id: str | None = None, periods: int = 3
) -> list[DataHealthRow] | None:
    """Each dataset's latest `periods` periods, of one partner or all; None before the mart exists."""
    if not table_exists(con, "marts", "partner_data_health"):
        return None
    rows = con.execute(
        f"select {', '.join(field.name for field in fields(DataHealthRow))} from marts.partner_data_health "
        "where ? is null or partner = ? "
        "qualify row_number() over (partition by partner, dataset order by period_start desc) <= ? "
        "order by partner, dataset, period_start desc",
        [partner_id, partner_id, periods],
    ).fetchall()
    return [DataHealthRow(*row) for row in rows]


def health_markdown(rows: list[DataHealthRow] | None) -> str:
    if rows is None:
        return "Not computed yet: the partner_data_health mart is built by the pipeline's dbt run."
    if not rows:
        return "No deliveries yet."
    lines = [
        "| partner | dataset | period | delivered | checks failed / passed | rows accepted / rejected | hours to fix |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {row.partner} | {row.dataset} | {row.period} | {row.timeliness} | {row.checks_failed} / "
        f"{row.checks_passed} | {row.rows_accepted} / {row.rows_rejected} | "
        f"{'' if row.hours_to_fix is None else row.hours_to_fix} |"
        for row in rows
    ]
    return "\n".join(lines)
