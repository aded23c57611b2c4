"""The scorecard the demo built, opened page by page in a real browser: Debian's headless Chromium,
driven by Playwright from file:// URLs, as someone would open it from a file share, offline.

Screenshots of every page are kept in $BACKBONE_TEST_ARTIFACTS (default test-artifacts/) under
scorecard/. Chromium comes from the project's setup (`make test` installs Debian's package); without
it the test is skipped, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from pipelines.core.home import PROJECT_ROOT
from tests.conftest import ARTIFACTS, IN_CI

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason}: the browser test must run in CI (make test installs Debian's chromium)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[test]')")
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def artifacts(pytestconfig: pytest.Config) -> Path:
    root = Path(os.environ.get("BACKBONE_TEST_ARTIFACTS") or PROJECT_ROOT / "test-artifacts") / "scorecard"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    pytestconfig.stash[ARTIFACTS] = root
    return root


def test_every_page_renders_its_charts_without_errors_or_network(demo_home, browser, artifacts: Path) -> None:
    site = demo_home[0] / "site"
    pages = sorted(site.rglob("*.html"))
    assert len(pages) >= 15, pages
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda message: message.type == "error" and problems.append(f"console: {message.text}"))
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("request", lambda request: request.url.startswith("file://") or problems.append(f"request: {request.url}"))
    charts = 0
    for path in pages:
        name = str(path.relative_to(site))
        problems.clear()
        page.goto(path.as_uri(), wait_until="load")
        for index, svg in enumerate(page.locator("figure.chart svg.chart-svg").all()):
            box = svg.bounding_box()
            assert box and box["width"] > 50 and box["height"] > 20, f"{name}: chart {index} has no size: {box}"
            assert svg.locator(".role-mark > *").count() > 0, f"{name}: chart {index} drew no marks"
            assert svg.get_attribute("role") == "img" and svg.get_attribute("aria-label"), name
            charts += 1
        for figure in page.locator("figure.chart").all():
            assert figure.locator("table caption").count() == 1, f"{name}: a chart without its table"
        page.screenshot(path=str(artifacts / (name.replace("/", "__").removesuffix(".html") + ".png")), full_page=True)
        assert not problems, f"{name}: {problems}"
    page.close()
    print(f"\n{len(pages)} pages, {charts} charts; screenshots in {artifacts}")
    assert charts >= 40


def test_a_suppressed_group_is_labelled_not_drawn(demo_home, browser) -> None:
    page = browser.new_page()
    page.goto((demo_home[0] / "site" / "indicators" / "grade3_reading.html").as_uri())
    race = page.locator("figure.chart", has_text="by race/ethnicity")
    hidden = race.locator(".hidden-groups")
    assert hidden.is_visible() and "hidden (small numbers)" in hidden.inner_text()
    names = [label.split(" — ")[0] for label in race.locator(".suppressed-label").all_inner_texts()]
    assert names
    drawn = race.locator("svg").get_attribute("aria-label")
    table = race.locator("table")
    for name in names:
        assert f"{name} " not in drawn.split("Not shown")[0]  # not among the bars
        row = table.locator("tr", has=page.locator(f"th:text-is('{name}')"))
        assert row.locator("td").first.text_content() == "hidden (small numbers)"  # in the (folded) table
    page.close()
