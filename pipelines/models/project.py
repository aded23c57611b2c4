"""The dbt project handle, built lazily and once (parsing a manifest is not import-time work)."""

from __future__ import annotations

from functools import cache

from dagster_dbt import DbtProject

from pipelines.home import PROJECT_ROOT

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"


class DbtParseError(RuntimeError):
    pass


def _parse(project: DbtProject) -> None:
    # In process, so it needs no `dbt` on PATH (a virtualenv that is not activated).
    from dbt.cli.main import dbtRunner

    result = dbtRunner().invoke(["parse", "--quiet", "--project-dir", str(project.project_dir),
                                 "--profiles-dir", str(project.profiles_dir),
                                 "--target-path", str(project.target_path)])
    if not result.success:
        raise DbtParseError(f"dbt could not parse {project.project_dir}: {result.exception}")


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
    _parse(fresh)
    print(f"dbt manifest: {fresh.manifest_path}")
