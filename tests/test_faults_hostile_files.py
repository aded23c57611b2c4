"""What partners' spreadsheets and database exports really produce is read as meant, or refused naming
exactly what is wrong; no file, however built, can make the pipeline exhaust the machine."""

from __future__ import annotations

import csv
import io
import shutil
import zipfile
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines.core.home import EXPECTATIONS_DIR, PARTNERS_DIR, PROJECT_ROOT, Home
from pipelines.core.registry import Registry, load_registry
from pipelines.core.resources import BackboneResource
from pipelines.ingest.assets import build_raw_asset
from pipelines.ingest.pseudonym import pseudonym
from pipelines.quality.checks import build_expectations_check
from tests.conftest import LINK_KEY, run_cli

SAMPLE = PROJECT_ROOT / "sources" / "sample" / "history"
ENROLLMENT = SAMPLE / "riverbend_isd" / "enrollment_2021-22.csv"
ASSESSMENTS = SAMPLE / "riverbend_isd" / "assessments_2023-24.csv"
WORKBOOK = sorted((SAMPLE / "early_learning_coalition").glob("*.xlsx"))[0]
GIB = 1 << 30


def _table(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def _text(table: list[list[str]], delimiter: str = ",") -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(table)  # as Excel writes it
    return out.getvalue()


def _no_traceback(result) -> None:
    assert "Traceback" not in result.stdout + result.stderr


# --- exports that are read as meant ------------------------------------------------------------------


def _spanish_header_registry(tmp_path: Path) -> Registry:
    """The district's information system exports a Spanish header: 'Género' for the gender column."""
    folder = tmp_path / "partners"
    shutil.copytree(PARTNERS_DIR, folder)
    path = folder / "riverbend_isd.yml"
    path.write_text(path.read_text().replace("gender: Gender", "gender: Género", 1))
    return load_registry(folder, EXPECTATIONS_DIR)


def _title_line(text: str) -> str:
    return "Riverbend ISD — enrollment export,,,,,,,,,\r\n" + text  # a title typed into A1 above the header


EXPORTS = {  # how each export is written, and the line its header ends up on
    "excel_csv_utf8_with_bom": (lambda t: b"\xef\xbb\xbf" + _text(t).encode("utf-8"), 1),
    "excel_unicode_text_utf16le_tab": (lambda t: _text(t, "\t").encode("utf-16"), 1),  # BOM, then little-endian
    "utf16be_with_bom": (lambda t: b"\xfe\xff" + _text(t).encode("utf-16-be"), 1),
    "excel_csv_windows_1252": (lambda t: _text(t).encode("cp1252"), 1),
    "european_excel_semicolon": (lambda t: _text(t, ";").encode("utf-8"), 1),
    "tab_separated": (lambda t: _text(t, "\t").encode("utf-8"), 1),
    "database_pipe_export": (lambda t: _text(t, "|").encode("utf-8"), 1),
    "title_line_above_the_header": (lambda t: _title_line(_text(t)).encode("utf-8"), 2),
}


@pytest.mark.parametrize("export", list(EXPORTS))
def test_an_export_in_another_encoding_or_layout_lands_exactly_as_sent(home: Home, tmp_path: Path, export: str) -> None:
    registry = _spanish_header_registry(tmp_path)
    table = _table(ENROLLMENT)
    table[0] = ["Género" if name == "Gender" else name for name in table[0]]
    encode, header_line = EXPORTS[export]
    inbox = home.inbox / "riverbend_isd"
    inbox.mkdir(parents=True)
    (inbox / "enrollment_2021-22.csv").write_bytes(encode(table))
    ref = registry.dataset("enrollment")

    dg.materialize(
        [build_raw_asset(ref), build_expectations_check(ref)],
        resources={"backbone": BackboneResource(home=str(home.root))},
        raise_on_error=False,
    )

    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        assert con.execute("select status, row_count from raw.submissions").fetchall() == [("accepted", len(table) - 1)]
        landed = con.execute(
            "select student_id, gender, cast(birth_date as varchar), _source_row "
            'from raw."riverbend_isd__enrollment" order by _source_row'
        ).fetchall()
    columns = table[0]
    expected = [
        (
            pseudonym(row[columns.index("State Student ID")], LINK_KEY.encode()),
            row[columns.index("Género")],
            row[columns.index("Birth Date")],
            header_line + number,
        )
        for number, row in enumerate(table[1:], 1)
    ]
    assert landed == expected


def test_check_file_reads_a_windows_1252_export_with_a_title_line_and_says_so(tmp_path: Path) -> None:
    """A francophone partner's Excel on Windows saves 'CSV' in Windows-1252, with a title typed above the header."""
    path = tmp_path / "assessments_2023-24.csv"
    title = "Résultats des évaluations 2023-24,,,,,,\r\n"
    path.write_bytes((title + _text(_table(ASSESSMENTS))).encode("cp1252"))

    result = run_cli("check-file", "--dataset", "assessments", str(path))

    _no_traceback(result)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All checks passed" in result.stdout
    assert "read as Windows-1252 text: it is not UTF-8 (line 1 has byte 0xE9)" in result.stdout
    assert "the header is line 2; the line above it was skipped" in result.stdout


def test_a_workbook_with_a_title_above_its_header_lands_under_its_excel_row_numbers(home: Home, tmp_path: Path) -> None:
    """The coalition's coordinator types a title into the sheet and leaves a blank row under it."""
    import openpyxl

    workbook = openpyxl.load_workbook(WORKBOOK)
    sheet = workbook["Readiness"]
    expected_rows = sheet.max_row - 1
    sheet.insert_rows(1, 2)
    sheet["A1"] = "Kindergarten readiness — fall screening"
    inbox = home.inbox / "early_learning_coalition"
    inbox.mkdir(parents=True)
    workbook.save(inbox / WORKBOOK.name)
    ref = load_registry(PARTNERS_DIR, EXPECTATIONS_DIR).dataset("kindergarten_readiness")

    assert dg.materialize(
        [build_raw_asset(ref), build_expectations_check(ref)],
        resources={"backbone": BackboneResource(home=str(home.root))},
    ).success

    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        assert con.execute("select status, row_count from raw.submissions").fetchall() == [("accepted", expected_rows)]
        assert con.execute(
            'select min(_source_row), max(_source_row) from raw."early_learning_coalition__kindergarten_readiness"'
        ).fetchall() == [(4, expected_rows + 3)]


# --- files that are refused, naming what is wrong -------------------------------------------------------


def _lines() -> list[str]:
    return _text(_table(ASSESSMENTS)).split("\r\n")[:-1]


def _join(lines: list[str], end: str = "\r\n") -> bytes:
    return ("\r\n".join(lines) + end).encode("utf-8")


def _unterminated_quote() -> bytes:
    lines = _lines()
    fields = lines[3].split(",")
    fields[4] = '"' + fields[4]  # line 4: a quote opens the subject and nothing closes it
    lines[3] = ",".join(fields)
    return _join(lines)


def _cut_short() -> bytes:
    lines = _lines()
    lines[-1] = ",".join(lines[-1].split(",")[:3])  # the upload stopped three values into the last row
    return _join(lines, end="")


def _extra_column(name: str) -> bytes:
    lines = _lines()
    return _join([lines[0] + f",{name}"] + [line + ",0" for line in lines[1:]])


def _byte_that_no_encoding_has() -> bytes:
    lines = _lines()
    return _join(lines[:2]).rstrip(b"\r\n") + b"\x81\r\n" + _join(lines[2:])  # 0x81: not cp1252 either


def _over_long_line() -> bytes:
    lines = _lines()
    lines[2] = lines[2] + "," + "x" * (2 << 20)  # a pasted blob of 2 MB
    return _join(lines)


def _two_megabytes() -> bytes:
    lines = _lines()
    body = lines[1:]
    return _join([lines[0]] + body * (1 + (2 << 20) // len(_join(body))))


LAST_LINE = len(_table(ASSESSMENTS))
REFUSED = {  # name: (the file, what the partner is told)
    "unterminated_quote": (_unterminated_quote, "line 4: a quoted value is never closed"),
    "cut_short": (_cut_short, f"the last line (line {LAST_LINE}) has 3 of 7 columns: the file looks cut short"),
    "two_columns_fold_to_one": (
        lambda: _extra_column("scale score "),
        "the header (line 1) has 2 columns that read as 'Scale Score' (case and spaces "
        "aside): column 6 'Scale Score', column 8 'scale score '",
    ),
    "duplicated_header_name": (lambda: _extra_column("Scale Score"), "2 columns that read as 'Scale Score'"),
    "neither_utf8_nor_windows_1252": (
        _byte_that_no_encoding_has,
        "line 2: byte 0x81 is neither UTF-8 nor Windows-1252 text",
    ),
    "over_long_line": (_over_long_line, "line 3 is longer than 1 MB, the most one line may hold"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_check_file_refuses_a_broken_csv_naming_the_line_and_the_fault(tmp_path: Path, case: str) -> None:
    build, message = REFUSED[case]
    path = tmp_path / f"assessments_{case}.csv"
    path.write_bytes(build())

    result = run_cli("check-file", "--dataset", "assessments", str(path))

    _no_traceback(result)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{path.name} cannot be checked as riverbend_isd assessments: " in result.stderr
    assert message in result.stderr


def test_check_file_refuses_a_file_over_the_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "assessments_2023-24.csv"
    path.write_bytes(_two_megabytes())

    result = run_cli("check-file", "--dataset", "assessments", str(path), env={"BACKBONE_MAX_FILE_MB": "1"})

    _no_traceback(result)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "more than the 1 MB (1,048,576 bytes) one delivery may be (setting BACKBONE_MAX_FILE_MB)" in result.stderr


def test_broken_deliveries_are_each_refused_with_their_reason_and_nothing_of_them_lands(home: Home) -> None:
    """The district's run holds one good file and every broken kind above: the good one lands, each broken
    one is an 'unreadable' submission with its reason (what the partner's alert says), none of its rows
    land, and its bytes are kept in the archive."""
    inbox = home.inbox / "riverbend_isd"
    inbox.mkdir(parents=True)
    shutil.copy(ASSESSMENTS, inbox / ASSESSMENTS.name)
    for case, (build, _) in REFUSED.items():
        (inbox / f"assessments_{case}.csv").write_bytes(build())
    ref = load_registry(PARTNERS_DIR, EXPECTATIONS_DIR).dataset("assessments")

    dg.materialize(
        [build_raw_asset(ref), build_expectations_check(ref)],
        resources={"backbone": BackboneResource(home=str(home.root))},
        raise_on_error=False,
    )

    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        submissions = {
            source: (status, rows, reason, archived)
            for source, status, rows, reason, archived in con.execute(
                "select source, status, row_count, status_reason, archive_path from raw.submissions"
            ).fetchall()
        }
        landed = con.execute('select _source, count(*) from raw."riverbend_isd__assessments" group by 1').fetchall()
    assert submissions.pop(ASSESSMENTS.name)[:2] == ("accepted", LAST_LINE - 1)
    for case, (build, message) in REFUSED.items():
        status, rows, reason, archived = submissions.pop(f"assessments_{case}.csv")
        assert (status, rows) == ("unreadable", 0)
        assert message in reason
        assert Path(archived).read_bytes() == build()
    assert submissions == {}
    assert landed == [(ASSESSMENTS.name, LAST_LINE - 1)]
    assert not list(inbox.iterdir())


# --- workbooks built to exhaust the reader ----------------------------------------------------------------


def _rezip(target: Path, replace: dict[str, bytes] | None = None, add: tuple[str, int] | None = None) -> Path:
    """The sample workbook with some parts replaced, and optionally a part of `add[1]` zero bytes."""
    with zipfile.ZipFile(WORKBOOK) as source, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for member in source.infolist():
            out.writestr(member, (replace or {}).get(member.filename, source.read(member)))
        if add is not None:
            name, size = add
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            with out.open(info, "w", force_zip64=True) as part:
                zeros = bytes(4 << 20)
                for _ in range(size // len(zeros)):
                    part.write(zeros)  # compresses ~1000-fold: the workbook stays about a megabyte
    return target


def test_check_file_refuses_a_workbook_that_unzips_to_more_than_the_limit(tmp_path: Path) -> None:
    """A one-megabyte workbook that unzips to over a gigabyte (the reader once took 1.2 GB of memory for
    such a file and passed it) is refused from the zip's directory, before anything is unzipped."""
    bomb = _rezip(
        tmp_path / "kindergarten_readiness_2025-26.xlsx", add=("xl/printerSettings/printerSettings1.bin", GIB)
    )
    assert bomb.stat().st_size < 2 << 20

    result = run_cli("check-file", "--dataset", "kindergarten_readiness", str(bomb))

    _no_traceback(result)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "the workbook unzips to 1 GB (1,07" in result.stderr
    assert (
        "more than the 1 GB (1,073,741,824 bytes) a workbook may hold (setting BACKBONE_MAX_WORKBOOK_MB)"
        in result.stderr
    )


def test_check_file_refuses_a_sheet_claiming_more_cells_than_the_limit(tmp_path: Path) -> None:
    """A sheet whose <dimension> spans the whole grid (every row, every column) is refused before the
    spreadsheet reader sizes anything by it."""
    with zipfile.ZipFile(WORKBOOK) as source:
        sheet = source.read("xl/worksheets/sheet1.xml").decode()
    sheet = sheet.replace("<sheetViews>", '<dimension ref="A1:XFD1048576"/><sheetViews>', 1)
    whole_grid = _rezip(
        tmp_path / "kindergarten_readiness_2025-26.xlsx", replace={"xl/worksheets/sheet1.xml": sheet.encode()}
    )

    result = run_cli("check-file", "--dataset", "kindergarten_readiness", str(whole_grid))

    _no_traceback(result)
    assert result.returncode == 2, result.stdout + result.stderr
    assert (
        "the sheet 'Readiness' spans 1,048,576 rows by 16,384 columns (dimension ref=\"A1:XFD1048576\"), "
        "17,179,869,184 cells, more than the 20,000,000 a sheet may hold"
    ) in result.stderr
