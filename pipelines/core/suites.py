"""Dataset suites: `expectations/<dataset>.json`, one Great Expectations 1.x suite per dataset.

A suite file is the dataset's contract. Its `meta` declares the canonical shape that ingest builds
(`columns` in order with their DuckDB types, the natural `key`, the columns to `pseudonymize`, a
`description`); its expectations are the checks, each with `meta.notes`, the sentence a partner's
data steward reads when it fails.

The batch a suite runs on exposes the canonical columns plus two lineage columns, `_source_row`
(where a row came from, reported with failures) and `_parse_errors` (why values could not be
typed). Expectations may use those two columns and no other lineage column. An
`unexpected_rows_expectation` must query `{batch}` and list in `meta.columns` the columns its rule
is about (their values are shown with failures).

School codes are not written in a suite: a `value_set` of `{"$schools": ["Elementary", ...]}` is the
codes of the schools of those levels in the schools reference (sources/schools.yml), and `{school_codes}`
in that expectation's notes reads them out ("101, 102, 103 or 104").

Loading is strict and cheap (no Great Expectations import, which takes seconds); the quality stage
builds the GX objects (`pipelines.quality.gx_suite`), and a file mistake found then is still a
`SuiteError` naming file and field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from pipelines.core.config_model import StrictModel, describe_errors

BATCH_LINEAGE_COLUMNS = ("_source_row", "_parse_errors")
UNEXPECTED_ROWS = "unexpected_rows_expectation"

# Types ingest may cast to. A type is spliced into SQL, so only these shapes are allowed.
DuckType = Annotated[
    str,
    StringConstraints(
        pattern=r"^(VARCHAR|BOOLEAN|SMALLINT|INTEGER|BIGINT|DOUBLE|DATE|TIMESTAMP|DECIMAL\(\d{1,2},\d{1,2}\))$"
    ),
]
# Canonical names are plain identifiers; a leading underscore is reserved for lineage columns.
ColumnName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
_COLUMN_KWARGS = ("column", "column_A", "column_B", "column_list", "column_set")
SCHOOLS_REF, SCHOOL_CODES_NOTE = "$schools", "{school_codes}"


class SuiteError(ValueError):
    """A suite file cannot be used; the message names the file and the field."""


class _ExpectationMeta(StrictModel):
    notes: str = Field(min_length=1)
    columns: list[ColumnName] | None = None


class _Expectation(StrictModel):
    type: str = Field(pattern=r"^(expect_[a-z0-9_]+|unexpected_rows_expectation)$")
    kwargs: dict[str, Any]
    meta: _ExpectationMeta


class _SuiteMeta(StrictModel):
    description: str = Field(min_length=1)
    columns: dict[ColumnName, DuckType] = Field(min_length=1)
    key: list[str] = Field(min_length=1)
    pseudonymize: list[str] = Field(default_factory=list)


class _SuiteFile(StrictModel):
    name: str
    meta: _SuiteMeta
    expectations: list[_Expectation] = Field(min_length=1)


class Suite(BaseModel):
    """A loaded suite: the dataset's canonical shape and its raw GX expectation configurations."""

    model_config = ConfigDict(frozen=True)

    name: str
    path: Path
    description: str
    columns: dict[str, str]
    key: list[str]
    pseudonymize: list[str]
    expectations: list[dict[str, Any]]


def _referenced_columns(expectation: _Expectation) -> list[tuple[str, str]]:
    """(field, column) for every column an expectation names."""
    found = []
    for name in _COLUMN_KWARGS:
        value = expectation.kwargs.get(name)
        for column in [value] if isinstance(value, str) else value or []:
            found.append((f"kwargs.{name}", column))
    return found + [("meta.columns", column) for column in expectation.meta.columns or []]


def _check(path: Path, dataset_id: str, suite: _SuiteFile) -> None:
    """Consistency the schema alone cannot express; every message names the field."""
    columns = suite.meta.columns
    if suite.name != dataset_id:
        raise SuiteError(f"{path}: name: '{suite.name}' must match the file name '{dataset_id}'")
    for field in ("key", "pseudonymize"):
        for column in getattr(suite.meta, field):
            if column not in columns:
                raise SuiteError(f"{path}: meta.{field}: '{column}' is not one of meta.columns")
    for column in suite.meta.pseudonymize:
        if columns[column] != "VARCHAR":
            raise SuiteError(f"{path}: meta.pseudonymize: '{column}' must be VARCHAR to hold a pseudonym")
    batch_columns = [*columns, *BATCH_LINEAGE_COLUMNS]
    for index, expectation in enumerate(suite.expectations):
        where = f"{path}: expectations.{index}"
        for field, column in _referenced_columns(expectation):
            if column not in batch_columns:
                raise SuiteError(
                    f"{where}.{field}: '{column}' is not a column of the batch ({', '.join(batch_columns)})"
                )
        if expectation.type == "expect_table_columns_to_match_set" and sorted(
            expectation.kwargs.get("column_set") or []
        ) != sorted(batch_columns):
            raise SuiteError(
                f"{where}.kwargs.column_set: must list meta.columns plus {', '.join(BATCH_LINEAGE_COLUMNS)}"
            )
        if expectation.type == UNEXPECTED_ROWS:
            if "{batch}" not in str(expectation.kwargs.get("unexpected_rows_query", "")):
                raise SuiteError(f"{where}.kwargs.unexpected_rows_query: must select from {{batch}}")
            if not expectation.meta.columns:
                raise SuiteError(f"{where}.meta.columns: list the columns this rule is about")


def _with_school_codes(path: Path, index: int, expectation: dict[str, Any]) -> dict[str, Any]:
    """The expectation with a `{"$schools": [levels]}` value set replaced by those schools' codes."""
    value_set = expectation["kwargs"].get("value_set")
    if not (isinstance(value_set, dict) and SCHOOLS_REF in value_set):
        return expectation
    from pipelines.core.agenda import AgendaError, load_schools
    from pipelines.core.home import SCHOOLS_FILE

    where = f"{path}: expectations.{index}.kwargs.value_set"
    try:
        schools = load_schools(SCHOOLS_FILE)
    except AgendaError as exc:
        raise SuiteError(f"{where}: {exc}") from None
    levels = value_set[SCHOOLS_REF]
    known = sorted({school.level for school in schools})
    if len(value_set) != 1 or not isinstance(levels, list) or not levels or set(levels) - set(known):
        raise SuiteError(f'{where}: write {{"{SCHOOLS_REF}": [levels]}} with levels among {", ".join(known)}')
    codes = [school.code for school in schools if school.level in levels]
    spoken = ", ".join(codes[:-1]) + f" or {codes[-1]}" if len(codes) > 1 else codes[0]
    meta = {**expectation["meta"], "notes": expectation["meta"]["notes"].replace(SCHOOL_CODES_NOTE, spoken)}
    return {**expectation, "kwargs": {**expectation["kwargs"], "value_set": codes}, "meta": meta}


def load_suite(dataset_id: str, expectations_dir: Path) -> Suite:
    path = expectations_dir / f"{dataset_id}.json"
    if not path.is_file():
        raise SuiteError(f"no suite for dataset '{dataset_id}': {path} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SuiteError(f"{path}: not valid JSON ({exc})") from None
    try:
        parsed = _SuiteFile.model_validate(data)
    except ValidationError as exc:
        raise SuiteError(f"{path}: {describe_errors(exc)}") from None
    _check(path, dataset_id, parsed)
    return Suite(
        name=parsed.name,
        path=path,
        description=parsed.meta.description,
        columns=dict(parsed.meta.columns),
        key=list(parsed.meta.key),
        pseudonymize=list(parsed.meta.pseudonymize),
        expectations=[
            _with_school_codes(path, index, expectation.model_dump(exclude_none=True))
            for index, expectation in enumerate(parsed.expectations)
        ],
    )
