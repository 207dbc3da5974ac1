"""A real browser: JupyterLab on localhost, 03-explore.ipynb run in headless Chromium.

The check that the explorer's widgets render for a user (front-end and kernel packages agree:
no "Error displaying widget"), that changing a filter on the page redraws the chart, that the
time slider (moved by keyboard) narrows the records, and that the device picker draws a device.
Debian's Chromium is driven by Playwright (no browser download); every request the page makes
must stay on this machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.browser import ARGS, CHROMIUM, jupyter_lab, run_all_cells

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(180),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium"),
]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[str]:
    """JupyterLab on notebooks/ on a free localhost port; ``"base URL|token"``."""
    with jupyter_lab(NOTEBOOKS, tmp_path) as (base, token):
        yield f"{base}|{token}"


def _records(headline: str) -> int:
    """The record count at the start of the explorer's headline ("1,721 of 19,706 records…")."""
    return int(headline.split(" ", 1)[0].replace(",", ""))


def test_explorer_renders_and_redraws(lab: str, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    base, token = lab.split("|")
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("request", lambda request: requests.append(request.url))
            run_all_cells(page, base, token, "03-explore.ipynb")
            explorer = page.locator(".dexkit-explorer").first
            try:
                explorer.wait_for(timeout=60_000)
            except Exception:
                page.screenshot(path=str(tmp_path / "failure.png"))  # kept by pytest for a look
                raise
            chart = explorer.locator(".dexkit-status-chart svg").first
            chart.wait_for(timeout=30_000)
            assert "Error displaying widget" not in page.content()
            before = explorer.locator(".dexkit-status-chart").inner_html()
            headline = explorer.locator(".dexkit-headline").inner_text()

            explorer.locator(".dexkit-filter-colo select").select_option("FRA")
            page.wait_for_function(
                "before => document.querySelector('.dexkit-explorer .dexkit-status-chart')"
                ".innerHTML !== before",
                arg=before,
                timeout=30_000,
            )
            after = explorer.locator(".dexkit-status-chart").inner_html()
            assert "<svg" in after
            assert explorer.locator(".dexkit-headline").inner_text() != headline
            table = explorer.locator(".dexkit-summary").inner_text()
            assert "FRA" in table
            assert "LHR" not in table
            # the summary is a dexkit.show table: its grade badge keeps its colour in the widget
            badge = explorer.locator(".dexkit-summary .dexkit-table span").first
            assert badge.inner_text() in ("ok", "degraded", "critical")
            colour = badge.evaluate("s => getComputedStyle(s).backgroundColor")
            assert colour in ("rgb(46, 125, 67)", "rgb(244, 197, 66)", "rgb(179, 38, 30)")

            # the time slider, by keyboard: three hours off the end of the window
            readout = explorer.locator(".dexkit-filter-time .widget-readout")
            assert readout.inner_text() == "10:00-16:00"
            records = _records(explorer.locator(".dexkit-headline").inner_text())
            explorer.locator(".dexkit-filter-time .noUi-handle").nth(1).focus()
            for _ in range(3):
                page.keyboard.press("ArrowLeft")
            page.wait_for_function(
                "() => document.querySelector('.dexkit-explorer .dexkit-headline')"
                ".innerText.includes('to 2026-11-18 13:50 UTC')",
                timeout=30_000,
            )
            assert readout.inner_text() == "10:00-13:00"
            assert 0 < _records(explorer.locator(".dexkit-headline").inner_text()) < records

            # the device picker draws one device's metric over time
            picker = explorer.locator(".dexkit-device select")
            assert picker.locator("option").count() > 1
            assert explorer.locator(".dexkit-device-chart svg").count() == 0
            picker.select_option(index=1)
            explorer.locator(".dexkit-device-chart svg").first.wait_for(timeout=30_000)
            assert "Handshake latency" in explorer.locator(".dexkit-device-chart").inner_text()
            assert "Error displaying widget" not in page.content()
            assert "Error displaying widget" not in page.content()
        finally:
            browser.close()
    outside = [url for url in requests if urlparse(url).hostname not in ("127.0.0.1", "localhost")]
    outside = [url for url in outside if not url.startswith(("data:", "blob:"))]
    assert not outside, f"the page reached outside this machine: {outside[:5]}"
