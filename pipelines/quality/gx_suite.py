"""A dataset suite as Great Expectations objects, built when a check runs (importing GX takes seconds)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipelines.core.suites import Suite, SuiteError

if TYPE_CHECKING:
    import great_expectations as gx
    from great_expectations.expectations import Expectation


def gx_expectations(suite: Suite) -> list[Expectation]:
    """The suite's expectations as fresh GX objects, in file order."""
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    built = []
    for index, raw in enumerate(suite.expectations):
        try:
            built.append(ExpectationConfiguration(**raw).to_domain_obj())
        except Exception as exc:  # GX raises its own and pydantic errors for a bad type or kwargs
            raise SuiteError(f"{suite.path}: expectations.{index} ({raw['type']}): {exc}") from None
    return built


def to_gx(suite: Suite) -> gx.ExpectationSuite:
    # ExpectationSuite(expectations=[dict, ...]) would log and *drop* an invalid expectation,
    # so the expectations are built (and fail loudly) first.
    from great_expectations import ExpectationSuite

    meta = {
        "description": suite.description,
        "columns": suite.columns,
        "key": suite.key,
        "pseudonymize": suite.pseudonymize,
    }
    return ExpectationSuite(name=suite.name, expectations=gx_expectations(suite), meta=meta)
