"""The partner registry: one YAML file per partner under sources/partners/.

Adding a partner is adding a file. Loading is strict (unknown keys, missing contacts, unknown
delivery kinds or datasets all stop it) and every message names the file and the field.
"""

from __future__ import annotations

import datetime as dt
import itertools
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ByteSize, ConfigDict, EmailStr, Field, ValidationError, model_validator

from pipelines.core.config_model import StrictModel, describe_errors
from pipelines.core.suites import Suite, SuiteError, load_suite

PARTNER_ID = r"^[a-z][a-z0-9_]*$"


class RegistryError(ValueError):
    """A partner file cannot be used; the message says which file and field."""


class Contact(StrictModel):
    name: str
    email: EmailStr
    role: str | None = None


class Cadence(StrEnum):
    """How often a partner delivers each dataset: once per period of this calendar."""

    per_term = "per_term"
    monthly = "monthly"
    quarterly = "quarterly"
    yearly = "yearly"

    @property
    def start_months(self) -> tuple[int, ...]:
        """Months in which its periods start (on the 1st): every month, each quarter, the school
        terms (spring from January, fall from August) and the school year (from July)."""
        return _START_MONTHS[self]

    @property
    def default_grace_days(self) -> int:
        return _DEFAULT_GRACE_DAYS[self]

    @property
    def shortest_period_days(self) -> int:
        """Length of its shortest period (a non-leap year), which a grace period must stay under."""
        starts = [dt.date(2025, month, 1) for month in self.start_months] + [dt.date(2026, self.start_months[0], 1)]
        return min((end - start).days for start, end in itertools.pairwise(starts))


_START_MONTHS = {
    Cadence.monthly: tuple(range(1, 13)),
    Cadence.quarterly: (1, 4, 7, 10),
    Cadence.per_term: (1, 8),
    Cadence.yearly: (7,),
}
# Days after a period starts by which its delivery is due, unless the partner file sets grace_days:
# time for the partner to close its books (a month's roster by the 11th, a term's by mid-term).
_DEFAULT_GRACE_DAYS = {Cadence.monthly: 10, Cadence.quarterly: 30, Cadence.per_term: 45, Cadence.yearly: 120}


class CsvDrop(StrictModel):
    """Files dropped into BACKBONE_HOME/inbox/<partner>/ (a sensor watches the folder)."""

    kind: Literal["csv_drop"]


class ExcelUpload(StrictModel):
    """Workbooks uploaded into BACKBONE_HOME/inbox/<partner>/."""

    kind: Literal["excel"]


class RestApi(StrictModel):
    """A paged JSON API with a bearer token, pulled on a schedule."""

    kind: Literal["api"]
    base_url_env: str = Field(description="environment variable holding the API base URL")
    token_env: str = Field(description="environment variable holding the bearer token")
    schedule: str = Field(description="cron expression of the scheduled pull")
    page_size: int = Field(default=100, ge=1, le=10_000)
    records_field: str = Field(default="data", description="response field holding the records")
    next_field: str = Field(default="next", description="response field holding the next page's URL")
    # Bounds of one pull, so that a misbehaving API fails it instead of running or filling the disk forever.
    timeout_seconds: float = Field(default=30, gt=0, description="seconds to wait for any one answer")
    deadline_seconds: float = Field(default=3600, gt=0, description="seconds the whole pull may take, retries included")
    max_pages: int = Field(default=20_000, ge=1, description="most pages one pull follows")
    max_bytes: ByteSize = Field(default=ByteSize(2**30), gt=0, description="most bytes one pull reads, e.g. 1GiB")


class SqlPull(StrictModel):
    """A SQL query against the partner's database (SQLAlchemy URL), pulled on a schedule."""

    kind: Literal["sql"]
    url_env: str = Field(description="environment variable holding the SQLAlchemy URL")
    schedule: str


# How a partner delivers: the `delivery:` block of its file, told apart by `kind`.
DeliveryMethod = Annotated[CsvDrop | ExcelUpload | RestApi | SqlPull, Field(discriminator="kind")]
FILE_KINDS = ("csv_drop", "excel")


class DatasetFeed(StrictModel):
    """How one of the partner's datasets arrives (file pattern and sheet, API path or query) and how
    its columns map to ours: the `datasets.<id>` block of the partner's file."""

    files: str | None = Field(default=None, description="file-name pattern in the inbox")
    sheet: str | None = Field(default=None, description="worksheet name (Excel)")
    endpoint: str | None = Field(default=None, description="API path (api)")
    query: str | None = Field(default=None, description="SELECT statement (sql)")
    columns: dict[str, str] = Field(description="canonical column -> the partner's column name")


_FIELDS_BY_KIND = {"csv_drop": {"files"}, "excel": {"files", "sheet"}, "api": {"endpoint"}, "sql": {"query"}}
_REQUIRED_BY_KIND = {"csv_drop": "files", "excel": "files", "api": "endpoint", "sql": "query"}


class Partner(StrictModel):
    id: str = Field(pattern=PARTNER_ID)
    name: str
    kind: str
    contacts: list[Contact] = Field(min_length=1)
    cadence: Cadence
    grace_days: int | None = Field(
        default=None,
        ge=0,
        description="days after a period starts by which each dataset is due; "
        "default by cadence (monthly 10, quarterly 30, per_term 45, yearly 120)",
    )
    delivery: DeliveryMethod
    datasets: dict[str, DatasetFeed] = Field(min_length=1)

    @model_validator(mode="after")
    def _grace_fits_the_period(self) -> Partner:
        # A grace period as long as a period would make one delivery count for two periods.
        shortest = self.cadence.shortest_period_days
        if self.grace_days is not None and self.grace_days >= shortest:
            raise ValueError(
                f"grace_days: {self.grace_days} must be less than the shortest "
                f"{self.cadence.value} period ({shortest} days)"
            )
        return self

    @model_validator(mode="after")
    def _datasets_fit_delivery(self) -> Partner:
        kind = self.delivery.kind
        for dataset_id, dataset in self.datasets.items():
            required = _REQUIRED_BY_KIND[kind]
            if getattr(dataset, required) is None:
                raise ValueError(f"datasets.{dataset_id}: '{required}' is required for {kind} deliveries")
            for name in ("files", "sheet", "endpoint", "query"):
                if getattr(dataset, name) is not None and name not in _FIELDS_BY_KIND[kind]:
                    raise ValueError(f"datasets.{dataset_id}: '{name}' does not apply to {kind} deliveries")
        return self

    @property
    def owners(self) -> list[str]:
        return [str(contact.email) for contact in self.contacts]

    @property
    def grace_period_days(self) -> int:
        return self.cadence.default_grace_days if self.grace_days is None else self.grace_days


class DatasetRef(BaseModel):
    """A partner's dataset: how the partner sends it (`feed`) and the suite that defines its canonical shape."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    partner: Partner
    dataset_id: str
    feed: DatasetFeed
    suite: Suite

    @property
    def table(self) -> str:
        """Name of the raw landing table (schema `raw`) and of the Dagster asset."""
        return f"{self.partner.id}__{self.dataset_id}"


class Registry(BaseModel):
    model_config = ConfigDict(frozen=True)

    partners: dict[str, Partner]
    datasets: list[DatasetRef]

    @property
    def dataset_names(self) -> set[str]:
        """Every dataset as the agenda names it: 'partner.dataset'."""
        return {f"{ref.partner.id}.{ref.dataset_id}" for ref in self.datasets}

    def dataset(self, dataset_id: str, partner_id: str | None = None) -> DatasetRef:
        matches = [
            ref for ref in self.datasets if ref.dataset_id == dataset_id and partner_id in (None, ref.partner.id)
        ]
        if not matches:
            known = ", ".join(sorted({ref.dataset_id for ref in self.datasets}))
            raise RegistryError(f"unknown dataset '{dataset_id}' (known datasets: {known})")
        if len(matches) > 1:
            partners = ", ".join(ref.partner.id for ref in matches)
            raise RegistryError(
                f"dataset '{dataset_id}' comes from several partners ({partners}); name one with --partner"
            )
        return matches[0]


def load_partner(path: Path, expectations_dir: Path) -> tuple[Partner, list[DatasetRef]]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RegistryError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise RegistryError(f"{path}: expected a mapping of partner fields")
    if "id" in data and data["id"] != path.stem:
        raise RegistryError(f"{path}: id: '{data['id']}' must match the file name '{path.stem}'")
    try:
        partner = Partner.model_validate({**data, "id": path.stem})
    except ValidationError as exc:
        raise RegistryError(f"{path}: {describe_errors(exc)}") from None
    refs = []
    for dataset_id, dataset in partner.datasets.items():
        try:
            suite = load_suite(dataset_id, expectations_dir)
        except SuiteError as exc:
            raise RegistryError(f"{path}: datasets.{dataset_id}: {exc}") from None
        missing = [column for column in suite.columns if column not in dataset.columns]
        unknown = [column for column in dataset.columns if column not in suite.columns]
        if missing or unknown:
            problems = [f"missing mapping for {', '.join(missing)}"] if missing else []
            problems += [f"unknown column(s) {', '.join(unknown)}"] if unknown else []
            raise RegistryError(
                f"{path}: datasets.{dataset_id}.columns: {'; '.join(problems)} "
                f"(the dataset has: {', '.join(suite.columns)})"
            )
        refs.append(DatasetRef(partner=partner, dataset_id=dataset_id, feed=dataset, suite=suite))
    return partner, refs


def load_registry(partners_dir: Path, expectations_dir: Path) -> Registry:
    files = sorted(partners_dir.glob("*.yml")) + sorted(partners_dir.glob("*.yaml"))
    if not files:
        raise RegistryError(f"{partners_dir}: no partner files (*.yml) found")
    partners: dict[str, Partner] = {}
    datasets: list[DatasetRef] = []
    for path in files:
        partner, refs = load_partner(path, expectations_dir)
        partners[partner.id] = partner
        datasets.extend(refs)
    return Registry(partners=partners, datasets=datasets)
