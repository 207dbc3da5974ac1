"""The postmortem notebook as a shareable document: parameterized with papermill, rendered with
nbconvert for readers (``--no-input``), redacted like the report, and offline in a browser."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

import dexkit
from tests.browser import ARGS, CHROMIUM

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "02-incident-postmortem.ipynb"
SAMPLE = ROOT / "data" / "sample"

pytestmark = pytest.mark.slow


def _execute(tmp_path: Path, **parameters: Any) -> tuple[Path, Path]:
    papermill = pytest.importorskip("papermill")
    out = tmp_path / "postmortem.ipynb"
    report = tmp_path / "postmortem.html"
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(out),
        parameters={"START": "2026-11-18T11:00Z", "REPORT": str(report), **parameters},
        cwd=str(NOTEBOOK.parent),
        kernel_name="python3",
        progress_bar=False,
        log_output=False,
    )
    return out, report


def _render(notebook: Path) -> str:
    """What the README tells readers to run: nbconvert --no-input with no CDN scripts."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(exclude_input=True, mathjax_url="", require_js_url="")
    html, _ = exporter.from_filename(str(notebook))
    return html


def _personal() -> list[str]:
    frame = dexkit.read_pages(SAMPLE / "raw")
    values = [
        *frame["device_name"].drop_nulls().unique(),
        *frame["person_email"].drop_nulls().unique(),
    ]
    return [v for v in values if len(v) > 6]


def test_parameterized_rendered_postmortem_is_redacted_and_offline(tmp_path: Path) -> None:
    executed, report = _execute(tmp_path)
    html = _render(executed)
    assert "FRA" in html  # the finding is there ...
    assert "2025.10.186.0" in html
    assert "import dexkit" not in html  # ... the code is not (--no-input)
    assert "11:00" in html  # the START parameter took effect
    personal = _personal()
    report_html = report.read_text()
    for text in (html, report_html):
        assert not [p for p in personal if p in text]
    assert "http://" not in html.replace("http://www.w3.org", "")
    assert 'src="https://' not in html
    assert 'href="https://' not in html

    page = tmp_path / "postmortem-readers.html"
    page.write_text(html)
    _open_offline(page)


def test_redaction_can_be_turned_off_explicitly(tmp_path: Path) -> None:
    _, report = _execute(tmp_path, REDACT=False)
    text = report.read_text()
    assert [p for p in _personal() if p in text]


def _open_offline(page: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it")
    outside: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = browser.new_context()

            def route(request_route: Any) -> None:
                url = request_route.request.url
                if url.startswith(("file://", "data:")):
                    request_route.continue_()
                else:
                    outside.append(url)
                    request_route.abort()

            context.route("**/*", route)
            tab = context.new_page()
            tab.goto(page.as_uri())
            # the charts: SVG drawn in the kernel, embedded by nbconvert as data: images
            drawn = tab.evaluate(
                "() => [...document.images].filter(i => i.complete && i.naturalWidth > 0).length"
            )
            assert drawn >= 2
            assert "FRA" in tab.inner_text("body")
            # the dexkit.show table survives the export with its inline styles
            table = tab.locator(".dexkit-table", has_text="Biggest changes by colo")
            assert table.count() == 1
            first = table.locator("tbody tr").first.inner_text()
            assert first.startswith("FRA")
            assert "estimated_loss_pct" in first
            align = (
                table.locator("tbody td").nth(3).evaluate("td => getComputedStyle(td).textAlign")
            )
            assert align == "right"
        finally:
            browser.close()
    assert outside == []
