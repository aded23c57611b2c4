"""The partnership's linking key: the secret of the HMAC pseudonyms that replace student IDs at ingest.

Every stage that pseudonymizes needs the same key every run, or pseudonyms stop matching across
deliveries; it comes from the environment or from the instance's key file.
"""

from __future__ import annotations

import os
import secrets

from pipelines.core.home import Home

KEY_ENV = "BACKBONE_LINK_KEY"


class LinkKeyMissing(RuntimeError):
    pass


def resolve_link_key(home: Home, *, create: bool = False) -> bytes:
    """$BACKBONE_LINK_KEY, else the key file in the instance dir (which the demo creates)."""
    if value := os.environ.get(KEY_ENV):
        return value.encode()
    if home.link_key_file.exists():
        return home.link_key_file.read_text().strip().encode()
    if create:
        home.root.mkdir(parents=True, exist_ok=True)
        home.link_key_file.write_text(secrets.token_hex(32) + "\n")
        home.link_key_file.chmod(0o600)
        return home.link_key_file.read_text().strip().encode()
    raise LinkKeyMissing(
        f"No linking key: set {KEY_ENV} to the partnership's secret key (the same key every run, "
        f"or pseudonyms stop matching across deliveries), or put it in {home.link_key_file}. "
        "`backbone demo` creates a throwaway key for the sample data."
    )
