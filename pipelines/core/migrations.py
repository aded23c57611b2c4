"""Numbered schema migrations of the warehouse: each runs once, in its own transaction, and is
recorded in `meta.schema_migrations`, so upgrading an instance costs one lookup per run instead of
a scan of the catalog inside every step.

A migration is history: it keeps the DDL and names of its day and never imports today's code.
Append new ones; never edit or renumber one that has shipped.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from pipelines.core.clock import utc_now
from pipelines.core.sql import ident, transaction


def _submissions(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("""
        create schema if not exists raw;
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
        )""")


def _check_results(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("""
        create schema if not exists quality;
        create table if not exists quality.check_results (
            submission_id varchar not null,
            expectation varchar not null,
            columns varchar,
            notes varchar,
            success boolean not null,
            element_count bigint,
            unexpected_count bigint,
            unexpected_percent double,
            sample_values varchar,   -- JSON list
            sample_rows varchar,     -- JSON list of source row numbers
            error varchar
        )""")


def _outbox(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("""
        create schema if not exists alerts;
        create table if not exists alerts.outbox (
            mail_key varchar primary key,
            partner varchar not null,
            recipients varchar not null,   -- JSON list (To)
            subject varchar not null,
            text_body varchar not null,
            html_body varchar not null,
            status varchar not null,       -- queued | sent | failed (given up)
            attempts integer not null,
            last_error varchar,
            created_at timestamp not null,
            sent_at timestamp,
            sent_to varchar
        );
        create table if not exists alerts.mail_problems (
            problem_key varchar primary key,  -- what was reported (a quarantined submission, a missed period)
            mail_key varchar not null
        )""")


def _outbox_copies_and_retries(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("""
        alter table alerts.outbox add column if not exists cc varchar;             -- JSON list
        alter table alerts.outbox add column if not exists next_attempt_at timestamp""")


def _uuid_pseudonyms(con: duckdb.DuckDBPyConnection) -> None:
    """Pseudonyms were once the HMAC's 64 hex characters; they are its first 128 bits as a UUID now.
    Every landed or modelled copy converts to the same UUID, so old and new rows of a student link."""
    found = con.execute(
        "select table_schema, table_name, column_name from information_schema.columns "
        "join information_schema.tables using (table_catalog, table_schema, table_name) "
        "where table_type = 'BASE TABLE' and data_type = 'VARCHAR' "
        "and table_schema in ('raw', 'staging', 'intermediate') and column_name = 'student_id' order by all"
    ).fetchall()
    for schema, table, column in found:
        col = ident(column)
        con.execute(
            f"alter table {ident(schema)}.{ident(table)} alter column {col} "
            f"set data type uuid using cast(substr({col}, 1, 32) as uuid)"
        )


MIGRATIONS: tuple[tuple[int, str, Callable[[duckdb.DuckDBPyConnection], None]], ...] = (
    (1, "raw.submissions", _submissions),
    (2, "quality.check_results", _check_results),
    (3, "alerts.outbox and alerts.mail_problems", _outbox),
    (4, "outbox Cc and retry time", _outbox_copies_and_retries),
    (5, "student pseudonyms as UUIDs", _uuid_pseudonyms),
)


def migrate(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply the migrations this warehouse has not had yet; name those applied."""
    con.execute(
        "create schema if not exists meta; create table if not exists meta.schema_migrations "
        "(number integer primary key, name varchar not null, applied_at timestamp not null)"
    )
    done = {row[0] for row in con.execute("select number from meta.schema_migrations").fetchall()}
    applied = []
    for number, name, step in MIGRATIONS:
        if number in done:
            continue
        with transaction(con):
            step(con)
            con.execute("insert into meta.schema_migrations values (?, ?, ?)", [number, name, utc_now()])
        applied.append(f"{number:03d} {name}")
    return applied
