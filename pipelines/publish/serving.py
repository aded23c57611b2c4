"""Copy the curated marts into a serving file that is replaced atomically, plus Parquet and CSV exports.

Analysts keep the serving file open while the pipeline runs: the new file is written beside it
and renamed over it, so an open reader keeps the old, complete version and never sees half a
publish. Exports are replaced the same way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines.core.privacy import MARTS_SCHEMA, PrivacyRule
from pipelines.core.sql import ident, literal



class PublishRefused(RuntimeError):
    """Publishing would break a rule; nothing was replaced."""


@dataclass(frozen=True)
class Published:
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


def _partial(path: Path) -> Path:
    return path.with_name(path.name + ".new")


def privacy_violations(con: duckdb.DuckDBPyConnection, table: str, rules: list[PrivacyRule], min_cell_size: int) -> int:
    """Rows of marts.`table` that would publish a count under `min_cell_size` (agenda.yml privacy)."""
    breaches = [
        f"(not {ident(rule.flag)} and ({' or '.join(f'{ident(c)} < {int(min_cell_size)}' for c in rule.sizes)})) "
        f"or ({ident(rule.flag)} and ({' or '.join(f'{ident(c)} is not null' for c in rule.hidden)}))"
        for rule in rules
    ]
    if not breaches:
        return 0
    where = " or ".join(f"({breach})" for breach in breaches)
    return con.execute(f"select count(*) from {MARTS_SCHEMA}.{ident(table)} where {where}").fetchone()[0]


def publish(warehouse: Path, serving: Path, exports: Path, rules: dict[str, list[PrivacyRule]],
            min_cell_size: int) -> list[Published]:
    """Publish every mart, or nothing: a mart without a privacy rule, or breaking it (a count under
    `min_cell_size`, the agenda's privacy.min_cell_size), stops the publish."""
    exports.mkdir(parents=True, exist_ok=True)
    staged = _partial(serving)
    staged.unlink(missing_ok=True)
    published: list[Published] = []
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = [row[0] for row in con.execute(
            "select table_name from information_schema.tables where table_schema = ? order by table_name",
            [MARTS_SCHEMA],
        ).fetchall()]
        for table in tables:
            if table not in rules:
                raise PublishRefused(f"{MARTS_SCHEMA}.{table} declares no privacy rule (config.meta.privacy "
                                     "in its dbt yml); nothing was published")
            if shown := privacy_violations(con, table, rules[table], min_cell_size):
                raise PublishRefused(
                    f"{MARTS_SCHEMA}.{table} would show {shown} row(s) counting fewer than {min_cell_size}; "
                    "nothing was published"
                )
        con.execute(f"attach {literal(str(staged))} as serving_new (read_write)")
        for table in tables:
            source = f"{MARTS_SCHEMA}.{ident(table)}"
            con.execute(f"create table serving_new.main.{ident(table)} as select * from {source}")
            parquet, csv = exports / f"{table}.parquet", exports / f"{table}.csv"
            con.execute(f"copy {source} to {literal(str(_partial(parquet)))} (format parquet)")
            con.execute(f"copy ({_csv_select(con, source)}) to {literal(str(_partial(csv)))} (format csv, header)")
            rows = con.execute(f"select count(*) from {source}").fetchone()[0]
            published.append(Published(table, rows, parquet, csv))
        con.execute("detach serving_new")
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    finally:
        con.close()
    for item in published:
        os.replace(_partial(item.parquet), item.parquet)
        os.replace(_partial(item.csv), item.csv)
    os.replace(staged, serving)
    return published
