"""The postmortem notebook on a Logpush archive: ``-p ORIGIN`` points it at the bundled archive,
offline. The archive carries no packet loss, so the notebook finds the incident from handshake
latency, takes pinned ``INCIDENT``/``BASELINE`` parameters over its own finding, and says to pin
them when the records show no incident."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import dexkit

pytestmark = pytest.mark.slow

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "02-incident-postmortem.ipynb"


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID", "CLOUDFLARE_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def _execute(tmp_path: Path, **parameters: Any) -> tuple[str, Path]:
    papermill = pytest.importorskip("papermill")
    out, report = tmp_path / "postmortem.ipynb", tmp_path / "postmortem.html"
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(out),
        parameters={"ORIGIN": str(dexkit.sample_dir("logpush")), "REPORT": str(report)}
        | parameters,
        cwd=str(NOTEBOOK.parent),
        kernel_name="python3",
        progress_bar=False,
        log_output=False,
    )
    cells = json.loads(out.read_text())["cells"]
    outputs = [o for c in cells for o in c.get("outputs", [])]
    printed = "".join("".join(o["text"]) for o in outputs if o.get("name") == "stdout")
    return printed, report


def test_finds_the_incident_in_a_logpush_archive_from_handshake_latency(tmp_path: Path) -> None:
    printed, report = _execute(tmp_path)
    assert "incident: ['2026-11-18 13:00', '2026-11-18 15:00'] colos: ['FRA']" in printed
    assert "baseline: ['2026-11-18 10:00', '2026-11-18 13:00']" in printed
    assert "('FRA', 'handshake_latency_ms'," in printed  # the biggest change by colo
    assert "(redacted)" in printed
    assert report.stat().st_size > 10_000


def test_pinned_windows_win_over_the_finding(tmp_path: Path) -> None:
    printed, _ = _execute(
        tmp_path,
        INCIDENT=["2026-11-18T14:00Z", "2026-11-18T15:00Z"],
        BASELINE=["2026-11-18T10:00Z", "2026-11-18T12:00Z"],
    )
    assert "incident: ['2026-11-18 14:00', '2026-11-18 15:00']" in printed
    assert "baseline: ['2026-11-18 10:00', '2026-11-18 12:00']" in printed


def test_no_incident_in_the_window_says_to_pin_the_windows(tmp_path: Path) -> None:
    papermill = pytest.importorskip("papermill")
    with pytest.raises(papermill.PapermillExecutionError) as failed:
        _execute(tmp_path, START="2026-11-18T10:00Z", END="2026-11-18T12:00Z")
    assert failed.value.ename == "ConfigError"
    assert "pin the windows" in failed.value.evalue
    assert "INCIDENT" in failed.value.evalue
