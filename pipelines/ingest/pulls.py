"""Scheduled pulls from partners' systems (REST API, SQL database) into a delivery file.

A pull is written to a file first so that it is archived, hashed and landed exactly like a
file drop: an unchanged source gives the same bytes and therefore no new submission.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
import os
import tempfile
from pathlib import Path
from urllib.parse import urljoin

import httpx
import sqlalchemy as sa
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from pipelines.ingest.readers import Delivery
from pipelines.core.registry import DatasetRef, RestApi, SqlPull


class PullError(RuntimeError):
    """The partner's system could not be reached or refused us; not a data problem."""


def _setting(name: str, what: str, partner_id: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise PullError(f"{partner_id}: environment variable {name} ({what}) is not set")
    return value


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, httpx.TransportError):
        return True
    return isinstance(exc, httpx.HTTPStatusError) and (
        exc.response.status_code == 429 or exc.response.status_code >= 500
    )


@retry(retry=retry_if_exception(_retryable), stop=stop_after_attempt(4),
       wait=wait_exponential(multiplier=0.5, max=8), reraise=True)
def _get_page(client: httpx.Client, url: str, params: dict[str, int] | None) -> dict:
    response = client.get(url, params=params)
    response.raise_for_status()
    return response.json()


# One encoder for every record (json.dumps with options builds a new one per call: a third of the
# pull's own time at 658k records). Sorted keys: an unchanged source gives the same bytes.
_RECORD_JSON = json.JSONEncoder(sort_keys=True, default=str)


def pull_api(ref: DatasetRef, workdir: Path) -> Delivery | None:
    """Follow the API's pages and write the records as JSON lines; None when there are none."""
    api = ref.partner.delivery
    assert isinstance(api, RestApi)
    base_url = _setting(api.base_url_env, "API base URL", ref.partner.id).rstrip("/")
    token = _setting(api.token_env, "API token", ref.partner.id)
    url: str | None = base_url + ref.feed.endpoint
    params: dict[str, int] | None = {"page": 1, "per_page": api.page_size}
    count = 0
    handle, name = tempfile.mkstemp(suffix=".jsonl", dir=workdir)
    with os.fdopen(handle, "w", encoding="utf-8") as out, httpx.Client(
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        timeout=api.timeout_seconds,
    ) as client:
        while url:
            try:
                page = _get_page(client, url, params)
            except httpx.HTTPStatusError as exc:
                raise PullError(
                    f"{ref.partner.id}: {exc.request.url} answered {exc.response.status_code} "
                    f"{exc.response.reason_phrase}"
                ) from None
            except (httpx.TransportError, ValueError) as exc:
                raise PullError(f"{ref.partner.id}: cannot read {url}: {exc}") from None
            records = page.get(api.records_field)
            if not isinstance(records, list):
                raise PullError(f"{ref.partner.id}: {url} has no '{api.records_field}' list of records")
            out.write("".join(_RECORD_JSON.encode(record) + "\n" for record in records))
            count += len(records)
            next_url = page.get(api.next_field)
            url, params = (urljoin(url, next_url), None) if next_url else (None, None)
    if not count:
        Path(name).unlink()
        return None
    return Delivery(Path(name), source=base_url + ref.feed.endpoint, format="jsonl", first_row=1)


def _csv_value(value: object) -> object:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    return value


def pull_sql(ref: DatasetRef, workdir: Path) -> Delivery | None:
    """Stream the dataset's query result into a CSV file; None when it returns no rows."""
    pull = ref.partner.delivery
    assert isinstance(pull, SqlPull)
    url = _setting(pull.url_env, "database URL", ref.partner.id)
    try:
        engine = sa.create_engine(url)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise PullError(f"{ref.partner.id}: {pull.url_env} is not a usable database URL: {exc}") from None
    handle, name = tempfile.mkstemp(suffix=".csv", dir=workdir)
    count = 0
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out, engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=10_000).execute(sa.text(ref.feed.query))
            writer = csv.writer(out)
            writer.writerow(result.keys())
            for row in result:
                writer.writerow([_csv_value(value) for value in row])
                count += 1
    except sa.exc.SQLAlchemyError as exc:
        Path(name).unlink(missing_ok=True)
        safe_url = engine.url.render_as_string(hide_password=True)
        reason = str(exc.orig if getattr(exc, "orig", None) else exc).strip().splitlines()[0]
        raise PullError(f"{ref.partner.id}: query against {safe_url} failed: {reason}") from None
    finally:
        engine.dispose()
    if not count:
        Path(name).unlink()
        return None
    return Delivery(Path(name), source=f"{engine.url.render_as_string(hide_password=True)} ({pull.url_env})", format="csv", first_row=1)
