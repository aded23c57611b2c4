"""Synthetic partner deliveries at any size: the sample world's model and formats, streamed.

    backbone synth --rows 10000000 --out /tmp/riverbend-10m [--flaw-rate 0.001] [--seed 2026] [--jobs 2]

The population is built in shards of about SHARD_ROWS assessment rows. Each shard is a small sample
world of its own (`pipelines.sample.world.build_world` with a seed and a state-ID prefix of its own),
so memory stays flat and shards run in parallel. A shard writes its rows to part files row by row;
the parts are then joined, in shard order, into the deliveries. The output depends only on
(rows, seed, flaw rate), never on the number of jobs.

The layout is the sample's (`history/`, `current/` and, with flaws, `fixes/`), with every file split
into parts (`assessments_2021-22_p000.csv`, ...) so that no delivery breaks its suite's row cap;
the shards of one part form a group. There are exactly `rows` assessment rows: each shard is built
a little larger than its quota and the surplus test sittings are dropped evenly (they read as
absences). The other datasets follow from the same students, except that the workforce board and
the college hand over their whole table in every pull, so their records come from only as many
shards as keep one pull under its suite's row cap.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import math
import multiprocessing
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

from pipelines.core.home import EXPECTATIONS_DIR
from pipelines.core.suites import load_suite
from pipelines.sample.world import (
    ASSESSMENT_HEADER,
    CURRENT_YEAR,
    ENROLLMENT_HEADER,
    FLAW_KINDS,
    GRADUATION_HEADER,
    PARTICIPATION_HEADER,
    READINESS_HEADER,
    WAGE_HEADER,
    YEARS,
    CsvOut,
    Row,
    World,
    XlsxOut,
    assessment_rows,
    build_world,
    college_records,
    enrollment_rows,
    flawed,
    flaws_at_rate,
    graduation_rows,
    label,
    participation_rows,
    readiness_rows,
    wage_rows,
)

SHARD_ROWS = 100_000  # assessment rows per shard: ~2,200 students per grade, ~35,000 students in memory
ROWS_PER_GRADE_SIZE = 47.5  # assessment rows per unit of students_per_grade, as the model makes them
HEADROOM = 1.05  # shards are built this much larger than their quota of assessment rows
CAP_SHARE = 0.75  # share of a suite's row cap that one delivery aims to fill
# Rows relative to a shard's assessment rows, as the model makes them: the district's busiest file per
# school year (enrollment, with a little growth each year), and all of the pulled tables.
YEAR_FILE_SHARE, WAGE_SHARE, COLLEGE_SHARE = 0.30, 0.575, 0.07
EXCEL_MAX_ROWS = 1_048_575
MANIFEST = "synth.json"
PARTS = ".parts"
ROUNDS = ("history", "current", "fixes")


class SynthError(RuntimeError):
    pass


@dataclass(frozen=True)
class _Yearly:
    """A dataset a partner delivers as one file per school year (before splitting into parts)."""

    dataset: str  # its suite, whose row cap applies to each file
    partner: str
    stem: Callable[[int], str]  # school year (its fall) -> file name without suffix
    header: tuple[str, ...]
    rows: Callable[[World, int], Iterable[Row]]
    excel: bool = False


YEARLY = (
    _Yearly(
        "enrollment", "riverbend_isd", lambda year: f"enrollment_{label(year)}", ENROLLMENT_HEADER, enrollment_rows
    ),
    _Yearly(
        "graduation",
        "riverbend_isd",
        lambda year: f"graduation_{year + 1}",
        GRADUATION_HEADER,
        lambda world, year: graduation_rows(world, year + 1),
    ),
    _Yearly(
        "program_participation",
        "bright_futures_mentoring",
        lambda year: f"participation_{label(year)}",
        PARTICIPATION_HEADER,
        participation_rows,
    ),
    _Yearly(
        "kindergarten_readiness",
        "early_learning_coalition",
        lambda year: f"kindergarten_readiness_{label(year)}",
        READINESS_HEADER,
        readiness_rows,
        excel=True,
    ),
)
ASSESSMENTS = _Yearly(
    "assessments", "riverbend_isd", lambda year: f"assessments_{label(year)}", ASSESSMENT_HEADER, assessment_rows
)
COLLEGE_FILES = {"enrollments": "postsecondary_enrollment", "awards": "completion"}  # store file -> dataset
WAGES = "workforce_board/ui_wage_records.csv"


@dataclass(frozen=True)
class Plan:
    rows: int
    seed: int
    flaw_rate: float
    quotas: tuple[int, ...]  # assessment rows of each shard
    group_size: int  # shards per part file
    college_shards: int  # shards whose students appear in the college's records
    wage_shards: int  # shards whose students appear in the workforce board's records
    caps: dict[str, int]  # suite -> most rows one delivery may hold

    @property
    def shards(self) -> int:
        return len(self.quotas)


def row_caps() -> dict[str, int]:
    """Each dataset's most rows per delivery, from its suite's row-count expectation."""
    datasets = [spec.dataset for spec in (*YEARLY, ASSESSMENTS)] + [*COLLEGE_FILES.values(), "employment"]
    caps = {}
    for dataset in datasets:
        for expectation in load_suite(dataset, EXPECTATIONS_DIR).expectations:
            most = expectation["kwargs"].get("max_value")
            if expectation["type"] == "expect_table_row_count_to_be_between" and most is not None:
                caps[dataset] = int(most)
    caps["kindergarten_readiness"] = min(caps.get("kindergarten_readiness", EXCEL_MAX_ROWS), EXCEL_MAX_ROWS)
    return caps


def plan(rows: int, seed: int = 2026, flaw_rate: float = 0.0) -> Plan:
    if rows < 100:
        raise SynthError("--rows must be at least 100")
    if not 0 <= flaw_rate <= 1:
        raise SynthError("--flaw-rate must be between 0 and 1")
    shards = math.ceil(rows / SHARD_ROWS)
    quotas = tuple(rows // shards + (shard < rows % shards) for shard in range(shards))
    caps = row_caps()
    largest = quotas[0]

    def shards_within(cap: int | None, share: float) -> int:
        return shards if cap is None else max(1, min(shards, int(CAP_SHARE * cap / (share * largest))))

    file_cap = min(caps.get(spec.dataset, 10**12) for spec in (*YEARLY, ASSESSMENTS))
    return Plan(
        rows=rows,
        seed=seed,
        flaw_rate=flaw_rate,
        quotas=quotas,
        caps=caps,
        group_size=shards_within(file_cap, YEAR_FILE_SHARE),
        college_shards=shards_within(caps.get("postsecondary_enrollment"), COLLEGE_SHARE),
        wage_shards=shards_within(caps.get("employment"), WAGE_SHARE),
    )


# --- one shard ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    """A delivery file the parts are joined into."""

    format: str  # csv | xlsx | json
    dataset: str  # the suite whose row cap it keeps under
    header: tuple[str, ...] = ()
    stamp: str | None = None  # workbook date (ISO)


class _Parts:
    """A shard's part files under `root`, each opened at its first row; rows counted per delivery."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.targets: dict[str, _Target] = {}
        self.rows: Counter[str] = Counter()
        self._handles: dict[str, TextIO] = {}
        self._writers: dict[str, Any] = {}

    def _open(self, name: str, target: _Target) -> TextIO:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = self._handles[name] = path.open("w", newline="", encoding="utf-8")
        self.targets[name] = target
        return handle

    def write(self, name: str, target: _Target, row: Row) -> None:
        self.writer(name, target)(row)
        self.rows[name] += 1

    def writer(self, name: str, target: _Target) -> Callable[[Row], object]:
        """The part's writerow, for loops that count their own rows (see `add`)."""
        writer = self._writers.get(name)
        if writer is None:
            writer = self._writers[name] = csv.writer(self._open(name, target), lineterminator="\n")
        return writer.writerow

    def add(self, name: str, rows: int) -> None:
        self.rows[name] += rows

    def write_record(self, name: str, record: dict[str, str]) -> None:
        handle = self._handles.get(name) or self._open(name, _Target("json", COLLEGE_FILES[Path(name).stem]))
        handle.write(json.dumps(record) + "\n")
        self.rows[name] += 1

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()


def _yearly_target(spec: _Yearly, year: int) -> _Target:
    return _Target(
        "xlsx" if spec.excel else "csv",
        spec.dataset,
        spec.header,
        dt.date(year, 11, 1).isoformat() if spec.excel else None,
    )


def _delivery(spec: _Yearly, year: int, group: int, round_name: str | None = None, suffix: str = "") -> str:
    base = round_name or ("current" if year == CURRENT_YEAR else "history")
    return f"{base}/{spec.partner}/{spec.stem(year)}_p{group:03d}{suffix}.{'xlsx' if spec.excel else 'csv'}"


def _shard_seed(seed: int, shard: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:shard:{shard}".encode()).digest()[:8], "big")


def _shard_world(plan: Plan, shard: int) -> tuple[World, list[Row]]:
    """The shard's world and all its assessment rows: at least its quota (grown until they are)."""
    size = math.ceil(plan.quotas[shard] * HEADROOM / ROWS_PER_GRADE_SIZE)
    while True:
        world = build_world(size, seed=_shard_seed(plan.seed, shard), id_prefix=f"{shard:05d}")
        sittings = [row for year in YEARS for row in assessment_rows(world, year)]
        if len(sittings) >= plan.quotas[shard]:
            return world, sittings
        size = math.ceil(size * 1.1)


def _write_shard(out: Path, plan: Plan, shard: int) -> dict[str, Any]:
    group = shard // plan.group_size
    world, sittings = _shard_world(plan, shard)
    parts = _Parts(out / PARTS / f"{shard:05d}")
    for year in YEARS:
        for spec in YEARLY:
            name, count = _delivery(spec, year, group), 0
            writerow = parts.writer(name, _yearly_target(spec, year))
            for row in spec.rows(world, year):
                writerow(row)
                count += 1
            parts.add(name, count)

    flaws: Counter[str] = Counter()
    pick = flaws_at_rate(world.rng("flaws"), plan.flaw_rate) if plan.flaw_rate else None
    quota, total, current, kept = plan.quotas[shard], len(sittings), 0, Counter()
    target = _yearly_target(ASSESSMENTS, CURRENT_YEAR)
    files = {label(year): _delivery(ASSESSMENTS, year, group) for year in YEARS}
    writers = {period: parts.writer(name, target) for period, name in files.items()}
    fixes = _delivery(ASSESSMENTS, CURRENT_YEAR, group, "fixes", "_v2")
    for index, row in enumerate(sittings):
        if (index + 1) * quota // total == index * quota // total:
            continue  # a surplus sitting: dropped, evenly over the shard
        period = row[1]
        kept[period] += 1
        if pick is None or period != label(CURRENT_YEAR):
            writers[period](row)
            continue
        parts.write(fixes, target, row)
        flaw = pick(current, row)
        current += 1
        flaws[flaw or "none"] += 1
        for bad in flawed(row, flaw):
            parts.write(files[period], target, bad)
    for period, count in kept.items():
        if pick is None or period != label(CURRENT_YEAR):
            parts.add(files[period], count)
    del sittings

    if shard < plan.college_shards:
        for round_name, records in college_records(world).items():
            for kind, items in records.items():
                for record in items:
                    parts.write_record(f"{round_name}/riverbend_college/{kind}.json", record)
    if shard < plan.wage_shards:
        wages = _Target("csv", "employment", WAGE_HEADER)
        for round_name, row in wage_rows(world):
            parts.write(f"{round_name}/{WAGES}", wages, row)
    parts.close()
    flaws.pop("none", None)
    return {
        "rows": dict(parts.rows),
        "targets": {name: asdict(t) for name, t in parts.targets.items()},
        "students": len(world.students),
        "assessment_rows": sum(kept.values()),
        "flaws": dict(flaws),
    }


# --- joining the parts ----------------------------------------------------------------------------


def _join(out: Path, name: str, target: dict[str, Any], shards: list[int]) -> None:
    paths = [out / PARTS / f"{shard:05d}" / name for shard in shards]
    destination = out / name
    destination.parent.mkdir(parents=True, exist_ok=True)
    if target["format"] == "csv":
        with destination.open("w", newline="", encoding="utf-8") as joined:
            csv.writer(joined, lineterminator="\n").writerow(target["header"])
            for path in paths:
                with path.open(encoding="utf-8") as part:
                    shutil.copyfileobj(part, joined, 1 << 20)
    elif target["format"] == "json":  # one JSON array, as the college's store files are
        with destination.open("w", encoding="utf-8") as joined:
            joined.write("[")
            first = True
            for path in paths:
                with path.open(encoding="utf-8") as part:
                    for line in part:
                        joined.write(("\n" if first else ",\n") + line.rstrip("\n"))
                        first = False
            joined.write("\n]\n")
    else:
        with XlsxOut(destination, "Readiness", target["header"], dt.date.fromisoformat(target["stamp"])) as sheet:
            for path in paths:
                with path.open(newline="", encoding="utf-8") as part:
                    for student, year, school, assessed, score, level, prek in csv.reader(part):
                        sheet.writerow(
                            (student, year, school, dt.date.fromisoformat(assessed), int(score), level, prek)
                        )


def _join_task(args: tuple[Path, str, dict[str, Any], list[int]]) -> None:
    _join(*args)


# --- the whole ------------------------------------------------------------------------------------


def _prepare(out: Path) -> None:
    """An empty output folder, or one this command wrote before (its rounds are replaced)."""
    if out.exists() and any(out.iterdir()):
        if not (out / MANIFEST).exists():
            raise SynthError(f"{out} is not empty and was not written by `backbone synth`; choose another folder")
        for name in (*ROUNDS, PARTS, MANIFEST):
            path = out / name
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)


def synthesize(
    out: Path,
    rows: int,
    *,
    seed: int = 2026,
    flaw_rate: float = 0.0,
    jobs: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Write the deliveries under `out` and return the manifest (also written to out/synth.json)."""
    started = time.perf_counter()
    the_plan = plan(rows, seed, flaw_rate)
    out = Path(out)
    _prepare(out)
    jobs = max(1, min(jobs or os.cpu_count() or 1, the_plan.shards))
    say = progress or (lambda message: None)
    say(f"{the_plan.shards} shard(s) of ~{the_plan.quotas[0]:,} assessment rows, {jobs} job(s)")

    pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) if jobs > 1 else None
    try:
        run = pool.map if pool else map
        results = []
        for shard, result in enumerate(
            run(_write_shard, [out] * the_plan.shards, [the_plan] * the_plan.shards, range(the_plan.shards))
        ):
            results.append(result)
            if (shard + 1) % max(1, the_plan.shards // 10) == 0 or shard + 1 == the_plan.shards:
                say(f"  shard {shard + 1}/{the_plan.shards} written")
        files: Counter[str] = Counter()
        joins: dict[str, tuple[dict[str, Any], list[int]]] = {}
        for shard, result in enumerate(results):
            files.update(result["rows"])
            for name, target in result["targets"].items():
                joins.setdefault(name, (target, []))[1].append(shard)
        say(f"joining {len(joins)} deliveries")
        list(run(_join_task, [(out, name, target, shards) for name, (target, shards) in sorted(joins.items())]))
    finally:
        if pool:
            pool.shutdown()
    shutil.rmtree(out / PARTS, ignore_errors=True)
    for kind in COLLEGE_FILES:  # the store files exist even when empty, as in the sample
        for round_name in ("history", "current"):
            path = out / round_name / "riverbend_college" / f"{kind}.json"
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("[]\n", encoding="utf-8")
                files[str(path.relative_to(out))] = 0

    # Files are deliveries; the pulled tables are delivered whole, both rounds in one pull.
    pulled: Counter[str] = Counter()
    over = []
    for name, (target, _) in joins.items():
        if target["format"] == "json" or name.endswith(WAGES):
            pulled[target["dataset"]] += files[name]
        elif files[name] > the_plan.caps.get(target["dataset"], files[name]):
            over.append(f"{name} ({files[name]:,} rows)")
    over += [f"the {dataset} table ({n:,} rows)" for dataset, n in pulled.items() if n > the_plan.caps.get(dataset, n)]
    if over:
        raise SynthError(f"deliveries over their suite's row cap: {', '.join(over)}")
    flaws: Counter[str] = Counter()
    for result in results:
        flaws.update(result["flaws"])
    manifest = {
        "rows": rows,
        "seed": seed,
        "flaw_rate": flaw_rate,
        "shards": the_plan.shards,
        "group_size": the_plan.group_size,
        "college_shards": the_plan.college_shards,
        "wage_shards": the_plan.wage_shards,
        "students": sum(result["students"] for result in results),
        "assessment_rows": sum(result["assessment_rows"] for result in results),
        "pulled_rows": dict(sorted(pulled.items())),
        "row_caps": the_plan.caps,
        "flaws": {kind: flaws.get(kind, 0) for kind in FLAW_KINDS},
        "files": dict(sorted(files.items())),
        "seconds": round(time.perf_counter() - started, 1),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def read_manifest(out: Path) -> dict[str, Any] | None:
    path = Path(out) / MANIFEST
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def write_csv(path: Path, header: Iterable[str], rows: Iterable[Row]) -> int:
    """A delivery file of `rows` (for deliveries made outside the shards, e.g. the bench's increment)."""
    with CsvOut(path, tuple(header)) as out:
        for row in rows:
            out.writerow(row)
    return out.rows
