"""A synthetic Riverbend partnership, delivered the way each partner sends its data.

One student population is built first (who is where, who graduates, who goes to college, who is
mentored), so every partner's files describe the same students consistently. Each file then draws
its own noise from a generator seeded by (seed, file): files do not depend on each other's
randomness, and the flaws planted in one file leave every other file unchanged.

    python -m pipelines.sample.world --out sources/sample

The same model at any size, streamed shard by shard: `pipelines.bench.synth` (`backbone synth`).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import random
import re
import zipfile
from bisect import bisect
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import accumulate
from pathlib import Path

from openpyxl import Workbook

HISTORY_YEARS = (2021, 2022, 2023)  # fall of each school year
CURRENT_YEAR = 2024
YEARS = (*HISTORY_YEARS, CURRENT_YEAR)
COHORTS = tuple(year + 1 for year in YEARS)  # graduation cohorts: grade 12 in the school year before
WINDOW_END = dt.date(CURRENT_YEAR + 1, 6, 30)
FIRST_QUARTER, LAST_QUARTER = (HISTORY_YEARS[0], 3), (CURRENT_YEAR + 1, 2)

GENDERS = {"F": 49.5, "M": 49.5, "X": 1}
NON_GRADUATES = {"C": 35, "D": 35, "T": 30}  # still enrolled, dropped out, transferred out
FIRST_TERMS = {"FA": 75, "SU": 10, "SP": 15}
RACES = {"HI": 35, "WH": 30, "BL": 18, "AS": 8, "MR": 5, "AI": 2.5, "PI": 1.5}
ECON_BY_RACE = {"HI": 0.68, "WH": 0.38, "BL": 0.70, "AS": 0.35, "MR": 0.50, "AI": 0.70, "PI": 0.60}
EL_AT_K_BY_RACE = {"HI": 0.50, "AS": 0.35}  # everyone else .04
SCORE_GAP = {"AS": 12, "WH": 6, "MR": 2, "HI": -6, "BL": -10, "AI": -9, "PI": -5}
ELEMENTARY = {"101": 30, "102": 25, "103": 25, "104": 20}
PREK_IF_ECON = {"HS": 35, "SP": 30, "PR": 5, "NO": 30}
PREK_OTHERWISE = {"HS": 3, "SP": 30, "PR": 35, "NO": 32}
PREK_EFFECT = {"HS": 3, "SP": 5, "PR": 6, "NO": -4}
COLLEGE_LEVELS = {"ASSOC": 70, "CERT": 20, "BACH": 10}
CIP_CODES = {
    "CERT": ("47.0604", "51.0801", "12.0503", "48.0508", "15.0303"),
    "ASSOC": ("24.0101", "52.0201", "51.3801", "11.0701", "43.0107"),
    "BACH": ("52.0201", "51.3801", "11.0701"),
}
TERMS_TO_AWARD = {"CERT": 2, "ASSOC": 4, "BACH": 8}  # full-time fall/spring terms; part-time takes 1.5x
STUDENT_JOBS = {"72": 45, "44": 35, "71": 10, "61": 10}  # NAICS sectors
ADULT_JOBS = {"62": 20, "44": 18, "72": 14, "56": 10, "23": 10, "31": 10, "48": 9, "54": 5, "52": 4}
TERM_DATES = {  # season: (month, day) of enrolment, (month, day) the term ends
    "SP": ((1, 8), (5, 15)),
    "SU": ((6, 10), (8, 8)),
    "FA": ((8, 21), (12, 14)),
}
SEASONS = ("SP", "SU", "FA")

ENROLLMENT_HEADER = (
    "State Student ID",
    "School Year",
    "School Code",
    "Grade Level",
    "Race/Ethnicity",
    "Gender",
    "Econ Disadv",
    "EL Status",
    "SPED",
    "Birth Date",
)
ASSESSMENT_HEADER = (
    "State Student ID",
    "School Year",
    "School Code",
    "Tested Grade",
    "Subject",
    "Scale Score",
    "Performance Level",
)
GRADUATION_HEADER = ("State Student ID", "Cohort Year", "School Code", "Outcome", "Graduation Date")
READINESS_HEADER = (
    "Student State ID",
    "Year",
    "Receiving School",
    "Assessed On",
    "Total Score",
    "Readiness",
    "Pre-K Program",
)
PARTICIPATION_HEADER = (
    "Student ID",
    "Program",
    "School Year",
    "Start Date",
    "Sessions Offered",
    "Sessions Attended",
    "End Date",
)
WAGE_HEADER = ("person_state_id", "wage_quarter", "was_employed", "total_wages", "naics_sector")

Row = Sequence[object]


# --- calendar helpers -------------------------------------------------------------------------


@cache
def label(year: int) -> str:
    """School year label: 2024 -> '2024-25'."""
    return f"{year}-{(year + 1) % 100:02d}"


FLAWED_FILE = f"current/riverbend_isd/assessments_{label(CURRENT_YEAR)}.csv"
FIXED_FILE = f"fixes/riverbend_isd/assessments_{label(CURRENT_YEAR)}_v2.csv"


def _round(year: int) -> str:
    return "current" if year == CURRENT_YEAR else "history"


def _school_year_of(day: dt.date) -> int:
    return day.year if day.month >= 7 else day.year - 1


def _age(birth: dt.date, on: dt.date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _commencement(year: int, high_school: str) -> dt.date:
    """Last Saturday of May at Riverbend High; Westfield graduates the evening before."""
    day = dt.date(year, 5, 31)
    day -= dt.timedelta(days=(day.weekday() - 5) % 7)
    return day if high_school == "301" else day - dt.timedelta(days=1)


def _weekday(day: dt.date) -> dt.date:
    """Schools and offices record things on working days: a weekend date moves to Monday."""
    return day + dt.timedelta(days=7 - day.weekday() if day.weekday() >= 5 else 0)


def _term_span(code: str) -> tuple[dt.date, dt.date]:
    year, season = int(code[:4]), code[4:]
    (start_month, start_day), (end_month, end_day) = TERM_DATES[season]
    return dt.date(year, start_month, start_day), dt.date(year, end_month, end_day)


def _terms_from(year: int, season: str) -> Iterator[str]:
    index = SEASONS.index(season)
    while True:
        yield f"{year}{SEASONS[index]}"
        year, index = (year + 1, 0) if index == 2 else (year, index + 1)


@cache
def _quarters() -> tuple[tuple[str, dt.date, dt.date], ...]:
    return tuple(_each_quarter())


def _each_quarter() -> Iterator[tuple[str, dt.date, dt.date]]:
    year, quarter = FIRST_QUARTER
    while (year, quarter) <= LAST_QUARTER:
        start = dt.date(year, 3 * quarter - 2, 1)
        following = dt.date(year + quarter // 4, 3 * (quarter % 4) + 1, 1)
        yield f"{year}Q{quarter}", start, following - dt.timedelta(days=1)
        year, quarter = (year + 1, 1) if quarter == 4 else (year, quarter + 1)


_CUMULATIVE: dict[int, tuple[dict[str, float], tuple[str, ...], list[float], float]] = {}


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    """A weighted draw from one of the module's weight tables, exactly as `rng.choices(keys, weights)[0]`
    draws it (one random() placed among the cumulative weights), with the sums made once per table.
    The cache holds each table, so no other object can take over its id."""
    if (table := _CUMULATIVE.get(id(weights))) is None:
        cumulative = list(accumulate(weights.values()))
        table = _CUMULATIVE[id(weights)] = (weights, tuple(weights), cumulative, cumulative[-1] + 0.0)
    _, keys, cumulative, total = table
    return keys[bisect(cumulative, rng.random() * total, 0, len(keys) - 1)]


def _yn(flag: bool) -> str:
    return "Y" if flag else "N"


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


# --- the population ---------------------------------------------------------------------------


@dataclass(slots=True)
class Student:
    sid: str
    k_year: int  # fall of kindergarten; grades follow one a year
    birth_date: dt.date
    race: str
    gender: str
    ability: float  # latent; every outcome draws on it, so a student's outcomes correlate
    econ: bool
    econ_flip: int | None  # school year from which the family's status changes
    el_until: int  # grade at which an English learner is reclassified; 0: never an EL
    sped_from: int | None  # grade of identification for special education
    elementary: str
    prek: str
    outcome: str | None = None  # graduation outcome, for cohorts in the sample
    left_school: dt.date | None = None
    terms: list[tuple[str, dt.date, str, str]] = field(default_factory=list)  # term, enrolled on, load, level
    awards: list[tuple[dt.date, str, str]] = field(default_factory=list)  # awarded on, level, CIP code

    @property
    def cohort(self) -> int:
        return self.k_year + 13

    def grade(self, year: int) -> int | None:
        """Grade enrolled in that fall, or None; a 'still enrolled' senior stays a fifth year."""
        grade = year - self.k_year
        if 0 <= grade <= 12:
            return grade
        return 12 if grade == 13 and self.outcome == "C" else None

    def school(self, grade: int) -> str:
        middle = "201" if self.elementary in ("101", "102") else "202"
        return self.elementary if grade <= 5 else middle if grade <= 8 else {"201": "301", "202": "302"}[middle]

    def econ_in(self, year: int) -> bool:
        return self.econ != (self.econ_flip is not None and year >= self.econ_flip)

    def el_in(self, grade: int) -> bool:
        return grade < self.el_until

    def sped_in(self, grade: int) -> bool:
        return self.sped_from is not None and grade >= self.sped_from


@dataclass(frozen=True, slots=True)
class Participation:
    sid: str
    program: str
    year: int
    enrolled_on: dt.date
    offered: int
    attended: int
    exited_on: dt.date | None


@dataclass
class World:
    seed: int
    students: list[Student]
    mentoring: list[Participation]
    _rosters: dict[int, list[tuple[str, int, Student]]] = field(default_factory=dict, repr=False)

    def roster(self, year: int) -> list[tuple[str, int, Student]]:
        """Fall enrolment as the district's SIS exports it: by school, grade, student (built once a year:
        a student's school and grade that year are settled before the world is)."""
        if year not in self._rosters:
            rows = [(s.school(grade), grade, s) for s in self.students if (grade := s.grade(year)) is not None]
            self._rosters[year] = sorted(rows, key=lambda row: (row[0], row[1], row[2].sid))
        return self._rosters[year]

    def rng(self, name: str) -> random.Random:
        return random.Random(f"{self.seed}:{name}")  # str seeds hash with SHA-512: stable across runs


def build_world(students_per_grade: int = 140, seed: int = 2026, id_prefix: str = "") -> World:
    """The population; `id_prefix` goes after the 'S' of every state ID (worlds built as shards of a
    larger one get distinct prefixes of one width, so their IDs never collide)."""
    rng = random.Random(seed)
    first_k, last_k = YEARS[0] - 12, CURRENT_YEAR
    sizes = {
        k: round(students_per_grade * rng.uniform(0.93, 1.07) * (1 + 0.01 * (k - 2016)))
        for k in range(first_k, last_k + 1)
    }
    ids = iter(rng.sample(range(10_000_000), sum(sizes.values())))
    students = [_new_student(rng, f"S{id_prefix}{next(ids):07d}", k) for k, size in sizes.items() for _ in range(size)]
    for student in students:
        if student.cohort in COHORTS:
            _graduate(rng, student)
            if student.outcome == "G":
                _go_to_college(rng, student)
    world = World(seed, students, [])
    world.mentoring = _mentor(rng, world)
    return world


def _new_student(rng: random.Random, sid: str, k_year: int) -> Student:
    race = _pick(rng, RACES)
    econ = rng.random() < ECON_BY_RACE[race]
    el_until = 0
    if rng.random() < EL_AT_K_BY_RACE.get(race, 0.04):
        el_until = 1
        while el_until < 14 and rng.random() > 0.07:  # about 7% are reclassified each year
            el_until += 1
    sped_roll = rng.random()
    sped_from = 0 if sped_roll < 0.10 else rng.randint(1, 12) if sped_roll < 0.18 else None
    return Student(
        sid=sid,
        k_year=k_year,
        birth_date=dt.date(k_year - 6, 9, 2) + dt.timedelta(days=rng.randrange(365)),  # 5 by Sept 1
        race=race,
        gender=_pick(rng, GENDERS),
        ability=rng.gauss(0, 1),
        econ=econ,
        econ_flip=rng.randint(k_year + 1, k_year + 12) if rng.random() < 0.06 else None,
        el_until=el_until,
        sped_from=sped_from,
        elementary=_pick(rng, ELEMENTARY),
        prek=_pick(rng, PREK_IF_ECON if econ else PREK_OTHERWISE),
    )


def _graduate(rng: random.Random, s: Student) -> None:
    year = s.cohort - 1
    chance = (
        0.84
        + 0.05 * s.ability
        - 0.04 * s.econ_in(year)
        - 0.04 * s.sped_in(12)
        - 0.02 * s.el_in(12)
        + 0.01 * (s.cohort - COHORTS[0])
    )
    s.outcome = "G" if rng.random() < _clamp(chance, 0.5, 0.98) else _pick(rng, NON_GRADUATES)
    high = s.school(12)
    if s.outcome in ("G", "C"):  # a fifth-year senior graduates with the next class
        s.left_school = _commencement(s.cohort + (s.outcome == "C"), high)
    elif s.outcome == "D":
        s.left_school = dt.date(s.cohort, 1, 15) + dt.timedelta(days=rng.randrange(100))
    else:
        s.left_school = dt.date(year, 10, 1) + dt.timedelta(days=rng.randrange(150))


def _go_to_college(rng: random.Random, s: Student) -> None:
    """Enrol within a year of graduating; persist or stop out term by term; awards 1-3 years on."""
    year = s.cohort
    if rng.random() > _clamp(
        0.46 + 0.08 * s.ability - 0.06 * s.econ_in(year - 1) + 0.01 * (year - COHORTS[0]), 0.1, 0.9
    ):
        return
    level = _pick(rng, COLLEGE_LEVELS)
    load = "FT" if rng.random() < 0.62 else "PT"
    cip = rng.choice(CIP_CODES[level])
    start = _pick(rng, FIRST_TERMS)
    main_terms = 0
    for code in _terms_from(year + (start == "SP"), start):
        begins, ends = _term_span(code)
        if begins > WINDOW_END:
            return
        summer = code.endswith("SU")
        if summer and s.terms and rng.random() > 0.15:
            continue
        s.terms.append((code, _weekday(begins + dt.timedelta(days=rng.randint(-6, 3))), load, level))
        if summer:
            continue
        main_terms += 1
        needed = TERMS_TO_AWARD[level] * (1.5 if load == "PT" else 1)
        if level != "CERT" and main_terms == 2 and rng.random() < 0.2 and ends <= WINDOW_END:
            s.awards.append((_weekday(ends + dt.timedelta(days=2)), "CERT", rng.choice(CIP_CODES["CERT"])))  # stackable
        if main_terms >= needed and rng.random() < 0.6:
            if ends <= WINDOW_END:
                s.awards.append((_weekday(ends + dt.timedelta(days=2)), level, cip))
            return
        if rng.random() < 0.14 + 0.05 * s.econ:  # stops out
            return
        if rng.random() < 0.1:
            load = "PT" if load == "FT" else "FT"


def _mentor(rng: random.Random, world: World) -> list[Participation]:
    """Reading buddies in grades 2-5, 1:1 mentoring in 6-8; referrals favour struggling students
    and most participants come back the next year."""
    records: list[Participation] = []
    last_year: set[tuple[str, str]] = set()
    for year in YEARS:
        this_year: set[tuple[str, str]] = set()
        for _, grade, s in world.roster(year):
            program = "BFM-READ" if 2 <= grade <= 5 else "BFM-MENTOR" if 6 <= grade <= 8 else None
            if program is None:
                continue
            returning = (s.sid, program) in last_year
            chance = 0.55 if returning else 0.04 + 0.05 * s.econ_in(year) + 0.05 * (s.ability < -0.3)
            if rng.random() >= chance:
                continue
            this_year.add((s.sid, program))
            enrolled = _weekday(dt.date(year, 9, 8) + dt.timedelta(days=rng.randrange(50)))
            program_end = dt.date(year + 1, 5, 22)
            exited = (
                _weekday(enrolled + dt.timedelta(days=rng.randrange(30, (program_end - enrolled).days - 3)))
                if rng.random() < 0.12
                else None
            )
            weeks = ((exited or program_end) - enrolled).days // 7
            offered = min(200, weeks * 2 if program == "BFM-READ" else weeks)
            rate = _clamp(
                rng.gauss(0.8 + 0.04 * s.ability - 0.05 * s.econ_in(year) - 0.15 * bool(exited), 0.13), 0.15, 1
            )
            records.append(Participation(s.sid, program, year, enrolled, offered, round(offered * rate), exited))
        last_year = this_year
    return records


# --- what each partner sends ------------------------------------------------------------------


def enrollment_rows(world: World, year: int) -> Iterator[Row]:
    for school, grade, s in world.roster(year):
        yield (
            s.sid,
            label(year),
            school,
            grade,
            s.race,
            s.gender,
            _yn(s.econ_in(year)),
            _yn(s.el_in(grade)),
            _yn(s.sped_in(grade)),
            s.birth_date.isoformat(),
        )


def performance_level(score: int) -> int:
    """The state test's performance level of a scale score: 3 and 4 are proficient."""
    return 1 if score < 225 else 2 if score < 250 else 3 if score < 275 else 4


def assessment_rows(world: World, year: int) -> Iterator[Row]:
    rng = world.rng(f"assessments:{year}")
    mentored = {(p.sid, p.year) for p in world.mentoring}
    for school, grade, s in world.roster(year):
        if not 3 <= grade <= 8:
            continue
        base = (
            250
            + 28 * s.ability
            + SCORE_GAP[s.race]
            - 10 * s.econ_in(year)
            - 28 * s.sped_in(grade)
            + 3 * (year - YEARS[0])
            + 3 * ((s.sid, year) in mentored)
        )
        for subject in ("ELA", "MATH"):
            if rng.random() < 0.03:  # absent on test day
                continue
            el_gap = (14 if subject == "ELA" else 8) * s.el_in(grade)
            score = round(_clamp(base - el_gap - 3 * (subject == "MATH") + rng.gauss(0, 12), 100, 400))
            yield s.sid, label(year), school, grade, subject, score, performance_level(score)


def graduation_rows(world: World, cohort: int) -> Iterator[Row]:
    for school, grade, s in world.roster(cohort - 1):
        if grade == 12 and s.cohort == cohort:  # fifth-year seniors belong to their own cohort
            yield s.sid, cohort, school, s.outcome, s.left_school.isoformat() if s.outcome == "G" else None


def readiness_rows(world: World, year: int) -> Iterator[Row]:
    rng = world.rng(f"readiness:{year}")
    for school, grade, s in world.roster(year):
        if grade != 0 or rng.random() < 0.05:  # a few children are never assessed
            continue
        score = round(
            _clamp(
                66
                + 14 * s.ability
                + PREK_EFFECT[s.prek]
                + SCORE_GAP[s.race] / 3
                - 6 * s.econ_in(year)
                - 7 * s.el_in(0)
                - 12 * s.sped_in(0)
                + 1.5 * (year - YEARS[0])
                + rng.gauss(0, 6),
                0,
                100,
            )
        )
        level = "R" if score >= 70 else "A" if score >= 55 else "N"
        assessed = _weekday(dt.date(year, 8, 20) + dt.timedelta(days=rng.randrange(52)))
        yield s.sid, label(year), school, assessed, score, level, s.prek


def participation_rows(world: World, year: int) -> Iterator[Row]:
    for p in world.mentoring:
        if p.year == year:
            yield (
                p.sid,
                p.program,
                label(year),
                p.enrolled_on.isoformat(),
                p.offered,
                p.attended,
                p.exited_on.isoformat() if p.exited_on else None,
            )


def wage_rows(world: World) -> Iterator[tuple[str, Row]]:
    """(round, row) for every matched young adult aged 18-24 in each quarter of the sample."""
    rng = world.rng("wages")
    people = sorted((s for s in world.students if s.outcome is not None), key=lambda s: s.sid)
    for s in people:
        if rng.random() > (0.5 if s.outcome == "T" else 0.88):  # not found in the state's UI records
            continue
        factor, sector, employed = rng.lognormvariate(0, 0.25), None, False
        college = [_term_span(code) for code, *_ in s.terms]
        for quarter, starts, ends in _quarters():
            age = _age(s.birth_date, ends)
            if not 18 <= age <= 24:
                continue
            status = (
                "school"
                if ends < s.left_school
                else "college"
                if any(b <= ends and e >= starts for b, e in college)
                else "dropout"
                if s.outcome == "D"
                else "work"
            )
            base = {"school": 0.30, "college": 0.55, "work": 0.74, "dropout": 0.55}[status]
            trend = 0.015 * (starts.year - YEARS[0])
            employed = rng.random() < base + (0.2 if employed else -0.15) + trend - 0.05 * s.econ + 0.03 * s.ability
            wages, industry = 0.0, None
            if employed:
                pay = {
                    "school": 1800,
                    "college": 3200,
                    "work": 6800 + 450 * (age - 18),
                    "dropout": 5000 + 300 * (age - 18),
                }[status]
                wages = min(250_000, pay * factor * rng.lognormvariate(0, 0.2) * 1.03 ** (starts.year - YEARS[0]))
                if sector is None or rng.random() < 0.1:
                    sector = _pick(rng, STUDENT_JOBS if status in ("school", "college") else ADULT_JOBS)
                industry = sector
            yield _round(_school_year_of(starts)), (s.sid, quarter, _yn(employed), f"{wages:.2f}", industry)


def college_records(world: World) -> dict[str, dict[str, list[dict[str, str]]]]:
    """{round: {'enrollments': [...], 'awards': [...]}} with the college API's field names."""
    rounds: dict[str, dict[str, list[dict[str, str]]]] = {
        name: {"enrollments": [], "awards": []} for name in ("history", "current")
    }
    for s in world.students:
        for code, enrolled, load, level in s.terms:
            rounds[_round(_school_year_of(enrolled))]["enrollments"].append(
                {
                    "state_student_id": s.sid,
                    "term_code": code,
                    "enrolled_on": enrolled.isoformat(),
                    "load": load,
                    "level": level,
                }
            )
        for awarded, level, cip in s.awards:
            rounds[_round(_school_year_of(awarded))]["awards"].append(
                {"state_student_id": s.sid, "awarded_on": awarded.isoformat(), "award_level": level, "cip_code": cip}
            )
    for records in rounds.values():
        records["enrollments"].sort(key=lambda r: (r["enrolled_on"], r["state_student_id"], r["term_code"]))
        records["awards"].sort(key=lambda r: (r["awarded_on"], r["state_student_id"], r["award_level"]))
    return rounds


# --- planted flaws ----------------------------------------------------------------------------

FLAW_NOTES = {
    "score_999": "Scale Score 999 (outside 100..400)",
    "subject_READ": "Subject 'READ' (not ELA or MATH)",
    "duplicate": "exact duplicate of the row above (same student, year, subject)",
    "score_NA": "Scale Score 'N/A' (not a whole number)",
}
FLAW_KINDS = tuple(FLAW_NOTES)
FlawPicker = Callable[[int, Row], str | None]  # (row index, row) -> the flaw to plant there, if any


def _plan_flaws(rows: Callable[[], Iterable[Row]], rng: random.Random) -> FlawPicker:
    """The bundled sample's five flaws in ELA rows, chosen over a first pass of the (deterministic)
    rows so that writing can stream."""
    ela = [i for i, row in enumerate(rows()) if row[4] == "ELA"]
    picks = rng.sample(ela, 5)
    plan = dict(zip(picks, ("score_999", "subject_READ", "subject_READ", "duplicate", "score_NA"), strict=False))
    return lambda index, row: plan.get(index)


def flaws_at_rate(rng: random.Random, rate: float) -> FlawPicker:
    """Each row flawed with probability `rate`, with a flaw of a kind drawn at random."""
    return lambda index, row: rng.choice(FLAW_KINDS) if rng.random() < rate else None


def flawed(row: Row, flaw: str | None) -> list[Row]:
    """What the flawed file holds in place of `row`: the row, spoiled by `flaw` (twice for a duplicate)."""
    if flaw is None:
        return [row]
    bad = list(row)
    if flaw == "score_999":
        bad[5] = 999
    elif flaw == "subject_READ":
        bad[4] = "READ"
    elif flaw == "score_NA":
        bad[5] = "N/A"
    return [bad, bad] if flaw == "duplicate" else [bad]


def _write_flawed(
    out_dir: Path, rows: Callable[[], Iterable[Row]], pick: FlawPicker
) -> tuple[list[dict[str, object]], int, int]:
    """The district's flawed file and its corrected resubmission, written side by side;
    returns the planted flaws and both files' row counts."""
    planted: list[dict[str, object]] = []
    with (
        CsvOut(out_dir / FLAWED_FILE, ASSESSMENT_HEADER) as flawed_file,
        CsvOut(out_dir / FIXED_FILE, ASSESSMENT_HEADER) as fixed,
    ):
        for index, row in enumerate(rows()):
            fixed.writerow(row)
            flaw = pick(index, row)
            for bad in flawed(row, flaw):
                flawed_file.writerow(bad)
            if flaw:  # the spreadsheet line of the last row written (the header is line 1)
                planted.append(
                    {"file": FLAWED_FILE, "line": flawed_file.rows + 1, "student": row[0], "problem": FLAW_NOTES[flaw]}
                )
    return planted, flawed_file.rows, fixed.rows


# --- writing files ----------------------------------------------------------------------------


class CsvOut:
    """A csv.writer on a new file (parents created), header written; `rows` counts data rows."""

    def __init__(self, path: Path, header: Sequence[str]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = path.open("w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._handle, lineterminator="\n")
        self._writer.writerow(header)
        self.rows = 0

    def writerow(self, row: Row) -> None:
        self._writer.writerow(row)
        self.rows += 1

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> CsvOut:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Row]) -> int:
    with CsvOut(path, header) as out:
        for row in rows:
            out.writerow(row)
    return out.rows


class XlsxOut:
    """Like CsvOut, for a one-sheet workbook whose bytes depend only on its rows and `stamp`."""

    def __init__(self, path: Path, sheet: str, header: Sequence[str], stamp: dt.date) -> None:
        self._path, self._stamp = path, stamp
        self._workbook = Workbook(write_only=True)  # streams rows to disk
        self._sheet = self._workbook.create_sheet(sheet)
        self._sheet.append(list(header))
        self.rows = 0

    def writerow(self, row: Row) -> None:
        self._sheet.append(list(row))  # date cells become real Excel dates
        self.rows += 1

    def close(self) -> None:
        buffer = io.BytesIO()
        self._workbook.save(buffer)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._path.write_bytes(_stable_zip(buffer.getvalue(), self._stamp))

    def __enter__(self) -> XlsxOut:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _write_xlsx(path: Path, sheet: str, header: Sequence[str], rows: Iterable[Row], stamp: dt.date) -> int:
    with XlsxOut(path, sheet, header, stamp) as out:
        for row in rows:
            out.writerow(row)
    return out.rows


def _stable_zip(data: bytes, stamp: dt.date) -> bytes:
    """The same workbook as the same bytes: openpyxl stamps save time into the zip and document
    properties, which would make every regeneration of the sample a spurious change."""
    when = f"{stamp.isoformat()}T00:00:00Z".encode()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            body = source.read(info)
            if info.filename == "docProps/core.xml":
                body = re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", when, body)
            target.writestr(
                zipfile.ZipInfo(info.filename, (stamp.year, stamp.month, stamp.day, 0, 0, 0)),
                body,
                zipfile.ZIP_DEFLATED,
            )
    return out.getvalue()


def _write_json(path: Path, records: list[dict[str, str]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records, indent=2) + "\n", encoding="utf-8")
    return len(records)


def generate(
    out_dir: Path,
    *,
    students_per_grade: int = 140,
    seed: int = 2026,
    flaws: bool = True,
    flaw_rate: float | None = None,
) -> dict:
    """Write both delivery rounds (and, with flaws, the district's fix) under `out_dir`;
    return what was written: row counts per file and the planted flaws with their lines.

    The flaws go into the current assessments file: the sample's five, or with `flaw_rate` each row
    flawed with that probability."""
    world = build_world(students_per_grade, seed)
    out_dir = Path(out_dir)
    files: dict[str, int] = {}

    def csv_file(name: str, header: Sequence[str], rows: Iterable[Row]) -> None:
        files[name] = _write_csv(out_dir / name, header, rows)

    for year in YEARS:
        base, period = _round(year), label(year)
        csv_file(f"{base}/riverbend_isd/enrollment_{period}.csv", ENROLLMENT_HEADER, enrollment_rows(world, year))
        csv_file(f"{base}/riverbend_isd/graduation_{year + 1}.csv", GRADUATION_HEADER, graduation_rows(world, year + 1))
        csv_file(
            f"{base}/bright_futures_mentoring/participation_{period}.csv",
            PARTICIPATION_HEADER,
            participation_rows(world, year),
        )
        name = f"{base}/early_learning_coalition/kindergarten_readiness_{period}.xlsx"
        files[name] = _write_xlsx(
            out_dir / name, "Readiness", READINESS_HEADER, readiness_rows(world, year), stamp=dt.date(year, 11, 1)
        )
        if year != CURRENT_YEAR or not flaws:
            csv_file(f"{base}/riverbend_isd/assessments_{period}.csv", ASSESSMENT_HEADER, assessment_rows(world, year))

    planted: list[dict[str, object]] = []
    if flaws:

        def rows() -> Iterator[Row]:
            return assessment_rows(world, CURRENT_YEAR)

        rng = world.rng("flaws")
        pick = _plan_flaws(rows, rng) if flaw_rate is None else flaws_at_rate(rng, flaw_rate)
        planted, files[FLAWED_FILE], files[FIXED_FILE] = _write_flawed(out_dir, rows, pick)

    for base, records in college_records(world).items():
        for kind, items in records.items():
            files[f"{base}/riverbend_college/{kind}.json"] = _write_json(
                out_dir / base / "riverbend_college" / f"{kind}.json", items
            )

    with (
        CsvOut(out_dir / "history/workforce_board/ui_wage_records.csv", WAGE_HEADER) as history,
        CsvOut(out_dir / "current/workforce_board/ui_wage_records.csv", WAGE_HEADER) as current,
    ):
        for base, row in wage_rows(world):
            (history if base == "history" else current).writerow(row)
    files["history/workforce_board/ui_wage_records.csv"] = history.rows
    files["current/workforce_board/ui_wage_records.csv"] = current.rows

    return {
        "seed": seed,
        "students_per_grade": students_per_grade,
        "students": len(world.students),
        "files": dict(sorted(files.items())),
        "flaws": planted,
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipelines.sample.world", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("sources/sample"), help="output folder")
    parser.add_argument("--students-per-grade", type=int, default=140)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--no-flaws", action="store_true", help="keep the current assessments file clean")
    parser.add_argument(
        "--flaw-rate",
        type=float,
        default=None,
        help="flaw each current assessments row with this probability (default: five flaws)",
    )
    args = parser.parse_args(argv)
    if args.flaw_rate is not None and not 0 <= args.flaw_rate <= 1:
        parser.error("--flaw-rate must be between 0 and 1")
    summary = generate(
        args.out,
        students_per_grade=args.students_per_grade,
        seed=args.seed,
        flaws=not args.no_flaws,
        flaw_rate=args.flaw_rate,
    )
    print(f"{summary['students']} students (seed {summary['seed']}) -> {args.out}")
    for name, rows in summary["files"].items():
        print(f"  {name}: {rows} rows")
    for flaw in summary["flaws"]:
        print(f"  flaw: {flaw['file']} line {flaw['line']}: {flaw['problem']}")


if __name__ == "__main__":
    main()
