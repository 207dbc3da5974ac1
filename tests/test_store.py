"""The page store: aligned chunks, atomic pages, resume, offline reading, no secrets."""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from polars.testing import assert_frame_equal

import dexkit
from dexkit._query import build
from dexkit.client import Client
from dexkit.errors import BudgetError, ConfigError, ServerError
from dexkit.store import MANIFEST, PageStore, split
from dexkit.testing import FakeCloudflare

MakeClient = Callable[..., Client]
NOW = datetime(2026, 11, 18, 14, 20, tzinfo=UTC)


def hours_ago(n: int) -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=n)


def requested(api: FakeCloudflare) -> list[tuple[str, int]]:
    return [(r.params["from"], r.page) for r in api.requests if r.page is not None]


# -- chunks ----------------------------------------------------------------------------------


def test_last_seen_is_one_chunk() -> None:
    [chunk] = split(build("-30m", now=NOW), now=NOW)
    assert chunk.key == "last_seen/2026-11-18T135000--2026-11-18T142000"
    assert chunk.closed


def test_history_is_split_into_aligned_hours() -> None:
    query = build("2026-11-18T11:30:00Z", "2026-11-18T13:10:00Z", now=NOW, source="raw")
    chunks = split(query, now=NOW)
    assert [c.key for c in chunks] == [
        "raw/2026-11-18T11",
        "raw/2026-11-18T12",
        "raw/2026-11-18T13",
    ]
    assert [c.query.start.hour for c in chunks] == [11, 12, 13]
    assert all(c.closed for c in chunks)


def test_open_and_oldest_chunks_are_cut_and_not_closed() -> None:
    query = build("-7d", now=NOW, source="hourly")
    chunks = split(query, now=NOW)
    assert chunks[0].query.start > NOW - timedelta(days=7)
    assert not chunks[0].closed
    assert chunks[-1].query.end == NOW
    assert not chunks[-1].closed
    assert all(c.closed for c in chunks[1:-1])
    assert len(chunks) == 7 * 24 + 1


def test_chunk_size_can_be_changed() -> None:
    query = build("2026-11-18T12:00:00Z", "2026-11-18T13:00:00Z", now=NOW, source="raw")
    chunks = split(query, now=NOW, size=timedelta(minutes=30))
    assert [c.key for c in chunks] == ["raw/2026-11-18T1200", "raw/2026-11-18T1230"]
    with pytest.raises(ConfigError, match="whole number of minutes"):
        split(query, now=NOW, size=timedelta(seconds=90))


# -- fetch and read offline ------------------------------------------------------------------


def test_fetch_then_read_offline_equals_devices(
    api: FakeCloudflare, make_client: MakeClient, tmp_path: Path
) -> None:
    client = make_client(api)
    start, end = hours_ago(3), hours_ago(1)
    summary = client.fetch(start, end, source="hourly", into=tmp_path)
    assert (summary.chunks, summary.chunks_reused, summary.pages_reused) == (2, 0, 0)
    offline = dexkit.read_pages(tmp_path)
    online = client.devices(start, end, source="hourly")
    assert_frame_equal(
        offline.sort("device_id", "timestamp"), online.sort("device_id", "timestamp")
    )
    assert summary.records == offline.height
    assert sorted(p.relative_to(tmp_path).parts[0] for p in tmp_path.iterdir()) == [
        ".manifest.lock",  # serializes manifest updates between processes
        "hourly",
        MANIFEST,
    ]
    assert not list(tmp_path.rglob("*.part"))


def test_pages_are_the_api_bodies_gzipped_without_mtime(
    api: FakeCloudflare, make_client: MakeClient, tmp_path: Path
) -> None:
    make_client(api).fetch(hours_ago(2), hours_ago(1), source="hourly", into=tmp_path)
    page = next(tmp_path.rglob("page-00001.json.gz"))
    data = page.read_bytes()
    assert data[4:8] == b"\0\0\0\0"  # gzip mtime
    body = orjson.loads(gzip.decompress(data))
    assert body["success"] is True
    assert body["result_info"]["page"] == 1


def test_rerun_over_an_overlapping_window_fetches_only_new_chunks(
    api: FakeCloudflare, make_client: MakeClient, tmp_path: Path
) -> None:
    client = make_client(api)
    client.fetch(hours_ago(4), hours_ago(2), source="hourly", into=tmp_path)
    first = len(api.requests)
    summary = client.fetch(hours_ago(3), hours_ago(1), source="hourly", into=tmp_path)
    assert (summary.chunks, summary.chunks_reused) == (2, 1)
    new = {r.params["from"][:13] for r in api.requests[first:]}
    assert new == {hours_ago(2).strftime("%Y-%m-%dT%H")}
    again = client.fetch(hours_ago(3), hours_ago(1), source="hourly", into=tmp_path)
    assert (again.requests, again.pages_fetched, again.chunks_reused) == (0, 0, 2)


def test_an_interrupted_fetch_resumes_and_fetches_no_page_twice(
    api: FakeCloudflare, make_client: MakeClient, tmp_path: Path
) -> None:
    start, end = hours_ago(2), hours_ago(1)
    api.inject("500", page=4, times=100)
    with pytest.raises(ServerError, match="page 4"):
        make_client(api, retries=0, concurrency=2).fetch(start, end, source="raw", into=tmp_path)
    manifest = orjson.loads((tmp_path / MANIFEST).read_bytes())
    [entry] = manifest["chunks"].values()
    assert entry["complete"] is False
    assert 1 in entry["pages"]
    assert 4 not in entry["pages"]
    saved = set(entry["pages"])
    assert saved <= {p for _, p in requested(api)}  # pages in flight at the failure are lost
    assert saved == {int(p.name[5:10]) for p in tmp_path.rglob("*.json.gz")}
    api._scripted.clear()
    before = len(api.requests)
    summary = make_client(api).fetch(start, end, source="raw", into=tmp_path)
    again = {p for _, p in requested(api)[before:]}
    assert again
    assert not again & saved
    assert summary.pages_reused == len(saved)
    frame = dexkit.read_pages(tmp_path)
    assert frame.height == len(api.fleet.records("raw", start, end))
    assert frame.select("device_id", "timestamp").is_duplicated().sum() == 0


def test_pages_after_a_stop_are_not_kept(make_client: MakeClient, tmp_path: Path) -> None:
    with FakeCloudflare(devices=300, seed=1, faults={"repeat": 1.0}) as api:
        make_client(api).fetch(hours_ago(2), hours_ago(1), source="hourly", into=tmp_path)
    pages = sorted(p.name for p in tmp_path.rglob("*.json.gz"))
    assert pages == ["page-00001.json.gz"]
    assert dexkit.read_pages(tmp_path).height == 50


def test_the_manifest_records_query_and_counts_but_no_secret(
    api: FakeCloudflare, make_client: MakeClient, tmp_path: Path
) -> None:
    make_client(api).fetch(hours_ago(2), hours_ago(1), source="hourly", colo="FRA", into=tmp_path)
    manifest = orjson.loads((tmp_path / MANIFEST).read_bytes())
    assert manifest["shape"] == {
        "source": "hourly",
        "per_page": 50,
        "sort_by": None,
        "filters": {"colo": "FRA"},
    }
    [entry] = manifest["chunks"].values()
    assert entry["complete"] is True
    assert entry["total_count"] == entry["records"]
    assert manifest["fetches"][-1]["requests"] >= 1
    keyed = Client(api.account_id, email=api.email, api_key=api.api_key, base_url=api.base_url)
    keyed.fetch(
        hours_ago(3), hours_ago(2), source="hourly", colo="FRA", into=tmp_path, progress=False
    )
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            text = gzip.decompress(data) if path.suffix == ".gz" else data
            assert api.api_token.encode() not in text
            assert api.api_key.encode() not in text


def test_a_store_holds_one_query_shape(
    api: FakeCloudflare, make_client: MakeClient, tmp_path: Path
) -> None:
    client = make_client(api)
    client.fetch(hours_ago(2), hours_ago(1), source="hourly", into=tmp_path)
    with pytest.raises(ConfigError, match="another query"):
        client.fetch(hours_ago(2), hours_ago(1), source="hourly", colo="FRA", into=tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):
        PageStore(other, {})


def test_a_changed_open_chunk_is_fetched_again(
    api: FakeCloudflare, make_client: MakeClient, tmp_path: Path
) -> None:
    client = make_client(api)
    # both windows inside the current (open) hour: a window across an hour boundary would
    # rightly reuse the closed hour before it
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    while datetime.now(UTC) - hour < timedelta(seconds=40):
        time.sleep(1)
    now = datetime.now(UTC)
    client.fetch(hour, now - timedelta(seconds=20), source="raw", into=tmp_path)
    summary = client.fetch(hour, "now", source="raw", into=tmp_path)
    assert summary.chunks_reused == 0
    assert summary.pages_reused == 0


def test_a_fetch_over_budget_is_refused_after_one_request(
    api: FakeCloudflare, make_client: MakeClient, tmp_path: Path
) -> None:
    client = make_client(api, max_requests=5)
    with pytest.raises(BudgetError, match="more than max_requests=5") as info:
        client.fetch(hours_ago(4), hours_ago(1), source="hourly", into=tmp_path)
    assert info.value.plan.requests > 5
    assert len(api.requests) == 1
    assert not list(tmp_path.rglob("*.json.gz"))


def test_plan_with_a_chunk_covers_what_fetch_stores(
    api: FakeCloudflare, make_client: MakeClient, tmp_path: Path
) -> None:
    client = make_client(api)
    start, end = hours_ago(3) + timedelta(minutes=20), hours_ago(1) - timedelta(minutes=20)
    plan = client.plan(start, end, source="hourly", chunk=timedelta(hours=1))
    summary = client.fetch(start, end, source="hourly", into=tmp_path)
    assert plan.total_count == summary.records
    assert plan.requests >= summary.requests - 1  # the fetch's own plan request aside
