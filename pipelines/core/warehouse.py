"""Connections to the warehouse file: its memory limit, and its schema brought up to date once per
process (a run is one process) before the first write."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import duckdb

from pipelines.core.migrations import migrate

# DuckDB takes 80% of the machine's memory by default; with a limit it spills to disk instead, in the
# same time. dbt_project/profiles.yml has the same default.
DEFAULT_MEMORY_LIMIT = "1GB"
_migrated: set[tuple[int, int]] = set()  # (device, inode) of warehouse files brought up to date here
_lock = threading.Lock()


def duckdb_memory_limit() -> str:
    """The warehouse's DuckDB memory limit: $BACKBONE_DUCKDB_MEMORY_LIMIT (e.g. '4GB'), else 1GB."""
    return os.environ.get("BACKBONE_DUCKDB_MEMORY_LIMIT") or DEFAULT_MEMORY_LIMIT


def connect(path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection to the warehouse at `path`; a writable one finds the schema migrated."""
    con = duckdb.connect(str(path), read_only=read_only)
    # SET, not connect(config=...): a process may hold the same file open already (a test, say), and
    # DuckDB refuses a second connection whose config differs from the first.
    con.execute("set memory_limit = ?", [duckdb_memory_limit()])
    if not read_only:
        stat = path.stat()
        identity = (stat.st_dev, stat.st_ino)  # a file replaced at the same path is migrated again
        with _lock:
            if identity not in _migrated:
                migrate(con)
                _migrated.add(identity)
    return con
