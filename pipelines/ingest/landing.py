"""Append-only landing of a delivery into `raw."<partner>__<dataset>"`, keyed by content hash.

One transaction per delivery writes its rows and its `raw.submissions` record together, so a
crash leaves either the whole delivery or nothing; the same bytes delivered again are a no-op.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb

from pipelines.alerts.clock import utc_now
from pipelines.ingest.pseudonym import PSEUDONYM_TYPE, bind_link_key, pseudonym_sql, upgrade_text_pseudonyms
from pipelines.ingest.readers import TEXT_TABLE, Delivery, DeliveryError, load_text
from pipelines.registry import DatasetRef
from pipelines.sql import ident

LINEAGE_COLUMNS = {
    "_partner": "VARCHAR",
    "_submission_id": "VARCHAR",
    "_source": "VARCHAR",
    "_sha256": "VARCHAR",
    "_loaded_at": "TIMESTAMP",
    "_source_row": "BIGINT",
    "_parse_errors": "VARCHAR",
}

SUBMISSIONS_DDL = """
create table if not exists raw.submissions (
    submission_id varchar primary key,
    partner varchar not null,
    dataset varchar not null,
    source varchar not null,
    sha256 varchar not null,
    size_bytes bigint not null,
    archive_path varchar not null,
    received_at timestamp not null,
    row_count bigint not null,
    parse_error_rows bigint not null,
    status varchar not null,      -- pending | accepted | quarantined | unreadable
    status_reason varchar,
    checked_at timestamp
)
"""

_INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"}
LANDING_WORKERS = 2  # see land_all


def _type_words(duck_type: str) -> str:
    base = duck_type.upper().split("(")[0]
    if base in _INTEGER_TYPES:
        return "a whole number"
    if base == "DATE":
        return "a date written YYYY-MM-DD"
    if base in ("TIMESTAMP", "DATETIME"):
        return "a date and time"
    if base == "BOOLEAN":
        return "true or false"
    return "a number"


def _typed(column: str, duck_type: str) -> str:
    col = ident(column)
    if duck_type.upper().split("(")[0] in _INTEGER_TYPES:
        # DuckDB would round '12.5' to 13; a whole-number column must not silently change data.
        return f"case when regexp_full_match({col}, '[+-]?[0-9]+') then try_cast({col} as {duck_type}) end"
    return f"try_cast({col} as {duck_type})"


@dataclass(frozen=True)
class Landed:
    submission_id: str
    source: str
    status: Literal["pending", "unreadable", "duplicate"]
    rows: int = 0
    parse_error_rows: int = 0
    reason: str | None = None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _landed_columns(ref: DatasetRef) -> dict[str, str]:
    """The landing table's columns and types: the suite's, pseudonymized ones as pseudonyms, lineage."""
    columns = {name: PSEUDONYM_TYPE if name in ref.suite.pseudonymize else duck_type
               for name, duck_type in ref.suite.columns.items()}
    return {**columns, **LINEAGE_COLUMNS}


def ensure_tables(con: duckdb.DuckDBPyConnection, ref: DatasetRef) -> None:
    con.execute("create schema if not exists raw")
    con.execute(SUBMISSIONS_DDL)
    table = f"raw.{ident(ref.table)}"
    columns = _landed_columns(ref)
    ddl = ", ".join(f"{ident(name)} {duck_type}" for name, duck_type in columns.items())
    con.execute(f"create table if not exists {table} ({ddl})")
    # Rows landed before pseudonyms were UUIDs are converted before new ones join them.
    upgrade_text_pseudonyms(con, ref.suite.pseudonymize, schemas=["raw"], table=ref.table)
    existing = {row[0] for row in con.execute(f"describe {table}").fetchall()}
    # A suite may gain columns later: add them, never drop or retype what has landed.
    for name, duck_type in columns.items():
        if name not in existing:
            con.execute(f"alter table {table} add column {ident(name)} {duck_type}")


def _archive(path: Path, sha256: str, archive_dir: Path, partner_id: str) -> Path:
    target = archive_dir / partner_id / f"{sha256}{path.suffix.lower()}"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        shutil.copyfile(path, partial)
        os.replace(partial, target)  # atomic: the archive never holds half a file
    return target


def _typed_select(ref: DatasetRef) -> tuple[str, str]:
    """SELECT list of typed canonical columns and the expression describing cast failures."""
    values, problems = [], []
    for column, duck_type in ref.suite.columns.items():
        col = ident(column)
        if column in ref.suite.pseudonymize:
            values.append(f"{pseudonym_sql(col)} as {col}")
        elif duck_type.upper() == "VARCHAR":
            values.append(col)
        else:
            typed = _typed(column, duck_type)
            values.append(f"{typed} as {col}")
            problems.append(
                f"case when {col} is not null and ({typed}) is null then "
                f"'{column}: ''' || {col} || ''' is not {_type_words(duck_type)}' end"
            )
    errors = f"nullif(concat_ws('; ', {', '.join(problems)}), '')" if problems else "null::varchar"
    return ", ".join(values), errors


def _submission_id(ref: DatasetRef, sha256: str) -> str:
    return f"{ref.table}:{sha256[:16]}"


def land(
    con: duckdb.DuckDBPyConnection,
    ref: DatasetRef,
    delivery: Delivery,
    key: bytes,
    archive_dir: Path,
    received_at: dt.datetime | None = None,
    sha256: str | None = None,
) -> Landed:
    """Land one delivery; never raises for a partner's mistake (it becomes an 'unreadable' submission)."""
    ensure_tables(con, ref)
    sha256 = sha256 or file_sha256(delivery.path)
    submission_id = _submission_id(ref, sha256)
    if con.execute("select 1 from raw.submissions where submission_id = ?", [submission_id]).fetchone():
        return Landed(submission_id, delivery.source, "duplicate")
    archived = _archive(delivery.path, sha256, archive_dir, ref.partner.id)
    received_at = received_at or utc_now()
    record = [submission_id, ref.partner.id, ref.dataset_id, delivery.source, sha256,
              delivery.path.stat().st_size, str(archived), received_at]
    try:
        rows = load_text(con, delivery, ref.config.columns)
    except DeliveryError as exc:
        con.execute(
            "insert into raw.submissions values (?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 'unreadable', ?, null)",
            [*record, str(exc)],
        )
        return Landed(submission_id, delivery.source, "unreadable", reason=str(exc))

    values, errors = _typed_select(ref)
    bind_link_key(con, key)
    lineage = [ref.partner.id, submission_id, delivery.source, sha256, received_at]
    con.execute("begin transaction")
    try:
        con.execute(
            f"insert into raw.{ident(ref.table)} by name select {values}, "
            "? as _partner, ? as _submission_id, ? as _source, ? as _sha256, ? as _loaded_at, "
            f"_source_row, {errors} as _parse_errors from {TEXT_TABLE}",
            lineage,
        )
        bad_rows = con.execute(  # _loaded_at lets DuckDB skip the earlier deliveries' row groups
            f"select count(*) from raw.{ident(ref.table)} "
            "where _submission_id = ? and _loaded_at = ? and _parse_errors is not null",
            [submission_id, received_at],
        ).fetchone()[0]
        con.execute(
            "insert into raw.submissions values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', null, null)",
            [*record, rows, bad_rows],
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        con.execute(f"drop table if exists {TEXT_TABLE}")
    return Landed(submission_id, delivery.source, "pending", rows=rows, parse_error_rows=bad_rows)


def land_all(
    con: duckdb.DuckDBPyConnection,
    ref: DatasetRef,
    deliveries: Sequence[Delivery],
    key: bytes,
    archive_dir: Path,
) -> Iterator[Landed]:
    """Land `deliveries` two at a time, each on its own connection and in its own transaction, and
    yield the results in delivery order.

    Why two: a delivery's rows are numbered in one single-core scan, while typing and pseudonymizing
    use every core; two deliveries at once keep both cores of a small server busy (a district's
    sixteen 700k-row files: landing ~20% faster). Each then gets its share of DuckDB's threads (one
    each on two cores): an insert spread over several threads leaves under-full row groups, which the
    next checkpoint merged by rewriting every landed row (12 district files: 27 s of landing and 7.5 s
    at close; one thread each: 29 s and 0.1 s). What makes it safe: `received_at` is fixed in
    delivery order before any starts, so the later delivery still wins whatever finishes first; the
    same bytes twice in one batch land once (the later copy is a duplicate, as in separate runs); and
    a delivery that fails stops the results there, the earlier ones having landed.
    """
    ensure_tables(con, ref)  # once, before the workers: their own calls then change nothing
    first_at = utc_now()
    seen: set[str] = set()
    jobs: list[tuple[Delivery, dt.datetime, str, bool]] = []
    for number, delivery in enumerate(deliveries):
        sha256 = file_sha256(delivery.path)
        jobs.append((delivery, first_at + dt.timedelta(microseconds=number), sha256, sha256 in seen))
        seen.add(sha256)

    def land_one(delivery: Delivery, received_at: dt.datetime, sha256: str, repeated: bool) -> Landed:
        if repeated:
            return Landed(_submission_id(ref, sha256), delivery.source, "duplicate")
        with con.cursor() as cursor:
            return land(cursor, ref, delivery, key, archive_dir, received_at, sha256)

    threads = con.execute("select current_setting('threads')").fetchone()[0]
    if len(jobs) > 1:  # the setting is the database's: restored below for its other connections
        con.execute(f"set threads = {max(1, threads // LANDING_WORKERS)}")
    try:
        with ThreadPoolExecutor(max_workers=LANDING_WORKERS) as pool:
            futures = [pool.submit(land_one, *job) for job in jobs]
            try:
                for future in futures:
                    yield future.result()
            finally:
                for future in futures:
                    future.cancel()  # after a failure, deliveries not yet started stay in the inbox
    finally:
        con.execute(f"set threads = {threads}")
