"""A real browser: JupyterLab on localhost, 03-explore.ipynb run in headless Chromium.

In JupyterLab the notebook's ``charts.render()`` chooses the interactive rendering: its charts
are Altair ``JupyterChart`` widgets whose JavaScript comes from the installed packages.

The check that the explorer's widgets render for a user (front-end and kernel packages agree:
no "Error displaying widget"), that changing a filter on the page redraws the chart, that the
time slider (moved by keyboard) narrows the records, and that the device picker draws a device.
Debian's Chromium is driven by Playwright (no browser download); every request the page makes
must stay on this machine.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from dexkit._presentation import GRADE_COLORS
from tests.browser import ARGS, CHROMIUM, drag_across, jupyter_lab, kernel_eval, run_all_cells

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
            assert colour == _rgb(GRADE_COLORS[badge.inner_text()])  # the one palette

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


HOSTILE = "<img src=x onerror=alert(1)>"


def _bars(paths: Any) -> list[Any]:
    """The bars with a length (a device without a value has none), top to bottom."""
    out = []
    for i in range(paths.count()):
        path = paths.nth(i)
        path.scroll_into_view_if_needed()
        box = path.bounding_box()
        if box is not None and box["width"] > 2:
            out.append(path)
    return out


def _linked_notebook(root: Path) -> None:
    """03-explore.ipynb beside the sample, with one cell more before the explorer's: the worst
    device gets a hostile name (what its tooltip must show as text)."""
    import json

    notebook = json.loads((NOTEBOOKS / "03-explore.ipynb").read_text())
    cells = notebook["cells"]
    at = next(i for i, c in enumerate(cells) if "".join(c["source"]).startswith("explorer ="))
    code = (
        "bars = charts.chart_data(dexkit.explore(frame).devices_chart())\n"
        "worst = next(bar['device_id'] for bar in bars if bar['value'])\n"
        "frame = frame.with_columns(pl.when(pl.col('device_id') == worst)"
        f".then(pl.lit({HOSTILE!r})).otherwise(pl.col('device_name')).alias('device_name'))"
    )
    cell = {"cell_type": "code", "metadata": {}, "source": code, "outputs": []}
    cell["execution_count"] = None
    cells.insert(at, cell)
    (root / "data").mkdir()
    (root / "data" / "sample").symlink_to(ROOT / "data" / "sample")
    (root / "linked.ipynb").write_text(json.dumps(notebook))


def test_linked_views_offline(tmp_path: Path) -> None:
    """Tooltips, brushing, clicking and "Use as incident" in JupyterLab, nothing fetched."""
    sync_api = pytest.importorskip("playwright.sync_api")
    root, state = tmp_path / "root", tmp_path / "state"
    root.mkdir()
    state.mkdir()
    _linked_notebook(root)
    requests: list[str] = []
    dialogs: list[str] = []
    timings: dict[str, float] = {}
    with jupyter_lab(root, state) as (base, token), sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2400})
            page.on("request", lambda request: requests.append(request.url))
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            started = time.monotonic()
            run_all_cells(page, base, token, "linked.ipynb")
            explorer = page.locator(".dexkit-explorer").first
            timeline = explorer.locator(".dexkit-timeline-chart svg .mark-line path").first
            try:
                # JupyterLab skips painting cells out of view: wait for the marks in the DOM
                timeline.wait_for(state="attached", timeout=90_000)
                for name in ("status", "devices"):
                    explorer.locator(f".dexkit-{name}-chart svg .mark-rect path").first.wait_for(
                        state="attached", timeout=30_000
                    )
            except Exception:
                page.screenshot(path=str(tmp_path / "failure.png"))
                (tmp_path / "failure.html").write_text(page.content())
                raise
            timings["run all → explorer charts drawn (s)"] = time.monotonic() - started
            assert "Error displaying widget" not in page.content()
            assert "JavaScript Error" not in page.inner_text("body")

            # hovering a mark shows its tooltip, the record's text escaped
            worst = _bars(explorer.locator(".dexkit-devices-chart svg .mark-rect path"))[0]
            worst.hover()
            tooltip = page.locator("#vg-tooltip-element.visible")
            tooltip.wait_for(timeout=10_000)
            assert HOSTILE in tooltip.inner_text()
            assert "&lt;img src=x onerror=alert(1)&gt;" in tooltip.inner_html()
            assert tooltip.locator("img").count() == 0
            page.mouse.move(5, 5)

            # brushing the timeline narrows the time range: fewer records in the headline
            headline = explorer.locator(".dexkit-headline")
            records = _records(headline.inner_text())
            before = headline.inner_text()
            started = time.monotonic()
            drag_across(page, timeline, 0.45, 0.85)
            page.wait_for_function(
                "before => document.querySelector('.dexkit-explorer .dexkit-headline')"
                ".innerText !== before",
                arg=before,
                timeout=30_000,
            )
            timings["brush → headline redrawn (s)"] = time.monotonic() - started
            brushed = _records(headline.inner_text())
            assert 0 < brushed < records
            assert explorer.locator(".dexkit-timeline-chart svg .mark-rect path").count() > 0
            window = kernel_eval(state, "explorer.window")
            assert window.startswith("Window(start=datetime.datetime(2026, 11, 18, 1")

            # clicking a colo's bar filters the table to that colo
            table = explorer.locator(".dexkit-summary")
            assert "LHR" in table.inner_text()
            bar = explorer.locator(".dexkit-status-chart svg .mark-rect path[aria-label*='FRA']")
            started = time.monotonic()
            bar.first.click()
            page.wait_for_function(
                "() => !document.querySelector('.dexkit-explorer .dexkit-summary')"
                ".innerText.includes('LHR')",
                timeout=30_000,
            )
            timings["click → table redrawn (s)"] = time.monotonic() - started
            assert "FRA" in table.inner_text()
            assert kernel_eval(state, "explorer.filters.colo") == "('FRA',)"
            assert _records(headline.inner_text()) < brushed
            # shift-click adds a colo
            lhr = explorer.locator(".dexkit-status-chart svg .mark-rect path[aria-label*='LHR']")
            lhr.first.click(modifiers=["Shift"])
            page.wait_for_function(
                "() => document.querySelector('.dexkit-explorer .dexkit-summary')"
                ".innerText.includes('LHR')",
                timeout=30_000,
            )
            assert kernel_eval(state, "explorer.filters.colo") == "('FRA', 'LHR')"
            lhr.first.click(modifiers=["Shift"])  # and takes it away again
            page.wait_for_function(
                "() => !document.querySelector('.dexkit-explorer .dexkit-summary')"
                ".innerText.includes('LHR')",
                timeout=30_000,
            )
            assert kernel_eval(state, "explorer.filters.colo") == "('FRA',)"

            # "Use as incident": the brushed window reaches Python as explorer.incident
            explorer.locator(".dexkit-use-incident").click()
            note = explorer.locator(".dexkit-incident")
            page.wait_for_function(
                "() => document.querySelector('.dexkit-explorer .dexkit-incident')"
                ".innerText.includes('Incident:')",
                timeout=30_000,
            )
            assert kernel_eval(state, "explorer.incident") == window
            assert kernel_eval(state, "explorer.incident == explorer.window") == "True"
            compared = kernel_eval(
                state,
                "dexkit.compare_windows(frame, (explorer.incident.start - "
                "(explorer.incident.end - explorer.incident.start), explorer.incident.start), "
                "explorer.incident, by='colo').height > 0",
            )
            assert compared == "True"
            assert "UTC" in note.inner_text()

            # clicking a device draws its own timeline, the incident shaded
            device_chart = explorer.locator(".dexkit-device-chart svg")
            assert device_chart.count() == 0
            _bars(explorer.locator(".dexkit-devices-chart svg .mark-rect path"))[1].click()
            device_chart.first.wait_for(state="attached", timeout=30_000)
            assert device_chart.locator(".mark-rect path").count() == 1  # the incident band
            assert kernel_eval(state, "explorer.device is not None") == "True"
            assert "Error displaying widget" not in page.content()
            if os.environ.get("DEXKIT_SCREENSHOT"):
                page.add_style_tag(content=".Toastify { display: none !important; }")
                explorer.screenshot(path=os.environ["DEXKIT_SCREENSHOT"])
        finally:
            browser.close()
    for name, seconds in timings.items():
        print(f"browser timing: {name}: {seconds:.2f}")
    assert not dialogs, f"a record's text ran as code: {dialogs}"
    outside = [url for url in requests if urlparse(url).hostname not in ("127.0.0.1", "localhost")]
    outside = [url for url in outside if not url.startswith(("data:", "blob:"))]
    assert not outside, f"the page reached outside this machine: {outside[:5]}"


def test_overview_charts_are_interactive_offline(lab: str, tmp_path: Path) -> None:
    """01-fleet-overview.ipynb's plain charts in JupyterLab: tooltips, a clickable legend, zoom."""
    sync_api = pytest.importorskip("playwright.sync_api")
    base, token = lab.split("|")
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("request", lambda request: requests.append(request.url))
            run_all_cells(page, base, token, "01-fleet-overview.ipynb")
            embeds = page.locator(".jp-OutputArea-output .vega-embed")
            try:
                page.wait_for_function(
                    "() => document.querySelectorAll('.vega-embed svg .role-mark').length > 0 &&"
                    " document.querySelectorAll('.vega-embed svg').length >= 3",
                    timeout=120_000,
                )
            except Exception:
                page.screenshot(path=str(tmp_path / "failure.png"))
                raise
            assert "Error displaying widget" not in page.content()
            status, timeline = embeds.nth(0), embeds.nth(1)
            assert "Device status by colo" in status.inner_text()
            assert "Handshake latency over time" in timeline.inner_text()

            # a tooltip on hover
            bar = status.locator(".mark-rect path").first
            bar.hover()
            tooltip = page.locator("#vg-tooltip-element.visible")
            tooltip.wait_for(timeout=10_000)
            assert "Devices" in tooltip.inner_text()
            page.mouse.move(5, 5)

            # the legend: clicking a status fades the other statuses' bars
            bars = status.locator(".mark-rect path")
            faded = "els => els.filter(e => e.getAttribute('opacity') === '0.15').length"
            assert bars.evaluate_all(faded) == 0
            status.locator(".role-legend-label text", has_text="disconnected").click()
            page.wait_for_function(
                "() => [...document.querySelectorAll('.vega-embed')][0]"
                ".querySelectorAll('.mark-rect path[opacity=\"0.15\"]').length > 0",
                timeout=10_000,
            )
            assert 0 < bars.evaluate_all(faded) < bars.count()

            # the time axis zooms with the wheel
            labels = timeline.locator(".role-axis-label text")
            before = labels.all_inner_texts()
            plot = timeline.locator(".mark-line path").first
            plot.scroll_into_view_if_needed()
            box = plot.bounding_box()
            assert box is not None
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            page.mouse.wheel(0, -400)
            page.wait_for_timeout(500)
            assert labels.all_inner_texts() != before
        finally:
            browser.close()
    outside = [url for url in requests if urlparse(url).hostname not in ("127.0.0.1", "localhost")]
    outside = [url for url in outside if not url.startswith(("data:", "blob:"))]
    assert not outside, f"the page reached outside this machine: {outside[:5]}"


def _rgb(hex_colour: str) -> str:
    """``#d1432f`` as the browser's computed style writes it: ``rgb(209, 67, 47)``."""
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"
