"""The client's bounds in time, memory and requests, against servers that misbehave on purpose.

Every server here is real (a socket on 127.0.0.1): ``tests.hostile.HostileServer`` for what no
honest server sends, ``dexkit.testing.FakeCloudflare`` for the rest.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import tracemalloc
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dexkit.client import API_BASE, DEFAULT_MAX_PAGE_BYTES, Client
from dexkit.errors import (
    BudgetError,
    ConfigError,
    PageError,
    RateLimitError,
    ServerError,
    TransportError,
)
from dexkit.testing import FakeCloudflare
from tests.hostile import (
    ACCOUNT,
    HostileServer,
    Request,
    Script,
    Send,
    chunked,
    endless_gzip_of_zeros,
    gzip_of_zeros,
    gzipped,
    page_body,
    response,
)

Window = tuple[datetime, datetime]


def window_now() -> Window:
    end = datetime.now(UTC).replace(microsecond=0)
    return end - timedelta(minutes=30), end


# -- cleartext and the base URL ------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://api.cloudflare.com/client/v4",
        "http://10.0.0.5:8080/client/v4",
        "http://[2001:db8::1]/client/v4",
        "http://localhost.example.com/client/v4",
        "http://0.0.0.0:8080/client/v4",
    ],
)
def test_http_to_a_remote_host_is_refused(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="clear text: use https://") as info:
        Client(ACCOUNT, "tok-secret", base_url=url)
    assert "tok-secret" not in str(info.value)
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", url)
    with pytest.raises(ConfigError, match=r"CLOUDFLARE_BASE_URL .* clear text"):
        Client(ACCOUNT, "tok-secret")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/client/v4",
        "http://127.3.2.1/client/v4",
        "http://[::1]:8080/client/v4",
        "http://localhost:8080/client/v4",
        "http://LOCALHOST/client/v4",
        "https://dex.example.com/client/v4",
    ],
)
def test_loopback_http_and_any_https_are_allowed(url: str) -> None:
    assert Client(ACCOUNT, "tok", base_url=url).base_url.lower() == url.lower()


def test_base_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Client(ACCOUNT, "tok").base_url == API_BASE
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", "")
    assert Client(ACCOUNT, "tok").base_url == API_BASE  # empty means unset, as on the CLI
    with FakeCloudflare(devices=60, seed=1) as api:
        monkeypatch.setenv("CLOUDFLARE_BASE_URL", api.base_url)
        monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", api.account_id)
        monkeypatch.setenv("CLOUDFLARE_API_TOKEN", api.api_token)
        client = Client(progress=False)
        assert client.base_url == api.base_url
        assert client.devices(*window_now()).height > 0
        assert len(api.requests) >= 1
        # the argument wins over the environment
        assert Client(base_url=API_BASE).base_url == API_BASE
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", "not a url")
    with pytest.raises(ConfigError, match="CLOUDFLARE_BASE_URL must be an http"):
        Client()


# -- settings are fixed at construction ----------------------------------------------------------


@pytest.mark.timeout(90)
def test_settings_cannot_be_broken_after_construction() -> None:
    with FakeCloudflare(devices=60, seed=1) as api:
        client = Client(api.account_id, api.api_token, base_url=api.base_url, progress=False)
        for name, value in [
            ("concurrency", 0),
            ("retries", -1),
            ("timeout", "soon"),
            ("max_requests", 0),
            ("base_url", "http://example.com"),
            ("account_id", "../other"),
            ("_limiter", None),
        ]:
            with pytest.raises(AttributeError, match=f"read-only: '{name}' cannot be set"):
                setattr(client, name, value)
        with pytest.raises(AttributeError, match="read-only"):
            del client.concurrency
        assert (client.concurrency, client.retries, client.max_requests) == (4, 5, 1000)
        assert client.plan(*window_now()).pages == 2  # before: concurrency=0 made this hang


# -- the limiter never leaks ---------------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.slow
def test_cancelled_calls_leave_the_client_usable() -> None:
    with FakeCloudflare(devices=300, seed=1, latency=3.0) as api:
        # two requests may be in flight in the whole limiter: two leaked slots would block it
        client = Client(
            api.account_id,
            api.api_token,
            base_url=api.base_url,
            concurrency=2,
            rate_limit=(2, 0.2),
            progress=False,
        )
        window = window_now()

        async def cancel_in_flight() -> None:
            sent = len(api.requests)
            task = asyncio.create_task(client.adevices(*window))
            give_up = time.monotonic() + 10
            while len(api.requests) == sent:  # wait until the request is at the server
                assert time.monotonic() < give_up, "the call never sent a request"
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        for _ in range(3):
            asyncio.run(cancel_in_flight())
        with pytest.raises(TimeoutError):
            asyncio.run(asyncio.wait_for(client.adevices(*window), 1.5))
        # every call had a request in flight when it was cancelled; a leaked slot would have
        # kept the later calls from sending at all
        assert len(api.requests) == 4
        api.latency = 0.0
        frame = asyncio.run(asyncio.wait_for(client.adevices(*window), 20))
        assert frame.height == len(api.fleet.records("last_seen", *window))


# -- response size -------------------------------------------------------------------------------

ONE_PAGE = page_body(1, range(3), total_pages=1, total_count=3)


def hostile_client(server: HostileServer, **options: Any) -> Client:
    options = {"progress": False, "backoff": 0.01, "retries": 0, **options}
    return Client(**server.client_args(), **options)


@pytest.mark.slow
def test_a_gzip_bomb_stops_at_the_cap_without_the_memory() -> None:
    bomb = gzip_of_zeros(256 << 20)  # 256 MiB of zeros in ~250 KB

    def script(request: Request, send: Send) -> None:
        send(response(bomb, headers={"Content-Encoding": "gzip"}))

    with HostileServer(script) as server:
        tracemalloc.start()
        try:
            with pytest.raises(PageError) as info:
                hostile_client(server).devices(*window_now())
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    message = str(info.value)
    assert message.startswith("page 1: the body is larger than max_page_bytes=16,777,216 bytes")
    assert "gzip-decoded" in message
    assert "Client(max_page_bytes=...)" in message
    assert info.value.page == 1
    assert peak < 3 * DEFAULT_MAX_PAGE_BYTES  # the default cap, with room for one copy


@pytest.mark.parametrize("coding", ["gzip", None])
def test_an_endless_chunked_body_stops_at_the_cap(coding: str | None) -> None:
    def script(request: Request, send: Send) -> None:
        headers = {"Transfer-Encoding": "chunked"}
        if coding:
            headers["Content-Encoding"] = coding
            pieces = endless_gzip_of_zeros()
        else:
            pieces = iter(lambda: b"[" * 65536, b"")
        if send(response(b"", headers=headers)):
            chunked(pieces, send)

    with HostileServer(script) as server:
        with pytest.raises(PageError, match="larger than max_page_bytes=1,048,576 bytes"):
            hostile_client(server, max_page_bytes=1 << 20).devices(*window_now())
        assert len(server.requests) == 1  # not retried: the server would do it again


def test_a_huge_content_length_is_refused_before_reading() -> None:
    def script(request: Request, send: Send) -> None:
        send(response(b"{", headers={"Content-Length": str(2 << 30)}))
        while not server.stopping and send(b" " * 65536):
            time.sleep(0.001)

    with HostileServer(script) as server:
        started = time.monotonic()
        with pytest.raises(PageError, match=r"Content-Length: 2,147,483,648"):
            hostile_client(server).devices(*window_now())
        assert time.monotonic() - started < 20


def test_max_page_bytes_applies_to_real_pages(window: Window) -> None:
    with FakeCloudflare(devices=300, seed=1) as api:
        client = Client(api.account_id, api.api_token, base_url=api.base_url, progress=False)
        big = Client(api.account_id, api.api_token, base_url=api.base_url, max_page_bytes=20_000)
        assert client.devices(*window).height > 0
        with pytest.raises(PageError, match=r"page 1: .*max_page_bytes=20,000 bytes"):
            big.devices(*window, progress=False)
    with pytest.raises(ConfigError, match="max_page_bytes must be a whole number, 1024 or more"):
        Client(ACCOUNT, "tok", max_page_bytes=0)


@pytest.mark.parametrize("coding", ["gzip", "x-gzip", "deflate", "raw-deflate"])
def test_compressed_pages_are_read(coding: str) -> None:
    def script(request: Request, send: Send) -> None:
        if coding == "deflate":
            body = zlib.compress(ONE_PAGE)
        elif coding == "raw-deflate":  # what some servers send as "deflate"
            packer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
            body = packer.compress(ONE_PAGE) + packer.flush()
        else:
            body = gzipped(ONE_PAGE)
        name = "deflate" if coding == "raw-deflate" else coding
        send(response(body, headers={"Content-Encoding": name}))

    with HostileServer(script) as server:
        assert hostile_client(server).devices(*window_now()).height == 3


@pytest.mark.parametrize(
    "bad",
    [b"not gzip at all", gzipped(ONE_PAGE)[:-20], gzipped(ONE_PAGE)[:30] + b"\xff" * 40],
    ids=["not-gzip", "truncated-gzip", "corrupt-gzip"],
)
def test_a_bad_gzip_body_is_retried_like_a_truncated_one(bad: bytes) -> None:
    answers: list[bytes] = [bad, gzipped(ONE_PAGE)]

    def script(request: Request, send: Send) -> None:
        body = answers.pop(0) if len(answers) > 1 else answers[0]
        send(response(body, headers={"Content-Encoding": "gzip"}))

    with HostileServer(script) as server:
        client = hostile_client(server, retries=2)
        assert client.devices(*window_now()).height == 3
        assert len(server.requests) == 2
        answers[:] = [bad]
        with pytest.raises(TransportError, match="page 1: the body could not be decoded") as info:
            client.devices(*window_now())
        assert info.value.page == 1
        assert len(server.requests) == 2 + 3
        answers[:] = [gzipped(ONE_PAGE)]
        assert client.devices(*window_now()).height == 3  # the client is still usable


def test_an_encoding_not_asked_for_is_a_page_error() -> None:
    def script(request: Request, send: Send) -> None:
        send(response(ONE_PAGE, headers={"Content-Encoding": "br"}))

    with (
        HostileServer(script) as server,
        pytest.raises(PageError, match="encoded as 'br', which dexkit did not ask for"),
    ):
        hostile_client(server).devices(*window_now())


# -- a deadline per attempt ----------------------------------------------------------------------


def trickle(data: bytes, send: Send, every: float = 0.05) -> None:
    """Send ``data`` one byte at a time (reads never time out; the answer never ends)."""
    for i in range(len(data)):
        if not send(data[i : i + 1]):
            return
        time.sleep(every)


@pytest.mark.parametrize("where", ["headers", "body"])
@pytest.mark.slow
def test_a_server_sending_a_byte_at_a_time_meets_the_deadline(where: str) -> None:
    def script(request: Request, send: Send) -> None:
        if request.number == 4:  # the fourth attempt is answered at once
            send(response(ONE_PAGE))
        elif where == "headers":
            trickle(b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000, send)
        else:
            head = response(ONE_PAGE)[: -len(ONE_PAGE)]
            send(head)
            trickle(ONE_PAGE, send)

    with HostileServer(script) as server:
        client = hostile_client(server, timeout=1.0, deadline=0.4, retries=1)
        started = time.monotonic()
        with pytest.raises(
            TransportError, match=r"page 1: no complete answer within deadline=0.4 s"
        ):
            client.devices(*window_now())
        assert time.monotonic() - started < 20  # two attempts of 0.4 s, not two of 1000 × 0.05 s
        assert len(server.requests) == 2
        # an attempt past the deadline is retried like a timeout: the retry gets the page
        assert client.devices(*window_now()).height == 3
        assert len(server.requests) == 4


def test_the_deadline_defaults_to_twice_the_timeout() -> None:
    assert Client(ACCOUNT, "tok").deadline == 60.0
    assert Client(ACCOUNT, "tok", timeout=5).deadline == 10.0
    assert Client(ACCOUNT, "tok", timeout=5, deadline=7).deadline == 7.0
    for bad in (0, -1, float("nan"), float("inf"), "60"):
        with pytest.raises(ConfigError, match="deadline must be a number of seconds, above 0"):
            Client(ACCOUNT, "tok", deadline=bad)


# -- rate-limit headers cannot stall the client ------------------------------------------------


def two_pages(first_headers: dict[str, str], status: str = "200 OK") -> Script:
    """Page 1 (of 2) with ``first_headers`` and ``status`` on the first request; then pages."""

    def script(request: Request, send: Send) -> None:
        n = request.page
        body = page_body(n, range(2 * n - 2, 2 * n), total_pages=2, total_count=4, per_page=2)
        if request.number == 1:
            send(
                response(
                    body if status.startswith("200") else b"{}",
                    status=status,
                    headers=first_headers,
                )
            )
        else:
            send(response(body))

    return script


@pytest.mark.timeout(90)
@pytest.mark.parametrize(
    ("headers", "asked", "header"),
    [
        ({"Ratelimit-Policy": '"b";q=1;w=999999999'}, "999,999,999 s (31.7 years)", "Policy"),
        ({"Ratelimit": '"d";r=0;t=999999999'}, "999,999,999 s (31.7 years)", "Ratelimit"),
        (
            {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "86400"},
            "86,400 s (24.0 h)",
            "X-RateLimit-Reset",
        ),
    ],
    ids=["policy-window", "ratelimit-reset", "x-ratelimit-reset"],
)
def test_a_wait_asked_beyond_max_retry_after_is_an_error(
    headers: dict[str, str], asked: str, header: str
) -> None:
    with HostileServer(two_pages(headers)) as server:
        started = time.monotonic()
        with pytest.raises(RateLimitError) as info:
            hostile_client(server).devices(*window_now(), per_page=2)
        assert time.monotonic() - started < 20  # refused at once, not after 300 s or years
    message = str(info.value)
    assert f"ask to wait {asked} before the next request" in message
    assert header in message
    assert "max_retry_after=300 s" in message
    assert "Client(max_retry_after=...)" in message
    assert len(server.requests) == 1


@pytest.mark.timeout(90)
@pytest.mark.slow
def test_remaining_below_zero_is_read_as_zero() -> None:
    # -100 remaining once meant "100 more than the quota spent elsewhere": days of waiting
    headers = {"X-RateLimit-Remaining": "-100", "X-RateLimit-Reset": "1"}
    with HostileServer(two_pages(headers)) as server:
        started = time.monotonic()
        assert hostile_client(server).devices(*window_now(), per_page=2).height == 4
        assert 0.9 < time.monotonic() - started < 20  # waited for the reset, 1 s
    # no reset: the rest of Cloudflare's 300 s window, more than this client accepts
    with (
        HostileServer(two_pages({"X-RateLimit-Remaining": "-100"})) as server,
        pytest.raises(RateLimitError, match="ask to wait 300 s"),
    ):
        hostile_client(server, max_retry_after=5).devices(*window_now(), per_page=2)


@pytest.mark.parametrize(
    "headers",
    [
        {"Ratelimit-Policy": '"b";q=1.2.3;w=30'},
        {"Ratelimit-Policy": '"b";q=10;w=0'},
        {"Ratelimit": '"d";r=abc;t=nan'},
        {"X-RateLimit-Remaining": "lots", "X-RateLimit-Reset": "inf"},
        {"X-RateLimit-Limit": "-5"},
    ],
)
def test_rate_limit_headers_that_mean_nothing_are_ignored(
    headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="dexkit")
    with HostileServer(two_pages(headers)) as server:
        started = time.monotonic()
        assert hostile_client(server).devices(*window_now(), per_page=2).height == 4
        assert time.monotonic() - started < 20
    ignored = [r for r in caplog.records if "ignored rate-limit header" in r.getMessage()]
    assert len(ignored) == 1
    assert ignored[0].levelno == logging.DEBUG


@pytest.mark.parametrize(
    "retry_after",
    ["-5", "nan", "0", "inf", "soon", "Wed, 21 Oct 2015 07:28:00 GMT"],
)
@pytest.mark.slow
def test_a_retry_after_that_means_nothing_gets_the_normal_backoff(retry_after: str) -> None:
    with HostileServer(two_pages({"Retry-After": retry_after}, "429 Too Many Requests")) as server:
        client = hostile_client(server, retries=1, backoff=0.3)
        assert client.devices(*window_now(), per_page=2).height == 4
    first, second = server.requests[0], server.requests[1]
    assert second.page == 1
    assert second.at - first.at >= 0.25  # never back-to-back


def test_a_retry_after_of_years_is_an_error_at_once() -> None:
    headers = {"Retry-After": "999999999"}
    with HostileServer(two_pages(headers, "429 Too Many Requests")) as server:
        started = time.monotonic()
        with pytest.raises(RateLimitError, match=r"wait 999,999,999 s \(31.7 years\)"):
            hostile_client(server, retries=3).devices(*window_now(), per_page=2)
        assert time.monotonic() - started < 20
    assert len(server.requests) == 1


# -- absurd totals -------------------------------------------------------------------------------


@pytest.mark.timeout(90)
@pytest.mark.parametrize(
    ("total_pages", "total_count", "shown"),
    [
        (10**18, 5 * 10**18, "total_pages=1000000000000000000"),
        (None, 1e300, "total_count=1e+300"),
        (20_000_000, None, "total_pages=20000000"),
        (-3, 10, "total_pages=-3"),
        (2, -1, "total_count=-1"),
    ],
)
def test_absurd_totals_are_a_page_error_at_once(
    total_pages: Any, total_count: Any, shown: str
) -> None:
    def script(request: Request, send: Send) -> None:
        send(response(page_body(1, range(50), total_pages=total_pages, total_count=total_count)))

    with HostileServer(script) as server:
        client = hostile_client(server, max_requests=None)
        started = time.monotonic()
        expected = re.escape(f"page 1: result_info says {shown}, which no real")
        with pytest.raises(PageError, match=expected):
            client.devices(*window_now())
        with pytest.raises(PageError, match="which no real query has"):
            client.plan(*window_now())
        assert time.monotonic() - started < 20  # no walk over the pages, no request for them
    assert len(server.requests) == 2


@pytest.mark.timeout(90)
def test_a_huge_budget_check_is_instant() -> None:
    # 9 million pages is within the bound: the budget refuses it without walking the pages
    def script(request: Request, send: Send) -> None:
        send(response(page_body(1, range(50), total_pages=9_000_000, total_count=450_000_000)))

    with HostileServer(script) as server:
        started = time.monotonic()
        with pytest.raises(BudgetError, match="needs 9,000,000 requests, more than max_req"):
            hostile_client(server).devices(*window_now())
        assert time.monotonic() - started < 20


# -- max_requests is a ceiling for the whole call --------------------------------------------


def chunk_pages(plan_pages: int, chunk_pages: int) -> Script:
    """A server whose first answer (the plan) is cheap and whose chunks then cost more."""

    def script(request: Request, send: Send) -> None:
        n = request.page
        pages = plan_pages if request.number == 1 else chunk_pages
        ids = range((n - 1) * 50, n * 50)
        send(response(page_body(n, ids, total_pages=pages, total_count=pages * 50)))

    return script


@pytest.mark.timeout(60)
@pytest.mark.parametrize("chunk_cost", [40, 4], ids=["refused-at-a-chunk", "stopped-at-the-cap"])
def test_max_requests_counts_every_request_of_a_fetch(tmp_path: Path, chunk_cost: int) -> None:
    with HostileServer(chunk_pages(1, chunk_cost)) as server:
        client = hostile_client(server, max_requests=10, retries=0)
        with pytest.raises(BudgetError, match="max_requests=10"):
            client.fetch("-4h", source="hourly", into=tmp_path / "store")
        assert len(server.requests) <= 10  # before, every chunk had no budget: 100+ requests


@pytest.mark.timeout(60)
@pytest.mark.slow
def test_pages_are_fetched_through_a_bounded_pool() -> None:
    def script(request: Request, send: Send) -> None:
        n = request.page
        send(response(page_body(n, [n], total_pages=400, total_count=400, per_page=1)))

    async def fetch_and_count(client: Client) -> tuple[int, int]:
        peak = 0

        async def watch() -> None:
            nonlocal peak
            while True:
                peak = max(peak, len(asyncio.all_tasks()))
                await asyncio.sleep(0)

        watcher = asyncio.create_task(watch())
        try:
            frame = await client.adevices(*window_now(), per_page=1)
        finally:
            watcher.cancel()
        return frame.height, peak

    with HostileServer(script) as server:
        client = hostile_client(server, max_requests=None, concurrency=4)
        rows, peak = asyncio.run(fetch_and_count(client))
    assert rows == 400
    # this task, the watcher, eight workers and the HTTP stack's task per request in flight
    assert peak <= 2 + 8 + 4  # before: a task a page, 400


@pytest.mark.timeout(60)
def test_no_page_after_an_empty_one_is_requested() -> None:
    # a server promising a million pages of which only three hold records
    def script(request: Request, send: Send) -> None:
        n = request.page
        ids = range((n - 1) * 50, n * 50) if n <= 3 else range(0)
        send(response(page_body(n, ids, total_pages=1_000_000, total_count=50_000_000)))

    with HostileServer(script) as server:
        frame = hostile_client(server, max_requests=None).devices(*window_now())
    assert frame.height == 150
    assert len(server.requests) <= 4 + 8  # pages 1-4, and at most one more per worker


def test_an_endless_error_body_is_cut_and_the_status_reported() -> None:
    def script(request: Request, send: Send) -> None:
        headers = {"Transfer-Encoding": "chunked"}
        if send(response(b"", status="500 Internal Server Error", headers=headers)):
            chunked(iter(lambda: b"<" * 65536, b""), send)

    with HostileServer(script) as server:
        with pytest.raises(ServerError, match="HTTP 500") as info:
            hostile_client(server, retries=1, max_page_bytes=1 << 20).devices(*window_now())
        assert info.value.status == 500
        assert len(server.requests) == 2  # a 5xx is retried, whatever its body
