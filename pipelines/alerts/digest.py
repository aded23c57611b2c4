"""A partner's monthly digest: how its own deliveries went, and how the indicators its data feeds moved.

Reads only the partner's own rows of marts.partner_data_health, its own datasets' due dates, and
the published community-wide 'all students' values of marts.indicator_values (figures every
partner may see anyway). An indicator is fed by the partner when agenda.yml lists one of its
datasets among the indicator's sources; without a usable agenda the indicator part is left out.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache

import duckdb
import yaml

from pipelines.alerts.compose import next_deliveries, partnership, templates
from pipelines.alerts.health import recent_health
from pipelines.alerts.mail import Mail
from pipelines.core.agenda import Agenda
from pipelines.core.home import PROJECT_ROOT
from pipelines.core.registry import Partner, Registry
from pipelines.core.sql import table_exists
from pipelines.quality.timeliness import due_statuses

HEALTH_PERIODS = 3  # per dataset: enough to see a trend, short enough to read


@dataclass(frozen=True)
class Movement:
    """An indicator's latest community-wide value against the period before."""

    title: str
    period: str | None  # None: nothing published yet
    value: float | None  # None: suppressed
    previous_period: str | None
    previous_value: float | None

    @property
    def change_points(self) -> float | None:
        if self.value is None or self.previous_value is None:
            return None
        return round((self.value - self.previous_value) * 100, 1)


@cache
def _community_geography() -> str:
    # The name dbt gives the community-wide rows (dbt_project.yml var), so the two never disagree.
    project = yaml.safe_load((PROJECT_ROOT / "dbt_project" / "dbt_project.yml").read_text(encoding="utf-8"))
    return str(project["vars"]["community_geography"])


def fed_indicators(agenda: Agenda, partner: Partner) -> dict[str, str]:
    """{indicator id: title} of the agenda indicators drawing on the partner's datasets."""
    own = {f"{partner.id}.{dataset}" for dataset in partner.datasets}
    return {indicator.id: indicator.title for indicator in agenda.indicators if own & set(indicator.sources)}


def indicator_movements(con: duckdb.DuckDBPyConnection, indicators: dict[str, str]) -> list[Movement]:
    values: dict[str, list[tuple[str, float | None]]] = {indicator: [] for indicator in indicators}
    if indicators and table_exists(con, "marts", "indicator_values"):
        for indicator_id, period, value, suppressed in con.execute(
            "select indicator_id, period, value, suppressed from marts.indicator_values "
            "where geography = ? and dimension = 'all_students' and indicator_id in "
            f"({', '.join('?' for _ in indicators)}) order by indicator_id, period",
            [_community_geography(), *indicators],
        ).fetchall():
            values[indicator_id].append((period, None if suppressed else value))
    movements = []
    for indicator_id, title in indicators.items():
        history = values[indicator_id]
        latest = history[-1] if history else (None, None)
        previous = history[-2] if len(history) > 1 else (None, None)
        movements.append(Movement(title, *latest, *previous))
    return movements


def compose_digest(
    con: duckdb.DuckDBPyConnection,
    registry: Registry,
    partner: Partner,
    as_of: dt.datetime,
    team: str,
    agenda: Agenda | None,
) -> Mail:
    """The partner's digest for the month of `as_of` (one per month: the month is in its key)."""
    refs = [ref for ref in registry.datasets if ref.partner.id == partner.id]
    indicators = None if agenda is None else fed_indicators(agenda, partner)
    context = {
        "partner": partner,
        "partnership": partnership(agenda),
        "month": f"{as_of:%B %Y}",
        "health": recent_health(con, partner.id, periods=HEALTH_PERIODS),
        "upcoming": next_deliveries(registry, partner, due_statuses(con, refs, as_of)),
        "movements": None if indicators is None else indicator_movements(con, indicators),
    }
    subject = f"Your monthly data digest, {context['month']}: {partner.name}"
    return Mail(
        key=f"{partner.id}-digest-{as_of:%Y-%m}",
        partner=partner.id,
        to=tuple(partner.owners),
        cc=(team,),
        subject=subject,
        text=templates().get_template("partner_digest.txt.j2").render(context | {"subject": subject}),
        html=templates().get_template("partner_digest.html.j2").render(context | {"subject": subject}),
    )
