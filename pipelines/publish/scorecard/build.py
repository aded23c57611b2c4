"""Build the community scorecard: static HTML pages under BACKBONE_HOME/site/, from published data only.

The pages need no server and no network: links are relative, the stylesheet sits beside them
and every chart is inline SVG. The site is rendered in memory, then written into the new published
version beside its serving file (pipelines.publish.release), which readers get only when complete.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jinja2

from pipelines.core.agenda import Agenda, Indicator
from pipelines.core.privacy import PrivacyRule
from pipelines.core.registry import Registry
from pipelines.publish.published import PublishedData, load_published
from pipelines.publish.scorecard import pages
from pipelines.publish.scorecard.activity import activity_map, program_partner
from pipelines.publish.scorecard.charts import Figure, svg_cache
from pipelines.publish.scorecard.formats import count, day, pct, points, privacy_note, suppressed_label

TEMPLATES = Path(__file__).parent / "templates"
NAV = (
    ("index.html", "Overview"),
    ("benchmarking.html", "Bright spots"),
    ("partners.html", "Who works on what"),
    ("data-health.html", "Partner data health"),
)
DELIVERY_WORDS = {"csv_drop": "CSV files", "excel": "Excel workbooks", "api": "its web API", "sql": "a database pull"}
CADENCE_WORDS = {"per_term": "each term", "monthly": "monthly", "quarterly": "quarterly", "yearly": "yearly"}


@dataclass(frozen=True)
class Site:
    root: Path
    pages: list[str]

    @property
    def index(self) -> Path:
        return self.root / "index.html"


@cache
def _environment(suppressed: str, note: str) -> jinja2.Environment:
    """The templates, with `suppressed` the label of every hidden cell and `note` the disclosure policy."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(pct=pct, points=points, count=count, day=day)
    env.globals.update(nav=NAV, suppressed=suppressed, privacy_note=note, bright_spot_rule=pages.BRIGHT_SPOT_RULE)
    return env


def _indicator_pages(
    published: PublishedData,
    agenda: Agenda,
    registry: Registry,
    cards: dict[str, pages.Card],
    schools: dict[str, Figure | None],
    suppressed: str,
) -> dict[str, tuple[str, dict]]:
    found = {}
    for indicator in agenda.indicators:
        cells = published.cells.get(indicator.id, [])
        found[f"indicators/{indicator.id}.html"] = (
            "indicator.html.j2",
            {
                "title": indicator.title,
                "indicator": indicator,
                "card": cards[indicator.id],
                "trend": pages.trend_figure(indicator, cells, suppressed),
                "groups": pages.group_figures(indicator, cells, suppressed),
                "schools": schools[indicator.id],
                "breakdowns": [pages.DIMENSION_TITLES[d] for d in indicator.disaggregations],
                "sources": [
                    (registry.partners[partner_id], datasets) for partner_id, datasets in _sources(indicator).items()
                ],
                "programs": [p for p in agenda.programs if indicator.id in p.indicators],
            },
        )
    return found


def _sources(indicator: Indicator) -> dict[str, list[str]]:
    """Partner id -> its datasets the indicator draws on."""
    found: dict[str, list[str]] = {}
    for source in indicator.sources:
        partner, dataset = source.split(".")
        found.setdefault(partner, []).append(dataset.replace("_", " "))
    return found


def _partner_pages(published: PublishedData, agenda: Agenda, registry: Registry) -> dict[str, tuple[str, dict]]:
    found = {}
    for partner in registry.partners.values():
        datasets = [ref.dataset_id for ref in registry.datasets if ref.partner.id == partner.id]
        record = (
            None
            if published.deliveries is None
            else pages.delivery_table(
                f"{partner.name}: every delivery period, newest first",
                [d for d in published.deliveries if d.partner == partner.id],
            )
        )
        found[f"partners/{partner.id}.html"] = (
            "partner.html.j2",
            {
                "title": partner.name,
                "partner": partner,
                "cadence": CADENCE_WORDS[partner.cadence.value],
                "delivery": DELIVERY_WORDS[partner.delivery.kind],
                "feeds": [
                    (
                        dataset.replace("_", " "),
                        [i for i in agenda.indicators if f"{partner.id}.{dataset}" in i.sources],
                    )
                    for dataset in datasets
                ],
                "programs": [p for p in agenda.programs if program_partner(p) == partner.id],
                "record": record,
            },
        )
    return found


def render_pages(published: PublishedData, agenda: Agenda, registry: Registry) -> dict[str, str]:
    """Every page of the site: relative path -> HTML."""
    cards = {
        i.id: pages.card(i, published.cells.get(i.id, []), published.deliveries, published.published_at)
        for i in agenda.indicators
    }
    suppressed = suppressed_label(agenda.privacy.min_cell_size)
    schools = {i.id: pages.school_figure(i, published.cells.get(i.id, []), suppressed) for i in agenda.indicators}
    partner_names = {p.id: p.name for p in registry.partners.values()}
    health = published.deliveries
    contents: dict[str, tuple[str, dict]] = {
        "index.html": (
            "index.html.j2",
            {
                "title": "Overview",
                "cards": list(cards.values()),
                "programs": agenda.programs,
            },
        ),
        "benchmarking.html": (
            "benchmarking.html.j2",
            {
                "title": "Bright spots",
                "schools": [(i, schools[i.id]) for i in agenda.indicators if schools[i.id] is not None],
                "programs": pages.program_benchmarks(agenda, published.programs),
            },
        ),
        "partners.html": (
            "partners.html.j2",
            {
                "title": "Who works on what",
                "partners": list(registry.partners.values()),
                "activity": activity_map(agenda, registry),
            },
        ),
        "data-health.html": (
            "data_health.html.j2",
            {
                "title": "Partner data health",  # without a published history the page says so
                "overview": None if health is None else pages.delivery_figure(health, partner_names),
                "latest": None
                if health is None
                else pages.delivery_table(
                    "Latest delivery of each partner's datasets", pages.latest_deliveries(health), partner_names
                ),
            },
        ),
        **_indicator_pages(published, agenda, registry, cards, schools, suppressed),
        **{
            f"programs/{p.id}.html": (
                "program.html.j2",
                {
                    "title": p.name,
                    "program": p,
                    "partner": registry.partners[program_partner(p)],
                    "indicators": [agenda.indicator(i) for i in p.indicators],
                    "figures": pages.program_figures(p, published.programs.get(p.id, []), suppressed),
                },
            )
            for p in agenda.programs
        },
        **_partner_pages(published, agenda, registry),
    }
    env = _environment(suppressed, privacy_note(agenda.privacy.min_cell_size))
    return {
        path: env.get_template(template).render(
            **context,
            path=path,
            root="../" * path.count("/"),
            partnership=agenda.partnership,
            published_at=published.published_at,
        )
        for path, (template, context) in contents.items()
    }


def _write(site: Path, files: dict[str, str]) -> None:
    """Write `files` into `site`, a new folder: pages of two builds never mix."""
    site.mkdir(parents=True)
    for relative, text in files.items():
        path = site / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def build_site(
    serving: Path,
    site: Path,
    rules: dict[str, list[PrivacyRule]],
    agenda: Agenda,
    registry: Registry,
    chart_cache: Path | None = None,
) -> Site:
    """Render every page from the serving file and write them into `site`, a folder that does not exist
    yet (reusing the unchanged charts' SVGs kept in `chart_cache`, if given)."""
    with svg_cache(chart_cache) if chart_cache else contextlib.nullcontext():
        html = render_pages(load_published(serving, rules), agenda, registry)
    _write(site, {**html, "style.css": (TEMPLATES / "style.css").read_text(encoding="utf-8")})
    return Site(site, sorted(html))
