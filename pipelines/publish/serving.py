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

from pipelines.home import share
from pipelines.sql import ident, literal

MIN_CELL_SIZE = 10
MARTS_SCHEMA = "marts"


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


@dataclass(frozen=True)
class PrivacyRule:
    """When `flag` is false every `sizes` column is at least the minimum; when true, `hidden` are NULL."""

    flag: str
    sizes: tuple[str, ...]
    hidden: tuple[str, ...]


def privacy_rules(manifest: dict) -> dict[str, list[PrivacyRule]]:
    """Each mart's `config.meta.privacy` from the dbt manifest, by table name."""
    rules = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model" and node["config"].get("schema") == MARTS_SCHEMA:
            declared = node["config"].get("meta", {}).get("privacy")
            if declared is not None:
                rules[node["name"]] = [
                    PrivacyRule(rule["flag"], tuple(rule["sizes"]), tuple(rule["hidden"])) for rule in declared
                ]
    return rules


def privacy_violations(con: duckdb.DuckDBPyConnection, table: str, rules: list[PrivacyRule]) -> int:
    """Rows of marts.`table` that would publish a count under the minimum."""
    breaches = [
        f"(not {ident(rule.flag)} and ({' or '.join(f'{ident(c)} < {MIN_CELL_SIZE}' for c in rule.sizes)})) "
        f"or ({ident(rule.flag)} and ({' or '.join(f'{ident(c)} is not null' for c in rule.hidden)}))"
        for rule in rules
    ]
    if not breaches:
        return 0
    where = " or ".join(f"({breach})" for breach in breaches)
    return con.execute(f"select count(*) from {MARTS_SCHEMA}.{ident(table)} where {where}").fetchone()[0]


def publish(warehouse: Path, serving: Path, exports: Path, rules: dict[str, list[PrivacyRule]]) -> list[Published]:
    """Publish every mart, or nothing: a mart without a privacy rule, or breaking it, stops the publish."""
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
            if shown := privacy_violations(con, table, rules[table]):
                raise PublishRefused(
                    f"{MARTS_SCHEMA}.{table} would show {shown} row(s) counting fewer than {MIN_CELL_SIZE}; "
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
    # The share group's read access comes before each rename: a reader never meets a locked version.
    for item in published:
        for target in (item.parquet, item.csv):
            share(_partial(target))
            os.replace(_partial(target), target)
    share(staged)
    os.replace(staged, serving)
    return published
