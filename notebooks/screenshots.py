"""Regenerate the README's pictures from the real notebooks and the real demo report.

    .venv/bin/python notebooks/screenshots.py [--out notebooks/images]

Writes three PNGs:

* ``overview.png``: ``01-fleet-overview.ipynb`` executed by nbconvert (inputs hidden), the top of
  the page: the headline numbers and the first two charts;
* ``explorer.png``: ``03-explore.ipynb`` run in JupyterLab, the explorer filtered to colo FRA;
* ``report.png``: the top of the report written by ``dexkit demo``.

Everything is rendered offline: the notebooks use the bundled sample (``CLOUDFLARE_*`` is
removed from the environment), the browser is Debian's headless Chromium driven by Playwright,
and any request that would leave this machine is aborted.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from playwright.sync_api import Browser, Page, Route, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

NOTEBOOKS = Path(__file__).resolve().parent
ROOT = NOTEBOOKS.parent
BIN = Path(sys.executable).parent
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOCAL_HOSTS = ("127.0.0.1", "localhost")


def _tool(name: str) -> str:
    """A console script of this virtualenv, else the one on PATH."""
    path = BIN / name
    return str(path) if path.exists() else shutil.which(name) or name


def _offline_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CLOUDFLARE_")}


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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def overview(browser: Browser, tmp: Path, out: Path) -> None:
    """01-fleet-overview.ipynb executed to HTML without inputs; its top."""
    subprocess.run(
        [
            _tool("jupyter"),
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
        env=_offline_env(),
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


@contextmanager
def jupyterlab(tmp: Path) -> Iterator[tuple[str, str]]:
    """JupyterLab on a free localhost port with a random token: (base URL, token)."""
    port, token = _free_port(), secrets.token_hex(16)
    env = _offline_env()
    env["JUPYTER_CONFIG_DIR"] = str(tmp / "config")
    env["JUPYTERLAB_WORKSPACES_DIR"] = str(tmp / "workspaces")
    env["JUPYTER_RUNTIME_DIR"] = str(tmp / "runtime")
    env["JUPYTERLAB_SETTINGS_DIR"] = str(tmp / "settings")
    log_path = tmp / "lab.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                _tool("jupyter"),
                "lab",
                "--no-browser",
                "--ip=127.0.0.1",
                f"--port={port}",
                f"--IdentityProvider.token={token}",
                f"--ServerApp.root_dir={NOTEBOOKS}",
                "--ServerApp.port_retries=0",
                "--LabApp.news_url=",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                *(["--allow-root"] if os.geteuid() == 0 else []),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                        break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        text = log_path.read_text(errors="replace")
                        raise SystemExit(f"JupyterLab did not start:\n{text[-3000:]}") from None
                    time.sleep(0.3)
            yield base, token
        finally:
            # SIGINT twice is JupyterLab's clean shutdown; it shuts its kernels down too.
            for _ in range(2):
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGINT)
                    time.sleep(0.5)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def explorer(browser: Browser, tmp: Path, out: Path) -> None:
    """03-explore.ipynb run in JupyterLab; the explorer widget filtered to colo FRA."""
    with jupyterlab(tmp) as (base, token):
        # Tall enough for the whole explorer: JupyterLab scrolls inside its own panel, so a
        # part below the viewport would not be drawn in the element's screenshot.
        page = _new_page(browser, 1400, 2200)
        page.goto(f"{base}/lab/tree/03-explore.ipynb?reset&token={token}")
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60_000)
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator", timeout=60_000)
        # JupyterLab may ask which kernel to start: take the notebook's own (python3).
        dialog = page.locator(".jp-Dialog .jp-mod-accept")
        try:
            dialog.wait_for(timeout=5_000)
            dialog.click()
        except PlaywrightTimeout:
            pass
        page.wait_for_function(
            "() => !document.querySelector('.jp-Toolbar-kernelStatus') || "
            "!/Starting|Connecting/.test(document.body.innerText)",
            timeout=60_000,
        )
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
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


def report(browser: Browser, tmp: Path, out: Path) -> None:
    """The report of `dexkit demo`; its top once every chart is drawn."""
    html = tmp / "demo.html"
    subprocess.run([_tool("dexkit"), "demo", "-o", str(html)], env=_offline_env(), check=True)
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
        description="Regenerate the README's PNGs (overview, explorer, report) offline, "
        "from the real notebooks and the real demo report, in headless Chromium."
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=NOTEBOOKS / "images",
        help="directory to write the PNGs into (default: notebooks/images)",
    )
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dexkit-shots-") as name, sync_playwright() as p:
        tmp = Path(name)
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            for shot in (overview, explorer, report):
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
