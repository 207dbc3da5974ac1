"""A real browser: JupyterLab on localhost, 03-explore.ipynb run in headless Chromium.

The check that the explorer's widgets render for a user (front-end and kernel packages agree:
no "Error displaying widget") and that changing a filter on the page redraws the chart. Debian's
Chromium is driven by Playwright (no browser download); every request the page makes must stay
on this machine.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
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

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(180),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[str]:
    """JupyterLab on a free localhost port with a random token; its base URL with the token."""
    port, token = _free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDFLARE_")}
    env["JUPYTER_CONFIG_DIR"] = str(tmp_path / "config")
    env["JUPYTERLAB_WORKSPACES_DIR"] = str(tmp_path / "workspaces")
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "runtime")
    env["JUPYTERLAB_SETTINGS_DIR"] = str(tmp_path / "settings")
    jupyter = Path(sys.executable).with_name("jupyter")
    log = (tmp_path / "lab.log").open("wb")
    proc = subprocess.Popen(
        [
            str(jupyter) if jupyter.exists() else shutil.which("jupyter") or "jupyter",
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
                    text = (tmp_path / "lab.log").read_text(errors="replace")
                    pytest.fail(f"JupyterLab did not start:\n{text[-3000:]}")
                time.sleep(0.3)
        yield f"{base}|{token}"
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
        log.close()


def test_explorer_renders_and_redraws(lab: str, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    base, token = lab.split("|")
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("request", lambda request: requests.append(request.url))
            page.goto(f"{base}/lab/tree/03-explore.ipynb?reset&token={token}")
            page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60_000)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator", timeout=60_000)
            # JupyterLab may ask which kernel to start: take the notebook's own (python3).
            dialog = page.locator(".jp-Dialog .jp-mod-accept")
            try:
                dialog.wait_for(timeout=5_000)
                dialog.click()
            except sync_api.TimeoutError:
                pass
            # Wait for the kernel, then Run → Run All Cells.
            page.wait_for_function(
                "() => !document.querySelector('.jp-Toolbar-kernelStatus') || "
                "!/Starting|Connecting/.test(document.body.innerText)",
                timeout=60_000,
            )
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
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
            assert "Error displaying widget" not in page.content()
        finally:
            browser.close()
    outside = [url for url in requests if urlparse(url).hostname not in ("127.0.0.1", "localhost")]
    outside = [url for url in outside if not url.startswith(("data:", "blob:"))]
    assert not outside, f"the page reached outside this machine: {outside[:5]}"
