"""The common agenda: the partnership's shared indicators and its programs' performance measures.

`agenda.yml` at the repository root is reviewed like code. Loading is strict (unknown keys, a
baseline outside 0..1, a target before its baseline, an unknown disaggregation all stop it) and
every message names the file and the field, e.g.

    agenda.yml: indicators[grade8_math].baseline.value: Input should be less than or equal to 1

`write_agenda` copies the agenda into the warehouse schema `config`, which dbt reads as the source
`config` (dbt_project/models/staging/_config__sources.yml): the indicator definitions with their
baselines and targets, the required disaggregations, and the programs. Call it before `dbt build`.
dbt also gets the agenda's indicators and minimum cell size as vars (pipelines/models/dbt_vars.py).

Two reference lists live here too: BREAKDOWNS, the breakdowns an indicator may require (name, the
partner field behind it, its title on the scorecard), and `load_schools`, the schools reference
(sources/schools.yml: the school codes partners send, with the names dbt publishes).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import duckdb
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipelines.core.config_model import StrictModel, describe_errors
from pipelines.core.sql import transaction

INDICATOR_ID = r"^[a-z][a-z0-9_]*$"
PROGRAM_ID = r"^[A-Z][A-Z0-9-]*$"
DATASET_REF = r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$"  # partner.dataset
SCHOOL_YEAR = re.compile(r"^(\d{4})-(\d{2})$")
YEAR = re.compile(r"^(\d{4})$")
COLUMN = r"^[a-z][a-z0-9_]*$"


@dataclass(frozen=True)
class Breakdown:
    """A breakdown an indicator may require: its name (agenda.yml, indicator_values.dimension and the
    column of every int_<indicator>__students model holding a person's group), the partner field it
    comes from (a suite column, judged by the equity coverage check) and its title on the scorecard."""

    name: str
    field: str
    title: str
    geography: bool = False  # one geography per value (geography_level 'school'), not groups within one


# The one list of breakdowns: the agenda's validation, dbt (through its vars), the coverage check and
# the scorecard all read it. 'school' publishes one geography per school; the others are dimensions
# within every geography.
BREAKDOWNS: tuple[Breakdown, ...] = (
    Breakdown("race_ethnicity", "race_ethnicity", "race/ethnicity"),
    Breakdown("gender", "gender", "gender"),
    Breakdown("econ_disadvantaged", "econ_disadvantaged", "family income"),
    Breakdown("english_learner", "english_learner", "English learner status"),
    Breakdown("special_education", "special_education", "special education status"),
    Breakdown("school", "school_id", "school", geography=True),
)
DIMENSIONS: tuple[str, ...] = tuple(breakdown.name for breakdown in BREAKDOWNS)
Dimension = Literal[DIMENSIONS]  # type: ignore[valid-type]

# Columns of marts/program_performance an agenda's program measures may name.
PROGRAM_MEASURES: dict[str, tuple[str, ...]] = {
    "how_much": ("students_served", "sessions_offered", "sessions_delivered"),
    "how_well": ("dosage_share",),
    "better_off": ("participant_proficiency_rate", "comparison_proficiency_rate", "proficiency_difference"),
}

CONFIG_SCHEMA = "config"
TABLES: dict[str, dict[str, str]] = {
    "indicators": {
        "id": "VARCHAR",
        "title": "VARCHAR",
        "description": "VARCHAR",
        "numerator_definition": "VARCHAR",
        "denominator_definition": "VARCHAR",
        "unit": "VARCHAR",
        "higher_is_better": "BOOLEAN",
        "baseline_period": "VARCHAR",
        "baseline_value": "DOUBLE",
        "target_period": "VARCHAR",
        "target_value": "DOUBLE",
        "sources": "VARCHAR",
    },
    "indicator_disaggregations": {"indicator_id": "VARCHAR", "dimension": "VARCHAR"},
    "programs": {
        "program_id": "VARCHAR",
        "name": "VARCHAR",
        "description": "VARCHAR",
        "source": "VARCHAR",
        "dosage_threshold": "DOUBLE",
    },
}


class AgendaError(ValueError):
    """agenda.yml cannot be used; the message says which file and field."""


class _Entry(StrictModel):
    model_config = ConfigDict(str_strip_whitespace=True)


def period_start(period: str) -> int:
    """Calendar year a period starts in: '2024-25' -> 2024, '2025' -> 2025 (as dbt computes it)."""
    return int(period[:4])


def period_kind(period: str) -> str:
    return "school year" if SCHOOL_YEAR.match(period) else "year"


class PeriodValue(_Entry):
    """A value of the indicator in one period: a school year 'YYYY-YY' or a year 'YYYY'."""

    period: str
    value: float = Field(ge=0, le=1, description="proportion 0..1 (0.452 is 45.2%)")

    @field_validator("period", mode="before")
    @classmethod
    def _period_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("period")
    @classmethod
    def _period_format(cls, value: str) -> str:
        if match := SCHOOL_YEAR.match(value):
            start, end = int(match[1]), int(match[2])
            if (start + 1) % 100 != end:
                raise ValueError(f"'{value}' is not a school year: it should end in {(start + 1) % 100:02d}")
            return value
        if YEAR.match(value):
            return value
        raise ValueError(f"'{value}' is not a period: write a school year 'YYYY-YY' (e.g. '2024-25') or a year 'YYYY'")


class Indicator(_Entry):
    id: str = Field(pattern=INDICATOR_ID)
    title: str = Field(min_length=1)
    description: str = Field(min_length=1)
    population: str = Field(min_length=1, description="who is measured, in a few words (the scorecard's activity map)")
    numerator: str = Field(min_length=1, description="who counts in the numerator, in plain words")
    numerator_column: str = Field(
        pattern=COLUMN, description="boolean column of dbt model int_<id>__students: the person counts in the numerator"
    )
    denominator: str = Field(min_length=1, description="who is measured, in plain words")
    unit: Literal["percent"]
    higher_is_better: bool
    baseline: PeriodValue
    target: PeriodValue
    disaggregations: list[Dimension] = Field(default_factory=list)
    sources: list[Annotated[str, Field(pattern=DATASET_REF)]] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Indicator:
        if period_kind(self.baseline.period) != period_kind(self.target.period):
            raise ValueError(
                f"target.period: '{self.target.period}' is a {period_kind(self.target.period)} but "
                f"baseline.period '{self.baseline.period}' is a {period_kind(self.baseline.period)}"
            )
        if period_start(self.target.period) <= period_start(self.baseline.period):
            raise ValueError(
                f"target.period: '{self.target.period}' must come after the baseline period '{self.baseline.period}'"
            )
        for name, items in (("disaggregations", self.disaggregations), ("sources", self.sources)):
            repeated = sorted({item for item in items if items.count(item) > 1})
            if repeated:
                raise ValueError(f"{name}: listed more than once: {', '.join(repeated)}")
        return self


class Measure(_Entry):
    measure: str
    description: str = Field(min_length=1)


class Program(_Entry):
    """A partner program's Results-Based Accountability measures (marts/program_performance)."""

    id: str = Field(pattern=PROGRAM_ID)
    name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    population: str = Field(min_length=1, description="who the program serves, in a few words")
    indicators: list[str] = Field(default_factory=list, description="ids of the shared indicators it works toward")
    source: str = Field(pattern=DATASET_REF)
    dosage_threshold: float = Field(gt=0, le=1, description="share of offered sessions a participant must attend")
    how_much: list[Measure] = Field(min_length=1)
    how_well: list[Measure] = Field(min_length=1)
    better_off: list[Measure] = Field(min_length=1)

    @model_validator(mode="after")
    def _known_measures(self) -> Program:
        for kind, known in PROGRAM_MEASURES.items():
            for number, item in enumerate(getattr(self, kind)):
                if item.measure not in known:
                    raise ValueError(
                        f"{kind}.{number}.measure: unknown measure '{item.measure}' "
                        f"(program_performance has: {', '.join(known)})"
                    )
        return self


class Privacy(_Entry):
    """What the partnership publishes about small groups: dbt suppresses, the publish gate refuses and
    the scorecard explains with these numbers."""

    min_cell_size: int = Field(ge=1, description="smallest group whose counts and values may be published")
    # A group of at least min_cell_size where 1 to min_cell_size - 1 people have (or lack) the outcome:
    # 'suppress' hides the cell (then its complements, as for a small group); 'top_bottom_code' (show
    # e.g. "<= 5%" / ">= 95%", the NCES SLDS brief's alternative) is named but not built yet.
    small_counts: Literal["suppress", "top_bottom_code"] = Field(
        default="suppress", description="what a cell with a small count or complement shows"
    )

    @field_validator("small_counts")
    @classmethod
    def _implemented(cls, value: str) -> str:
        if value != "suppress":
            raise ValueError(f"'{value}' is not implemented yet; the pipeline can only 'suppress' small counts")
        return value


class Agenda(_Entry):
    partnership: str = Field(min_length=1)
    privacy: Privacy
    indicators: list[Indicator] = Field(min_length=1)
    programs: list[Program] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> Agenda:
        for name, items in (("indicators", self.indicators), ("programs", self.programs)):
            ids = [item.id for item in items]
            repeated = sorted({item for item in ids if ids.count(item) > 1})
            if repeated:
                raise ValueError(f"{name}: id listed more than once: {', '.join(repeated)}")
        known = [indicator.id for indicator in self.indicators]
        for program in self.programs:
            if unknown := [item for item in program.indicators if item not in known]:
                raise ValueError(
                    f"programs[{program.id}].indicators: unknown indicator(s) {', '.join(unknown)} "
                    f"(the agenda has: {', '.join(known)})"
                )
        return self

    def indicator(self, indicator_id: str) -> Indicator:
        for indicator in self.indicators:
            if indicator.id == indicator_id:
                return indicator
        raise KeyError(indicator_id)


class School(_Entry):
    """A school: the code partners send (school_id), the name it is published under, its level."""

    code: str = Field(pattern=r"^[0-9]+$")
    name: str = Field(min_length=1)
    level: Literal["Elementary", "Middle", "High"]


class _SchoolsFile(_Entry):
    schools: list[School] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> _SchoolsFile:
        for name in ("code", "name"):
            values = [getattr(school, name) for school in self.schools]
            if repeated := sorted({value for value in values if values.count(value) > 1}):
                raise ValueError(f"schools: {name} listed more than once: {', '.join(repeated)}")
        return self


_Model = TypeVar("_Model", bound=BaseModel)


def _load(path: Path, model: type[_Model], expected: str) -> _Model:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AgendaError(f"{path}: cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise AgendaError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise AgendaError(f"{path}: expected a mapping with {expected}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise AgendaError(
            f"{path}: {describe_errors(exc, data, named_lists=('indicators', 'programs', 'schools'))}"
        ) from None


def load_schools(path: Path | str) -> list[School]:
    """Read and validate the schools reference (sources/schools.yml)."""
    return _load(Path(path), _SchoolsFile, "'schools'").schools


def load_agenda(path: Path | str, known_datasets: Iterable[str] | None = None) -> Agenda:
    """Read and validate agenda.yml. `known_datasets` ('partner.dataset', e.g. from the partner
    registry), when given, is what every indicator's and program's sources must name."""
    path = Path(path)
    agenda = _load(path, Agenda, "'partnership', 'privacy', 'indicators' and 'programs'")
    if known_datasets is not None:
        known = set(known_datasets)
        for kind, items in (("indicators", agenda.indicators), ("programs", agenda.programs)):
            for item in items:
                sources = item.sources if isinstance(item, Indicator) else [item.source]
                unknown = [source for source in sources if source not in known]
                if unknown:
                    field = "sources" if isinstance(item, Indicator) else "source"
                    raise AgendaError(
                        f"{path}: {kind}[{item.id}].{field}: unknown dataset(s) "
                        f"{', '.join(unknown)} (known: {', '.join(sorted(known))})"
                    )
    return agenda


def agenda_rows(agenda: Agenda) -> dict[str, list[tuple]]:
    """The config tables' rows, in TABLES' column order (for any database)."""
    return {
        "indicators": [
            (
                i.id,
                i.title,
                i.description,
                i.numerator,
                i.denominator,
                i.unit,
                i.higher_is_better,
                i.baseline.period,
                i.baseline.value,
                i.target.period,
                i.target.value,
                ", ".join(i.sources),
            )
            for i in agenda.indicators
        ],
        "indicator_disaggregations": [(i.id, dimension) for i in agenda.indicators for dimension in i.disaggregations],
        "programs": [(p.id, p.name, p.description, p.source, p.dosage_threshold) for p in agenda.programs],
    }


def write_agenda(con: duckdb.DuckDBPyConnection, agenda: Agenda) -> None:
    """Replace the tables of schema `config` with the agenda, in one transaction: a reader sees the
    old agenda or the new one, never a mix, and a failure leaves the old one in place."""
    rows = agenda_rows(agenda)
    with transaction(con):
        con.execute(f"create schema if not exists {CONFIG_SCHEMA}")
        for table, columns in TABLES.items():
            ddl = ", ".join(f"{name} {kind}" for name, kind in columns.items())
            con.execute(f"create or replace table {CONFIG_SCHEMA}.{table} ({ddl})")
            if rows[table]:
                con.executemany(
                    f"insert into {CONFIG_SCHEMA}.{table} values ({', '.join('?' * len(columns))})", rows[table]
                )
