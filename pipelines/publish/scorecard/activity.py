"""The activity map: which partners serve which shared indicators and populations.

Built from configuration, not from people's data: the agenda says which datasets each indicator
draws on and which indicators each program works toward; the registry says whose datasets and
programs they are. An indicator that two or more programs work on is an overlap (partners who
should coordinate); one that no program works on is a gap (measured, but nobody is acting on it).
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.core.agenda import Agenda, Indicator, Program
from pipelines.core.registry import Registry


@dataclass(frozen=True)
class Activity:
    """What one partner does for one indicator."""

    datasets: tuple[str, ...]  # the partner's datasets the indicator draws on
    programs: tuple[Program, ...]  # the partner's programs that work toward it


@dataclass(frozen=True)
class MapRow:
    indicator: Indicator
    activities: dict[str, Activity | None]  # by partner id, in the registry's order
    programs: tuple[Program, ...]

    @property
    def status(self) -> str:
        return "gap" if not self.programs else "overlap" if len(self.programs) > 1 else "served"


def program_partner(program: Program) -> str:
    return program.source.split(".")[0]


def activity_map(agenda: Agenda, registry: Registry) -> list[MapRow]:
    rows = []
    for indicator in agenda.indicators:
        programs = tuple(p for p in agenda.programs if indicator.id in p.indicators)
        activities: dict[str, Activity | None] = {}
        for partner_id in registry.partners:
            datasets = tuple(
                source.split(".")[1].replace("_", " ")
                for source in indicator.sources
                if source.split(".")[0] == partner_id
            )
            own = tuple(p for p in programs if program_partner(p) == partner_id)
            activities[partner_id] = Activity(datasets, own) if datasets or own else None
        rows.append(MapRow(indicator, activities, programs))
    return rows
