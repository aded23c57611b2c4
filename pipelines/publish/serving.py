"""Copy the curated marts into a serving file, plus Parquet and CSV exports, once every mart passes the
privacy gate. They are written into a new published version (pipelines.publish.release), which readers
get only when it is complete.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines.core.privacy import MARTS_SCHEMA, PrivacyRule
from pipelines.core.sql import ident, literal


class PublishRefused(RuntimeError):
    """Publishing would break a rule; nothing was replaced."""


@dataclass(frozen=True)
class PublishedMart:
    """One mart as published: its rows and its export files."""

    table: str
    rows: int
    parquet: Path
    csv: Path


# A spreadsheet runs a cell starting with one of these as a formula ("CSV injection").
_FORMULA_STARTS = "'=', '+', '-', '@', chr(9), chr(13)"


def _csv_select(con: duckdb.DuckDBPyConnection, source: str) -> str:
    """Text cells that a spreadsheet would run as a formula get a leading apostrophe."""
    columns = []
    for name, duck_type, *_ in con.execute(f"describe {source}").fetchall():
        col = ident(name)
        if duck_type == "VARCHAR":
            col = f"case when left({col}, 1) in ({_FORMULA_STARTS}) then chr(39) || {col} else {col} end as {col}"
        columns.append(col)
    return f"select {', '.join(columns)} from {source}"


def privacy_violations(con: duckdb.DuckDBPyConnection, table: str, rules: list[PrivacyRule], min_cell_size: int) -> int:
    """Rows of marts.`table` that would publish a count under `min_cell_size` (agenda.yml privacy): a group
    size under it, or a count of people with (or, as a complement, without) an outcome from 1 to under it."""
    small = f"between 1 and {int(min_cell_size) - 1}"
    breaches = []
    for rule in rules:
        shown = [f"{ident(c)} < {int(min_cell_size)}" for c in rule.sizes]
        shown += [f"{ident(c)} {small}" for c in rule.counts]
        shown += [f"{ident(whole)} - {ident(part)} {small}" for part, whole in rule.complements]
        breaches.append(
            f"(not {ident(rule.flag)} and ({' or '.join(shown)})) "
            f"or ({ident(rule.flag)} and ({' or '.join(f'{ident(c)} is not null' for c in rule.hidden)}))"
        )
    if not breaches:
        return 0
    where = " or ".join(f"({breach})" for breach in breaches)
    return con.execute(f"select count(*) from {MARTS_SCHEMA}.{ident(table)} where {where}").fetchone()[0]


def publish(
    warehouse: Path, serving: Path, exports: Path, rules: dict[str, list[PrivacyRule]], min_cell_size: int
) -> list[PublishedMart]:
    """Write every mart into the new files `serving` and `exports`/, or nothing: a mart without a privacy
    rule, or breaking it (a count under `min_cell_size`, the agenda's privacy.min_cell_size), stops the
    publish before anything is written."""
    published: list[PublishedMart] = []
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = [
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables where table_schema = ? order by table_name",
                [MARTS_SCHEMA],
            ).fetchall()
        ]
        for table in tables:
            if table not in rules:
                raise PublishRefused(
                    f"{MARTS_SCHEMA}.{table} declares no privacy rule (config.meta.privacy "
                    "in its dbt yml); nothing was published"
                )
            if shown := privacy_violations(con, table, rules[table], min_cell_size):
                raise PublishRefused(
                    f"{MARTS_SCHEMA}.{table} would show {shown} row(s) counting fewer than {min_cell_size}; "
                    "nothing was published"
                )
        exports.mkdir(parents=True)
        con.execute(f"attach {literal(str(serving))} as serving_new (read_write)")
        for table in tables:
            source = f"{MARTS_SCHEMA}.{ident(table)}"
            con.execute(f"create table serving_new.main.{ident(table)} as select * from {source}")
            parquet, csv = exports / f"{table}.parquet", exports / f"{table}.csv"
            con.execute(f"copy {source} to {literal(str(parquet))} (format parquet)")
            con.execute(f"copy ({_csv_select(con, source)}) to {literal(str(csv))} (format csv, header)")
            rows = con.execute(f"select count(*) from {source}").fetchone()[0]
            published.append(PublishedMart(table, rows, parquet, csv))
        con.execute("detach serving_new")
    finally:
        con.close()
    return published
