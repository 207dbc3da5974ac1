"""dexkit.load: one call for the sample, a path or the live API (through a page store)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import dexkit
from dexkit.client import Client
from dexkit.errors import ConfigError
from dexkit.testing import FakeCloudflare


@pytest.mark.slow
def test_sample_whole_window_and_filters() -> None:
    raw = dexkit.load("sample")
    assert raw.schema == dexkit.read_pages(dexkit.sample_dir() / "raw").schema
    assert raw["timestamp"].min() == datetime(2026, 11, 18, 10, tzinfo=UTC)
    part = dexkit.load("sample", start="2026-11-18T13:00Z", end="2026-11-18T15:00Z", colo="FRA")
    assert part["colo"].unique().to_list() == ["FRA"]
    assert part["timestamp"].min() >= datetime(2026, 11, 18, 13, tzinfo=UTC)
    assert part["timestamp"].max() < datetime(2026, 11, 18, 15, tzinfo=UTC)
    assert dexkit.load("sample", source="last_seen").height == 477


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"start": "2026-11-19T00:00Z"}, "no records between .* the data covers 2026-11-18 10:00"),
        ({"colo": "XXX"}, "no records with colo='XXX'"),
        ({"colour": "FRA"}, "unknown filter colour"),
        ({"source": "latest"}, "source must be one of"),
        ({"start": "yesterday"}, "cannot read 'yesterday' as a time"),
    ],
)
@pytest.mark.slow
def test_wrong_requests_are_errors_not_empty_frames(kwargs: dict[str, str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        dexkit.load("sample", **kwargs)  # type: ignore[arg-type]


@pytest.mark.slow
def test_origin_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN", raising=False)
    assert (
        dexkit.load(start="2026-11-18T16:00Z").height
        == dexkit.load("sample", start="2026-11-18T16:00Z").height
    )


def test_a_path_reads_a_page_store(tmp_path: Path) -> None:
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with FakeCloudflare(devices=80, seed=3) as api:
        client = Client(api.account_id, api.api_token, base_url=api.base_url, progress=False)
        client.fetch(end - timedelta(hours=2), end, source="hourly", into=tmp_path / "store")
    (tmp_path / "store" / "exports").mkdir()  # a stray batch kept beside the pages
    (tmp_path / "store" / "exports" / "old.log.gz").write_bytes(b"")
    frame = dexkit.load(tmp_path / "store")  # a page store, not taken for a Logpush archive
    assert frame["timestamp"].n_unique() == 2
    assert dexkit.load(tmp_path / "store", start=end - timedelta(hours=1)).height < frame.height


@pytest.mark.slow
def test_the_api_goes_through_the_store_and_a_rerun_is_free(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeCloudflare(devices=300, seed=2) as api:
        client = Client(api.account_id, api.api_token, base_url=api.base_url, progress=False)
        first = dexkit.load("api", client=client, verbose=True)
        spent = len(api.requests)
        assert "request(s) ≈" in capsys.readouterr().out  # the plan, shown before spending
        again = dexkit.load("api", client=client)
        assert len(api.requests) == spent, "a re-run fetched again"
        hourly = dexkit.load("api", client=client, source="hourly", start="-3h", colo="FRA")
        assert hourly["colo"].unique().to_list() == ["FRA"]
    assert 0 < spent <= 1 + -(-300 // 50) + 1
    assert_frame_equal(first, again)
    assert first["device_id"].is_unique().all()
    assert first.schema == pl.Schema(dexkit.SCHEMA)


def test_load_from_the_api_spends_only_the_pages(tmp_path: Path) -> None:
    with FakeCloudflare(devices=120, seed=4) as api:
        client = Client(api.account_id, api.api_token, base_url=api.base_url, progress=False)
        frame = dexkit.load("api", client=client, store=tmp_path / "store")
    assert 100 < frame.height <= 120  # the devices seen in the last hour
    assert len(api.requests) == -(-frame.height // 50)  # the pages; no plan when none is shown


def test_read_input_still_answers_at_its_old_address() -> None:
    import dexkit.report

    with pytest.warns(DeprecationWarning, match="moved to dexkit.inputs.read_input"):
        old = dexkit.report.read_input
    assert old is dexkit.inputs.read_input
