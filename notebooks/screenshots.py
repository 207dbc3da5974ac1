"""Regenerate the README's pictures from the real notebooks and the real demo report.

    .venv/bin/python notebooks/screenshots.py [--out docs/images]

Writes four PNGs (or those named: ``screenshots.py linked``):

* ``overview.png``: ``01-fleet-overview.ipynb`` executed by nbconvert (inputs hidden), the top of
  the page: the headline numbers and the first two charts;
* ``explorer.png``: ``03-explore.ipynb`` run in JupyterLab, the explorer filtered to colo FRA;
* ``linked.png``: the same explorer driven by its charts: the incident hours brushed on the
  timeline, then "Use as incident", then the worst device clicked (its timeline, shaded);
* ``report.png``: the top of the report written by ``dexkit demo``.

Everything is rendered offline: the notebooks use the bundled sample (``CLOUDFLARE_*`` is
removed from the environment), the browser is Debian's headless Chromium driven by Playwright,
and any request that would leave this machine is aborted.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlparse

from playwright.sync_api import Browser, Page, Route, sync_playwright

NOTEBOOKS = Path(__file__).resolve().parent
ROOT = NOTEBOOKS.parent
sys.path.insert(0, str(ROOT))  # the browser tests' shared pieces: tests/browser.py

from tests.browser import (  # noqa: E402
    ARGS,
    CHROMIUM,
    drag_across,
    jupyter_lab,
    offline_env,
    run_all_cells,
    tool,
)

LOCAL_HOSTS = ("127.0.0.1", "localhost")


def _keep_local(route: Route) -> None:
    """Let file:, data:, blob: and localhost through; abort anything else."""
    url = route.request.url
    if url.startswith(("file:", "data:", "blob:")) or urlparse(url).hostname in LOCAL_HOSTS:
        route.continue_()
    else:
        print(f"  blocked: {url}", file=sys.stderr)
        route.abort()


def _new_page(browser: Browser, width: int, height: int) -> Page:
    page = browser.new_page(viewport={"width": width, "height": height})
    page.route("**/*", _keep_local)
    return page


def overview(browser: Browser, tmp: Path, out: Path) -> None:
    """01-fleet-overview.ipynb executed to HTML without inputs; its top."""
    subprocess.run(
        [
            tool("jupyter"),
            "nbconvert",
            "--execute",
            "--to",
            "html",
            "--no-input",
            "--HTMLExporter.mathjax_url=",
            "--HTMLExporter.require_js_url=",
            "--ExecutePreprocessor.timeout=300",
            f"--output-dir={tmp}",
            "--output=overview",
            "01-fleet-overview.ipynb",
        ],
        cwd=NOTEBOOKS,
        env=offline_env(),
        check=True,
    )
    page = _new_page(browser, 1200, 1400)
    page.goto((tmp / "overview.html").as_uri())
    # Altair's charts come as SVG images (data: URLs): wait until they are decoded.
    page.wait_for_function(
        "() => { const imgs = [...document.querySelectorAll('.jp-OutputArea-output img')];"
        " return imgs.length >= 2 && imgs.every(i => i.complete && i.naturalWidth > 0); }",
        timeout=30_000,
    )
    page.wait_for_timeout(500)
    _check_no_errors(page, "overview")
    # Down to just below the second chart (the headline, the colo chart, the hotspots table
    # and the latency timeline), whole charts only.
    bottom = page.evaluate(
        "() => document.querySelectorAll('.jp-OutputArea-output img')[1]"
        ".getBoundingClientRect().bottom + window.scrollY"
    )
    height = min(int(bottom) + 12, 2000)
    page.screenshot(
        path=str(out),
        full_page=True,
        clip={"x": 0, "y": 0, "width": 1200, "height": height},
    )
    page.close()


def explorer(browser: Browser, tmp: Path, out: Path) -> None:
    """03-explore.ipynb run in JupyterLab; the explorer widget filtered to colo FRA."""
    with jupyter_lab(NOTEBOOKS, tmp) as (base, token):
        # Tall enough for the whole explorer: JupyterLab scrolls inside its own panel, so a
        # part below the viewport would not be drawn in the element's screenshot.
        page = _new_page(browser, 1400, 2200)
        run_all_cells(page, base, token, "03-explore.ipynb")
        widget = page.locator(".dexkit-explorer").first
        widget.wait_for(timeout=90_000)
        widget.locator(".dexkit-status-chart svg").first.wait_for(timeout=30_000)
        before = widget.locator(".dexkit-status-chart").inner_html()
        widget.locator(".dexkit-filter-colo select").select_option("FRA")
        page.wait_for_function(
            "before => document.querySelector('.dexkit-explorer .dexkit-status-chart')"
            ".innerHTML !== before",
            arg=before,
            timeout=30_000,
        )
        widget.locator(".dexkit-status-chart svg").first.wait_for(timeout=30_000)
        page.wait_for_timeout(1_000)  # let every chart of the explorer finish its redraw
        _check_no_errors(page, "explorer")
        # No notification toast (e.g. "get notified about Jupyter news?") over the widget.
        page.add_style_tag(content=".Toastify { display: none !important; }")
        widget.scroll_into_view_if_needed()
        widget.screenshot(path=str(out))
        page.close()


def linked(browser: Browser, tmp: Path, out: Path) -> None:
    """03-explore.ipynb in JupyterLab, its charts interactive: a brushed timeline drives it."""
    with jupyter_lab(NOTEBOOKS, tmp) as (base, token):
        page = _new_page(browser, 1400, 4200)  # the whole explorer in view
        run_all_cells(page, base, token, "03-explore.ipynb")
        widget = page.locator(".dexkit-explorer").first
        widget.wait_for(timeout=90_000)
        timeline = widget.locator(".dexkit-timeline-chart svg .mark-line path").first
        timeline.wait_for(state="attached", timeout=60_000)
        widget.locator(".dexkit-devices-chart svg .mark-rect path").first.wait_for(
            state="attached", timeout=30_000
        )
        headline = widget.locator(".dexkit-headline")
        before = headline.inner_text()
        # 13:00 to 15:00 of the sample's 10:00-16:00 buckets: the scripted incident
        drag_across(page, timeline, 0.5, 5 / 6)
        page.wait_for_function(
            "before => document.querySelector('.dexkit-explorer .dexkit-headline')"
            ".innerText !== before",
            arg=before,
            timeout=30_000,
        )
        widget.locator(".dexkit-use-incident").click()
        page.wait_for_function(
            "() => document.querySelector('.dexkit-explorer .dexkit-incident')"
            ".innerText.includes('Incident:')",
            timeout=30_000,
        )
        bars = widget.locator(".dexkit-devices-chart svg .mark-rect path")
        for i in range(bars.count()):
            box = bars.nth(i).bounding_box()
            if box is not None and box["width"] > 2:
                bars.nth(i).click()
                break
        widget.locator(".dexkit-device-chart svg").first.wait_for(state="attached", timeout=30_000)
        page.wait_for_timeout(1_000)  # let every chart finish its redraw
        _check_no_errors(page, "linked")
        page.add_style_tag(content=".Toastify { display: none !important; }")
        page.mouse.move(5, 5)  # no tooltip over the picture
        widget.scroll_into_view_if_needed()
        widget.screenshot(path=str(out))
        page.close()


def report(browser: Browser, tmp: Path, out: Path) -> None:
    """The report of `dexkit demo`; its top once every chart is drawn."""
    html = tmp / "demo.html"
    subprocess.run([tool("dexkit"), "demo", "-o", str(html)], env=offline_env(), check=True)
    page = _new_page(browser, 1200, 1600)
    page.goto(html.as_uri())
    page.wait_for_function(
        "() => { const figs = [...document.querySelectorAll('figure.chart')];"
        " return figs.length > 0 && figs.every(f => f.querySelector('svg, canvas')); }",
        timeout=60_000,
    )
    page.wait_for_timeout(500)
    _check_no_errors(page, "report")
    # The top of the report, down to the end of its first chart (whole charts only).
    bottom = page.evaluate(
        "() => document.querySelector('figure.chart').getBoundingClientRect().bottom"
        " + window.scrollY"
    )
    height = min(int(bottom) + 24, 2200)
    page.screenshot(
        path=str(out),
        full_page=True,
        clip={"x": 0, "y": 0, "width": 1200, "height": height},
    )
    page.close()


def _check_no_errors(page: Page, name: str) -> None:
    text = page.inner_text("body")
    for marker in ("Traceback", "Error displaying widget", "Javascript Error"):
        if marker in text:
            raise SystemExit(f"{name}: the page shows {marker!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Regenerate the README's PNGs (overview, explorer, linked, report) offline, "
        "from the real notebooks and the real demo report, in headless Chromium."
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=NOTEBOOKS.parent / "docs" / "images",
        help="directory to write the PNGs into (default: docs/images)",
    )
    parser.add_argument(
        "shots", nargs="*", help="which pictures to make: overview, explorer, linked, report"
    )
    args = parser.parse_args(argv)
    unknown = set(args.shots) - {"overview", "explorer", "linked", "report"}
    if unknown:
        parser.error(f"no such picture: {', '.join(sorted(unknown))}")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dexkit-shots-") as name, sync_playwright() as p:
        tmp = Path(name)
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            for shot in (overview, explorer, linked, report):
                if args.shots and shot.__name__ not in args.shots:
                    continue
                path = out / f"{shot.__name__}.png"
                work = tmp / shot.__name__
                work.mkdir()
                print(f"{path} …", flush=True)
                shot(browser, work, path)
                print(f"  {path.stat().st_size // 1024} KB", flush=True)
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
