"""The instance directory: everything a run writes lives under BACKBONE_HOME."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOME = ".backbone"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
PARTNERS_DIR = PROJECT_ROOT / "sources" / "partners"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
AGENDA_FILE = PROJECT_ROOT / "agenda.yml"

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


@dataclass(frozen=True)
class Home:
    root: Path

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
    def serving(self) -> Path:
        return self.root / "serving.duckdb"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    @property
    def archive(self) -> Path:
        return self.root / "archive"

    @property
    def site(self) -> Path:
        return self.root / "site"

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

    def ensure(self) -> Home:
        for path in (self.dagster, self.exports, self.outbox, self.archive, self.site, self.inbox):
            path.mkdir(parents=True, exist_ok=True)
        dagster_yaml = self.dagster / "dagster.yaml"
        if not dagster_yaml.exists():
            dagster_yaml.write_text(DAGSTER_YAML)
        return self
