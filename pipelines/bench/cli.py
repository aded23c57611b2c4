"""`backbone synth` and `backbone bench` (also runnable as `python -m pipelines.bench.cli synth|bench`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.command()
@click.option("--rows", type=click.IntRange(min=100), required=True, help="Assessment rows to write (exactly).")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="Output folder (new, or one written by synth before: its deliveries are replaced).",
)
@click.option(
    "--flaw-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share of the current year's assessment rows given a planted flaw (resent fixed in fixes/).",
)
@click.option("--seed", type=int, default=2026, show_default=True)
@click.option("--jobs", type=click.IntRange(min=1), default=None, help="Worker processes (default: one per CPU).")
def synth(rows: int, out: Path, flaw_rate: float, seed: int, jobs: int | None) -> None:
    """Write synthetic deliveries of every partner, in their own formats, at any size."""
    from pipelines.bench.synth import SynthError, synthesize

    try:
        manifest = synthesize(out, rows, seed=seed, flaw_rate=flaw_rate, jobs=jobs, progress=click.echo)
    except SynthError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    files = manifest["files"]
    click.echo(
        f"{manifest['assessment_rows']:,} assessment rows, {manifest['students']:,} students, "
        f"{len(files)} files, {sum(files.values()):,} rows in all -> {out} ({manifest['seconds']} s)"
    )
    planted = sum(manifest["flaws"].values())
    if planted:
        click.echo(
            f"planted flaws: {planted:,} ({', '.join(f'{k} {v:,}' for k, v in manifest['flaws'].items())}); "
            "the fixed files are in fixes/"
        )
    thinned = [
        name
        for name, shards in (("college records", manifest["college_shards"]), ("wage records", manifest["wage_shards"]))
        if shards < manifest["shards"]
    ]
    if thinned:
        click.echo(
            f"kept under the one-pull row caps: {' and '.join(thinned)} cover part of the students "
            f"({manifest['pulled_rows']})"
        )


@click.command()
@click.option(
    "--rows",
    type=click.IntRange(min=1000),
    default=10_000_000,
    show_default=True,
    help="Assessment rows of the synthetic deliveries.",
)
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None, help="Write the figures here.")
@click.option(
    "--work",
    type=click.Path(path_type=Path),
    default=None,
    help="Keep the instance, deliveries and logs in this folder (default: a temporary one, removed).",
)
@click.option(
    "--deliveries",
    type=click.Path(path_type=Path),
    default=None,
    help="Synthesize into (or reuse, when it holds the same rows and seed) this folder.",
)
@click.option("--seed", type=int, default=2026, show_default=True)
@click.option("--jobs", type=click.IntRange(min=1), default=None, help="Worker processes for synth.")
@click.option(
    "--increment/--no-increment",
    default=True,
    show_default=True,
    help="Also time a new 10,000-row delivery end to end after the run.",
)
def bench(
    rows: int,
    json_path: Path | None,
    work: Path | None,
    deliveries: Path | None,
    seed: int,
    jobs: int | None,
    increment: bool,
) -> None:
    """Time the pipeline through Dagster against hand-written DuckDB SQL on the same synthetic deliveries.

    Exit 0 when both published the same indicator (the goals are reported, not enforced); 1 otherwise.
    """
    from pipelines.bench.bench import BenchError, render, run_bench

    try:
        report = run_bench(
            rows,
            seed=seed,
            work=work,
            deliveries=deliveries,
            jobs=jobs,
            increment=increment,
            say=lambda line: click.echo(line, err=True),
        )
    except BenchError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    click.echo(render(report))
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report, indent=2, default=str) + "\n")
        click.echo(f"\nfigures: {json_path}")
    sys.exit(0 if report["indicator"]["equal"] else 1)


@click.group()
def main() -> None:
    """Benchmark commands (registered in `backbone` as well)."""


main.add_command(synth)
main.add_command(bench)

if __name__ == "__main__":
    main()
