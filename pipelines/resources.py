"""Dagster resources shared by every stage. Settings are read when a run starts, never at import."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb
from pydantic import Field

from pipelines.home import Home
from pipelines.ingest.pseudonym import LinkKeyMissing, resolve_link_key
from pipelines.ingest.limits import ReadLimits, SettingError

WAREHOUSE_POOL = "warehouse"  # DuckDB allows one writer process: every warehouse write joins this pool
# DuckDB takes 80% of the machine's memory by default; with a limit it spills to disk instead. At 10M
# assessment rows `dbt build` peaked at 6.3 GB without it and 1.4 GB with 1GB, in the same time.
# dbt_project/profiles.yml has the same default.
DEFAULT_MEMORY_LIMIT = "1GB"
DEFAULT_SETTLE_SECONDS = 5.0  # long enough for an export or upload to show it is still being written


def duckdb_memory_limit() -> str:
    """The warehouse's DuckDB memory limit: $BACKBONE_DUCKDB_MEMORY_LIMIT (e.g. '4GB'), else 1GB."""
    return os.environ.get("BACKBONE_DUCKDB_MEMORY_LIMIT") or DEFAULT_MEMORY_LIMIT


class BackboneResource(dg.ConfigurableResource):
    """The instance directory (warehouse, archive, inbox, outputs) and the linking key."""

    home: str | None = Field(default=None, description="Instance directory; default $BACKBONE_HOME, else ./.backbone")
    inbox_settle_seconds: float | None = Field(
        default=None, ge=0,
        description="How long an inbox file must have been unchanged before it is taken (a partner may still "
                    f"be writing it); default $BACKBONE_INBOX_SETTLE_SECONDS, else {DEFAULT_SETTLE_SECONDS:g}")

    @property
    def paths(self) -> Home:
        return Home.resolve(self.home).ensure()

    def settle_seconds(self) -> float:
        if self.inbox_settle_seconds is not None:
            return self.inbox_settle_seconds
        raw = os.environ.get("BACKBONE_INBOX_SETTLE_SECONDS", "").strip()
        if not raw:
            return DEFAULT_SETTLE_SECONDS
        try:
            seconds = float(raw)
        except ValueError:
            seconds = -1.0
        if not seconds >= 0:  # also refuses nan
            raise dg.Failure(description=f"BACKBONE_INBOX_SETTLE_SECONDS must be a number of seconds (0 or more), "
                                         f"not '{raw}'")
        return seconds

    def read_limits(self) -> ReadLimits:
        """How large a delivery may be before it is refused unread (settings BACKBONE_MAX_*)."""
        try:
            return ReadLimits.from_env(os.environ)
        except SettingError as exc:
            raise dg.Failure(description=str(exc)) from None

    def link_key(self) -> bytes:
        try:
            return resolve_link_key(self.paths)
        except LinkKeyMissing as exc:
            raise dg.Failure(description=str(exc)) from None

    @contextmanager
    def warehouse(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        path = self.paths.warehouse
        if read_only and not path.exists():
            raise dg.Failure(description=f"The warehouse {path} does not exist yet: run the ingest first.")
        con = duckdb.connect(str(path), read_only=read_only)
        # SET, not connect(config=...): a process may hold the same file open already (dbt in process,
        # tests), and DuckDB refuses a second connection whose config differs from the first.
        con.execute("set memory_limit = ?", [duckdb_memory_limit()])
        try:
            yield con
        finally:
            con.close()
