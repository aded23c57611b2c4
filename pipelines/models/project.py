"""The dbt project handle, built lazily and once (parsing a manifest is not import-time work)."""

from __future__ import annotations

from functools import cache

from dagster_dbt import DbtProject

from pipelines.home import PROJECT_ROOT

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"


@cache
def dbt_project() -> DbtProject:
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
    # `dagster dev` re-parses on start so model edits show up; elsewhere `make` parsed once.
    project.prepare_if_dev()
    if not project.manifest_path.exists():
        project.preparer.prepare(project)
    return project


if __name__ == "__main__":
    # `make` calls this after installing: parse once so definitions load from the manifest.
    print(f"dbt manifest: {dbt_project().manifest_path}")
