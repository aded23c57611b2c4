"""The instance directory: everything a run writes lives under BACKBONE_HOME.

Row-level student data (raw deliveries, the warehouse, outbox, logs, Dagster's event storage, dbt's
compiled SQL, the linking key) is readable by the service account alone. Only the published outputs,
which passed the disclosure rules (serving.duckdb, exports/, site/), may be read by one more group,
the one named by BACKBONE_SHARE_GROUP; without it they are owner-only too: sharing is a decision.
"""

from __future__ import annotations

import grp
import os
import stat
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOME = ".backbone"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
PARTNERS_DIR = PROJECT_ROOT / "sources" / "partners"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
AGENDA_FILE = PROJECT_ROOT / "agenda.yml"
SCHOOLS_FILE = PROJECT_ROOT / "sources" / "schools.yml"
SHARE_GROUP_ENV = "BACKBONE_SHARE_GROUP"
# New files and folders are owner-only (0600 / 0700): DuckDB, SQLite, dbt and Dagster's run workers
# create theirs with the process's umask, which is the only setting all of them obey.
PRIVATE_UMASK = 0o077
PRIVATE_FILE, PRIVATE_DIR = 0o600, 0o700
SHARED_FILE, SHARED_DIR = 0o640, 0o750
SHARED_ROOT = 0o710  # the share group may reach the published outputs by name, not list or enter the rest

# A new instance's dagster.yaml (an existing one is the data engineer's and left alone). SQLite run and
# event storage is Dagster's default for a DAGSTER_HOME without storage config.
DAGSTER_YAML = """\
telemetry:
  enabled: false  # nothing tries to reach the network
# DuckDB admits one writer process, and every warehouse write belongs to the pool `warehouse`: the run
# queue starts a run needing it only when no other such run is in progress (a later sensor's or
# schedule's run waits instead of failing on the warehouse's lock).
concurrency:
  pools:
    granularity: run
    default_limit: 1
# The daemon fails a launched run whose process never started its steps; a run whose process died
# later is failed by the next `backbone run` or `backbone ui` (pipelines/core/dead_runs.py).
run_monitoring:
  enabled: true
"""


class InstanceError(RuntimeError):
    """The instance directory cannot be set up as configured (e.g. an unknown share group)."""


def share_group() -> int | None:
    """The id of the group named by $BACKBONE_SHARE_GROUP (read when called), None when unset."""
    name = os.environ.get(SHARE_GROUP_ENV, "").strip()
    if not name:
        return None
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise InstanceError(
            f"{SHARE_GROUP_ENV}={name!r}: there is no such group on this machine; name the "
            "group whose members may read the published outputs, or unset it"
        ) from None


def _set_mode(path: Path, gid: int | None, *, shared: bool) -> None:
    directory = path.is_dir()
    if shared and gid is not None:
        if path.stat().st_gid != gid:
            try:
                os.chown(path, -1, gid)
            except PermissionError:
                raise InstanceError(
                    f"cannot give {path} to group {gid} ({SHARE_GROUP_ENV}): the service "
                    "account must be a member of that group"
                ) from None
        mode = SHARED_DIR if directory else SHARED_FILE
    else:
        mode = PRIVATE_DIR if directory else PRIVATE_FILE
    os.chmod(path, mode)


def _walk(path: Path) -> list[Path]:
    """`path` and, for a folder, everything in it (symbolic links left alone)."""
    if path.is_symlink():
        return []
    return [path, *(item for item in path.rglob("*") if not item.is_symlink())] if path.is_dir() else [path]


def share(path: Path) -> None:
    """Open a published file or folder (and all in it) to the share group; without one, keep it owner-only.
    Called on a new version before it is renamed into place, so readers never meet a locked one."""
    gid = share_group()
    for item in _walk(path):
        _set_mode(item, gid, shared=True)


@dataclass(frozen=True)
class PublishedSet:
    """What analysts and the community read, under `root`: the instance itself (where these paths lead
    through `published/current`) or one published version (pipelines.publish.release)."""

    root: Path

    @property
    def serving(self) -> Path:
        return self.root / "serving.duckdb"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def site(self) -> Path:
        return self.root / "site"


@dataclass(frozen=True)
class Home(PublishedSet):
    @classmethod
    def resolve(cls, root: str | os.PathLike[str] | None = None) -> Home:
        """`root`, else $BACKBONE_HOME, else ./.backbone — always made absolute so that
        dbt (which runs in its project dir) and Dagster agree on the same files."""
        chosen = root or os.environ.get("BACKBONE_HOME") or DEFAULT_HOME
        return cls(Path(chosen).expanduser().resolve())

    @property
    def dagster(self) -> Path:
        return self.root / "dagster"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def published(self) -> Path:
        """Every published version; serving.duckdb, exports and site are symlinks into its current one."""
        return self.root / "published"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    @property
    def archive(self) -> Path:
        return self.root / "archive"

    @property
    def chart_cache(self) -> Path:
        """The scorecard's charts as SVG, kept to be reused while their data is unchanged."""
        return self.root / "chart-cache"

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def sample(self) -> Path:
        """Where the demo keeps the sample partners' own systems (API store, SQL database)."""
        return self.root / "sample"

    @property
    def logs(self) -> Path:
        """Output of runs started from the command line (dbt's log among it)."""
        return self.root / "logs"

    @property
    def dbt_target(self) -> Path:
        """dbt's artifacts and partial-parse state for this instance's warehouse."""
        return self.root / "dbt-target"

    @property
    def link_key_file(self) -> Path:
        return self.root / "link.key"

    @property
    def shared(self) -> tuple[Path, ...]:
        """What the share group may read: the outputs that passed the disclosure rules."""
        return self.serving, self.exports, self.site, self.published

    def ensure(self) -> Home:
        """Create the instance owner-only (an existing one too, once, e.g. made by an earlier version).

        Every process that writes the instance passes here first (each command, each run's resources),
        so the umask set here also covers what DuckDB, SQLite, dbt and Dagster create in it later."""
        os.umask(PRIVATE_UMASK)
        gid = share_group()
        self.root.mkdir(parents=True, exist_ok=True)
        root_mode = PRIVATE_DIR if gid is None else SHARED_ROOT
        status = self.root.stat()
        if stat.S_IMODE(status.st_mode) != root_mode or (gid is not None and status.st_gid != gid):
            self._restrict(gid, root_mode)
        for path in (self.dagster, self.outbox, self.archive, self.inbox, self.logs):
            if not path.exists():
                path.mkdir(mode=PRIVATE_DIR)
        for path in (self.exports, self.site):
            if not path.exists():
                path.mkdir(mode=PRIVATE_DIR)
                share(path)
        dagster_yaml = self.dagster / "dagster.yaml"
        if not dagster_yaml.exists():
            dagster_yaml.write_text(DAGSTER_YAML)
        return self

    def _restrict(self, gid: int | None, root_mode: int) -> None:
        """Make everything in the instance owner-only but the published outputs, which get the share
        group's modes; then the root, whose mode marks the work done."""
        shared = set(self.shared)
        for item in self.root.iterdir():
            if item in shared:
                share(item)
            else:
                for path in _walk(item):
                    _set_mode(path, gid, shared=False)
        if gid is not None and self.root.stat().st_gid != gid:
            _set_mode(self.root, gid, shared=True)  # the group, and the mode set just below
        os.chmod(self.root, root_mode)
