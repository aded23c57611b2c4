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
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import httpx
import sqlalchemy as sa
from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_before_delay, wait_exponential

from pipelines.core.registry import DatasetRef, RestApi, SqlPull
from pipelines.ingest.readers import Delivery


class PullError(RuntimeError):
    """The partner's system could not be reached or refused us; not a data problem."""


def _setting(name: str, what: str, partner_id: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise PullError(f"{partner_id}: environment variable {name} ({what}) is not set")
    return value


@contextmanager
def _pull_file(workdir: Path, suffix: str) -> Iterator[tuple[TextIO, Path]]:
    """A new file in workdir for a pull to write; removed again unless the pull completes."""
    handle, name = tempfile.mkstemp(suffix=suffix, dir=workdir)
    path = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            yield out, path
    except BaseException:  # Ctrl-C and a dying run too: the next pull makes the file again
        path.unlink(missing_ok=True)
        raise


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, httpx.TransportError):
        return True
    return isinstance(exc, httpx.HTTPStatusError) and (
        exc.response.status_code == 429 or exc.response.status_code >= 500
    )


_ATTEMPTS = 4
_BACKOFF = wait_exponential(multiplier=0.5, max=8)
# One encoder for every record (json.dumps with options builds a new one per call: a third of the
# pull's own time at 658k records). Sorted keys: an unchanged source gives the same bytes.
_RECORD_JSON = json.JSONEncoder(sort_keys=True, default=str)


def _reason(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        return f"answered {exc.response.status_code} {exc.response.reason_phrase}"
    return f"could not be read: {str(exc) or type(exc).__name__}"


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port  # httpx leaves a scheme's default port out (None)


def _shown(url: httpx.URL) -> str:
    """The URL as messages may show it: without a user name and password."""
    return str(url.copy_with(username=None, password=None))


def _page_key(url: httpx.URL) -> str:
    """The same page whatever the order of its query parameters."""
    return str(url.copy_with(params=sorted(url.params.multi_items()), fragment=None))


class _BearerToken(httpx.Auth):
    """The token goes to the API's own origin (scheme, host and port of its base URL) and nowhere else."""

    def __init__(self, token: str, api_url: httpx.URL) -> None:
        self._header, self._origin = f"Bearer {token}", _origin(api_url)

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        if _origin(request.url) == self._origin:
            request.headers["Authorization"] = self._header
        yield request


class _TooLarge(Exception):
    """An answer would take the pull past its byte budget."""


class _OutOfTime(Exception):
    """The pull's deadline has passed."""


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds, self._end = seconds, time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - time.monotonic())


class _ApiPull:
    """One pull of a dataset's pages: the bounds it keeps and the messages it fails with."""

    def __init__(self, ref: DatasetRef, api: RestApi, token: str, first: httpx.URL) -> None:
        self.partner, self.api, self.first = ref.partner.id, api, first
        self.secrets = [secret for secret in (token, first.password) if secret]
        self.deadline = _Deadline(api.deadline_seconds)
        self.received = 0  # bytes of the pages read so far
        self.pages: dict[str, int] = {}  # page key -> its number, to see a link lead back
        self.records = 0

    def error(self, message: str) -> PullError:
        # Exception text from below (httpx, h11) may quote a header or a URL: no secret gets through.
        for secret in self.secrets:
            message = message.replace(secret, "***")
        return PullError(f"{self.partner}: {message}")

    def page(self, client: httpx.Client, url: httpx.URL) -> dict:
        """The page at url, parsed; retried while the API is unreachable or busy, within the deadline."""
        number = self.pages[_page_key(url)] = len(self.pages) + 1
        # Retries stop at the attempt cap, or when the next one would start after the deadline.
        retrying = Retrying(
            retry=retry_if_exception(_retryable),
            wait=_BACKOFF,
            reraise=True,
            stop=stop_after_attempt(_ATTEMPTS) | stop_before_delay(self.deadline.remaining()),
        )
        try:
            body = retrying(self._get, client, url)
        except _TooLarge:
            raise self.error(
                f"the API sent more than {self.api.max_bytes.human_readable()} (delivery.max_bytes) "
                f"by page {number} ({_shown(url)}); stopped reading"
            ) from None
        except _OutOfTime:
            raise self._late(number, "") from None
        except httpx.HTTPError as exc:
            if _retryable(exc) and retrying.statistics["attempt_number"] < _ATTEMPTS:  # out of time first
                raise self._late(number, f"; the last try {_reason(exc)}") from None
            if isinstance(exc, httpx.HTTPStatusError) and exc.response.has_redirect_location:
                target = url.join(exc.response.headers["Location"])
                raise self.error(
                    f"the API redirects {_shown(url)} to {_shown(target)}; pulls do not follow "
                    f"redirects (if that is the API's new address, set {self.api.base_url_env} to "
                    "it)"
                ) from None
            raise self.error(f"{_shown(url)} {_reason(exc)}") from None
        try:
            page = json.loads(body)
        except ValueError as exc:
            raise self.error(f"{_shown(url)} did not answer JSON ({exc})") from None
        if not isinstance(page, dict) or not isinstance(page.get(self.api.records_field), list):
            raise self.error(f"{_shown(url)} has no '{self.api.records_field}' list of records")
        self.records += len(page[self.api.records_field])
        return page

    def _late(self, number: int, last_error: str) -> PullError:
        return self.error(
            f"the API did not finish within {self.deadline.seconds:g} s (delivery.deadline_seconds; "
            f"at page {number}, {self.records:,} records read{last_error})"
        )

    def _get(self, client: httpx.Client, url: httpx.URL) -> bytes:
        """One request, timed out within what is left of the deadline; its body read chunk by chunk up
        to what is left of the byte budget, whatever Content-Length says."""
        remaining = self.deadline.remaining()
        if not remaining:
            raise _OutOfTime
        with client.stream("GET", url, timeout=min(self.api.timeout_seconds, remaining)) as response:
            response.raise_for_status()
            chunks, size = [], 0
            for chunk in response.iter_bytes():  # decoded: a small compressed answer can unpack large
                size += len(chunk)
                if self.received + size > self.api.max_bytes:
                    raise _TooLarge
                if not self.deadline.remaining():  # an answer trickling in slower than the deadline
                    raise _OutOfTime
                chunks.append(chunk)
        self.received += size  # once the whole answer is in: a retried one counts once
        return b"".join(chunks)

    def follow(self, url: httpx.URL, link: object) -> httpx.URL:
        """The next page's URL, if it is a page this pull may and still needs to read."""
        number = len(self.pages)
        try:
            target = url.join(link) if isinstance(link, str) else None
        except httpx.InvalidURL:
            target = None
        if target is None:
            raise self.error(f"page {number} of the API has a '{self.api.next_field}' that is no link: {link!r}")
        if _origin(target) != _origin(self.first):
            # Not followed even without the token: the pages of another host are not the partner's data.
            foreign = f"{target.host}:{target.port}" if target.port else target.host
            raise self.error(
                f"page {number} of the API links to another host ({foreign}); the pull reads "
                f"pages of {_shown(self.first.copy_with(path='/', query=None))} only"
            )
        if (earlier := self.pages.get(_page_key(target))) is not None:
            raise self.error(
                f"the API's pages go round in a circle: page {number} links back to page {earlier} ({_shown(target)})"
            )
        if number >= self.api.max_pages:
            raise self.error(
                f"the API still had a next page after {self.api.max_pages} pages (delivery.max_pages); "
                f"stopped before {_shown(target)}"
            )
        return target


def pull_api(ref: DatasetRef, workdir: Path) -> Delivery | None:
    """Follow the API's pages and write the records as JSON lines; None when there are none."""
    api = ref.partner.delivery
    assert isinstance(api, RestApi)
    base_url = _setting(api.base_url_env, "API base URL", ref.partner.id).rstrip("/")
    token = _setting(api.token_env, "API token", ref.partner.id)
    if not (token.isascii() and token.isprintable()):  # or httpx would quote it in its error
        raise PullError(
            f"{ref.partner.id}: {api.token_env} holds a character no bearer token has "
            "(a line break, a control character or a non-ASCII letter)"
        )
    try:
        first = httpx.URL(base_url + ref.feed.endpoint)
    except httpx.InvalidURL as exc:
        raise PullError(f"{ref.partner.id}: {api.base_url_env} is not a usable URL ({exc})") from None
    pull = _ApiPull(ref, api, token, first)
    url: httpx.URL | None = first.copy_merge_params({"page": 1, "per_page": api.page_size})
    # Redirects are not followed (httpx's default, kept on purpose): a move of the API is for its
    # partner file to say, and a redirect elsewhere must not take the token along.
    with (
        _pull_file(workdir, ".jsonl") as (out, path),
        httpx.Client(
            auth=_BearerToken(token, first),
            headers={"Accept": "application/json"},
            follow_redirects=False,
        ) as client,
    ):
        while url is not None:
            page = pull.page(client, url)
            out.write("".join(_RECORD_JSON.encode(record) + "\n" for record in page[api.records_field]))
            link = page.get(api.next_field)
            url = pull.follow(url, link) if link else None
    if not pull.records:
        path.unlink()
        return None
    return Delivery(path, source=_shown(first), format="jsonl", first_row=1)


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
    count = 0
    try:
        with _pull_file(workdir, ".csv") as (out, path), engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=10_000).execute(sa.text(ref.feed.query))
            writer = csv.writer(out)
            writer.writerow(result.keys())
            for row in result:
                writer.writerow([_csv_value(value) for value in row])
                count += 1
    except sa.exc.SQLAlchemyError as exc:
        safe_url = engine.url.render_as_string(hide_password=True)
        reason = str(exc.orig if getattr(exc, "orig", None) else exc).strip().splitlines()[0]
        raise PullError(f"{ref.partner.id}: query against {safe_url} failed: {reason}") from None
    finally:
        engine.dispose()
    if not count:
        path.unlink()
        return None
    return Delivery(
        path, source=f"{engine.url.render_as_string(hide_password=True)} ({pull.url_env})", format="csv", first_row=1
    )
