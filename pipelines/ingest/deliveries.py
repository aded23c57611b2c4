"""Find what a partner has delivered for a dataset: files in its inbox, or a fresh pull."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pipelines.core.home import Home
from pipelines.ingest.readers import Delivery, format_for
from pipelines.core.registry import FILE_KINDS, DatasetRef


def inbox_dir(home: Home, ref: DatasetRef) -> Path:
    return home.inbox / ref.partner.id


def inbox_files(home: Home, ref: DatasetRef) -> list[Path]:
    """Files waiting for this dataset, oldest first (deliveries land in the order they came)."""
    folder = inbox_dir(home, ref)
    if not folder.is_dir():
        return []
    files = [path for path in folder.glob(ref.feed.files or "") if path.is_file() and not path.name.startswith(".")]
    return sorted(files, key=lambda path: (path.stat().st_mtime, path.name))


def collect(home: Home, ref: DatasetRef, workdir: Path) -> Iterator[tuple[Delivery, Path | None]]:
    """Yield each delivery with the inbox file to remove once it has landed (None for pulls)."""
    kind = ref.partner.delivery.kind
    if kind in FILE_KINDS:
        for path in inbox_files(home, ref):
            yield Delivery(path, source=path.name, format=format_for(path), sheet=ref.feed.sheet), path
        return
    # httpx and SQLAlchemy load only when a pull runs: the Dagster definitions load without them.
    from pipelines.ingest.pulls import pull_api, pull_sql

    pulled = pull_api(ref, workdir) if kind == "api" else pull_sql(ref, workdir)
    if pulled is not None:
        yield pulled, pulled.path
