"""The page store: aligned chunks, atomic pages, resume, offline reading, no secrets."""

from __future__ import annotations

import asyncio
import gzip
import io
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch

import orjson
import pytest
from polars.testing import assert_frame_equal

import dexkit
from dexkit._progress import LineProgress
from dexkit._query import build, parse_time
from dexkit.client import Client, _claim
from dexkit.errors import (
    BudgetError,
    ConfigError,
    IncompleteChunksWarning,
    ServerError,
    StoreError,
)
from dexkit.inputs import read_input
from dexkit.store import LOCK, MANIFEST, PageStore, split
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


@pytest.mark.slow
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
        ".claims",  # a lock per chunk: one fetch at a time requests it
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


@pytest.mark.slow
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


@pytest.mark.slow
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


# -- safety: symbolic links, incomplete chunks, concurrent fetches, damaged files --------------


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def test_a_symlinked_subdirectory_is_refused_and_nothing_outside_is_touched(
    api: FakeCloudflare, make_client: MakeClient, tmp_path: Path
) -> None:
    store, outside = tmp_path / "store", tmp_path / "outside"
    client = make_client(api)
    client.fetch(hours_ago(2), hours_ago(1), source="hourly", into=store)
    # the store's `hourly` directory becomes a link to a directory outside the store
    shutil.move(store / "hourly", outside)
    (outside / "keep.txt").write_text("mine")
    (store / "hourly").symlink_to(outside, target_is_directory=True)
    before = _snapshot(outside)
    assert before
    requests = len(api.requests)
    with pytest.raises(StoreError, match="symbolic link") as info:
        client.fetch(hours_ago(3), hours_ago(1), source="hourly", into=store)
    assert info.value.path == str(store / "hourly")
    assert _snapshot(outside) == before
    assert len(api.requests) == requests  # refused before any request
    with pytest.raises(StoreError, match="symbolic link"):
        dexkit.read_pages(store)


def test_a_symlinked_page_or_chunk_out_of_the_store_is_refused(
    api: FakeCloudflare, make_client: MakeClient, tmp_path: Path
) -> None:
    store, outside = tmp_path / "store", tmp_path / "outside"
    client = make_client(api)
    client.fetch(hours_ago(2), hours_ago(1), source="hourly", into=store)
    [page] = store.rglob("page-00001.json.gz")
    outside.mkdir()
    secret = outside / "secret.json.gz"
    shutil.copy(page, secret)
    page.unlink()
    page.symlink_to(secret)
    with pytest.raises(StoreError, match="leads out of the page store"):
        dexkit.read_pages(store)
    with pytest.raises(StoreError, match="leads out of the page store"):
        client.fetch(hours_ago(2), hours_ago(1), source="hourly", into=store)
    assert secret.read_bytes() == page.read_bytes()
    # a link that stays inside the store is followed
    page.unlink()
    page.symlink_to(Path("..") / ".." / "copy.bin")
    shutil.copy(secret, store / "copy.bin")
    assert dexkit.read_pages(store).height > 0


def test_a_chunk_name_climbing_out_of_the_store_is_a_damaged_manifest(
    api: FakeCloudflare, make_client: MakeClient, tmp_path: Path
) -> None:
    client = make_client(api)
    client.fetch(hours_ago(2), hours_ago(1), source="hourly", into=tmp_path)
    manifest = orjson.loads((tmp_path / MANIFEST).read_bytes())
    [entry] = manifest["chunks"].values()
    manifest["chunks"] = {"hourly/../../../victim": entry}
    (tmp_path / MANIFEST).write_bytes(orjson.dumps(manifest))
    with pytest.raises(StoreError, match="not a chunk name dexkit writes"):
        client.fetch(hours_ago(2), hours_ago(1), source="hourly", into=tmp_path)


def _interrupted_store(
    api: FakeCloudflare, make_client: MakeClient, store: Path
) -> tuple[int, str]:
    """A store with one complete chunk and one whose fetch failed at page 3."""
    client = make_client(api)
    first = client.fetch(hours_ago(3), hours_ago(2), source="raw", into=store)
    api.inject("500", page=3, times=1000)
    with pytest.raises(ServerError, match="page 3"):
        make_client(api, retries=0).fetch(hours_ago(2), hours_ago(1), source="raw", into=store)
    api._scripted.clear()
    return first.records, f"raw/{hours_ago(2):%Y-%m-%dT%H}"


@pytest.mark.slow
def test_read_pages_leaves_out_incomplete_chunks_and_says_which(
    api: FakeCloudflare, make_client: MakeClient, tmp_path: Path
) -> None:
    complete, interrupted = _interrupted_store(api, make_client, tmp_path)
    assert list((tmp_path / interrupted).glob("page-*.json.gz"))  # it holds some pages
    with pytest.warns(IncompleteChunksWarning) as caught:
        frame = dexkit.read_pages(tmp_path)
    assert len(caught) == 1
    assert interrupted in str(caught[0].message)
    assert frame.height == complete
    whole = len(api.fleet.records("raw", hours_ago(2), hours_ago(1)))
    partial = dexkit.read_pages(tmp_path, incomplete="include").height - complete
    assert 0 < partial < whole
    with pytest.raises(StoreError, match=interrupted):
        dexkit.read_pages(tmp_path, incomplete="raise")
    with pytest.raises(ConfigError, match="incomplete must be"):
        dexkit.read_pages(tmp_path, incomplete="yes")  # type: ignore[arg-type]
    # the report reads the store the same way
    with pytest.warns(IncompleteChunksWarning, match=interrupted):
        frame, provenance = read_input(tmp_path)
    assert frame.height == complete
    assert provenance["kind"] == "page store"
    # fetching again finishes the chunk: nothing is left out any more
    make_client(api).fetch(hours_ago(2), hours_ago(1), source="raw", into=tmp_path)
    assert dexkit.read_pages(tmp_path).height == complete + whole


def test_a_store_with_only_incomplete_chunks_is_an_error_not_an_empty_frame(
    api: FakeCloudflare, make_client: MakeClient, tmp_path: Path
) -> None:
    api.inject("500", page=2, times=1000)
    with pytest.raises(ServerError):
        make_client(api, retries=0).fetch(hours_ago(2), hours_ago(1), source="raw", into=tmp_path)
    with pytest.raises(ConfigError, match="every chunk selected is incomplete"):
        dexkit.read_pages(tmp_path)
    empty = tmp_path / "empty"
    PageStore(empty, {"source": "raw"})
    with pytest.raises(ConfigError, match="holds no pages"):
        dexkit.read_pages(empty)


def test_a_running_fetch_counts_as_incomplete_until_it_finishes(tmp_path: Path) -> None:
    query = build("2026-11-18T12:00:00Z", "2026-11-18T13:00:00Z", now=NOW, source="raw")
    [chunk] = split(query, now=NOW)
    store = PageStore(tmp_path, query.shape())
    store.prepare(chunk)
    store.write_page(chunk, 1, b'{"success": true, "result": []}')
    with pytest.raises(ConfigError, match="every chunk selected is incomplete"):
        dexkit.read_pages(tmp_path)
    store.finish(chunk, [1], records=0, stop="page 1 is empty")
    assert dexkit.read_pages(tmp_path).height == 0


def test_a_lock_held_too_long_is_a_store_error_naming_the_lock(tmp_path: Path) -> None:
    filelock = pytest.importorskip("filelock")
    query = build("2026-11-18T12:00:00Z", "2026-11-18T13:00:00Z", now=NOW, source="raw")
    [chunk] = split(query, now=NOW)
    store = PageStore(tmp_path, query.shape(), lock_timeout=0.2)
    store.prepare(chunk)
    store.write_page(chunk, 1, b'{"success": true, "result": []}')
    with filelock.FileLock(tmp_path / LOCK), pytest.raises(StoreError) as info:
        store.finish(chunk, [1], records=0, stop="page 1 is empty")
    message = str(info.value)
    assert "more than 0.2 s" in message
    assert "likely stuck" in message
    assert str(tmp_path / LOCK) in message
    store.finish(chunk, [1], records=0, stop="page 1 is empty")  # the lock is free again
    assert dexkit.read_pages(tmp_path).height == 0


@pytest.mark.slow
def test_two_fetches_into_one_store_never_request_a_chunk_twice(
    make_client: MakeClient, tmp_path: Path
) -> None:
    """Two fetches of one window into one store at once (each a PageStore of its own, as two
    processes would have): each chunk is requested by one of them; the other waits for it and
    takes its pages from the store."""
    start, end = hours_ago(5), hours_ago(1)

    def pages(api: FakeCloudflare) -> list[tuple[str, int]]:
        """The chunks' page requests (each fetch's one planning request, over the whole
        window, left out)."""
        hour = timedelta(hours=1)
        return [
            (r.params["from"], r.page)
            for r in api.requests
            if r.page is not None
            and parse_time(r.params["to"], now=NOW) - parse_time(r.params["from"], now=NOW) <= hour
        ]

    with FakeCloudflare(devices=300, seed=1) as api:
        make_client(api).fetch(start, end, source="hourly", into=tmp_path / "one")
        alone = pages(api)
    assert len(alone) > 4
    with FakeCloudflare(devices=300, seed=1, latency=0.02) as api:
        summaries: list[Any] = []
        errors: list[BaseException] = []
        bars: list[io.StringIO] = []

        def progress_bar(desc: str, enabled: bool) -> LineProgress:
            bars.append(io.StringIO())
            return LineProgress(desc, file=bars[-1], every=3600)

        def fetch() -> None:
            try:
                client = make_client(api, concurrency=2)
                summaries.append(client.fetch(start, end, source="hourly", into=tmp_path / "two"))
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=fetch) for _ in range(2)]
        with patch("dexkit.client.progress_bar", progress_bar):
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
        assert not errors, errors
        both = pages(api)
    assert len(both) == len(set(both)), "a page was requested twice"
    assert sorted(both) == sorted(alone)
    assert sum(s.pages_fetched for s in summaries) == len(alone)  # between them, once each
    assert {s.pages_fetched + s.pages_reused for s in summaries} == {len(alone)}
    # each fetch's progress counts every page of the window, the other fetch's chunks included
    lines = [bar.getvalue() for bar in bars]
    assert all(f"done, {len(alone)}/{len(alone)} pages" in text for text in lines), lines
    assert "fetched by another fetch (" in "".join(lines)
    assert_frame_equal(
        dexkit.read_pages(tmp_path / "two").sort("device_id", "timestamp"),
        dexkit.read_pages(tmp_path / "one").sort("device_id", "timestamp"),
    )


def test_a_chunk_claimed_too_long_is_a_store_error(tmp_path: Path) -> None:
    query = build("2026-11-18T12:00:00Z", "2026-11-18T13:00:00Z", now=NOW, source="raw")
    [chunk] = split(query, now=NOW)
    holder = PageStore(tmp_path, query.shape())
    assert holder.try_claim(chunk)
    waiter = PageStore(tmp_path, query.shape(), claim_timeout=0.3)
    assert not waiter.try_claim(chunk)
    with pytest.raises(StoreError, match=r"for more than 0.3 s.*claim_timeout") as info:
        asyncio.run(_claim(waiter, chunk))
    assert chunk.key in str(info.value)
    holder.release(chunk)
    assert waiter.try_claim(chunk)  # free again
    waiter.release(chunk)


def test_a_claim_takes_what_another_fetch_left_in_the_store(tmp_path: Path) -> None:
    """Both stores opened before either fetched: once the claim is free, a chunk the other
    completed is not requested again, and one it left half done resumes from its pages."""
    query = build("2026-11-18T10:00:00Z", "2026-11-18T12:00:00Z", now=NOW, source="raw")
    done, half = split(query, now=NOW)
    page = b'{"success": true, "result": [{"device_id": "a"}]}'
    first, second = PageStore(tmp_path, query.shape()), PageStore(tmp_path, query.shape())
    for chunk in (done, half):
        assert first.try_claim(chunk)
        first.prepare(chunk)
        first.begin(chunk, 3, 150)
        first.write_page(chunk, 1, page)
    first.finish(done, [1], records=1, stop="last page")
    first.interrupted(half)
    first.save()
    first.release(done)
    first.release(half)
    assert asyncio.run(_claim(second, done)) is False  # completed: nothing to request
    assert (second.complete(done), second.records(done)) == (True, 1)
    assert asyncio.run(_claim(second, half)) is True
    assert second.prepare(half) == {1: page}  # resumed, not deleted
    second.release(half)


_WRITER = """
import sys, time
from pathlib import Path
from typing import Any
from dexkit._query import build, parse_time
from dexkit.store import PageStore, split
from datetime import UTC, datetime
root, first, go = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
now = datetime(2026, 11, 18, 23, 59, tzinfo=UTC)
query = build(f"2026-11-{first:02d}T00:00:00Z", f"2026-11-{first + 1:02d}T00:00:00Z", now=now,
              source="raw")
store = PageStore(root, query.shape())  # both processes hold the manifest before either writes
(root / f".ready-{first}").touch()
while not go.exists():
    time.sleep(0.01)
for chunk in split(query, now=now):
    store.prepare(chunk)
    store.write_page(chunk, 1, b'{"success": true, "result": []}')
    store.finish(chunk, [1], records=0, stop="page 1 is empty")
"""


@pytest.mark.slow
def test_two_processes_fetching_into_one_store_keep_each_others_chunks(tmp_path: Path) -> None:
    store = tmp_path / "store"
    now = datetime(2026, 11, 18, 23, 59, tzinfo=UTC)
    query = build("2026-11-16T00:00:00Z", "2026-11-17T00:00:00Z", now=now, source="raw")
    PageStore(store, query.shape())
    go = tmp_path / "go"
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(store), str(day), str(go)])
        for day in (15, 17)
    ]
    try:
        deadline = time.monotonic() + 60
        while len(list(store.glob(".ready-*"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        go.touch()
        assert [p.wait(timeout=120) for p in procs] == [0, 0]
    finally:
        for p in procs:
            p.kill()
    manifest = orjson.loads((store / MANIFEST).read_bytes())
    days = Counter(key[4:14] for key in manifest["chunks"])
    assert days == {"2026-11-15": 24, "2026-11-17": 24}
    assert all(entry["finished"] for entry in manifest["chunks"].values())
