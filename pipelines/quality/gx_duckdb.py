"""Make Great Expectations' SQL execution engine work on DuckDB (duckdb-engine).

Why: `SqlAlchemyExecutionEngine.execute_query` runs a query on a pooled connection and returns the
result *after* the `with engine.connect()` block has handed that connection back to the pool. The
pool's reset-on-return rolls the DuckDB connection back, which discards DuckDB's pending result, so
GX then fetches no rows: every metric fails (`IndexError` in `resolve_metric_bundle`) and nothing can
be validated. Drivers that fetch rows client-side (psycopg2, for one) hide this on other databases.

Fix: buffer a row-returning result (SQLAlchemy's `Result.freeze()`) while the connection is still
open, for DuckDB connections only. Applied at run time by `ensure_duckdb_fix()` (so importing this
module patches nothing), and idempotent. `tests/test_gx_duckdb.py` checks in a fresh process that
GX still fails without it: when that test fails, GX has fixed it upstream and this module can go.

Cost: a frozen result holds all of its rows in memory, e.g. every row an `unexpected_rows_query`
matches even though GX reads only the first 200.
"""

from __future__ import annotations

import threading
from typing import Any

_MARK = "_backbone_duckdb_fix"
_lock = threading.Lock()


def ensure_duckdb_fix() -> None:
    """Patch GX (once per process) so that DuckDB query results outlive their pooled connection."""
    from great_expectations.execution_engine.sqlalchemy_execution_engine import SqlAlchemyExecutionEngine

    with _lock:
        # Every query GX runs (execute_query, execute_query_in_transaction) goes through this one
        # static method, with the connection still open: the narrowest place to buffer the result.
        current = SqlAlchemyExecutionEngine.__dict__.get("_execute_query_with_recovery")
        if not isinstance(current, staticmethod):
            raise RuntimeError(
                "great_expectations changed SqlAlchemyExecutionEngine._execute_query_with_recovery; "
                "revisit pipelines/quality/gx_duckdb.py"
            )
        original = current.__func__
        if getattr(original, _MARK, False):
            return

        def execute_and_buffer(connection: Any, query: Any) -> Any:
            result = original(connection, query)
            if connection.dialect.name == "duckdb" and result.returns_rows:
                return result.freeze()()  # a fresh Result over the rows fetched just now
            return result

        setattr(execute_and_buffer, _MARK, True)
        SqlAlchemyExecutionEngine._execute_query_with_recovery = staticmethod(execute_and_buffer)
