"""Append-only landing of a delivery into `raw."<partner>__<dataset>"`, keyed by content hash.

One transaction per delivery writes its rows and its `raw.submissions` record together, so a
crash leaves either the whole delivery or nothing; the same bytes delivered again are a no-op.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb

from pipelines.core.clock import utc_now
from pipelines.core.registry import DatasetRef
from pipelines.core.sql import ident, transaction
from pipelines.ingest.pseudonym import PSEUDONYM_TYPE, bind_link_key, pseudonym_sql
from pipelines.ingest.readers import TEXT_TABLE, Delivery, DeliveryError, ReadLimits, load_text

LINEAGE_COLUMNS = {
    "_partner": "VARCHAR",
    "_submission_id": "VARCHAR",
    "_source": "VARCHAR",
    "_sha256": "VARCHAR",
    "_loaded_at": "TIMESTAMP",
    "_source_row": "BIGINT",
    "_parse_errors": "VARCHAR",
}

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
    submission_id: str | None  # None: nothing was landed ('changing')
    source: str
    status: Literal["pending", "unreadable", "duplicate", "changing"]
    rows: int = 0
    parse_error_rows: int = 0
    reason: str | None = None  # why it is unreadable or still changing; else how it was read, if notable
    sha256: str | None = None  # of the bytes archived and landed


@dataclass(frozen=True)
class Archived:
    path: Path
    sha256: str
    size: int


class DeliveryChanged(Exception):
    """The file changed while it was being copied: someone is still writing it."""


BLOCK = 1 << 20


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def archive_copy(path: Path, archive_dir: Path, partner_id: str) -> Archived:
    """Copy `path` into the partner's archive as <sha256><suffix>, hashing the bytes as they are copied.

    The file is read once: the bytes hashed are the bytes archived, and everything after reads the
    archive copy, so a file replaced or rewritten in the inbox meanwhile cannot land under another
    file's hash. A copy during which the file grew or was written to is discarded (DeliveryChanged).
    """
    folder = archive_dir / partner_id
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    # A hidden temporary name in the archive's own folder: the rename below is atomic, so the archive
    # never holds half a file under a hash.
    with path.open("rb") as source, tempfile.NamedTemporaryFile(dir=folder, prefix=".incoming-", delete=False) as copy:
        partial = Path(copy.name)
        try:
            before = os.fstat(source.fileno())
            size = 0
            for block in iter(lambda: source.read(BLOCK), b""):
                digest.update(block)
                copy.write(block)
                size += len(block)
            after = os.fstat(source.fileno())
            if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns) or size != after.st_size:
                raise DeliveryChanged(f"{path.name} changed while it was being read")
            copy.flush()
            os.fsync(copy.fileno())  # the inbox file may be removed next: the copy must be on disk first
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    sha256 = digest.hexdigest()
    target = folder / f"{sha256}{path.suffix.lower()}"
    os.replace(partial, target)  # an earlier copy under this name holds the same bytes
    return Archived(target, sha256, size)


def _landed_columns(ref: DatasetRef) -> dict[str, str]:
    """The landing table's columns and types: the suite's, pseudonymized ones as pseudonyms, lineage."""
    columns = {
        name: PSEUDONYM_TYPE if name in ref.suite.pseudonymize else duck_type
        for name, duck_type in ref.suite.columns.items()
    }
    return {**columns, **LINEAGE_COLUMNS}


def ensure_tables(con: duckdb.DuckDBPyConnection, ref: DatasetRef) -> None:
    """The dataset's landing table as its suite declares it (raw.submissions is a migration's)."""
    table = f"raw.{ident(ref.table)}"
    columns = _landed_columns(ref)
    ddl = ", ".join(f"{ident(name)} {duck_type}" for name, duck_type in columns.items())
    con.execute(f"create table if not exists {table} ({ddl})")
    existing = {row[0] for row in con.execute(f"describe {table}").fetchall()}
    # A suite may gain columns later: add them, never drop or retype what has landed.
    for name, duck_type in columns.items():
        if name not in existing:
            con.execute(f"alter table {table} add column {ident(name)} {duck_type}")


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
    archived: Archived | None = None,
    limits: ReadLimits = ReadLimits(),
) -> Landed:
    """Land one delivery from its archive copy (made here unless `archived` is given); never raises
    for a partner's mistake (it becomes an 'unreadable' submission)."""
    ensure_tables(con, ref)
    archived = archived or archive_copy(delivery.path, archive_dir, ref.partner.id)
    sha256 = archived.sha256
    submission_id = _submission_id(ref, sha256)
    if con.execute("select 1 from raw.submissions where submission_id = ?", [submission_id]).fetchone():
        return Landed(submission_id, delivery.source, "duplicate", sha256=sha256)
    received_at = received_at or utc_now()
    record = [
        submission_id,
        ref.partner.id,
        ref.dataset_id,
        delivery.source,
        sha256,
        archived.size,
        str(archived.path),
        received_at,
    ]
    try:
        loaded = load_text(con, dataclasses.replace(delivery, path=archived.path), ref.feed.columns, limits)
    except DeliveryError as exc:
        con.execute(
            "insert into raw.submissions values (?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 'unreadable', ?, null)",
            [*record, str(exc)],
        )
        return Landed(submission_id, delivery.source, "unreadable", reason=str(exc), sha256=sha256)
    rows, note = loaded.rows, loaded.note

    values, errors = _typed_select(ref)
    bind_link_key(con, key)
    lineage = [ref.partner.id, submission_id, delivery.source, sha256, received_at]
    try:
        with transaction(con):
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
    finally:
        con.execute(f"drop table if exists {TEXT_TABLE}")
    return Landed(
        submission_id, delivery.source, "pending", rows=rows, parse_error_rows=bad_rows, reason=note, sha256=sha256
    )


def land_all(
    con: duckdb.DuckDBPyConnection,
    ref: DatasetRef,
    deliveries: Sequence[Delivery],
    key: bytes,
    archive_dir: Path,
    limits: ReadLimits = ReadLimits(),
) -> Iterator[Landed]:
    """Land `deliveries` two at a time, each on its own connection and in its own transaction, and
    yield the results in delivery order.

    Why two: a delivery's rows are numbered in one single-core scan, while typing and pseudonymizing
    use every core; two deliveries at once keep both cores of a small server busy. Each then gets its
    share of DuckDB's threads (one each on two cores): an insert spread over several threads leaves
    under-full row groups, which the next checkpoint merged by rewriting every landed row (figures in
    docs/performance.md). What makes it safe: `received_at` is fixed in
    delivery order before any starts, so the later delivery still wins whatever finishes first; the
    same bytes twice in one batch land once (the later copy is a duplicate, as in separate runs); and
    a delivery that fails stops the results there, the earlier ones having landed.
    """
    ensure_tables(con, ref)  # once, before the workers: their own calls then change nothing
    first_at = utc_now()
    seen: set[str] = set()
    jobs: list[tuple[Delivery, dt.datetime, Archived | None, bool]] = []
    for number, delivery in enumerate(deliveries):
        try:  # each file read once, in delivery order, into the archive: all later reads are of the copy
            archived: Archived | None = archive_copy(delivery.path, archive_dir, ref.partner.id)
        except DeliveryChanged:
            archived = None
        jobs.append(
            (
                delivery,
                first_at + dt.timedelta(microseconds=number),
                archived,
                archived is not None and archived.sha256 in seen,
            )
        )
        if archived is not None:
            seen.add(archived.sha256)

    def land_one(delivery: Delivery, received_at: dt.datetime, archived: Archived | None, repeated: bool) -> Landed:
        if archived is None:
            return Landed(
                None,
                delivery.source,
                "changing",
                reason="the file changed while it was being read: it is taken once it stops changing",
            )
        if repeated:
            return Landed(_submission_id(ref, archived.sha256), delivery.source, "duplicate", sha256=archived.sha256)
        with con.cursor() as cursor:
            return land(cursor, ref, delivery, key, archive_dir, received_at, archived, limits)

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
