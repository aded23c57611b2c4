"""Student identifiers are replaced at ingest by HMAC-SHA256 pseudonyms.

The same state ID gives the same pseudonym for every partner (so records link across partners),
while nobody without the partnership's secret key can reverse or recompute it. A pseudonym is the
HMAC's first 128 bits stored as a UUID: 16 bytes instead of 64 hex characters make every copy, join,
group and key test over millions of students cheaper, and 128 bits keep collisions out of reach
(~1e-24 for ten million students).
"""

from __future__ import annotations

import hashlib
import hmac
import uuid

import duckdb

PSEUDONYM_TYPE = "UUID"  # the warehouse type of every pseudonymized column
_BLOCK = 64  # SHA-256 block size in bytes


def pseudonym(value: str, key: bytes) -> uuid.UUID:
    return uuid.UUID(hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32])


def pseudonym_from_hex(expression: str) -> str:
    """SQL turning an HMAC's 64 hex characters into a pseudonym (its first 128 bits as a UUID)."""
    return f"cast(substr({expression}, 1, 32) as {PSEUDONYM_TYPE})"


_INNER, _OUTER = "backbone_link_inner", "backbone_link_outer"


def bind_link_key(con: duckdb.DuckDBPyConnection, key: bytes) -> None:
    """Give `con` (this connection only) the HMAC's padded keys that `pseudonym_sql` reads.

    They are bound as parameters, never written into SQL text: DuckDB quotes a failing statement
    in its error message, and such a message lands in Dagster's event log and the run's log file;
    each padded key is the key itself XOR a constant.
    """
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    con.execute(f"set variable {_INNER} = ?", [bytes(b ^ 0x36 for b in key)])
    con.execute(f"set variable {_OUTER} = ?", [bytes(b ^ 0x5C for b in key)])


def _padded(name: str) -> str:
    # Unbound, getvariable() is NULL and so would every pseudonym be: fail instead.
    return f"coalesce(getvariable('{name}'), error('no linking key bound to this connection')::blob)"


def pseudonym_sql(expression: str) -> str:
    """DuckDB SQL computing HMAC-SHA256(key, expression) as a pseudonym, equal to `pseudonym()`, with
    the key `bind_link_key` gave the connection.

    Done in SQL so millions of IDs are hashed inside DuckDB's streaming scan instead of a Python UDF.
    """
    return pseudonym_from_hex(f"sha256({_padded(_OUTER)} || unhex(sha256({_padded(_INNER)} || encode({expression}))))")
