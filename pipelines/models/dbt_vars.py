"""The lists dbt shares with the rest of the pipeline, handed to every dbt command as `--vars`.

The agenda (agenda.yml: the indicators, the minimum cell size), the breakdowns
(pipelines.core.agenda.BREAKDOWNS), the schools (sources/schools.yml) and each dataset's natural key (its
suite's `meta.key`, expectations/<dataset>.json) are each written once; dbt reads them as vars, so
dbt_project.yml has no copy of them. Every dbt call passes the same vars: `dbt parse`
(pipelines.models.project, run by `make`), the pipeline's `dbt build` (pipelines.models.assets) and
the tests' commands (`run_dbt`). The JSON is sorted, so the same files give the same text and dbt's
partial parsing stays valid between calls.

Running dbt by hand:  dbt build --vars "$(.venv/bin/python -m pipelines.models.dbt_vars)"
"""

from __future__ import annotations

import json
from typing import Any

from pipelines.core.agenda import BREAKDOWNS, Agenda, School, load_schools
from pipelines.core.home import SCHOOLS_FILE
from pipelines.core.partnership import ConfigError, Partnership, load_partnership
from pipelines.core.registry import Registry


def dbt_vars(agenda: Agenda, registry: Registry, schools: list[School]) -> dict[str, Any]:
    """The vars dbt reads (see dbt_project.yml for what each is)."""
    return {
        "min_cell_size": agenda.privacy.min_cell_size,
        # indicator_values publishes these, in this order (macros/indicator_cells.sql per indicator)
        "indicators": [
            {
                "id": indicator.id,
                "numerator_column": indicator.numerator_column,
                "school_geography": "school" in indicator.disaggregations,
            }
            for indicator in agenda.indicators
        ],
        "dimensions": [breakdown.name for breakdown in BREAKDOWNS if not breakdown.geography],
        "geography_dimensions": [breakdown.name for breakdown in BREAKDOWNS if breakdown.geography],
        "schools": [school.model_dump() for school in schools],
        "natural_keys": {ref.table: list(ref.suite.key) for ref in registry.datasets},
    }


def project_dbt_vars(partnership: Partnership | None = None) -> dict[str, Any]:
    """The vars from the partnership's files (loaded already, or now). Raises a ConfigError naming
    the file and field."""
    registry, agenda = partnership or load_partnership()
    return dbt_vars(agenda, registry, load_schools(SCHOOLS_FILE))


def vars_arg(values: dict[str, Any]) -> list[str]:
    """`--vars <json>` for a dbt command line."""
    return ["--vars", json.dumps(values, sort_keys=True, separators=(",", ":"))]


if __name__ == "__main__":
    try:
        print(vars_arg(project_dbt_vars())[1])
    except ConfigError as exc:
        raise SystemExit(f"error: {exc}") from None
