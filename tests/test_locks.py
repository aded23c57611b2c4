"""`make` installs both environments from lock files only (see the Makefile's `lock`): a dependency
declared but not re-locked would silently be missing, and a dbt environment with another duckdb than
the pipeline's could not open the warehouse the pipeline wrote."""

import re
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from pipelines.core.home import PROJECT_ROOT

PIPELINE_LOCK = PROJECT_ROOT / "requirements" / "pipeline.lock.txt"
DBT_LOCK = PROJECT_ROOT / "dbt_project" / "requirements.lock.txt"


def pins(lock: Path) -> dict[str, str]:
    """Name -> version of every `name==version` entry of a lock file."""
    return {
        canonicalize_name(name): version
        for name, version in re.findall(r"^([A-Za-z0-9._-]+)==(\S+)", lock.read_text(), re.MULTILINE)
    }


def pipeline_declared() -> list[Requirement]:
    """What pyproject.toml asks for, with the extras the Makefile installs."""
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    return [Requirement(line) for line in project["dependencies"] + extras["test"] + extras["postgres"]]


def dbt_declared() -> list[Requirement]:
    lines = (PROJECT_ROOT / "dbt_project" / "requirements.txt").read_text().splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize(
    ("lock", "declared"), [(PIPELINE_LOCK, pipeline_declared), (DBT_LOCK, dbt_declared)], ids=["pipeline", "dbt"]
)
def test_the_lock_pins_every_declared_dependency_within_its_range(
    lock: Path, declared: Callable[[], list[Requirement]]
) -> None:
    pinned = pins(lock)

    def satisfied(requirement: Requirement) -> bool:
        version = pinned.get(canonicalize_name(requirement.name))
        return version is not None and requirement.specifier.contains(version, prereleases=True)

    stale = [str(requirement) for requirement in declared() if not satisfied(requirement)]
    assert not stale, f"{lock.relative_to(PROJECT_ROOT)} does not satisfy {stale}: run `make lock`"


def test_the_dbt_environment_gets_the_pipelines_duckdb() -> None:
    assert pins(DBT_LOCK)["duckdb"] == pins(PIPELINE_LOCK)["duckdb"], "run `make lock`"
