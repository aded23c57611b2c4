"""The dbt project handle, built lazily and once (parsing a manifest is not import-time work), and the
dbt command of the project's own dbt environment.

dbt runs as a command from its own environment (`.venv-dbt`, made by `make` from
dbt_project/requirements.txt): the Dagster process never imports dbt-core, so loading the definitions
never pays for that import, and dagster-dbt needs only the command and the manifest.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from dagster_dbt import DbtProject
from packaging import version

from pipelines.core.home import PROJECT_ROOT
from pipelines.core.partnership import ConfigError
from pipelines.models.dbt_vars import project_dbt_vars, vars_arg

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
DBT_ENV = PROJECT_ROOT / ".venv-dbt"
DBT_ENV_VAR = "BACKBONE_DBT"


class DbtParseError(RuntimeError):
    pass


def dbt_executable() -> Path:
    """$BACKBONE_DBT, else the project's dbt environment, else `dbt` on PATH."""
    if chosen := os.environ.get(DBT_ENV_VAR):
        return Path(chosen)
    local = DBT_ENV / "bin" / "dbt"
    return local if local.exists() else Path(shutil.which("dbt") or "dbt")


def dbt_core_version(executable: Path) -> version.Version | None:
    """dbt-core's version in the environment of `executable`, read from its package metadata (asking
    the command itself, `dbt --version`, is a whole dbt start); None if that is not a virtualenv's."""
    for site_packages in executable.resolve().parent.parent.glob("lib/python*/site-packages"):
        for found in metadata.distributions(name="dbt-core", path=[str(site_packages)]):
            return version.parse(found.version)
    return None


def run_dbt(
    args: Sequence[str],
    env: Mapping[str, str] | None = None,
    dbt_vars: Mapping[str, Any] | None = None,
    project_dir: Path = DBT_PROJECT_DIR,
) -> subprocess.CompletedProcess[str]:
    """`dbt <args>` on this project (or a copy of it) and its profiles, output captured, with the
    project's vars (pipelines.models.dbt_vars) unless `dbt_vars` are given."""
    executable = dbt_executable()
    values = project_dbt_vars() if dbt_vars is None else dict(dbt_vars)
    try:
        return subprocess.run(
            [
                str(executable),
                *args,
                *vars_arg(values),
                "--project-dir",
                str(project_dir),
                "--profiles-dir",
                str(project_dir),
            ],
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        raise DbtParseError(
            f"dbt is not installed ({executable}): run `make`, which creates {DBT_ENV}, "
            f"or set {DBT_ENV_VAR} to a dbt executable"
        ) from None


def _parse(project: DbtProject) -> None:
    done = run_dbt(["parse", "--quiet", "--target-path", str(project.target_path)])
    if done.returncode != 0:
        raise DbtParseError(f"dbt could not parse {project.project_dir}:\n{(done.stdout + done.stderr).strip()}")


def _project() -> DbtProject:
    return DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


@cache
def dbt_project() -> DbtProject:
    project = _project()
    # `dagster dev` re-parses on start so model edits show up; elsewhere `make` parsed once.
    if project.preparer.using_dagster_dev() or not project.manifest_path.exists():
        _parse(project)
    return project


if __name__ == "__main__":
    # `make` calls this whenever dbt files changed: parse so definitions load a current manifest.
    fresh = _project()
    try:
        _parse(fresh)
    except (*ConfigError, DbtParseError) as exc:
        raise SystemExit(f"error: {exc}") from None
    print(f"dbt manifest: {fresh.manifest_path}")
