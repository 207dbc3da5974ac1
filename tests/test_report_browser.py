"""Open reports with hostile data in headless Chromium: charts draw, nothing else runs or loads."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dexkit.report import write_report
from tests.browser import ARGS, CHROMIUM
from tests.test_report import HOSTILE, INCIDENT, hostile_frame

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"{CHROMIUM} is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _open(browser: Any, path: Path) -> dict[str, Any]:
    """Load the report; return what happened: requests, console errors, dialogs, the page."""
    seen: dict[str, Any] = {"requests": [], "errors": [], "dialogs": []}
    context = browser.new_context()
    page = context.new_page()

    def route(request_route: Any) -> None:
        url = request_route.request.url
        if url.startswith("file://"):
            request_route.continue_()
        else:
            seen["requests"].append(url)
            request_route.abort()

    def dialog(item: Any) -> None:
        seen["dialogs"].append(item.message)
        item.dismiss()

    def console(message: Any) -> None:
        if message.type == "error":
            seen["errors"].append(message.text)

    context.route("**/*", route)
    page.on("dialog", dialog)
    page.on("console", console)
    page.on("pageerror", lambda exc: seen["errors"].append(str(exc)))
    page.goto(path.as_uri())
    charts = page.locator("figure.chart")
    seen["charts"] = charts.count()
    page.wait_for_function(
        "() => [...document.querySelectorAll('figure.chart')].every("
        "f => f.getAttribute('data-rendered') === 'true' || f.textContent.length > 0)",
        timeout=60_000,
    )
    seen["drawn"] = page.evaluate(
        "() => [...document.querySelectorAll('figure.chart')].map("
        "f => f.querySelector('svg, canvas') !== null)"
    )
    seen["text"] = page.inner_text("body")
    seen["scripts"] = page.evaluate("() => document.scripts.length")
    seen["injected"] = page.evaluate(
        "() => document.querySelectorAll('img, iframe, object, embed, body svg[onload]').length"
    )
    page.wait_for_timeout(300)  # any late onerror/onload handler would fire by now
    context.close()
    return seen


@pytest.mark.parametrize("redact", [False, True], ids=["plain", "redacted"])
def test_hostile_report_in_chromium(browser: Any, tmp_path: Path, redact: bool) -> None:
    path = write_report(hostile_frame(), tmp_path / "report.html", incident=INCIDENT, redact=redact)
    seen = _open(browser, path)
    assert seen["dialogs"] == []
    assert seen["requests"] == []
    assert seen["errors"] == []
    assert seen["charts"] >= 5
    assert all(seen["drawn"]), seen["drawn"]
    assert seen["injected"] == 0
    # our two scripts plus one JSON block per chart: nothing from the data became a script
    assert seen["scripts"] == seen["charts"] + 2
    if not redact:
        assert HOSTILE[1] in seen["text"]  # shown as text, not as an image
        assert "{{7*7}}" in seen["text"]
