"""The scorecard's charts: Vega-Lite specifications rendered to static SVG by vl-convert.

vl-convert bundles Vega-Lite, Vega and a JavaScript engine of its own, so a chart becomes plain
SVG here, at build time: the pages need no script, no CDN and no network to show it. The
specifications are written as Vega-Lite JSON directly (Altair would build the same JSON, at a
cost of about half the build). Every chart is drawn from rows that are already safe to publish
(suppressed groups are never passed in) and comes with its accessible name and a table of the
same numbers (`Figure`).
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import vl_convert as vlc
from markupsafe import Markup

# Colour-blind-safe (Okabe-Ito), always doubled by a text label and a table.
INK, MUTED, BLUE, GREEN, ORANGE, VERMILION = "#1f2933", "#7b8794", "#0072b2", "#009e73", "#e69f00", "#d55e00"
WIDTH = 520
BAR_STEP = 26
CONFIG = {
    "font": "sans-serif",
    "background": "white",
    "view": {"stroke": None},
    "axis": {"labelFontSize": 12, "labelColor": INK, "gridColor": "#e4e7eb", "title": None},
    "legend": {"labelFontSize": 12, "orient": "bottom", "title": None},
}
PERCENT = {"scale": {"domain": [0, 1]}, "axis": {"format": "%", "tickCount": 5}}


@dataclass(frozen=True)
class Table:
    """The numbers behind a chart, for screen readers and for anyone who prefers a table.
    The first cell of each row heads the row."""

    caption: str
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]


@dataclass(frozen=True)
class Figure:
    title: str
    svg: Markup | None  # None when nothing can be drawn: every group hidden
    table: Table
    hidden: tuple[str, ...] = ()  # groups not drawn because the privacy gate hid them


_VL_CONVERT_VERSION = metadata.version("vl-convert-python")


@dataclass
class _SvgCache:
    directory: Path
    used: set[str]


_cache: ContextVar[_SvgCache | None] = ContextVar("svg_cache", default=None)


@contextmanager
def svg_cache(directory: Path) -> Iterator[None]:
    """Keep each chart's SVG in `directory` under a hash of its full specification and reuse it while
    the specification is unchanged: drawing is the slow part of a build, a site has dozens of charts,
    and a delivery changes the numbers of a few. After a build that completes, the SVGs it did not use are removed."""
    directory.mkdir(parents=True, exist_ok=True)
    for partial in directory.glob("*.partial"):  # left by a build that died keeping an SVG; publishes take turns
        partial.unlink(missing_ok=True)
    cache = _SvgCache(directory, set())
    token = _cache.set(cache)
    try:
        yield
    finally:
        _cache.reset(token)
    for stale in directory.glob("*.svg"):
        if stale.name not in cache.used:
            stale.unlink(missing_ok=True)


def _svg(spec: dict[str, Any]) -> str:
    cache = _cache.get()
    if cache is None:
        return vlc.vegalite_to_svg(spec)
    key = json.dumps([_VL_CONVERT_VERSION, spec], sort_keys=True, default=str)  # a new renderer draws anew
    path = cache.directory / f"{hashlib.sha256(key.encode()).hexdigest()}.svg"
    cache.used.add(path.name)
    if path.exists():
        return path.read_text(encoding="utf-8")
    svg = vlc.vegalite_to_svg(spec)
    partial = path.with_suffix(f".{os.getpid()}.partial")
    partial.write_text(svg, encoding="utf-8")
    os.replace(partial, path)  # a reader never finds half an SVG
    return svg


def render(spec: dict[str, Any], label: str) -> Markup:
    """Inline SVG with an accessible name: role="img", aria-label and a <title>."""
    svg = _svg({**spec, "config": CONFIG})
    opening = re.match(r"<svg\b[^>]*>", svg)
    if opening is None:  # vl-convert always writes one; a change underneath must not pass silently
        raise ValueError("vl-convert returned no <svg> element")
    size = dict(re.findall(r'\b(width|height|viewBox)="([^"]*)"', opening.group(0)))
    name = html.escape(label, quote=True)
    # Inline in HTML the root needs no XML namespaces; the class lets CSS scale it to the screen.
    root = (
        f'<svg class="chart-svg" role="img" aria-label="{name}" width="{size["width"]}" '
        f'height="{size["height"]}" viewBox="{size["viewBox"]}"><title>{name}</title>'
    )
    return Markup(root + svg[opening.end() :])


def _field(name: str, kind: str, **options: Any) -> dict[str, Any]:
    return {"field": name, "type": kind, **options}


def _data(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"values": list(rows)}


def trend(
    points: Sequence[tuple[str, float]], baseline: tuple[str, float], target: tuple[str, float], label: str
) -> Markup:
    """The indicator over time against its baseline and target lines, each (legend text, value)."""
    x = _field("period", "ordinal", sort=[period for period, _ in points], axis={"labelAngle": 0})
    y = _field("value", "quantitative", **PERCENT)
    values = _data({"period": p, "value": v} for p, v in points)
    return render(
        {
            "width": WIDTH,
            "height": 240,
            "layer": [
                {
                    "data": _data([{"line": text, "value": value} for text, value in (baseline, target)]),
                    "mark": {"type": "rule", "strokeDash": [6, 4], "strokeWidth": 2},
                    "encoding": {
                        "y": y,
                        "color": _field("line", "nominal", sort=None, scale={"range": [MUTED, GREEN]}),
                    },
                },
                {
                    "data": values,
                    "mark": {"type": "line", "color": BLUE, "strokeWidth": 3, "point": {"color": BLUE, "size": 70}},
                    "encoding": {"x": x, "y": y},
                },
                {
                    "data": values,
                    "mark": {"type": "text", "dy": -14, "color": INK, "fontSize": 12, "fontWeight": "bold"},
                    "encoding": {"x": x, "y": y, "text": _field("value", "quantitative", format=".1%")},
                },
            ],
        },
        label,
    )


def sparkline(points: Sequence[tuple[str, float]], target: float, label: str) -> Markup:
    """A card's small trend: the line and, faintly, the target it heads for."""
    y = _field("value", "quantitative", scale={"zero": False}, axis=None)
    return render(
        {
            "width": 170,
            "height": 44,
            "layer": [
                {
                    "data": _data([{"value": target}]),
                    "mark": {"type": "rule", "color": GREEN, "strokeDash": [3, 3]},
                    "encoding": {"y": y},
                },
                {
                    "data": _data({"period": p, "value": v} for p, v in points),
                    "mark": {"type": "line", "color": BLUE, "strokeWidth": 2, "point": {"color": BLUE, "size": 16}},
                    "encoding": {"x": _field("period", "ordinal", sort=[p for p, _ in points], axis=None), "y": y},
                },
            ],
        },
        label,
    )


def bars(rows: Sequence[dict[str, Any]], label: str, reference: tuple[str, float] | None = None) -> Markup:
    """Horizontal bars of proportions, one per row {"name", "value", "text", "highlight"}, with an
    optional reference line (e.g. all students); highlighted rows are drawn in green."""
    x = _field("value", "quantitative", **PERCENT)
    y = _field("name", "nominal", sort=[row["name"] for row in rows], axis={"labelLimit": 220})
    data = _data({**row, "highlight": bool(row.get("highlight"))} for row in rows)
    layers = [
        {
            "data": data,
            "mark": {"type": "bar", "height": BAR_STEP * 0.7},
            "encoding": {
                "x": x,
                "y": y,
                "color": {"condition": {"test": "datum.highlight", "value": GREEN}, "value": BLUE},
            },
        },
        {
            "data": data,
            "mark": {"type": "text", "align": "left", "dx": 4, "color": INK, "fontSize": 12},
            "encoding": {"x": x, "y": y, "text": _field("text", "nominal")},
        },
    ]
    if reference is not None:
        layers.append(
            {
                "data": _data([{"line": reference[0], "value": reference[1]}]),
                "mark": {"type": "rule", "strokeDash": [5, 3], "strokeWidth": 2},
                "encoding": {
                    "x": _field("value", "quantitative"),
                    "color": _field("line", "nominal", scale={"range": [INK]}),
                },
            }
        )
    return render({"width": WIDTH - 140, "height": BAR_STEP * max(len(rows), 1), "layer": layers}, label)


def columns(rows: Sequence[dict[str, Any]], label: str, percent: bool) -> Markup:
    """Vertical bars over periods, one per row {"period", "value", "text"}."""
    x = _field("period", "ordinal", sort=[row["period"] for row in rows], axis={"labelAngle": 0})
    y = _field("value", "quantitative", **(PERCENT if percent else {"axis": {"tickCount": 5}}))
    data = _data(rows)
    return render(
        {
            "width": WIDTH - 160,
            "height": 200,
            "layer": [
                {"data": data, "mark": {"type": "bar", "color": BLUE, "width": 36}, "encoding": {"x": x, "y": y}},
                {
                    "data": data,
                    "mark": {"type": "text", "dy": -8, "color": INK, "fontSize": 12},
                    "encoding": {"x": x, "y": y, "text": _field("text", "nominal")},
                },
            ],
        },
        label,
    )


def paired(rows: Sequence[dict[str, Any]], label: str, category: str = "period") -> Markup:
    """Two series side by side per category, rows {category, "series", "value", "text"}
    (participants against comparable non-participants)."""
    series = list(dict.fromkeys(row["series"] for row in rows))
    x = _field(
        category,
        "nominal",
        sort=list(dict.fromkeys(row[category] for row in rows)),
        axis={"labelAngle": 0, "labelLimit": 160},
    )
    offset = _field("series", "nominal", sort=series)
    y = _field("value", "quantitative", **PERCENT)
    data = _data(rows)
    return render(
        {
            "width": WIDTH - 120,
            "height": 220,
            "layer": [
                {
                    "data": data,
                    "mark": "bar",
                    "encoding": {
                        "x": x,
                        "xOffset": offset,
                        "y": y,
                        "color": _field("series", "nominal", sort=series, scale={"range": [BLUE, ORANGE]}),
                    },
                },
                {
                    "data": data,
                    "mark": {"type": "text", "dy": -8, "color": INK, "fontSize": 11},
                    "encoding": {"x": x, "xOffset": offset, "y": y, "text": _field("text", "nominal")},
                },
            ],
        },
        label,
    )


def stacked(rows: Sequence[dict[str, Any]], label: str, parts: Sequence[tuple[str, str]]) -> Markup:
    """Counts stacked per row name, rows {"name", "part", "count"}; `parts` are (part, colour) in order."""
    names = list(dict.fromkeys(row["name"] for row in rows))
    order = [part for part, _ in parts]
    return render(
        {
            "width": WIDTH - 160,
            "height": BAR_STEP * max(len(names), 1),
            "data": _data({**row, "rank": order.index(row["part"])} for row in rows),
            "mark": {"type": "bar", "height": BAR_STEP * 0.7},
            "encoding": {
                "x": _field("count", "quantitative", stack="zero", axis={"tickMinStep": 1}),
                "y": _field("name", "nominal", sort=names, axis={"labelLimit": 240}),
                "color": _field(
                    "part", "nominal", sort=order, scale={"domain": order, "range": [colour for _, colour in parts]}
                ),
                "order": _field("rank", "quantitative"),
            },
        },
        label,
    )
