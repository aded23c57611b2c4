"""The partnership's linking key: the secret of the HMAC pseudonyms that replace student IDs at ingest.

Every stage that pseudonymizes needs the same key every run, or pseudonyms stop matching across
deliveries; it comes from the environment or from the instance's key file, and a key short enough
to guess is refused.
"""

from __future__ import annotations

import os
import secrets

from pipelines.core.home import Home

KEY_ENV = "BACKBONE_LINK_KEY"
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
            "pseudonym: see 'Rotating the linking key' in the README)."
        )
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
