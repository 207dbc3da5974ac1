"""The notebooks' live mode at real size: 20,000 devices, the default budget, re-runs for free.

Each notebook runs (papermill, a real kernel) against ``FakeCloudflare(devices=20000)`` with
credentials and ``CLOUDFLARE_BASE_URL`` in the environment and a fresh ``DEXKIT_STORE``; the fake
counts the requests. The fleet has an incident 8 to 6 hours before the window's end, which the
postmortem must find from ``/over-time`` alone before it fetches records.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dexkit.synth import Incident
from dexkit.testing import FakeCloudflare

pytestmark = pytest.mark.slow

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ("01-fleet-overview", "02-incident-postmortem", "03-explore")
BUDGET = 1000  # Client's default max_requests


@pytest.fixture(scope="module")
def end() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


@pytest.fixture(scope="module")
def fleet(end: datetime) -> Iterator[FakeCloudflare]:
    incident = Incident(end - timedelta(hours=8), colo="FRA")
    with FakeCloudflare(devices=20_000, seed=11, incident=incident) as api:
        yield api


def _run(name: str, out: Path, end: datetime) -> None:
    import papermill

    # ORIGIN and START stay None: the API from the environment; the snapshot's hour (01, 03),
    # the postmortem's 24 hours before END
    parameters: dict[str, object] = {"END": end.isoformat()}
    if name.startswith("02"):
        parameters["REPORT"] = str(out / "postmortem.html")
    papermill.execute_notebook(
        str(NOTEBOOKS / f"{name}.ipynb"),
        str(out / f"{name}.ipynb"),
        parameters=parameters,
        cwd=str(NOTEBOOKS),
        kernel_name="python3",
        progress_bar=False,
    )


def test_notebooks_fit_the_budget_at_20000_devices_and_rerun_for_free(
    fleet: FakeCloudflare,
    end: datetime,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", fleet.account_id)
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", fleet.api_token)
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", fleet.base_url)
    monkeypatch.setenv("DEXKIT_STORE", str(tmp_path / "store"))
    spent: dict[str, int] = {}
    for name in NAMES:
        before = len(fleet.requests)
        _run(name, tmp_path, end)
        spent[name] = len(fleet.requests) - before
        assert spent[name] <= BUDGET, spent
    assert spent["01-fleet-overview"] > 19_000 / 50  # the snapshot: devices / 50 pages
    assert spent["02-incident-postmortem"] > 0
    assert {r.status for r in fleet.requests} == {200}
    # the overview's snapshot is the explorer's: the explorer found it in the store
    assert spent["03-explore"] == 0, spent
    # the postmortem fetched records of the colo that moved only
    colos = {r.params.get("colo") for r in fleet.requests if r.path.endswith("/devices")}
    assert colos == {None, "FRA"}, colos
    assert (tmp_path / "postmortem.html").stat().st_size > 10_000
    report = (tmp_path / "02-incident-postmortem.ipynb").read_text()
    assert "FRA moved most" in report

    before = len(fleet.requests)
    for name in NAMES:
        _run(name, tmp_path, end)
    assert len(fleet.requests) == before  # a second run of all three: 0 requests
