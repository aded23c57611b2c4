"""Races at the inbox: no delivery is landed half-written, lost, or filed under another file's bytes.

Time is never waited for: a file's age is set with os.utime against a settle interval far longer
than any test takes, and a file is swapped at a named point of the run by a test hook.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines.core.home import EXPECTATIONS_DIR, PARTNERS_DIR, PROJECT_ROOT, Home
from pipelines.core.registry import Registry, load_registry
from pipelines.core.resources import BackboneResource
from pipelines.definitions import build_definitions
from pipelines.ingest import readers
from pipelines.ingest.assets import build_raw_asset
from pipelines.quality.checks import build_expectations_check
from tests.conftest import partner_files_with

SAMPLE = PROJECT_ROOT / "sources" / "sample"
ENROLLMENT = SAMPLE / "history" / "riverbend_isd" / "enrollment_2021-22.csv"
REGISTRY = load_registry(PARTNERS_DIR, EXPECTATIONS_DIR)
SETTLE = 60  # seconds: no test takes that long between writing a file and looking at it


@pytest.fixture
def settling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKBONE_INBOX_SETTLE_SECONDS", str(SETTLE))


def _ingest(home: Home, dataset: str, registry: Registry = REGISTRY) -> dg.ExecuteInProcessResult:
    ref = registry.dataset(dataset)
    return dg.materialize(
        [build_raw_asset(ref), build_expectations_check(ref)],
        resources={"backbone": BackboneResource(home=str(home.root))},
        raise_on_error=False,
    )


def _query(home: Home, sql: str) -> list[tuple]:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def _age(path: Path, seconds: float) -> Path:
    """The file as its writer left it `seconds` ago."""
    moment = time.time() - seconds
    os.utime(path, (moment, moment))
    return path


def _rows(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines()) - 1


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_csv_still_being_written_is_landed_only_once_its_writer_has_finished(home: Home, settling) -> None:
    """The district's export job writes straight into the inbox. A run that comes while it is half-way
    must leave the file alone; once it has been unchanged for the settle interval, it lands whole."""
    whole = ENROLLMENT.read_bytes()
    inbox = home.inbox / "riverbend_isd"
    inbox.mkdir(parents=True)
    growing = inbox / ENROLLMENT.name
    growing.write_bytes(whole[: len(whole) // 2])  # the writer is half-way, in the middle of a line

    early = _ingest(home, "enrollment")
    assert _query(home, "select count(*) from raw.submissions") == [(0,)]
    assert early.success
    assert growing.read_bytes() == whole[: len(whole) // 2]  # not touched: its writer still has it open

    with growing.open("ab") as writer:
        writer.write(whole[len(whole) // 2 :])
    _age(growing, 2 * SETTLE)  # the writer finished a while ago

    assert _ingest(home, "enrollment").success
    assert _query(home, "select source, status, row_count, sha256 from raw.submissions") == [
        (ENROLLMENT.name, "accepted", _rows(ENROLLMENT), _sha256(whole))
    ]
    assert not growing.exists()


def test_the_inbox_sensor_starts_no_run_while_a_file_is_still_changing(home: Home, settling) -> None:
    defs = build_definitions()
    sensor = defs.resolve_sensor_def("inbox_riverbend_isd")
    inbox = home.inbox / "riverbend_isd"
    inbox.mkdir(parents=True)

    def evaluate() -> dg.SensorResult:
        return sensor(dg.build_sensor_context(resources={"backbone": defs.resources["backbone"]}, definitions=defs))

    dropped = inbox / "assessments_2025-26.csv"
    dropped.write_text("State Student ID,School Year\n")  # just written
    waiting = evaluate()
    _age(dropped, 2 * SETTLE)
    settled = evaluate()

    assert not waiting.run_requests
    assert "still being written" in waiting.skip_reason.skip_message
    assert "assessments_2025-26.csv" in waiting.skip_reason.skip_message
    assert len(settled.run_requests) == 1


@pytest.mark.parametrize(
    "name",
    [
        "enrollment_2022-23.csv.part",  # uploaded under a temporary name, renamed when done
        "enrollment_2022-23.csv.tmp",
        "enrollment_2022-23.csv.filepart",  # WinSCP's temporary name
    ],
)
def test_an_upload_under_a_temporary_name_is_never_taken(home: Home, tmp_path: Path, name: str) -> None:
    """The district's file pattern is loose ('enrollment_*'); its SFTP client uploads under a temporary
    name and renames the file when the upload is complete. However old the temporary file is (a stalled
    upload), it is not a delivery."""
    registry = load_registry(
        partner_files_with(tmp_path, "riverbend_isd", 'files: "enrollment_*.csv"', 'files: "enrollment_*"'),
        EXPECTATIONS_DIR,
    )
    inbox = home.inbox / "riverbend_isd"
    inbox.mkdir(parents=True)
    uploading = _age(
        Path(shutil.copy(SAMPLE / "history" / "riverbend_isd" / "enrollment_2022-23.csv", inbox / name)), 2 * SETTLE
    )
    hidden = _age(Path(shutil.copy(ENROLLMENT, inbox / f".{ENROLLMENT.name}")), 2 * SETTLE)
    done = _age(Path(shutil.copy(ENROLLMENT, inbox / ENROLLMENT.name)), 2 * SETTLE)

    assert _ingest(home, "enrollment", registry).success

    assert _query(home, "select source from raw.submissions") == [(ENROLLMENT.name,)]
    assert uploading.exists() and hidden.exists() and not done.exists()


def test_a_file_replaced_while_it_lands_is_filed_under_its_own_bytes_and_the_new_one_kept(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The district drops last year's file by mistake and, while the run is landing it, exports the right
    one over it under the same name. What lands must be the bytes that were hashed (last year's), filed
    under their own hash; the corrected file must stay in the inbox and land next run, not be deleted
    or skipped as a 'duplicate' of the file it replaced."""
    wrong, right = ENROLLMENT, SAMPLE / "history" / "riverbend_isd" / "enrollment_2022-23.csv"
    inbox = home.inbox / "riverbend_isd"
    inbox.mkdir(parents=True)
    dropped = Path(shutil.copy(wrong, inbox / "enrollment_2024-25.csv"))
    real_load = readers.load_text

    def replaced_between_hashing_and_landing(con, delivery, *args, **kwargs):
        shutil.copyfile(right, dropped)  # the partner's export overwrites the file in place
        monkeypatch.setattr("pipelines.ingest.landing.load_text", real_load)  # once
        return real_load(con, delivery, *args, **kwargs)

    monkeypatch.setattr("pipelines.ingest.landing.load_text", replaced_between_hashing_and_landing)
    assert _ingest(home, "enrollment").success

    assert _query(home, "select sha256, row_count from raw.submissions") == [
        (_sha256(wrong.read_bytes()), _rows(wrong))
    ]
    assert _query(home, 'select distinct school_year from raw."riverbend_isd__enrollment"') == [("2021-22",)]
    (archived,) = (home.archive / "riverbend_isd").iterdir()
    assert archived.name == f"{_sha256(wrong.read_bytes())}.csv" and archived.read_bytes() == wrong.read_bytes()
    assert dropped.read_bytes() == right.read_bytes()  # the corrected file is still there

    assert _ingest(home, "enrollment").success

    assert _query(home, "select sha256, status, row_count from raw.submissions order by received_at") == [
        (_sha256(wrong.read_bytes()), "accepted", _rows(wrong)),
        (_sha256(right.read_bytes()), "accepted", _rows(right)),
    ]
    assert not dropped.exists()


def test_a_settle_interval_that_is_not_a_number_fails_the_run_plainly(home: Home, monkeypatch) -> None:
    monkeypatch.setenv("BACKBONE_INBOX_SETTLE_SECONDS", "five")
    result = _ingest(home, "enrollment")
    assert not result.success
    (failure,) = [event for event in result.all_events if event.event_type_value == "STEP_FAILURE"]
    assert "BACKBONE_INBOX_SETTLE_SECONDS must be a number of seconds" in str(failure.event_specific_data.error)
