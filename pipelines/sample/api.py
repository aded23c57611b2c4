"""The college's data-sharing API, served on loopback from the sample store for the demo and tests.

    with SampleCollegeApi(store_dir=home / "sample" / "api", token="s3cret") as api:
        httpx.get(api.url + "/v1/enrollments", headers={"Authorization": "Bearer s3cret"})

Pages look like {"data": [...], "page": 1, "per_page": 100, "total": 312, "next": "<url>" | null}.
A store file is parsed again whenever it changes (size or mtime), so records staged while it runs
are served at once, and a large store is not re-parsed for each of its thousands of pages.
"""

from __future__ import annotations

import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

ENDPOINTS = {"/v1/enrollments": "enrollments.json", "/v1/awards": "awards.json"}
DEFAULT_PER_PAGE, MAX_PER_PAGE = 100, 500


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, store_dir: Path, token: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.store_dir = store_dir
        self.token = token
        self._parsed: dict[Path, tuple[tuple[int, int], list[Any]]] = {}
        self._lock = threading.Lock()

    def records(self, path: Path) -> list[Any]:
        """The store file's records, parsed once per version of the file."""
        with self._lock:
            if not path.exists():
                return []
            stat = path.stat()
            version = (stat.st_mtime_ns, stat.st_size)
            cached = self._parsed.get(path)
            if cached is None or cached[0] != version:
                cached = self._parsed[path] = (version, json.loads(path.read_text(encoding="utf-8")))
            return cached[1]

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


def send_json(
    handler: BaseHTTPRequestHandler, status: int, body: object, headers: dict[str, str] | None = None
) -> None:
    """Answer `handler`'s request with `body` as JSON (and any extra `headers`)."""
    payload = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(payload)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(payload)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the demo's output is the pipeline's, not an access log."""

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        store = ENDPOINTS.get(parts.path.rstrip("/"))
        if store is None:
            return send_json(self, 404, {"error": f"no such endpoint: {parts.path}"})
        given = self.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {self.server.token}".encode()):
            return send_json(self, 401, {"error": "missing or invalid bearer token"}, {"WWW-Authenticate": "Bearer"})
        query = parse_qs(parts.query)
        try:
            page = int(query.get("page", ["1"])[0])
            per_page = min(int(query.get("per_page", [str(DEFAULT_PER_PAGE)])[0]), MAX_PER_PAGE)
        except ValueError:
            return send_json(self, 400, {"error": "page and per_page must be whole numbers"})
        if page < 1 or per_page < 1:
            return send_json(self, 400, {"error": "page and per_page must be at least 1"})
        records = self.server.records(self.server.store_dir / store)
        start = (page - 1) * per_page
        following = None
        if start + per_page < len(records):
            following = f"{self.server.url}{parts.path}?{urlencode({'page': page + 1, 'per_page': per_page})}"
        send_json(
            self,
            200,
            {
                "data": records[start : start + per_page],
                "page": page,
                "per_page": per_page,
                "total": len(records),
                "next": following,
            },
        )


class SampleCollegeApi:
    """A threaded HTTP server on a free loopback port, for the duration of a `with` block."""

    def __init__(self, store_dir: Path, token: str) -> None:
        self._store_dir, self._token = Path(store_dir), token
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:54321 (endpoints are /v1/enrollments and /v1/awards)."""
        if self._server is None:
            raise RuntimeError("the sample API is not running: use it in a `with` block")
        return self._server.url

    def __enter__(self) -> SampleCollegeApi:
        self._server = _Server(self._store_dir, self._token)  # port 0: the OS picks a free port
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="sample-college-api", daemon=True
        )  # short poll: prompt shutdown
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self._server = self._thread = None
