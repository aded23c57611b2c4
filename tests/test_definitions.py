"""The Dagster definitions: what a data engineer sees in the UI, loaded without side effects."""

from __future__ import annotations

import functools
import subprocess
import sys
from unittest import mock

import dagster as dg
import pytest

from pipelines.alerts.jobs import ALERTS_JOB
from pipelines.core.home import PROJECT_ROOT
from pipelines.core.partnership import Partnership
from pipelines.definitions import build_definitions
from pipelines.ingest.jobs import PIPELINE_JOB
from tests.conftest import run_cli


def test_importing_the_definitions_module_reads_and_writes_nothing(tmp_path) -> None:
    code = "import pipelines.definitions, sys; sys.exit(0)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(PROJECT_ROOT)},
    )
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.iterdir()) == []  # no instance dir, no files


def test_assets_are_grouped_by_stage_with_owners_kinds_and_blocking_checks(partnership: Partnership) -> None:
    defs = build_definitions(partnership)
    graph = defs.resolve_asset_graph()
    groups = {
        key.to_user_string(): graph.get(key).group_name
        for key in graph.get_all_asset_keys()
        if graph.get(key).is_materializable
    }
    assert groups["raw/riverbend_isd__assessments"] == "ingest"
    assert groups["staging/stg_riverbend_isd__assessments"] == "models"
    assert groups["marts/indicator_values"] == "models"
    assert groups["publish/serving_database"] == "publish"
    assert groups["publish/scorecard_site"] == "publish"
    assert graph.get(dg.AssetKey(["publish", "scorecard_site"])).parent_keys == {
        dg.AssetKey(["publish", "serving_database"])
    }
    assert groups["alerts/partner_alerts"] == "alerts"

    raw = graph.get(dg.AssetKey(["raw", "riverbend_college__completion"]))
    assert raw.owners == ["tokafor@riverbend.edu"]
    assert {"api", "duckdb"} <= set(raw.kinds)
    staging = graph.get(dg.AssetKey(["staging", "stg_riverbend_isd__assessments"]))
    assert staging.owners == ["mlopez@riverbend-isd.example.org", "dchen@riverbend-isd.example.org"]

    check_keys = set(graph.asset_check_keys)
    expectation_checks = {key for key in check_keys if key.name == "expectations"}
    assert len(expectation_checks) == 8
    assert any(key.asset_key.path[0] in ("staging", "marts") for key in check_keys - expectation_checks), (
        "dbt tests should show as asset checks"
    )


def test_jobs_schedules_and_sensors_are_declared(partnership: Partnership) -> None:
    defs = build_definitions(partnership)
    assert {PIPELINE_JOB, ALERTS_JOB, "ingest_riverbend_college"} <= {job.name for job in defs.jobs}
    assert {schedule.name for schedule in defs.schedules} == {
        "pull_riverbend_college",
        "pull_workforce_board",
        "partner_reminders",
        "retry_queued_mail",
        "monthly_partner_digest",
    }
    assert {sensor.name for sensor in defs.sensors} == {
        "inbox_riverbend_isd",
        "inbox_early_learning_coalition",
        "inbox_bright_futures_mentoring",
        "alert_partners_after_failed_run",
    }


def test_a_dropped_file_starts_its_partners_ingest_job_once(home, partnership: Partnership) -> None:
    defs = build_definitions(partnership)
    sensor = defs.resolve_sensor_def("inbox_riverbend_isd")
    inbox = home.inbox / "riverbend_isd"
    inbox.mkdir(parents=True)

    def evaluate() -> dg.SensorResult:
        return sensor(dg.build_sensor_context(resources={"backbone": defs.resources["backbone"]}, definitions=defs))

    empty = evaluate()
    (inbox / "assessments_2025-26.csv").write_text("x\n")
    (inbox / "notes.txt").write_text("not a delivery\n")
    first, second = evaluate(), evaluate()

    assert not empty.run_requests
    assert len(first.run_requests) == 1
    assert first.run_requests[0].run_key == second.run_requests[0].run_key  # Dagster dedupes on run key
    # Only assessments and what depends on them: the district's enrollment models are not rebuilt.
    selected = {key.to_user_string() for key in first.run_requests[0].asset_selection}
    assert {
        "raw/riverbend_isd__assessments",
        "staging/stg_riverbend_isd__assessments",
        "intermediate/int_grade3_reading__students",
        "marts/indicator_values",
        "publish/serving_database",
    } <= selected
    assert not selected & {
        "raw/riverbend_isd__enrollment",
        "staging/stg_riverbend_isd__enrollment",
        "intermediate/int_students__latest_demographics",
        "alerts/partner_alerts",
    }
    checks = {(key.asset_key.to_user_string(), key.name) for key in first.run_requests[0].asset_check_keys}
    assert ("raw/riverbend_isd__assessments", "expectations") in checks
    assert ("raw/riverbend_isd__enrollment", "expectations") not in checks


def test_a_failed_pipeline_run_requests_the_alerts_job(partnership: Partnership) -> None:
    defs = build_definitions(partnership)
    sensor = defs.resolve_sensor_def("alert_partners_after_failed_run")
    instance = dg.DagsterInstance.ephemeral()
    run = instance.create_run_for_job(defs.resolve_job_def(ALERTS_JOB), status=dg.DagsterRunStatus.FAILURE)
    context = dg.build_run_status_sensor_context(
        sensor_name=sensor.name,
        dagster_instance=instance,
        dagster_run=run,
        dagster_event=dg.DagsterEvent(event_type_value="PIPELINE_FAILURE", job_name=run.job_name),
    )
    request = sensor(context)
    assert isinstance(request, dg.RunRequest) and request.run_key == run.run_id


def test_a_real_run_without_a_linking_key_refuses_to_start(tmp_path) -> None:
    result = run_cli("run", env={"BACKBONE_HOME": str(tmp_path / "home"), "BACKBONE_LINK_KEY": ""})
    assert result.returncode == 2
    assert "BACKBONE_LINK_KEY" in result.stderr and "Traceback" not in result.stderr


def test_the_warehouse_keeps_to_a_memory_limit_that_the_environment_can_raise(tmp_path, monkeypatch) -> None:
    from pipelines.core.resources import BackboneResource

    def limit() -> str:
        with BackboneResource(home=str(tmp_path)).warehouse() as con:
            return con.execute("select current_setting('memory_limit')").fetchone()[0]

    monkeypatch.delenv("BACKBONE_DUCKDB_MEMORY_LIMIT", raising=False)
    assert limit() == "953.6 MiB"  # 1GB: DuckDB's own default is 80% of the machine
    monkeypatch.setenv("BACKBONE_DUCKDB_MEMORY_LIMIT", "4GB")
    assert limit() == "3.7 GiB"


@pytest.mark.slow
def test_the_dbt_resource_knows_its_dbt_version_without_starting_dbt() -> None:
    """dagster-dbt runs `dbt --version` (a whole dbt start) once per run unless told the version;
    if dagster-dbt renames the hook we override, runs get slower, hence this test."""
    from dagster_dbt import DbtCliResource

    from pipelines.models.assets import dbt_resource

    assert isinstance(DbtCliResource.__dict__.get("_cli_version"), functools.cached_property)
    resource = dbt_resource()
    with mock.patch("dagster_dbt.core.resource.check_output", side_effect=AssertionError("dbt --version was run")):
        version = resource._cli_version
    assert (
        f"installed: {version}"
        in subprocess.run([resource.dbt_executable, "--version"], capture_output=True, text=True, check=True).stdout
    )


def test_loading_the_definitions_never_imports_dbt_core() -> None:
    """dbt runs as a command from its own environment: loading the definitions must not pay for importing dbt-core."""
    code = (
        "import sys, pipelines.definitions as d; d.build_definitions(); "
        "sys.exit(any(name == 'dbt' or name.startswith('dbt.') for name in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr or "dbt-core was imported"


def test_the_pipeline_takes_a_full_refresh_of_the_dbt_models_as_run_config(partnership: Partnership) -> None:
    """The README's run config for rebuilding staging from every accepted delivery is valid."""
    job = build_definitions(partnership).resolve_job_def(PIPELINE_JOB)
    config = dg.validate_run_config(job, {"ops": {"backbone_dbt": {"config": {"full_refresh": True}}}})
    assert config["ops"]["backbone_dbt"]["config"] == {"full_refresh": True}


def test_a_new_instance_runs_one_warehouse_job_at_a_time(tmp_path, partnership: Partnership) -> None:
    """DuckDB admits one writer process: the run queue of a new instance starts a run that writes to the
    warehouse only when no other such run is in progress, and every job's steps that write are in its pool."""
    from pipelines.core.home import Home
    from pipelines.runner import instance_for

    instance = instance_for(Home.resolve(tmp_path).ensure())
    pools = instance.get_concurrency_config().pool_config
    assert (pools.pool_granularity.value, pools.default_pool_limit) == ("run", 1)
    assert isinstance(instance.run_coordinator, dg.QueuedRunCoordinator)
    job = build_definitions(partnership).resolve_job_def(PIPELINE_JOB)
    unpooled = {node.name for node in job.graph.node_dict.values() if node.definition.pool != "warehouse"}
    assert not unpooled
