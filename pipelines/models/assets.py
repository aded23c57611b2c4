"""dbt models as assets: keys from the model's layer folder (staging, intermediate, marts), every model in
group `models`, owners from the registry."""

import os
from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets
from packaging import version
from pydantic import Field

from pipelines.core.agenda import Agenda, write_agenda
from pipelines.core.home import PRIVATE_FILE
from pipelines.core.partnership import Partnership
from pipelines.core.registry import Registry
from pipelines.core.resources import WAREHOUSE_POOL, BackboneResource
from pipelines.core.warehouse import duckdb_memory_limit
from pipelines.models.dbt_vars import project_dbt_vars, vars_arg
from pipelines.models.project import dbt_core_version, dbt_executable, dbt_project

LAYERS = ("staging", "intermediate", "marts")


def layer_of(props: Mapping[str, Any]) -> str | None:
    folders = props.get("fqn", [])[1:-1]
    return next((folder for folder in folders if folder in LAYERS), None)


class BackboneTranslator(DagsterDbtTranslator):
    def __init__(self, registry: Registry) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))
        self._registry = registry

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        layer = layer_of(dbt_resource_props)
        if dbt_resource_props["resource_type"] == "model" and layer:
            return dg.AssetKey([layer, dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return "models"

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str] | None:
        # stg_<partner>__<dataset>: the partner's contacts own their staging model.
        name = dbt_resource_props["name"]
        if name.startswith("stg_") and "__" in name:
            partner = self._registry.partners.get(name.removeprefix("stg_").split("__")[0])
            if partner:
                return partner.owners
        return None


class DbtBuildConfig(dg.Config):
    full_refresh: bool = Field(
        default=False,
        description="Rebuild the incremental staging models from every accepted delivery (after changing a "
        "staging model's rules); otherwise they take only what deliveries accepted since the last build carry.",
    )


def build_dbt_assets(partnership: Partnership) -> dg.AssetsDefinition:
    project = dbt_project()
    values = project_dbt_vars(partnership)

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=BackboneTranslator(partnership.registry),
        pool=WAREHOUSE_POOL,
        name="backbone_dbt",
    )
    def _models(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, backbone: BackboneResource, config: DbtBuildConfig
    ) -> Iterator:
        with backbone.warehouse():  # an older instance's schema is brought up to date before dbt reads it
            pass
        # profiles.yml reads the warehouse path and memory limit from the environment of the dbt process.
        os.environ["BACKBONE_WAREHOUSE"] = str(backbone.paths.warehouse)
        os.environ["BACKBONE_DUCKDB_MEMORY_LIMIT"] = duckdb_memory_limit()
        # Unit tests check the models' SQL on fixed inputs: they run in the test suite (tests/test_dbt_models.py),
        # not against every delivery. One target folder per instance, not dagster-dbt's one per run: dbt's
        # partial parse is only reused under the same connection settings (the warehouse path is one), so a
        # fresh folder per run re-parsed the whole project every time. No manifest.json or run_results.json:
        # writing them is a noticeable part of each build, every node's result and duration is in the run's
        # events and dbt.log, and the definitions read the project's own manifest. The vars are the lists
        # the partnership's files held when the definitions loaded, as `make` parsed the manifest with.
        args = [
            "build",
            "--exclude-resource-type",
            "unit_test",
            "--no-write-json",
            *vars_arg(values),
            *(["--full-refresh"] if config.full_refresh else []),
        ]
        invocation = dbt.cli(args, context=context, target_path=backbone.paths.dbt_target)
        # dagster-dbt has just seeded the folder with the project's parse state by shutil.copy, which
        # keeps the project file's mode: make the instance's copy owner-only like the rest.
        seeded = backbone.paths.dbt_target / "partial_parse.msgpack"
        if seeded.exists():
            seeded.chmod(PRIVATE_FILE)
        try:
            yield from invocation.stream()
        finally:
            # If this step dies early, dbt must not live on holding the warehouse's write lock.
            if invocation.process.poll() is None:
                invocation.process.terminate()
                invocation.process.wait(timeout=30)

    return _models


class BackboneDbtCli(DbtCliResource):
    """dagster-dbt's resource, minus one `dbt --version` per run: a whole dbt process start in every
    run, a small delivery's included. The version of a dbt in a virtualenv is read from its package
    metadata; any other dbt executable is still asked."""

    @cached_property
    def _cli_version(self) -> version.Version:
        return dbt_core_version(Path(self.dbt_executable)) or super()._cli_version

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:  # type: ignore[override]
        """No dbt adapter in this process (dbt-core is not even installed in it): dagster-dbt builds
        one before every dbt command only for `fetch_row_counts()` and `fetch_column_metadata()`,
        which these assets never call; without one it skips exactly those."""
        return None


def dbt_resource() -> DbtCliResource:
    project = dbt_project()
    return BackboneDbtCli(
        project_dir=project, profiles_dir=str(project.profiles_dir), dbt_executable=str(dbt_executable())
    )


AGENDA_KEYS = [dg.AssetKey(["config", table]) for table in ("indicators", "indicator_disaggregations", "programs")]


def build_agenda_asset(agenda: Agenda) -> dg.AssetsDefinition:
    @dg.multi_asset(
        specs=[
            dg.AssetSpec(
                key,
                group_name="models",
                kinds={"duckdb", "yaml"},
                description=f"agenda.yml -> warehouse table config.{key.path[-1]}",
            )
            for key in AGENDA_KEYS
        ],
        name="common_agenda",
        pool=WAREHOUSE_POOL,
        description="Copies the common agenda (agenda.yml) into the warehouse so dbt and the scorecard "
        "use the same indicator definitions, baselines, targets and breakdowns.",
    )
    def common_agenda(backbone: BackboneResource) -> Iterator[dg.MaterializeResult]:
        with backbone.warehouse() as con:
            write_agenda(con, agenda)
        counts = {
            "indicators": len(agenda.indicators),
            "programs": len(agenda.programs),
            "indicator_disaggregations": sum(len(i.disaggregations) for i in agenda.indicators),
        }
        for key in AGENDA_KEYS:
            yield dg.MaterializeResult(asset_key=key, metadata={"dagster/row_count": counts[key.path[-1]]})

    return common_agenda
