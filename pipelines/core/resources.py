"""Dagster resources shared by every stage. Settings are read when a run starts, never at import."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb
from pydantic import Field

from pipelines.core.home import Home
from pipelines.core.linkkey import LinkKeyMissing, resolve_link_key
from pipelines.core.warehouse import connect

WAREHOUSE_POOL = "warehouse"  # DuckDB allows one writer process: every warehouse write joins this pool

class BackboneResource(dg.ConfigurableResource):
    """The instance directory (warehouse, archive, inbox, outputs) and the linking key."""

    home: str | None = Field(default=None, description="Instance directory; default $BACKBONE_HOME, else ./.backbone")

    @property
    def paths(self) -> Home:
        return Home.resolve(self.home).ensure()

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
        con = connect(path, read_only=read_only)
        try:
            yield con
        finally:
            con.close()
