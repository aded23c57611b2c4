"""Private members of Dagster, dagster-dbt and Great Expectations that the project overrides, patches or
names. They can change in any release without notice: each guard fails with the file to revisit as
soon as the upstream member is gone, changes kind (method, cached property, static method) or takes
other parameters, or is no longer used where the override relies on it.

The guard that the GX fix for DuckDB is still needed at all runs GX itself: tests/test_gx_duckdb.py."""

from __future__ import annotations

import functools
import importlib
import inspect
from typing import Any, NamedTuple

import pytest

from pipelines.core.home import PROJECT_ROOT


class Override(NamedTuple):
    upstream: str  # module:Class
    member: str
    kind: type  # how the upstream class defines it
    parameters: tuple[str, ...]
    used_by: tuple[str, ...]  # upstream methods (of the same class) whose source calls the member
    revisit: str

    def __str__(self) -> str:
        return f"{self.upstream}.{self.member}"


OVERRIDES = [
    # BackboneDbtCli reads dbt's version from its package metadata instead of running `dbt --version`.
    Override(
        "dagster_dbt:DbtCliResource",
        "_cli_version",
        functools.cached_property,
        ("self",),
        ("cli",),
        "pipelines/models/assets.py (BackboneDbtCli._cli_version)",
    ),
    # BackboneDbtCli builds no dbt adapter in this process (dbt-core is not installed in it).
    Override(
        "dagster_dbt:DbtCliResource",
        "_initialize_dbt_core_adapter",
        type(lambda: None),
        ("self", "args"),
        ("cli",),
        "pipelines/models/assets.py (BackboneDbtCli._initialize_dbt_core_adapter)",
    ),
    # CountedUnexpectedRows judges an unexpected-rows rule by its row count.
    Override(
        "great_expectations.expectations:UnexpectedRowsExpectation",
        "_validate",
        type(lambda: None),
        ("self", "metrics", "runtime_configuration", "execution_engine"),
        ("metrics_validate",),
        "pipelines/quality/validation.py (CountedUnexpectedRows._validate)",
    ),
    # The DuckDB fix wraps the one static method every GX query goes through.
    Override(
        "great_expectations.execution_engine.sqlalchemy_execution_engine:SqlAlchemyExecutionEngine",
        "_execute_query_with_recovery",
        staticmethod,
        ("connection", "query"),
        ("execute_query", "execute_query_in_transaction"),
        "pipelines/quality/gx_duckdb.py",
    ),
]


def _class(path: str) -> type:
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


def _definition(cls: type, member: str) -> tuple[type, Any]:
    """The class in `cls`'s MRO that defines `member`, and the member as defined there (unbound)."""
    for owner in cls.__mro__:
        if member in vars(owner):
            return owner, vars(owner)[member]
    raise AttributeError(member)


def _function(raw: Any) -> Any:
    return raw.func if isinstance(raw, functools.cached_property) else getattr(raw, "__func__", raw)


@pytest.mark.parametrize("override", OVERRIDES, ids=str)
def test_an_overridden_upstream_member_is_as_the_override_expects(override: Override) -> None:
    cls = _class(override.upstream)
    revisit = f"revisit {override.revisit}"
    try:
        _owner, raw = _definition(cls, override.member)
    except AttributeError:
        pytest.fail(f"{override} is gone: {revisit}")
    assert isinstance(raw, override.kind), (
        f"{override} is now a {type(raw).__name__}, not a {override.kind.__name__}: {revisit}"
    )
    parameters = tuple(inspect.signature(_function(raw)).parameters)
    assert parameters == override.parameters, (
        f"{override} now takes ({', '.join(parameters)}), not ({', '.join(override.parameters)}): {revisit}"
    )
    for caller in override.used_by:
        source = inspect.getsource(_function(_definition(cls, caller)[1]))
        assert override.member in source, f"{override.upstream}.{caller} no longer uses {override.member}: {revisit}"


def test_the_project_overrides_take_the_upstream_parameters() -> None:
    """The overrides themselves, so that a change on either side is caught."""
    from pipelines.models.assets import BackboneDbtCli
    from pipelines.quality.validation import _counted_unexpected_rows_class

    ours = {
        ("dagster_dbt:DbtCliResource", "_cli_version"): BackboneDbtCli,
        ("dagster_dbt:DbtCliResource", "_initialize_dbt_core_adapter"): BackboneDbtCli,
        ("great_expectations.expectations:UnexpectedRowsExpectation", "_validate"): _counted_unexpected_rows_class(),
    }
    for override in OVERRIDES:
        if (cls := ours.get((override.upstream, override.member))) is None:
            continue  # a patch, not a subclass: the wrapper passes its arguments on as they come
        owner, raw = _definition(cls, override.member)
        assert owner is not _class(override.upstream), f"{override.revisit} no longer overrides {override}"
        assert isinstance(raw, override.kind), f"{override.revisit}: not a {override.kind.__name__}"
        assert tuple(inspect.signature(_function(raw)).parameters) == override.parameters, override.revisit


PRIVATE_TYPE = "dagster._core.definitions.unresolved_asset_job_definition.UnresolvedAssetJobDefinition"


def test_the_private_job_type_named_in_type_hints_is_what_define_asset_job_returns() -> None:
    """dagster exports no name for define_asset_job's return type; the type hints import it from its
    private module (under TYPE_CHECKING, so a move would break only type checking)."""
    import dagster as dg

    module, name = PRIVATE_TYPE.rsplit(".", 1)
    users = sorted(
        str(path.relative_to(PROJECT_ROOT))
        for path in (PROJECT_ROOT / "pipelines").rglob("*.py")
        if f"from {module} import {name}" in path.read_text(encoding="utf-8")
    )
    revisit = f"revisit {', '.join(users)}"
    assert users, f"no module imports {PRIVATE_TYPE} any more: remove this test"
    try:
        private = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        pytest.fail(f"{PRIVATE_TYPE} is gone: {revisit}")
    assert inspect.signature(dg.define_asset_job).return_annotation is private, (
        f"dagster.define_asset_job no longer returns {PRIVATE_TYPE}: {revisit}"
    )
