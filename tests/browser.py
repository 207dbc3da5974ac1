"""Shared pieces of the browser tests (and of ``notebooks/screenshots.py``): Debian's Chromium,
driven by Playwright, and JupyterLab on localhost. Standard library only, so that importing this
module needs neither pytest nor Playwright."""

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
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: Debian's Chromium (``make test`` installs it); Playwright never downloads a browser here.
CHROMIUM = "/usr/bin/chromium"
#: Launch flags for a closed network: no background traffic, no sandbox as root.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def tool(name: str) -> str:
    """A console script of the running virtualenv, else the one on PATH."""
    path = Path(sys.executable).with_name(name)
    return str(path) if path.exists() else shutil.which(name) or name


def offline_env() -> dict[str, str]:
    """This process's environment without ``CLOUDFLARE_*``: notebooks then use the sample."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CLOUDFLARE_")}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def jupyter_lab(root: Path, state: Path) -> Iterator[tuple[str, str]]:
    """JupyterLab on ``root``, on a free 127.0.0.1 port with a random token.

    Yields ``(base URL, token)``. Its config, workspaces, runtime and settings live under
    ``state`` (a fresh directory), with its log in ``state / "lab.log"``; ``CLOUDFLARE_*`` are
    removed from its environment. Shut down cleanly (SIGINT twice, which stops its kernels too).
    """
    port, token = _free_port(), secrets.token_hex(16)
    env = offline_env()
    for variable, name in (
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTERLAB_SETTINGS_DIR", "settings"),
    ):
        env[variable] = str(state / name)
    log_path = state / "lab.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                tool("jupyter"),
                "lab",
                "--no-browser",
                "--ip=127.0.0.1",
                f"--port={port}",
                f"--IdentityProvider.token={token}",
                f"--ServerApp.root_dir={root}",
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
                        raise RuntimeError(f"JupyterLab did not start:\n{text[-3000:]}") from None
                    time.sleep(0.3)
            yield base, token
        finally:
            for _ in range(2):
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGINT)
                    time.sleep(0.5)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def run_all_cells(page: Any, base: str, token: str, notebook: str) -> None:
    """Open ``notebook`` in JupyterLab with a Playwright page, start its kernel, Run All Cells."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(f"{base}/lab/tree/{notebook}?reset&token={token}")
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


def drag_across(page: Any, target: Any, start: float, end: float) -> None:
    """Drag the mouse across ``target`` (a Playwright locator) from ``start`` to ``end``, as
    fractions of its width, at its vertical middle: a brush on a Vega chart."""
    target.scroll_into_view_if_needed()
    box = target.bounding_box()
    if box is None:
        raise RuntimeError("the element to drag across is not on the page")
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * start, y)
    page.mouse.down()
    for step in range(1, 11):
        fraction = start + (end - start) * step / 10
        page.mouse.move(box["x"] + box["width"] * fraction, y)
    page.mouse.up()


def kernel_eval(state: Path, expression: str, timeout: float = 30) -> str:
    """Evaluate ``expression`` in the (only) kernel of the JupyterLab whose state is in
    ``state`` (see :func:`jupyter_lab`), through its connection file; return its repr."""
    from jupyter_client import BlockingKernelClient

    (connection,) = (state / "runtime").glob("kernel-*.json")
    client = BlockingKernelClient(connection_file=str(connection))
    client.load_connection_file()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=timeout)
        reply = client.execute_interactive(
            "", user_expressions={"out": expression}, timeout=timeout, store_history=False
        )
    finally:
        client.stop_channels()
    result = reply["content"]["user_expressions"]["out"]
    if result.get("status") != "ok":
        raise RuntimeError(f"{expression}: {result.get('ename')}: {result.get('evalue')}")
    text: str = result["data"]["text/plain"]
    return text
