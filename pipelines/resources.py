"""Dagster resources shared by every stage. Settings are read when a run starts, never at import."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb
from pydantic import Field

from pipelines.home import Home, InstanceError
from pipelines.ingest.pseudonym import LinkKeyError, resolve_link_key

WAREHOUSE_POOL = "warehouse"  # DuckDB allows one writer process: every warehouse write joins this pool
# DuckDB takes 80% of the machine's memory by default; with a limit it spills to disk instead. At 10M
# assessment rows `dbt build` peaked at 6.3 GB without it and 1.4 GB with 1GB, in the same time.
# dbt_project/profiles.yml has the same default.
DEFAULT_MEMORY_LIMIT = "1GB"


def duckdb_memory_limit() -> str:
    """The warehouse's DuckDB memory limit: $BACKBONE_DUCKDB_MEMORY_LIMIT (e.g. '4GB'), else 1GB."""
    return os.environ.get("BACKBONE_DUCKDB_MEMORY_LIMIT") or DEFAULT_MEMORY_LIMIT


class BackboneResource(dg.ConfigurableResource):
    """The instance directory (warehouse, archive, inbox, outputs) and the linking key."""

    home: str | None = Field(default=None, description="Instance directory; default $BACKBONE_HOME, else ./.backbone")

    @property
    def paths(self) -> Home:
        try:
            return Home.resolve(self.home).ensure()
        except InstanceError as exc:
            raise dg.Failure(description=str(exc)) from None

    def link_key(self) -> bytes:
        try:
            return resolve_link_key(self.paths)
        except LinkKeyError as exc:
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
