"""dexkit.client against FakeCloudflare over real sockets (a mock transport for odd cases)."""

from __future__ import annotations

import _thread
import asyncio
import io
import logging
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import dexkit
from dexkit._query import build, parse_time
from dexkit._ratelimit import RateLimiter, parse_ratelimit
from dexkit.client import Client, compare_counts
from dexkit.errors import (
    APIError,
    AuthError,
    BudgetError,
    ConfigError,
    CredentialsError,
    NotFoundError,
    PageError,
    QueryError,
    RateLimitError,
    ServerError,
    TransportError,
)
from dexkit.testing import FakeCloudflare

Window = tuple[datetime, datetime]
MakeClient = Callable[..., Client]


def expected_ids(api: FakeCloudflare, window: Window, source: str = "last_seen") -> Counter[str]:
    records = api.fleet.records(source, *window)
    return Counter(f"{r['deviceId']}@{r['timestamp']}" for r in records)


def got_ids(frame: pl.DataFrame) -> Counter[str]:
    stamps = frame["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S+00")
    return Counter(f"{d}@{t}" for d, t in zip(frame["device_id"], stamps, strict=True))


def expected_pages(api: FakeCloudflare, window: Window, per_page: int = 50) -> int:
    return -(-len(api.fleet.records("last_seen", *window)) // per_page)


def device_pages(api: FakeCloudflare) -> list[int]:
    return [r.page for r in api.requests if r.page is not None]


# -- credentials and repr --------------------------------------------------------------------


def test_credentials_from_arguments_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    client = Client("acc", "tok-secret-1")
    assert client.account_id == "acc"
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", "acc-env")
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "tok-secret-2")
    assert Client().account_id == "acc-env"
    assert "tok-secret-2" not in repr(Client())
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN")
    monkeypatch.setenv("CLOUDFLARE_EMAIL", "me@example.com")
    monkeypatch.setenv("CLOUDFLARE_API_KEY", "key-secret-3")
    client = Client()
    assert "api_key" in repr(client)
    assert "key-secret-3" not in repr(client)


def test_no_credentials_is_a_clear_error() -> None:
    with pytest.raises(CredentialsError, match="CLOUDFLARE_API_TOKEN"):
        Client("acc")
    with pytest.raises(CredentialsError, match="CLOUDFLARE_ACCOUNT_ID"):
        Client(api_token="tok")
    with pytest.raises(CredentialsError, match="go together"):
        Client("acc", email="me@example.com")


def test_a_trailing_newline_is_trimmed_from_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "tok-secret-4\n")
    client = Client(" acc\n")
    assert client.account_id == "acc"
    assert client._credentials.headers() == {"Authorization": "Bearer tok-secret-4"}
    pair = Client("acc", email=" me@example.com", api_key="key-secret-5\r\n")._credentials
    assert pair.headers() == {"X-Auth-Email": "me@example.com", "X-Auth-Key": "key-secret-5"}


@pytest.mark.parametrize(
    "token", ["tok secret", "tok\nsecret", "tok\x00secret", "t\u00f6k-secret", "tok\tsecret"]
)
def test_unusable_credentials_fail_at_once_without_showing_them(
    monkeypatch: pytest.MonkeyPatch, token: str
) -> None:
    with pytest.raises(CredentialsError, match="api_token contains whitespace") as info:
        Client("acc", token)
    assert "secret" not in str(info.value)
    if "\x00" not in token:  # an environment variable cannot hold NUL
        monkeypatch.setenv("CLOUDFLARE_API_TOKEN", token)
        with pytest.raises(CredentialsError, match="CLOUDFLARE_API_TOKEN contains") as info:
            Client("acc")
        assert "secret" not in str(info.value)
    with pytest.raises(CredentialsError, match="api_key contains") as info:
        Client("acc", email="me@example.com", api_key=token)
    assert "secret" not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"account_id": 123}, "account id must be a string, got int"),
        ({"account_id": "acc/../x"}, "only letters, digits"),
        ({"account_id": "a b"}, "only letters, digits"),
        ({"api_token": 42}, "api_token must be a string, got int"),
        ({"api_token": " \n"}, "api_token is empty"),
        ({"concurrency": "4"}, "concurrency must be a whole number, 1 or more, got '4'"),
        ({"concurrency": 0}, "concurrency must be a whole number, 1 or more"),
        ({"retries": -1}, "retries must be a whole number, 0 or more"),
        ({"max_requests": "5"}, "max_requests must be a whole number, 1 or more \\(or None\\)"),
        ({"timeout": "30"}, "timeout must be a number of seconds"),
        ({"backoff": float("nan")}, "backoff must be a number of seconds"),
        ({"base_url": 5}, "base_url must be a string, got int"),
        ({"base_url": "http://[::1"}, "base_url is not a URL"),
        ({"base_url": "api.cloudflare.com"}, "base_url must be an http\\(s\\) URL"),
    ],
)
def test_bad_client_arguments(kwargs: dict[str, Any], match: str) -> None:
    arguments: dict[str, Any] = {"account_id": "acc", "api_token": "tok"} | kwargs
    with pytest.raises((CredentialsError, ConfigError), match=match):
        Client(**arguments)


def test_repr_shows_no_secret() -> None:
    client = Client("0a1b2c3d4e5f60718293a4b5c6d7e8f9", "tok-very-secret")
    assert repr(client) == (
        "Client(account_id='0a1b2c…', auth='api_token', "
        "base_url='https://api.cloudflare.com/client/v4')"
    )
    assert "tok-very-secret" not in repr(client._credentials)


# -- time parsing and validation -------------------------------------------------------------

NOW = datetime(2026, 11, 18, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2026, 11, 18, 13, 0), datetime(2026, 11, 18, 13, 0, tzinfo=UTC)),
        (
            datetime(
                2026, 11, 18, 15, 0, tzinfo=__import__("datetime").timezone(timedelta(hours=2))
            ),
            datetime(2026, 11, 18, 13, 0, tzinfo=UTC),
        ),
        ("2026-11-18T13:00:00Z", datetime(2026, 11, 18, 13, 0, tzinfo=UTC)),
        ("2026-11-18 13:00:00+00", datetime(2026, 11, 18, 13, 0, tzinfo=UTC)),
        ("2026-11-18T13:00:00", datetime(2026, 11, 18, 13, 0, tzinfo=UTC)),
        (1795006800000, datetime(2026, 11, 18, 13, 0, tzinfo=UTC)),
        ("1795006800000", datetime(2026, 11, 18, 13, 0, tzinfo=UTC)),
        ("-90m", datetime(2026, 11, 18, 12, 30, tzinfo=UTC)),
        ("2h", datetime(2026, 11, 18, 12, 0, tzinfo=UTC)),
        ("-1d", datetime(2026, 11, 17, 14, 0, tzinfo=UTC)),
        (timedelta(minutes=-30), datetime(2026, 11, 18, 13, 30, tzinfo=UTC)),
        (timedelta(minutes=30), datetime(2026, 11, 18, 13, 30, tzinfo=UTC)),
        ("now", NOW),
    ],
)
def test_parse_time(value: Any, expected: datetime) -> None:
    assert parse_time(value, now=NOW) == expected


def test_parse_time_rejects_nonsense() -> None:
    with pytest.raises(QueryError, match="ISO 8601"):
        parse_time("yesterday-ish", now=NOW)
    with pytest.raises(QueryError):
        parse_time(True, now=NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"per_page": 0}, "per_page must be an integer from 1 to 50"),
        ({"per_page": 51}, "per_page must be an integer from 1 to 50"),
        ({"source": "daily"}, "source must be one of 'last_seen', 'hourly', 'raw'"),
        ({"sort_by": "cpu"}, "sort_by must be one of"),
        ({"start": "-10m", "end": "-20m"}, "must be before end"),
        ({"start": "-90m"}, "use source='hourly'"),
        ({"start": "-8d", "source": "hourly"}, "reaches back at most 7 days"),
        ({"start": "-8d", "end": "-180h", "source": "raw"}, "reaches back at most 7 days"),
        ({"start": "-7d", "end": "-10079.5m", "source": "raw"}, "at the edge of the 7 days"),
    ],
)
def test_validation_before_any_request(
    api: FakeCloudflare, make_client: MakeClient, kwargs: dict[str, Any], match: str
) -> None:
    client = make_client(api)
    start = kwargs.pop("start", "-30m")
    with pytest.raises(QueryError, match=match):
        client.devices(start, **kwargs)
    assert api.requests == []


def test_a_start_at_the_7_day_limit_moves_a_minute_inside() -> None:
    limit = NOW - timedelta(days=7)
    inside = limit + timedelta(minutes=1)
    assert build("-7d", now=NOW, source="hourly").start == inside
    # a moment past the limit (the caller's "7 days ago" went stale), or less than the margin
    # inside it (now - 7 days computed a moment before the client read its clock)
    assert build(limit - timedelta(seconds=20), now=NOW, source="raw").start == inside
    assert build(limit + timedelta(seconds=20), now=NOW, source="raw").start == inside
    assert build(limit + timedelta(minutes=5), now=NOW, source="raw").start == limit + timedelta(
        minutes=5
    )
    with pytest.raises(QueryError, match=r"start at 2026-11-11T14:01:00.000Z or later"):
        build(limit - timedelta(minutes=2), now=NOW, source="raw")


def test_last_seen_60_minutes_is_allowed() -> None:
    assert build("-60m", now=NOW).end - build("-60m", now=NOW).start == timedelta(minutes=60)


# -- devices and paging ----------------------------------------------------------------------


def test_devices_returns_every_record_once(
    api: FakeCloudflare, make_client: MakeClient, window: Window
) -> None:
    frame = make_client(api).devices(*window)
    assert frame.schema == dexkit.SCHEMA
    assert got_ids(frame) == expected_ids(api, window)
    assert sorted(device_pages(api)) == list(range(1, expected_pages(api, window) + 1))


def test_devices_matches_read_pages_of_the_fleet(
    api: FakeCloudflare, make_client: MakeClient, window: Window
) -> None:
    frame = make_client(api).devices(*window, source="raw", sort_by="device_id")
    records = api.fleet.records("raw", *window)
    records.sort(key=lambda r: (r["deviceId"], r["timestamp"]))
    direct = dexkit.read_pages(
        orjson.dumps({"success": True, "errors": [], "messages": [], "result": records})
    )
    assert_frame_equal(frame.sort("device_id", "timestamp"), direct.sort("device_id", "timestamp"))


def test_filters_are_sent(api: FakeCloudflare, make_client: MakeClient, window: Window) -> None:
    client = make_client(api)
    colo = client.devices(*window)["colo"][0]
    frame = client.devices(*window, colo=colo, status="connected")
    assert set(frame["colo"]) == {colo}
    assert set(frame["status"]) == {"connected"}
    assert api.requests[-1].params["colo"] == colo


@pytest.mark.slow
def test_concurrency_is_bounded_and_used(make_client: MakeClient, window: Window) -> None:
    with FakeCloudflare(devices=600, seed=2, latency=0.05) as api:
        make_client(api, concurrency=3).devices(*window)
    assert api.peak == 3


def test_pages_are_raw_bodies_in_order(
    api: FakeCloudflare, make_client: MakeClient, window: Window
) -> None:
    pages = make_client(api).pages(*window, per_page=40)
    numbers = [orjson.loads(p)["result_info"]["page"] for p in pages]
    assert numbers == list(range(1, len(pages) + 1))


def test_async_twin(api: FakeCloudflare, make_client: MakeClient, window: Window) -> None:
    frame = asyncio.run(make_client(api).adevices(*window))
    assert got_ids(frame) == expected_ids(api, window)


def test_sync_call_inside_a_running_loop(
    api: FakeCloudflare, make_client: MakeClient, window: Window
) -> None:
    """A Jupyter cell runs inside an event loop: the sync method must still work."""
    client = make_client(api)

    async def cell() -> pl.DataFrame:
        return client.devices(*window)

    assert got_ids(asyncio.run(cell())) == expected_ids(api, window)


@pytest.mark.slow
def test_an_interrupt_in_a_notebook_cancels_the_fetch(
    make_client: MakeClient, window: Window
) -> None:
    with FakeCloudflare(devices=2000, seed=1, latency=0.2) as api:
        client = make_client(api, concurrency=1)

        async def cell() -> pl.DataFrame:
            threading.Timer(0.5, _thread.interrupt_main).start()
            return client.devices(*window)

        loop = asyncio.new_event_loop()  # like ipykernel's: no SIGINT handler of asyncio's
        started = time.monotonic()
        try:
            with pytest.raises(KeyboardInterrupt):
                loop.run_until_complete(cell())
        finally:
            loop.close()
        assert time.monotonic() - started < 3
        assert len(api.requests) < 10
    workers = [t for t in threading.enumerate() if t.name == "dexkit"]
    for worker in workers:  # a finished thread can linger in the registry for a moment
        worker.join(timeout=5)
    assert not [t for t in workers if t.is_alive()]


def test_empty_result(api: FakeCloudflare, make_client: MakeClient, window: Window) -> None:
    frame = make_client(api).devices(*window, colo="NOWHERE")
    assert frame.height == 0
    assert frame.schema == dexkit.SCHEMA
    assert device_pages(api) == [1]


# -- stop rules ------------------------------------------------------------------------------


def test_server_that_ignores_page_stops_after_page_1(
    make_client: MakeClient, window: Window, caplog: pytest.LogCaptureFixture
) -> None:
    with FakeCloudflare(devices=300, seed=1, faults={"repeat": 1.0}) as api:
        caplog.set_level(logging.INFO, logger="dexkit")
        frame = make_client(api).devices(*window)
    assert frame.height == 50
    assert "page 2 repeats page 1" in caplog.text


def test_a_transient_repeated_page_is_asked_again(
    api: FakeCloudflare, make_client: MakeClient, window: Window
) -> None:
    api.inject("repeat", page=3)
    frame = make_client(api).devices(*window)
    assert got_ids(frame) == expected_ids(api, window)
    assert device_pages(api).count(3) == 2


def test_missing_result_info_pages_one_at_a_time(
    api: FakeCloudflare, make_client: MakeClient, window: Window, caplog: pytest.LogCaptureFixture
) -> None:
    api.inject("no_result_info", page=1)
    caplog.set_level(logging.INFO, logger="dexkit")
    frame = make_client(api).devices(*window)
    assert got_ids(frame) == expected_ids(api, window)
    assert "no result_info" in caplog.text
    assert "is short" in caplog.text


def test_moved_records_are_deduplicated_and_counted(
    api: FakeCloudflare, make_client: MakeClient, window: Window, caplog: pytest.LogCaptureFixture
) -> None:
    api.inject("duplicate", page=2)
    api.inject("duplicate", page=5)
    caplog.set_level(logging.INFO, logger="dexkit")
    frame = make_client(api).devices(*window)
    assert got_ids(frame) == expected_ids(api, window)
    assert "2 record(s) appeared twice" in caplog.text


def _mock_pages(pages: dict[int, dict[str, Any]]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        body = pages.get(page, {"success": True, "errors": [], "messages": [], "result": []})
        return httpx.Response(200, json=body)

    return httpx.MockTransport(handler)


def _record(i: int) -> dict[str, Any]:
    return {
        "deviceId": f"d{i}",
        "timestamp": "2026-11-18 13:00:00+00",
        "colo": "FRA",
        "platform": "linux",
        "status": "connected",
        "mode": "warp",
        "version": "1",
    }


def _page(n: int, ids: range, *, total_pages: int, total_count: int) -> dict[str, Any]:
    info = {
        "page": n,
        "per_page": 2,
        "count": len(ids),
        "total_pages": total_pages,
        "total_count": total_count,
    }
    result = [_record(i) for i in ids]
    return {"success": True, "errors": [], "messages": [], "result": result, "result_info": info}


@pytest.mark.parametrize(
    ("pages", "rows", "reason"),
    [
        # the server promises 3 pages but page 2 is empty
        ({1: _page(1, range(2), total_pages=3, total_count=6)}, 2, "page 2 is empty"),
        # rows reach total_count before total_pages
        (
            {n: _page(n, range(2 * n - 2, 2 * n), total_pages=4, total_count=4) for n in (1, 2, 3)},
            4,
            "rows reached total_count=4 on page 2",
        ),
        # a server cycling through the same records
        (
            {
                1: _page(1, range(2), total_pages=3, total_count=6),
                2: _page(2, range(2, 4), total_pages=3, total_count=6),
                3: _page(3, range(2), total_pages=3, total_count=6),
            },
            4,
            "page 3 holds only records already seen",
        ),
    ],
)
def test_stop_rules_through_the_transport_seam(
    pages: dict[int, dict[str, Any]], rows: int, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client("acc", "tok", transport=_mock_pages(pages), progress=False)
    caplog.set_level(logging.INFO, logger="dexkit")
    frame = client.devices("-30m", per_page=2)
    assert frame.height == rows
    assert reason in caplog.text


# -- faults ----------------------------------------------------------------------------------

RECOVERABLE = ["429", "500", "html502", "reset", "truncate", "slow", "no_result", "no_result_info"]


@pytest.mark.parametrize("kind", RECOVERABLE)
@pytest.mark.slow
def test_every_fault_recovers_with_every_record_once(
    make_client: MakeClient, window: Window, kind: str
) -> None:
    with FakeCloudflare(devices=300, seed=1, slow=1.0) as api:
        api.inject(kind, page=1)
        api.inject(kind, page=4)
        frame = make_client(api, timeout=0.5).devices(*window)
        assert got_ids(frame) == expected_ids(api, window)


@pytest.mark.parametrize(
    ("kind", "error", "status"),
    [
        ("500", ServerError, 500),
        ("html502", ServerError, 502),
        ("429", RateLimitError, 429),
        ("reset", TransportError, None),
        ("truncate", TransportError, None),
        ("slow", TransportError, None),
    ],
)
@pytest.mark.slow
def test_persistent_faults_raise_the_documented_error(
    make_client: MakeClient, window: Window, kind: str, error: type[Exception], status: int | None
) -> None:
    with FakeCloudflare(devices=300, seed=1, slow=0.5, retry_after=0.1) as api:
        api.inject(kind, page=3, times=100)
        # one request at a time: with several in flight, the fake's 429 block (it answers 429 to
        # everything for Retry-After) could exhaust another page's retries first
        with pytest.raises(error, match="page 3") as info:
            make_client(api, retries=2, timeout=0.2, concurrency=1).devices(*window)
    if status is not None:
        assert isinstance(info.value, APIError)
        assert info.value.status == status
    assert isinstance(info.value, APIError | TransportError)
    assert info.value.page == 3
    assert device_pages(api).count(3) == 3  # the first try and 2 retries


def test_a_page_without_result_is_asked_twice_then_page_error(
    api: FakeCloudflare, make_client: MakeClient, window: Window
) -> None:
    api.inject("no_result", page=2, times=5)
    with pytest.raises(PageError, match=r"page 2: .*no `result`"):
        make_client(api).devices(*window)
    assert device_pages(api).count(2) == 2


def test_client_errors_are_not_retried(api: FakeCloudflare, window: Window) -> None:
    bad = Client(api.account_id, "not-the-token", base_url=api.base_url, progress=False)
    with pytest.raises(AuthError) as info:
        bad.devices(*window)
    assert info.value.status == 403
    assert info.value.codes == [10000]
    assert info.value.cf_ray
    assert info.value.cf_ray.endswith("-FAKE")
    assert "not-the-token" not in str(info.value)
    lost = Client("ffffffffffffffffffffffffffffffff", api.api_token, base_url=api.base_url)
    with pytest.raises(NotFoundError, match="account id") as missing:
        lost.devices(*window, progress=False)
    assert missing.value.codes == [7003]
    assert len(api.requests) == 2


def test_a_400_from_the_api_carries_codes_and_messages(api: FakeCloudflare, window: Window) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {
            "success": False,
            "errors": [{"code": 1001, "message": "bad window"}],
            "messages": [],
            "result": None,
        }
        return httpx.Response(400, json=body, headers={"cf-ray": "abc123-FRA"})

    client = Client("acc", "tok", transport=httpx.MockTransport(handler), progress=False)
    with pytest.raises(APIError) as info:
        client.devices("-30m")
    assert type(info.value) is APIError
    assert (info.value.status, info.value.codes, info.value.messages) == (
        400,
        [1001],
        ["bad window"],
    )
    assert "cf-ray abc123-FRA" in str(info.value)


@pytest.mark.slow
def test_mixed_faults_return_the_whole_fleet(make_client: MakeClient, window: Window) -> None:
    faults = dict.fromkeys([*RECOVERABLE, "repeat", "duplicate"], 0.015)
    with FakeCloudflare(
        devices=1000, seed=3, faults=faults, fault_seed=7, slow=0.6, retry_after=0.2
    ) as api:
        frame = make_client(api, timeout=0.3, retries=8).devices(*window)
        assert got_ids(frame) == expected_ids(api, window)
    injected = [r.fault for r in api.requests if r.fault]
    assert len(injected) >= 0.08 * len(api.requests)


# -- rate limiting ---------------------------------------------------------------------------


@pytest.mark.slow
def test_no_request_inside_a_retry_after_window(make_client: MakeClient, window: Window) -> None:
    with FakeCloudflare(devices=600, seed=1, latency=0.01, retry_after=1.0) as api:
        api.inject("429", page=4)
        frame = make_client(api, concurrency=4).devices(*window)
        assert got_ids(frame) == expected_ids(api, window)
    first = next(r for r in api.requests if r.status == 429)
    early = [r for r in api.requests if first.at + 0.1 < r.at < first.at + 1.0]
    assert early == []
    assert device_pages(api).count(4) == 2


def test_a_retry_after_beyond_max_retry_after_is_an_error(window: Window) -> None:
    answers = iter([429, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        if next(answers) == 429:
            return httpx.Response(429, headers={"Retry-After": "300"}, json={"success": False})
        raise AssertionError("no second request")  # pragma: no cover

    client = Client("acc", "tok", transport=httpx.MockTransport(handler), max_retry_after=0.3)
    started = time.monotonic()
    with pytest.raises(
        RateLimitError, match=r"asks to wait 300 s \(5 min\) \(Retry-After: '300'\)"
    ):
        client.devices(*window, progress=False)
    assert time.monotonic() - started < 20  # refused at once, not after 300 s of waiting


@pytest.mark.slow
def test_client_limiter_keeps_under_the_server_limit(
    make_client: MakeClient, window: Window
) -> None:
    with FakeCloudflare(devices=1000, seed=1, latency=0.005, rate_limit=(8, 0.5)) as api:
        started = time.monotonic()
        frame = make_client(api, rate_limit=(8, 0.5)).devices(*window)
        elapsed = time.monotonic() - started
        assert got_ids(frame) == expected_ids(api, window)
    assert all(r.status == 200 for r in api.requests)
    pages = len(api.requests)
    assert elapsed >= (pages // 8 - 1) * 0.5


@pytest.mark.slow
def test_client_follows_a_stricter_server_policy(
    make_client: MakeClient, window: Window, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dexkit")
    with FakeCloudflare(devices=1000, seed=1, rate_limit=(6, 0.5)) as api:
        client = make_client(api)
        client.devices(*window)
    assert client._limiter.windows == [(1200, 300.0), (6, 0.5)]
    assert "following the server's rate-limit policy of 6 requests / 0.5 s" in caplog.text
    assert all(r.status == 200 for r in api.requests)


def test_ratelimit_headers_shrink_the_share_of_a_shared_quota() -> None:
    clock = [0.0]
    limiter = RateLimiter(10, 60.0, clock=lambda: clock[0])
    # another tool spent 7 of the 10: the server says 2 remain after our one request in flight
    limiter._inflight = 1
    limiter.observe({"Ratelimit": '"default";r=2;t=30', "Ratelimit-Policy": '"burst";q=10;w=60'})
    limiter.release()
    assert limiter.delay() == 0
    limiter._inflight = 2
    assert limiter.delay() == pytest.approx(30.0)
    limiter._inflight = 0
    limiter._foreign = (60.0, 9, 30.0)  # all slots but ours spent elsewhere: wait for the reset
    assert limiter.delay() == pytest.approx(30.0)
    clock[0] = 31.0
    assert limiter.delay() == 0


def test_parse_ratelimit_epoch_reset() -> None:
    info = parse_ratelimit({"X-RateLimit-Reset": "2000000010"}, wall=2000000000.0)
    assert info == {"reset": 10.0}


def test_limiter_pause_holds_every_request() -> None:
    clock = [0.0]
    limiter = RateLimiter(100, 1.0, clock=lambda: clock[0])
    limiter.pause(5.0)
    assert limiter.delay() == pytest.approx(5.0)
    clock[0] = 5.0
    assert limiter.delay() == 0


# -- plan and budget -------------------------------------------------------------------------


def test_plan_spends_one_request(
    api: FakeCloudflare, make_client: MakeClient, window: Window
) -> None:
    plan = make_client(api).plan(*window, per_page=20)
    total = sum(expected_ids(api, window).values())
    assert (plan.total_count, plan.pages, plan.requests) == (
        total,
        -(-total // 20),
        -(-total // 20),
    )
    assert len(api.requests) == 1
    assert f"{total} records" in str(plan)


def test_plan_estimates_the_rate_limit(
    api: FakeCloudflare, make_client: MakeClient, window: Window
) -> None:
    plan = make_client(api, rate_limit=(2, 60.0)).plan(*window)
    assert plan.pages == expected_pages(api, window) >= 5
    assert plan.seconds >= 120  # 5 or more requests at 2 per minute: two more windows


def test_budget_refuses_before_spending(
    api: FakeCloudflare, make_client: MakeClient, window: Window
) -> None:
    pages = expected_pages(api, window)
    with pytest.raises(BudgetError) as info:
        make_client(api, max_requests=pages - 1).devices(*window)
    message = str(info.value)
    assert f"needs {pages} requests, more than max_requests={pages - 1}" in message
    assert "source='last_seen'" in message
    assert "filter" in message
    assert info.value.plan.pages == pages
    assert len(api.requests) == 1
    frame = make_client(api).devices(*window, max_requests=pages)
    assert got_ids(frame) == expected_ids(api, window)


def test_plan_speaks_in_time_quota_and_cheaper_ways(make_client: MakeClient) -> None:
    with FakeCloudflare(devices=2000, seed=3) as api:
        client = make_client(api)
        raw = client.plan("-6h", source="raw")
        narrow = client.plan("-6h", source="hourly", colo="FRA")
    assert raw.requests == raw.pages > 1200  # 2,000 devices x 36 buckets / 50
    assert raw.quota_share == raw.requests / 1200
    assert raw.quota_seconds == pytest.approx(raw.requests / 1200 * 300)
    text = str(raw)
    assert f"{raw.requests:,} requests ≈ " in text
    assert "at 1,200 per 5 min (" in text
    assert "× the 5 min quota" in text
    ways = "\n".join(raw.cheaper)
    for way in ("source='hourly' instead of 'raw'", "counts_over_time()", "a filter (colo="):
        assert way in ways
    assert "Logpush" in ways
    # a filtered hourly query is already the cheap way: no /over-time, no filter advice
    assert not any("counts_over_time" in w or "a filter" in w for w in narrow.cheaper)
    assert narrow.requests < raw.requests / 10


def test_plan_of_a_store_that_holds_the_window_spends_nothing(
    api: FakeCloudflare, make_client: MakeClient, tmp_path: Path
) -> None:
    client = make_client(api)
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(hours=2)
    before = client.plan(start, end, source="hourly", into=tmp_path)
    assert before.requests == before.pages + 1
    assert before.stored == 0
    client.fetch(start, end, source="hourly", into=tmp_path)
    sent = len(api.requests)
    after = client.plan(start, end, source="hourly", into=tmp_path)
    assert (after.requests, after.stored, after.chunks) == (0, 2, 2)
    assert after.total_count == before.total_count
    assert len(api.requests) == sent  # planning from the store asked nothing
    assert "0 requests: the page store holds the whole window" in str(after)


def test_fetch_without_into_uses_the_default_store(
    api: FakeCloudflare, make_client: MakeClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEXKIT_STORE", str(tmp_path))
    summary = make_client(api).fetch("2h", source="hourly", colo="FRA")
    assert summary.path == str(tmp_path / api.account_id / "hourly,colo=FRA")
    default = dexkit.default_store("hourly", account_id=api.account_id, colo="FRA")
    assert summary.path == str(default)
    again = make_client(api).fetch("2h", source="hourly", colo="FRA")
    assert again.chunks_reused >= 2


def test_progress_is_lines_when_stderr_is_not_a_terminal(
    api: FakeCloudflare, make_client: MakeClient, window: Window, capsys: pytest.CaptureFixture[str]
) -> None:
    make_client(api, progress=True).devices(*window, per_page=5)  # 60 pages
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.splitlines()
    assert 3 <= len(lines) <= 12, lines
    assert lines[-1].startswith("dexkit devices: done, ")
    assert any(re.search(r"/\d+ pages \(\d+%\), .* elapsed, about .* left", x) for x in lines)


def test_progress_is_a_bar_with_eta_in_a_terminal(
    api: FakeCloudflare, make_client: MakeClient, window: Window, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    make_client(api, progress=True).devices(*window, per_page=5)
    text = term.getvalue()
    assert "\r" in text
    assert re.search(r"\d+/\d+ \[\d\d:\d\d<\d\d:\d\d", text)  # elapsed<ETA


def test_progress_is_the_notebook_bar_in_a_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from dexkit._progress import where

    kernel = SimpleNamespace(config={"IPKernelApp": {}})
    monkeypatch.setitem(sys.modules, "IPython", SimpleNamespace(get_ipython=lambda: kernel))
    assert where() == "notebook"
    monkeypatch.setitem(sys.modules, "IPython", SimpleNamespace(get_ipython=lambda: None))
    assert where(io.StringIO()) == "log"


# -- aggregates ------------------------------------------------------------------------------


def test_live_counts(api: FakeCloudflare, make_client: MakeClient) -> None:
    live = make_client(api).live_counts(since_minutes=20)
    assert live.schema == pl.Schema(
        {"dimension": pl.String, "value": pl.String, "unique_devices": pl.Int64}
    )
    assert set(live["dimension"]) == {"colo", "mode", "platform", "status", "version", "total"}
    total = live.filter(dimension="total")["unique_devices"][0]
    assert live.filter(dimension="colo")["unique_devices"].sum() == total
    with pytest.raises(QueryError, match="1 to 60"):
        make_client(api).live_counts(since_minutes=90)


def test_counts_over_time(api: FakeCloudflare, make_client: MakeClient) -> None:
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    over = make_client(api).counts_over_time(end - timedelta(hours=3), end)
    assert over["timestamp"].dtype == pl.Datetime("us", "UTC")
    assert over["timestamp"].n_unique() == 3
    assert set(over["dimension"]) == {"mode", "status"}


def test_cross_check(api: FakeCloudflare, make_client: MakeClient) -> None:
    check = make_client(api).cross_check(since_minutes=30)
    assert check.columns == ["dimension", "value", "live", "computed", "difference"]
    assert check["difference"].abs().max() <= 3


def test_compare_counts_is_a_pure_function() -> None:
    live = pl.DataFrame(
        {"dimension": ["mode", "total"], "value": ["warp", None], "unique_devices": [2, 2]}
    )
    devices = pl.DataFrame(
        {
            "device_id": ["a", "a", "b"],
            "colo": "FRA",
            "mode": "warp",
            "platform": "linux",
            "status": "connected",
            "version": "1",
        }
    )
    out = compare_counts(live, devices).filter(pl.col("live").is_not_null())
    assert out["difference"].to_list() == [0, 0]


# -- logs, progress and secrets --------------------------------------------------------------


def test_one_log_line_per_request(
    api: FakeCloudflare, make_client: MakeClient, window: Window, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="dexkit")
    make_client(api).devices(*window)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("GET ")]
    assert len(lines) == len(api.requests) == expected_pages(api, window)
    assert any(
        line.startswith("GET /accounts/0a1b2c…/dex/fleet-status/devices page=3 status=200 ")
        for line in lines
    )
    assert all(line.endswith("s") for line in lines)


def test_progress_bar_shows_pages_and_records(
    api: FakeCloudflare, make_client: MakeClient, window: Window, capsys: pytest.CaptureFixture[str]
) -> None:
    make_client(api, progress=True).devices(*window)
    err = capsys.readouterr().err
    pages = expected_pages(api, window)
    assert f"{pages}/{pages}" in err
    assert "records=" in err
    make_client(api).devices(*window)
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_the_token_appears_in_no_output(
    make_client: MakeClient,
    window: Window,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[str] = []
    with FakeCloudflare(devices=300, seed=1, retry_after=0.1, slow=0.5) as api:
        token = api.api_token
        for kind in ("429", "500", "html502", "reset", "truncate", "slow", "no_result"):
            api.inject(kind, page=2, times=10)
            client = make_client(api, progress=True, retries=1, timeout=0.2)
            with pytest.raises(dexkit.DexkitError) as info:
                client.devices(*window)
            errors += [str(info.value), repr(info.value), repr(client)]
            api._scripted.clear()
        keyed = Client(api.account_id, email=api.email, api_key=api.api_key, base_url=api.base_url)
        keyed.devices(*window, progress=True)
        errors.append(repr(keyed))
        wrong = Client(api.account_id, token[::-1], base_url=api.base_url, progress=True)
        with pytest.raises(AuthError) as auth:
            wrong.devices(*window)
        errors += [str(auth.value), repr(wrong)]
    out = capsys.readouterr()
    text = "\n".join([*errors, caplog.text, out.out, out.err])
    for secret in (token, token[::-1], api.api_key):
        assert secret not in text
    assert "GET /accounts/" in caplog.text


def test_a_borrowed_transport_is_not_closed(window: Window) -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.headers["Authorization"])
        body = {
            "success": True,
            "errors": [],
            "messages": [],
            "result": [_record(1)],
            "result_info": {
                "page": 1,
                "per_page": 50,
                "count": 1,
                "total_count": 1,
                "total_pages": 1,
            },
        }
        return httpx.Response(200, json=body)

    client = Client("acc", "tok", transport=httpx.MockTransport(handler), progress=False)
    assert client.devices(*window).height == 1
    assert client.devices(*window).height == 1
    assert calls == ["Bearer tok", "Bearer tok"]


# -- regressions -------------------------------------------------------------------------------


def _pages_handler(
    pages: dict[int, list[int]], total_pages: int, log: list[tuple[float, int, int]] | None = None
) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        n = int(request.url.params["page"])
        body = {
            "success": True,
            "errors": [],
            "messages": [],
            "result": [_record(i) for i in pages.get(n, [])],
            "result_info": {
                "page": n,
                "per_page": 2,
                "count": len(pages.get(n, [])),
                "total_count": 2 * total_pages,
                "total_pages": total_pages,
            },
        }
        return httpx.Response(200, content=orjson.dumps(body))

    return handler


def test_a_page_of_records_seen_before_does_not_end_paging_when_total_pages_is_known(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # records 1 and 2 moved back onto page 3 while paging; page 4 still holds new ones
    pages = {1: [1, 2], 2: [3, 4], 3: [1, 2], 4: [5, 6]}
    client = Client("acc", "tok", transport=httpx.MockTransport(_pages_handler(pages, 4)))
    with caplog.at_level(logging.INFO, logger="dexkit"):
        frame = client.devices("-30m", per_page=2, progress=False)
    assert sorted(frame["device_id"].to_list()) == [_record(i)["deviceId"] for i in range(1, 7)]
    assert "appeared twice" in caplog.text


@pytest.mark.slow
def test_no_request_slips_out_right_after_a_429() -> None:
    started = time.monotonic()
    sent: list[tuple[float, int]] = []
    blocked: dict[str, float] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        n, now = int(request.url.params["page"]), time.monotonic() - started
        sent.append((now, n))
        if n == 2 and "until" not in blocked:
            blocked["at"], blocked["until"] = now, now + 1.0
            return httpx.Response(429, headers={"Retry-After": "1"}, json={"success": False})
        body = {
            "success": True,
            "errors": [],
            "messages": [],
            "result": [_record(n)],
            "result_info": {"page": n, "per_page": 1, "total_count": 5, "total_pages": 5},
        }
        return httpx.Response(200, content=orjson.dumps(body))

    client = Client("acc", "tok", transport=httpx.MockTransport(handler), concurrency=1)
    assert client.devices("-30m", per_page=1, progress=False).height == 5
    inside = [(t, n) for t, n in sent if blocked["at"] < t < blocked["until"] - 0.05]
    assert inside == []


def test_epoch_millisecond_mistakes_are_query_errors() -> None:
    now = datetime(2026, 11, 18, 14, tzinfo=UTC)
    for value in (float("nan"), 10**20, "99999999999999999999"):
        with pytest.raises(QueryError, match="epoch milliseconds"):
            build(value, now=now)


def test_numpy_integers_and_floats_are_options_too() -> None:
    np = pytest.importorskip("numpy")
    client = Client(
        "acc", "tok", concurrency=np.int64(2), backoff=np.float32(0.5), max_requests=np.int32(9)
    )
    assert client.concurrency == 2
    assert client.max_requests == 9
    with pytest.raises(ConfigError, match="concurrency must be a whole number"):
        Client("acc", "tok", concurrency=True)
