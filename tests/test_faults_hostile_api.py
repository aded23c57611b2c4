"""A partner's API that misbehaves fails the pull with a plain message, and nothing else goes wrong:
pages that never end or go round in a circle, links and redirects to another host, an answer too large
to hold, an API that never answers. The token stays with the API and out of every message, no pull file
is left behind, and what landed before is intact.

Each hostile API is a real HTTP server on loopback whose answers the test scripts.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import duckdb
import httpx
import pytest
import sqlalchemy as sa
import yaml

from pipelines.core.home import EXPECTATIONS_DIR, PARTNERS_DIR, PROJECT_ROOT, Home
from pipelines.core.registry import DatasetRef, Registry, load_partner
from pipelines.core.resources import BackboneResource
from pipelines.ingest.assets import build_raw_asset
from pipelines.ingest.pulls import pull_api, pull_sql
from pipelines.sample.api import send_json
from tests.conftest import bundled_partnership

RECORDS = json.loads(
    (PROJECT_ROOT / "sources" / "sample" / "history" / "riverbend_college" / "enrollments.json").read_text(
        encoding="utf-8"
    )
)[:3]
TOKEN = "tok-9f2c41d7e8"
URL_ENV, TOKEN_ENV = "RIVERBEND_COLLEGE_API_URL", "RIVERBEND_COLLEGE_API_TOKEN"
GIVE_UP = 40  # a hostile server stops after this many requests, so old code fails instead of looping


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers.get("Authorization")))
        if len(self.server.seen) > GIVE_UP:
            return self.send_json({"error": "enough"}, status=410)
        self.server.answer(self)

    def send_json(self, body: object, status: int = 200, headers: dict[str, str] | None = None) -> None:
        send_json(self, status, body, headers)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    seen: list[tuple[str, str | None]]
    answer: Callable[[_Handler], None]


class HostileApi:
    """An HTTP server on a loopback address; `answer` scripts its replies, `seen` lists each request's
    path and Authorization header."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._server = _Server((host, 0), _Handler)
        self._server.seen = []
        self._server.answer = lambda handler: handler.send_json({"data": RECORDS, "next": None})
        self.url = f"http://{host}:{self._server.server_address[1]}"

    @property
    def seen(self) -> list[tuple[str, str | None]]:
        return self._server.seen

    def answer(self, reply: Callable[[_Handler], None]) -> None:
        self._server.answer = reply

    def __enter__(self) -> HostileApi:
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _enrollment() -> DatasetRef:
    return bundled_partnership().registry.dataset("postsecondary_enrollment")


def _pull(home: Home, ref: DatasetRef | None = None) -> dg.ExecuteInProcessResult:
    """Materialize the college's raw asset (as its partner file says), as a scheduled run does."""
    return dg.materialize(
        [build_raw_asset(ref or _enrollment())],
        resources={"backbone": BackboneResource(home=str(home.root))},
        raise_on_error=False,
    )


def _failure(result: dg.ExecuteInProcessResult) -> str:
    """The failed run's message; nothing the run reports holds the token."""
    assert not result.success
    error = next(event for event in result.all_events if event.is_step_failure).step_failure_data.error
    assert TOKEN not in error.to_string()
    return error.message


def _college(tmp_path: Path, **delivery: object) -> DatasetRef:
    """The college's enrollment dataset as its partner file would read with these delivery settings."""
    data = yaml.safe_load((PARTNERS_DIR / "riverbend_college.yml").read_text(encoding="utf-8"))
    data["delivery"].update(delivery)
    path = tmp_path / "partners" / "riverbend_college.yml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    _, refs = load_partner(path, EXPECTATIONS_DIR)
    return next(ref for ref in refs if ref.dataset_id == "postsecondary_enrollment")


def _landed(home: Home) -> tuple[int, int]:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        rows = con.execute('select count(*) from raw."riverbend_college__postsecondary_enrollment"').fetchone()[0]
        return rows, con.execute("select count(*) from raw.submissions").fetchone()[0]


def _pull_files(home: Home) -> list[Path]:
    return list((home.archive / ".incoming").iterdir())


@pytest.fixture
def api() -> Iterator[HostileApi]:
    with HostileApi() as server:
        yield server


@pytest.fixture
def elsewhere() -> Iterator[HostileApi]:
    """A server on another host (another origin), answering a page to anyone who asks."""
    with HostileApi("127.0.0.2") as server:
        yield server


@pytest.fixture
def college(home: Home, api: HostileApi, monkeypatch: pytest.MonkeyPatch) -> Home:
    """The college's API was pulled once already, honestly: its three records have landed."""
    monkeypatch.setenv(URL_ENV, api.url)
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    assert _pull(home).success
    assert _landed(home) == (3, 1)
    api.seen.clear()
    return home


def _pages_to(link: Callable[[int], str]) -> Callable[[_Handler], None]:
    """Pages of one record, each linking to the page `link` names for the page after it."""

    def reply(handler: _Handler) -> None:
        page = int(httpx.URL(handler.path).params.get("page", "1"))
        handler.send_json({"data": RECORDS[:1], "next": link(page)})

    return reply


def test_an_endless_next_link_stops_at_the_page_cap(college: Home, api: HostileApi, tmp_path: Path) -> None:
    api.answer(_pages_to(lambda page: f"/v1/enrollments?page={page + 1}"))

    message = _failure(_pull(college, _college(tmp_path, max_pages=5)))

    assert "riverbend_college: the API still had a next page after 5 pages (delivery.max_pages)" in message
    assert len(api.seen) == 5
    assert _landed(college) == (3, 1) and not _pull_files(college)


def test_next_links_that_go_round_in_a_circle_stop_the_pull_at_once(college: Home, api: HostileApi) -> None:
    # page 1 -> page 2 -> page 1 again, its parameters written in another order
    api.answer(_pages_to(lambda page: "/v1/enrollments?page=2" if page == 1 else "/v1/enrollments?per_page=200&page=1"))

    message = _failure(_pull(college))

    assert "riverbend_college: the API's pages go round in a circle: page 2 links back to page 1" in message
    assert [path for path, _ in api.seen] == ["/v1/enrollments?page=1&per_page=200", "/v1/enrollments?page=2"]
    assert _landed(college) == (3, 1) and not _pull_files(college)


def test_the_token_stays_home_when_a_next_link_points_to_another_host(
    college: Home, api: HostileApi, elsewhere: HostileApi
) -> None:
    api.answer(_pages_to(lambda page: f"{elsewhere.url}/v1/enrollments?page={page + 1}"))

    message = _failure(_pull(college))

    assert (
        f"riverbend_college: page 1 of the API links to another host ({elsewhere.url.removeprefix('http://')})"
        in message
    )
    assert [auth for _, auth in api.seen] == [f"Bearer {TOKEN}"]
    assert elsewhere.seen == []  # not followed at all, token or not
    assert _landed(college) == (3, 1) and not _pull_files(college)


def test_a_redirect_is_not_followed_and_never_carries_the_token(
    college: Home, api: HostileApi, elsewhere: HostileApi
) -> None:
    api.answer(lambda handler: handler.send_json({}, status=302, headers={"Location": f"{elsewhere.url}/v1/x"}))

    message = _failure(_pull(college))

    assert f"riverbend_college: the API redirects {api.url}/v1/enrollments" in message
    assert f"to {elsewhere.url}/v1/x; pulls do not follow redirects" in message
    assert elsewhere.seen == []
    assert _landed(college) == (3, 1) and not _pull_files(college)


def test_an_answer_larger_than_the_byte_cap_is_not_read_to_its_end(
    college: Home, api: HostileApi, tmp_path: Path
) -> None:
    body, sent, done = 32 * 2**20, [0], threading.Event()

    def endless_body(handler: _Handler) -> None:  # no Content-Length: the body ends when the server closes
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.end_headers()
        try:
            handler.wfile.write(b'{"data": ["')
            while sent[0] < body:
                handler.wfile.write(b"x" * 2**16)
                sent[0] += 2**16
        except OSError:
            pass  # the client hung up
        finally:
            done.set()

    api.answer(endless_body)

    message = _failure(_pull(college, _college(tmp_path, max_bytes="64KiB")))

    assert "riverbend_college: the API sent more than 64.0KiB (delivery.max_bytes) by page 1" in message
    assert done.wait(timeout=30) and sent[0] < body
    assert _landed(college) == (3, 1) and not _pull_files(college)


@pytest.fixture
def silent_api() -> Iterator[str]:
    """A server that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_an_api_that_never_answers_fails_at_the_deadline(
    college: Home, silent_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(URL_ENV, silent_api)

    message = _failure(_pull(college, _college(tmp_path, timeout_seconds=0.1, deadline_seconds=0.3)))

    assert "riverbend_college: the API did not finish within 0.3 s (delivery.deadline_seconds; at page 1" in message
    assert _landed(college) == (3, 1) and not _pull_files(college)


def test_an_api_that_keeps_failing_fails_at_the_deadline_with_its_last_answer(
    college: Home, api: HostileApi, tmp_path: Path
) -> None:
    api.answer(lambda handler: handler.send_json({"error": "busy"}, status=503))

    message = _failure(_pull(college, _college(tmp_path, deadline_seconds=0.3)))

    assert "riverbend_college: the API did not finish within 0.3 s (delivery.deadline_seconds; at page 1" in message
    assert "the last try answered 503 Service Unavailable)" in message
    assert _landed(college) == (3, 1) and not _pull_files(college)


def test_a_page_that_fails_midway_leaves_no_pull_file(college: Home, api: HostileApi) -> None:
    def second_page_missing(handler: _Handler) -> None:
        if httpx.URL(handler.path).params.get("page") == "2":
            return handler.send_json({"error": "gone"}, status=404)
        handler.send_json({"data": RECORDS, "next": "/v1/enrollments?page=2"})

    api.answer(second_page_missing)

    message = _failure(_pull(college))

    assert f"riverbend_college: {api.url}/v1/enrollments?page=2 answered 404 Not Found" in message
    assert _landed(college) == (3, 1) and not _pull_files(college)


def test_a_run_that_dies_while_landing_a_pull_leaves_no_pull_file(
    college: Home, api: HostileApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.answer(lambda handler: handler.send_json({"data": RECORDS[1:], "next": None}))  # a changed source
    monkeypatch.setattr("pipelines.ingest.landing.load_text", lambda *args, **kwargs: 1 / 0)

    assert not _pull(college).success

    assert _landed(college) == (3, 1) and not _pull_files(college)


def _interrupt_second_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C arrives while the second page is being fetched."""
    real = httpx.HTTPTransport.handle_request
    calls = []

    def handle_request(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        calls.append(request.url)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, request)

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", handle_request)


def test_an_interrupted_api_pull_leaves_no_pull_file(
    home: Home, api: HostileApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(URL_ENV, api.url)
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    api.answer(_pages_to(lambda page: f"/v1/enrollments?page={page + 1}"))
    _interrupt_second_request(monkeypatch)
    workdir = tmp_path / "incoming"
    workdir.mkdir()

    with pytest.raises(KeyboardInterrupt):
        pull_api(_enrollment(), workdir)

    assert list(workdir.iterdir()) == []


def test_an_interrupted_database_pull_leaves_no_pull_file(
    home: Home, registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "workforce.sqlite"
    engine = sa.create_engine(f"sqlite:///{database}")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "create table ui_wage_records (person_state_id text, wage_quarter text, "
                "was_employed text, total_wages numeric, naics_sector text)"
            )
        )
        conn.execute(
            sa.text(
                "insert into ui_wage_records values ('S1', '2024Q1', 'Y', 100, '61'), ('S2', '2024Q1', 'Y', 200, '61')"
            )
        )
    engine.dispose()
    monkeypatch.setenv("WORKFORCE_DB_URL", f"sqlite:///{database}")
    workdir = tmp_path / "incoming"
    workdir.mkdir()
    rows = []

    def interrupt_on_second_row(value: object) -> object:
        rows.append(value)
        if len(rows) > 5:  # a value of the second row
            raise KeyboardInterrupt
        return value

    monkeypatch.setattr("pipelines.ingest.pulls._csv_value", interrupt_on_second_row)

    with pytest.raises(KeyboardInterrupt):
        pull_sql(registry.dataset("employment"), workdir)

    assert list(workdir.iterdir()) == []


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("a line break after the token", f"riverbend_college: {TOKEN_ENV} holds a character no bearer token has"),
        ("a password in the API's address", "/v1/enrollments?page=1&per_page=200 answered 404 Not Found"),
    ],
)
def test_the_token_and_the_address_password_never_show_in_a_failure(
    college: Home, api: HostileApi, monkeypatch: pytest.MonkeyPatch, setting: str, expected: str
) -> None:
    if setting == "a line break after the token":
        monkeypatch.setenv(TOKEN_ENV, TOKEN + "\n")
    else:
        monkeypatch.setenv(URL_ENV, api.url.replace("http://", f"http://college:{TOKEN}@"))
        api.answer(lambda handler: handler.send_json({"error": "nope"}, status=404))

    message = _failure(_pull(college))  # asserts the token is nowhere in the failure

    assert expected in message
    assert _landed(college) == (3, 1) and not _pull_files(college)
