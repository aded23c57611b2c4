"""A publish dies at any point: readers of serving.duckdb, exports/ and site/ find the complete old set
or the complete new one, never a mix and never a missing site, and the next publish clears what the
dead one left behind."""

from __future__ import annotations

import functools
import inspect
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines.core.home import Home
from pipelines.core.resources import BackboneResource
from pipelines.definitions import build_definitions
from tests.test_scorecard import CELLS, INDICATOR_COLUMNS, PROGRAM, PROGRAM_COLUMNS, _cell

PUBLISH_KEYS = [dg.AssetKey(["publish", "serving_database"]), dg.AssetKey(["publish", "scorecard_site"])]
# Each published set carries its own grade-3 reading value (2023-24, whole community) and program size.
SETS = {"old": {"value": 0.47, "page": "47.0%", "served": 88}, "new": {"value": 0.52, "page": "52.0%", "served": 90}}
HEADLINE = "period = '2023-24' and geography_level = 'community' and dimension = 'all_students'"
LEFTOVER_MARKS = (".new", ".old", ".partial", ".before-versions")


class Crash(Exception):
    """The process dies here (injected)."""


@functools.cache
def _publish_step() -> tuple[dg.AssetsDefinition, ...]:
    """The definitions making the publish assets, in order (one making both, or one each)."""
    defs = build_definitions()
    return tuple({id(a): a for a in (defs.resolve_assets_def(key) for key in PUBLISH_KEYS)}.values())


def _stock(home: Home, name: str) -> None:
    """The warehouse's marts as the models left them for set `name`."""
    marks = SETS[name]
    cells = [_cell("2023-24", marks["value"], 100) if cell[1:6] == CELLS[2][1:6] else cell for cell in CELLS]
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute("create schema if not exists marts")
        con.execute(f"create or replace table marts.indicator_values ({INDICATOR_COLUMNS})")
        con.executemany(f"insert into marts.indicator_values values ({', '.join('?' * 14)})", cells)
        con.execute(f"create or replace table marts.program_performance ({PROGRAM_COLUMNS})")
        con.execute(
            f"insert into marts.program_performance values ({', '.join('?' * 19)})",
            (*PROGRAM[:3], marks["served"], *PROGRAM[4:]),
        )


def _publish(home: Home, name: str) -> None:
    """Run the pipeline's publish step (its assets' code, as the job does after the models) for set `name`."""
    _stock(home, name)
    for assets in _publish_step():
        results = assets(backbone=BackboneResource(home=str(home.root)))
        if inspect.isgenerator(results):
            list(results)


@contextmanager
def _dying_at(home: Home, call: int | None) -> Iterator[Callable[[], int]]:
    """Every rename, replace and symlink of a file under `home` counts; the `call`-th one kills the publish.
    Yields how many were made."""
    made = 0

    def counted(real: Callable) -> Callable:
        def move(source, destination, *args, **kwargs):
            nonlocal made
            if Path(destination).is_relative_to(home.root):
                made += 1
                if made == call:
                    raise Crash(f"killed at {real.__name__}({source}, {destination})")
            return real(source, destination, *args, **kwargs)

        return move

    with pytest.MonkeyPatch.context() as patch:
        for name in ("replace", "rename", "symlink"):
            patch.setattr(os, name, counted(getattr(os, name)))
        yield lambda: made


def _set_seen(home: Home) -> str:
    """The set a reader finds through the documented paths, after checking every file is from it:
    "old", "new", or "nothing" when nothing is published."""
    if not home.serving.exists():
        found = [path.name for path in (home.exports, home.site) if path.exists() and any(path.iterdir())]
        assert not found, f"no serving.duckdb, yet {found} published"
        return "nothing"
    seen: dict[str, str] = {}

    def which(where: str, mark: str, found) -> None:
        seen[where] = next((name for name, marks in SETS.items() if marks[mark] == found), f"neither: {found!r}")

    with duckdb.connect(str(home.serving), read_only=True) as con:
        which(
            "serving.duckdb", "value", con.execute(f"select value from indicator_values where {HEADLINE}").fetchone()[0]
        )
        which(
            "serving.duckdb program",
            "served",
            con.execute("select students_served from program_performance").fetchone()[0],
        )
    for reader in ("read_parquet", "read_csv"):
        extension = reader.removeprefix("read_")
        which(
            f"exports/indicator_values.{extension}",
            "value",
            duckdb.sql(
                f"select value from {reader}('{home.exports / f'indicator_values.{extension}'}') where {HEADLINE}"
            ).fetchone()[0],
        )
        which(
            f"exports/program_performance.{extension}",
            "served",
            duckdb.sql(
                f"select students_served from {reader}('{home.exports / f'program_performance.{extension}'}')"
            ).fetchone()[0],
        )
    assert (home.site / "index.html").is_file(), "no site/index.html"
    for page in ("index.html", "indicators/grade3_reading.html"):
        text = (home.site / page).read_text(encoding="utf-8")
        shown = [name for name, marks in SETS.items() if marks["page"] in text]
        seen[f"site/{page}"] = shown[0] if len(shown) == 1 else f"neither: {shown}"
    assert len(set(seen.values())) == 1, f"a mix of published sets: {seen}"
    return seen["serving.duckdb"]


def _published_files(home: Home) -> list[str]:
    """What a publish leaves under the instance dir, besides the warehouse and Dagster's files."""
    return sorted(
        str(path.relative_to(home.root))
        for path in home.root.rglob("*")
        if path.name != "warehouse.duckdb" and "dagster" not in path.relative_to(home.root).parts
    )


@pytest.mark.parametrize("before", ["old", None], ids=["over a published set", "into a new instance"])
def test_a_publish_killed_at_any_rename_leaves_the_old_set_or_the_new_one(tmp_path: Path, before: str | None) -> None:
    start = Home.resolve(tmp_path / "start").ensure()
    if before:
        _publish(start, before)
    clean = Home.resolve(shutil.copytree(start.root, tmp_path / "clean", symlinks=True))
    with _dying_at(clean, None) as made:
        _publish(clean, "new")
    renames = made()
    assert renames >= 1
    untouched = _published_files(clean)

    for call in range(1, renames + 1):
        home = Home.resolve(shutil.copytree(start.root, tmp_path / f"killed-at-{call}", symlinks=True))
        with _dying_at(home, call), pytest.raises(Crash):
            _publish(home, "new")

        assert _set_seen(home) in (before or "nothing", "new"), f"killed at rename {call}"

        _publish(home, "new")
        assert _set_seen(home) == "new", f"the publish after the one killed at rename {call}"
        leftovers = [path for path in _published_files(home) if path.endswith(LEFTOVER_MARKS)]
        assert not leftovers, f"killed at rename {call}, the next publish left {leftovers}"
        assert len(_published_files(home)) == len(untouched), (
            f"killed at rename {call}: {_published_files(home)} after the next publish, {untouched} without a crash"
        )


def test_when_the_site_cannot_be_built_nothing_is_published(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.publish.scorecard import charts

    _publish(home, "old")

    def broken(spec):
        raise RuntimeError("chart renderer crashed")

    monkeypatch.setattr(charts.vlc, "vegalite_to_svg", broken)
    with pytest.raises(RuntimeError, match="chart renderer crashed"):
        _publish(home, "new")

    assert _set_seen(home) == "old"
    monkeypatch.undo()
    _publish(home, "new")
    assert _set_seen(home) == "new"


def test_an_analyst_connection_opened_before_publishes_keeps_reading_its_version(home: Home) -> None:
    _publish(home, "old")
    analyst = duckdb.connect(str(home.serving), read_only=True)
    try:
        _publish(home, "new")
        _publish(home, "new")  # the version the analyst opened is removed now

        assert analyst.execute(f"select value from indicator_values where {HEADLINE}").fetchall() == [(0.47,)]
    finally:
        analyst.close()
    assert _set_seen(home) == "new"


def test_the_first_publish_carries_over_an_instance_published_before_versions(home: Home) -> None:
    _publish(home, "old")
    for documented in (home.serving, home.exports, home.site):  # as an earlier release laid them out
        published = documented.resolve()
        documented.unlink()
        (shutil.copytree if published.is_dir() else shutil.copy2)(published, documented)
    shutil.rmtree(home.published)
    analyst = duckdb.connect(str(home.serving), read_only=True)
    assert _set_seen(home) == "old"

    _publish(home, "new")

    assert analyst.execute(f"select value from indicator_values where {HEADLINE}").fetchall() == [(0.47,)]
    analyst.close()
    assert _set_seen(home) == "new"
    assert not [path for path in _published_files(home) if "before-versions" in path]
