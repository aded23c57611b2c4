"""Deliver one round of the sample the way each partner really would.

File partners drop files in the instance inbox; the college's records go into the store its
sample API serves; the workforce board's rows go into its SQLite database. Staging a round
twice changes nothing the second time except re-dropping the files (which the pipeline then
recognises by content hash).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import TextIO

from pipelines.core.home import EXPECTATIONS_DIR, PARTNERS_DIR, Home
from pipelines.core.registry import load_registry
from pipelines.sample.api import ENDPOINTS

API_PARTNER, SQL_PARTNER = "riverbend_college", "workforce_board"
INBOX_SUFFIXES = (".csv", ".xlsx")
WAGE_TABLE = "ui_wage_records"
WAGE_COLUMNS = ("person_state_id", "wage_quarter", "was_employed", "total_wages", "naics_sector")


def stage_round(round_dir: Path, home: Path | Home) -> list[str]:
    """Stage every partner folder of `round_dir` into instance `home`; one line per delivery."""
    paths = home if isinstance(home, Home) else Home.resolve(home)
    api_keys = _api_keys()
    lines = []
    for partner_dir in sorted(path for path in Path(round_dir).iterdir() if path.is_dir()):
        partner = partner_dir.name
        for source in sorted(path for path in partner_dir.iterdir() if path.is_file()):
            if source.name.startswith("."):
                continue
            if partner == API_PARTNER and source.name in api_keys:
                lines.append(_extend_api_store(source, paths.sample / "api" / source.name, api_keys[source.name]))
            elif partner == SQL_PARTNER and source.name == f"{WAGE_TABLE}.csv":
                lines.append(_insert_wages(source, paths.sample / f"{SQL_PARTNER}.sqlite"))
            elif source.suffix.lower() in INBOX_SUFFIXES:
                lines.append(_drop(source, paths.inbox / partner))
            else:
                raise ValueError(f"{source}: no way to stage this file for {partner}")
    return lines


def _drop(source: Path, inbox: Path) -> str:
    # Copied under a name no dataset pattern matches, then renamed: the inbox sensor never sees
    # half a file. A fresh mtime (no copy2) keeps the inbox in delivery order.
    inbox.mkdir(parents=True, exist_ok=True)
    partial = inbox / f".{source.name}.partial"
    shutil.copyfile(source, partial)
    os.replace(partial, inbox / source.name)
    return f"{source.parent.name}/{source.name} -> {inbox}"


def _api_keys() -> dict[str, tuple[str, ...]]:
    """Natural key of each API store file in the API's field names: its dataset's suite key (meta.key)
    through the registry's column mapping. A re-sent record replaces the one it updates."""
    registry = load_registry(PARTNERS_DIR, EXPECTATIONS_DIR)
    return {
        ENDPOINTS[ref.feed.endpoint]: tuple(ref.feed.columns[column] for column in ref.suite.key)
        for ref in registry.datasets
        if ref.partner.id == API_PARTNER and ref.feed.endpoint in ENDPOINTS
    }


def _extend_api_store(source: Path, store: Path, key_fields: tuple[str, ...]) -> str:
    records: list[dict] = json.loads(store.read_text(encoding="utf-8")) if store.exists() else []
    position = {tuple(record[field] for field in key_fields): i for i, record in enumerate(records)}
    added = 0
    incoming = json.loads(source.read_text(encoding="utf-8"))
    for record in incoming:
        key = tuple(record[field] for field in key_fields)
        if key in position:
            records[position[key]] = record
        else:
            position[key] = len(records)
            records.append(record)
            added += 1
    store.parent.mkdir(parents=True, exist_ok=True)
    partial = store.with_name(store.name + ".partial")
    partial.write_text(json.dumps(records, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, store)  # the API may be reading it right now: never serve half a file
    return f"{source.parent.name}/{source.name}: {len(incoming)} records ({added} new) -> API store {store}"


def _insert_wages(source: Path, database: Path) -> str:
    database.parent.mkdir(parents=True, exist_ok=True)
    read = 0

    def rows(handle: TextIO) -> Iterator[tuple[str | None, ...]]:
        nonlocal read
        for row in csv.DictReader(handle):
            read += 1
            yield tuple(row[column] or None for column in WAGE_COLUMNS)  # empty sector -> NULL

    with source.open(newline="", encoding="utf-8") as handle, closing(sqlite3.connect(database)) as connection:  # noqa: SIM117
        with connection:  # one transaction, committed before the connection closes
            connection.execute(
                f"create table if not exists {WAGE_TABLE} (person_state_id text not null, wage_quarter text not null, "
                "was_employed text not null, total_wages numeric(12, 2), naics_sector text, "
                "primary key (person_state_id, wage_quarter))"
            )
            before = connection.total_changes
            connection.executemany(f"insert or ignore into {WAGE_TABLE} values (?, ?, ?, ?, ?)", rows(handle))
            added = connection.total_changes - before
    return f"{source.parent.name}/{source.name}: {read} rows ({added} new) -> {database} table {WAGE_TABLE}"
