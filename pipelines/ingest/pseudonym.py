"""Student identifiers are replaced at ingest by HMAC-SHA256 pseudonyms.

The same state ID gives the same pseudonym for every partner (so records link across partners),
while nobody without the partnership's secret key can reverse or recompute it. A pseudonym is the
HMAC's first 128 bits stored as a UUID: 16 bytes instead of 64 hex characters make every copy, join,
group and key test over millions of students cheaper (at 10M assessment rows: joins 2-3x, grouping
by student 2.3x faster), and 128 bits keep collisions out of reach (~1e-24 for ten million students).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import uuid
from collections.abc import Sequence

import duckdb


from pipelines.home import Home
from pipelines.sql import ident

KEY_ENV = "BACKBONE_LINK_KEY"
PSEUDONYM_TYPE = "UUID"  # the warehouse type of every pseudonymized column
_BLOCK = 64  # SHA-256 block size in bytes


# Beyond guessing even as hex text (128 random bits); `backbone demo` writes 64 hex characters (256 bits).
MIN_KEY_BYTES = 32
GENERATE = "python3 -c 'import secrets; print(secrets.token_hex(32))'"


class LinkKeyError(RuntimeError):
    """No linking key, or one too short to keep pseudonyms from being recomputed."""


def _checked(key: bytes, where: str) -> bytes:
    # A short key can be guessed, and whoever guesses it turns any student ID into its pseudonym.
    if len(key) < MIN_KEY_BYTES:
        raise LinkKeyError(
            f"The linking key in {where} is {'empty' if not key else f'{len(key)} bytes long'}: it must be at "
            f"least {MIN_KEY_BYTES} bytes, or anyone who guesses it can recompute every student's pseudonym. "
            f"Generate one with `{GENERATE}` and keep it for every run (a new key gives every student a new "
            "pseudonym: see 'Rotating the linking key' in the README).")
    return key


def resolve_link_key(home: Home, *, create: bool = False) -> bytes:
    """$BACKBONE_LINK_KEY, else the key file in the instance dir (which the demo creates)."""
    if (value := os.environ.get(KEY_ENV)) is not None:
        return _checked(value.encode(), f"${KEY_ENV}")
    if home.link_key_file.exists():
        return _checked(home.link_key_file.read_text().strip().encode(), str(home.link_key_file))
    if create:
        home.root.mkdir(parents=True, exist_ok=True)
        # Owner-only from its first byte, whatever the umask.
        descriptor = os.open(home.link_key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(MIN_KEY_BYTES) + "\n")
        return resolve_link_key(home)
    raise LinkKeyError(
        f"No linking key: set {KEY_ENV} to the partnership's secret key (the same key every run, "
        f"or pseudonyms stop matching across deliveries), or put it in {home.link_key_file}. "
        "`backbone demo` creates a throwaway key for the sample data."
    )


def pseudonym(value: str, key: bytes) -> uuid.UUID:
    return uuid.UUID(hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32])


def pseudonym_from_hex(expression: str) -> str:
    """SQL turning a pseudonym of the first format (the HMAC's 64 hex characters) into today's."""
    return f"cast(substr({expression}, 1, 32) as {PSEUDONYM_TYPE})"


def upgrade_text_pseudonyms(con: duckdb.DuckDBPyConnection, columns: Sequence[str],
                            schemas: Sequence[str] = ("raw", "staging", "intermediate"),
                            table: str | None = None) -> list[str]:
    """Convert the pseudonyms of the first format (text) still held in `columns` of the tables in
    `schemas` (or only `table`) in place, and name the tables converted. Every copy of a pseudonym
    converts to the same UUID (the HMAC's first half), so old and new rows of a student still link."""
    found = con.execute(
        "select table_schema, table_name, column_name from information_schema.columns "
        "join information_schema.tables using (table_catalog, table_schema, table_name) "
        "where table_type = 'BASE TABLE' and data_type = 'VARCHAR' and list_contains(?, table_schema) "
        "and list_contains(?, column_name) and (? is null or table_name = ?) order by all",
        [list(schemas), list(columns), table, table]).fetchall()
    for schema, name, column in found:
        con.execute(f"alter table {ident(schema)}.{ident(name)} alter column {ident(column)} "
                    f"set data type {PSEUDONYM_TYPE} using {pseudonym_from_hex(ident(column))}")
    return sorted({f"{schema}.{name}" for schema, name, _ in found})


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
    return pseudonym_from_hex(
        f"sha256({_padded(_OUTER)} || unhex(sha256({_padded(_INNER)} || encode({expression}))))")
