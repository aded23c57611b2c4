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


PSEUDONYM_TYPE = "UUID"  # the warehouse type of every pseudonymized column
_BLOCK = 64  # SHA-256 block size in bytes


def pseudonym(value: str, key: bytes) -> uuid.UUID:
    return uuid.UUID(hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32])


def pseudonym_from_hex(expression: str) -> str:
    """SQL turning an HMAC's 64 hex characters into a pseudonym (its first 128 bits as a UUID)."""
    return f"cast(substr({expression}, 1, 32) as {PSEUDONYM_TYPE})"


def pseudonym_sql(expression: str, key: bytes) -> str:
    """DuckDB SQL computing HMAC-SHA256(key, expression) as a pseudonym, equal to `pseudonym()`.

    Done in SQL so millions of IDs are hashed inside DuckDB's streaming scan instead of a
    Python UDF; the padded keys are literals, so the secret itself is never stored.
    """
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    inner = bytes(b ^ 0x36 for b in key).hex()
    outer = bytes(b ^ 0x5C for b in key).hex()
    return pseudonym_from_hex(f"sha256(unhex('{outer}') || unhex(sha256(unhex('{inner}') || encode({expression}))))")
