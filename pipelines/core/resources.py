"""Dagster resources shared by every stage. Settings are read when a run starts, never at import."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb
from pydantic import Field

from pipelines.core.home import Home, InstanceError
from pipelines.core.linkkey import LinkKeyError, resolve_link_key
from pipelines.core.warehouse import connect

WAREHOUSE_POOL = "warehouse"  # DuckDB allows one writer process: every warehouse write joins this pool
DEFAULT_SETTLE_SECONDS = 5.0  # long enough for an export or upload to show it is still being written


class BackboneResource(dg.ConfigurableResource):
    """The instance directory (warehouse, archive, inbox, outputs) and the linking key."""

    home: str | None = Field(default=None, description="Instance directory; default $BACKBONE_HOME, else ./.backbone")
    inbox_settle_seconds: float | None = Field(
        default=None,
        ge=0,
        description="How long an inbox file must have been unchanged before it is taken (a partner may still "
        f"be writing it); default $BACKBONE_INBOX_SETTLE_SECONDS, else {DEFAULT_SETTLE_SECONDS:g}",
    )

    @property
    def paths(self) -> Home:
        try:
            return Home.resolve(self.home).ensure()
        except InstanceError as exc:
            raise dg.Failure(description=str(exc)) from None

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
            raise dg.Failure(
                description=f"BACKBONE_INBOX_SETTLE_SECONDS must be a number of seconds (0 or more), not '{raw}'"
            )
        return seconds

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
        con = connect(path, read_only=read_only)
        try:
            yield con
        finally:
            con.close()
