"""`backbone check-file`: a partner checks a file before sending it. Exit 0 ready, 1 checks failed,
2 the file cannot be read as the dataset — and never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.core.home import PROJECT_ROOT
from tests.conftest import run_cli

pytestmark = pytest.mark.slow  # each test runs `backbone check-file` in a new process

SAMPLE = PROJECT_ROOT / "sources" / "sample"
GOOD = SAMPLE / "history" / "riverbend_isd" / "assessments_2023-24.csv"
FLAWED = SAMPLE / "current" / "riverbend_isd" / "assessments_2024-25.csv"


def _no_traceback(result) -> None:
    assert "Traceback" not in result.stdout + result.stderr


def test_a_good_file_passes_every_check() -> None:
    result = run_cli("check-file", "--dataset", "assessments", str(GOOD))
    _no_traceback(result)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All checks passed" in result.stdout
    assert "FAIL" not in result.stdout


def test_a_flawed_file_lists_each_failed_check_with_values_and_rows() -> None:
    result = run_cli("check-file", "--dataset", "assessments", str(FLAWED))
    _no_traceback(result)
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "FAIL" in out and "check(s) failed" in out
    assert "999" in out  # the out-of-range score
    assert "READ" in out  # the unknown subject code
    assert "N/A" in out  # the score that is not a number


def test_an_excel_workbook_can_be_checked_too() -> None:
    workbook = sorted((SAMPLE / "history" / "early_learning_coalition").glob("*.xlsx"))[0]
    result = run_cli("check-file", "--dataset", "kindergarten_readiness", str(workbook))
    _no_traceback(result)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"", "assessments.csv", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "assessments.csv", "binary"),
        (b"Student,Score\nS1,300\n", "assessments.csv", "missing column(s) 'State Student ID'"),
        (b"PK\x03\x04 not really a workbook", "assessments.xlsx", "cannot be opened as an Excel workbook"),
        # UTF-16 with a byte-order mark is read (Excel's "Unicode text"); without one it cannot be told from binary.
        ("State Student ID,Scale Score\n".encode("utf-16-le"), "assessments.csv", "binary"),
    ],
)
def test_a_file_that_does_not_fit_the_dataset_exits_2_with_a_plain_message(
    tmp_path: Path, content: bytes, name: str, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    result = run_cli("check-file", "--dataset", "assessments", str(path))
    _no_traceback(result)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert name in result.stderr


def test_a_header_only_file_fails_the_row_count_check(tmp_path: Path) -> None:
    path = tmp_path / "assessments_empty.csv"
    path.write_text(GOOD.read_text().splitlines()[0] + "\n")
    result = run_cli("check-file", "--dataset", "assessments", str(path))
    _no_traceback(result)
    assert result.returncode == 1, result.stdout + result.stderr


def test_unknown_dataset_and_missing_file_are_usage_errors(tmp_path: Path) -> None:
    unknown = run_cli("check-file", "--dataset", "assesments", str(GOOD))
    missing = run_cli("check-file", "--dataset", "assessments", str(tmp_path / "nope.csv"))
    for result in (unknown, missing):
        _no_traceback(result)
        assert result.returncode == 2
    assert "unknown dataset 'assesments'" in unknown.stderr and "assessments" in unknown.stderr
    assert "no such file" in missing.stderr
