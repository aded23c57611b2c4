"""Find what a partner has delivered for a dataset: files in its inbox, or a fresh pull."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.core.home import Home
from pipelines.core.registry import FILE_KINDS, DatasetRef
from pipelines.ingest.landing import file_sha256
from pipelines.ingest.readers import Delivery, format_for

# Names an upload has while it is still going: hidden files and the suffixes upload tools and partners
# use before renaming the finished file (.part, .tmp; WinSCP's .filepart), and Excel's '~$' lock files,
# which sit next to a workbook a partner has open in a shared inbox folder.
IN_PROGRESS_SUFFIXES = (".part", ".tmp", ".filepart")
IN_PROGRESS_PREFIXES = (".", "~$")


def inbox_dir(home: Home, ref: DatasetRef) -> Path:
    return home.inbox / ref.partner.id


def upload_in_progress(name: str) -> bool:
    """A name that says the file is not finished yet, whatever its age."""
    return name.startswith(IN_PROGRESS_PREFIXES) or name.lower().endswith(IN_PROGRESS_SUFFIXES)


@dataclass(frozen=True)
class InboxScan:
    ready: list[Path] = field(default_factory=list)  # unchanged for the settle interval, oldest first
    settling: list[Path] = field(default_factory=list)  # written to within it: taken on a later run


def inbox_files(home: Home, ref: DatasetRef, settle_seconds: float, now: float | None = None) -> InboxScan:
    """The files waiting for this dataset, split into those that have stopped changing and the rest.

    A file is taken once its mtime is at least `settle_seconds` before `now`: every write moves the
    mtime, so its size and contents have then been unchanged for that long. A writer that is still
    writing (a partner's export, a slow upload) keeps moving it and so is never taken half-way.
    """
    folder = inbox_dir(home, ref)
    if not folder.is_dir():
        return InboxScan()
    now = time.time() if now is None else now
    found = []
    for path in folder.glob(ref.feed.files or ""):
        if upload_in_progress(path.name):
            continue
        try:
            stat = path.stat()
        except FileNotFoundError:  # renamed or removed since the listing
            continue
        if path.is_file():
            found.append((stat.st_mtime, path.name, path))
    found.sort()  # deliveries land in the order they came
    return InboxScan(
        ready=[path for mtime, _, path in found if now - mtime >= settle_seconds],
        settling=[path for mtime, _, path in found if now - mtime < settle_seconds],
    )


def release(path: Path, sha256: str) -> bool:
    """Remove an inbox file that has landed, but only if it still holds the bytes that landed: a file
    replaced since it was read is a new delivery, left for the next run. True when it is gone."""
    try:
        if file_sha256(path) != sha256:
            return False
        path.unlink()
    except FileNotFoundError:
        pass
    return True


def collect(
    home: Home, ref: DatasetRef, workdir: Path, settle_seconds: float
) -> Iterator[tuple[Delivery, Path | None]]:
    """Yield each delivery with the file to release once it has landed (the inbox file, or the pull's)."""
    kind = ref.partner.delivery.kind
    if kind in FILE_KINDS:
        for path in inbox_files(home, ref, settle_seconds).ready:
            yield Delivery(path, source=path.name, format=format_for(path), sheet=ref.feed.sheet), path
        return
    # httpx and SQLAlchemy load only when a pull runs: the Dagster definitions load without them.
    from pipelines.ingest.pulls import pull_api, pull_sql

    pulled = pull_api(ref, workdir) if kind == "api" else pull_sql(ref, workdir)
    if pulled is not None:
        yield pulled, pulled.path
