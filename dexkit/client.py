"""The client of Cloudflare's DEX fleet-status API: the only module that speaks HTTP.

:class:`Client` pages through ``GET /accounts/{account_id}/dex/fleet-status/devices`` the way the
official SDKs do not: it reads ``total_pages`` from page 1 and fetches the rest concurrently
(a few in flight), stops on an empty, last, repeated or over-count page and says which, drops
records seen twice, stays under Cloudflare's rate limit (1200 requests per 5 minutes, shared by
every request in flight; a 429 holds *every* request for its ``Retry-After``), retries what is
worth retrying with exponential backoff and jitter, and tells what a query costs before it
spends it (:meth:`Client.plan`, ``max_requests``).

Whatever a server sends, a call is bounded: bodies are read as a stream and capped after
decoding (``max_page_bytes``), each attempt has a deadline (``deadline``), a wait the server asks
for is refused past ``max_retry_after``, every request counts against ``max_requests``, and pages
go through a pool of ``concurrency`` workers. Each bound raises a dexkit error naming it.

Every method has an async twin (``adevices``, ``aplan``, …); the sync methods work in scripts
and in Jupyter cells, where an event loop is already running (they run in a worker thread then).

Logging: ``logging.getLogger("dexkit")`` gets one DEBUG line per request
(``GET /accounts/0a1b2c…/dex/fleet-status/devices page=3 status=200 0.051s``), INFO lines for what
a fetch did and WARNING lines for retries. No credential is ever logged, shown or saved.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import functools
import ipaddress
import logging
import math
import numbers
import os
import re
import ssl
import threading
import time
import zlib
from collections.abc import (
    AsyncGenerator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar, cast

import httpx
import orjson
import polars as pl
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_any,
    wait_exponential,
    wait_random,
)
from tenacity.stop import stop_base

from dexkit._progress import bar as progress_bar
from dexkit._query import Query, TimeLike, build, parse_time
from dexkit._ratelimit import RateLimiter, WaitTooLong
from dexkit.errors import (
    APIError,
    AuthError,
    BudgetError,
    ConfigError,
    CredentialsError,
    DexkitError,
    NotFoundError,
    PageError,
    QueryError,
    RateLimitError,
    ServerError,
    StoreError,
    TransportError,
)
from dexkit.frames import read_pages
from dexkit.store import Chunk, PageStore, default_store, split

__all__ = ["API_BASE", "Client", "FetchSummary", "Plan", "compare_counts"]

log = logging.getLogger("dexkit")

#: Cloudflare's API base URL.
API_BASE = "https://api.cloudflare.com/client/v4"
#: Totals no real query can have, so a server's ``result_info`` beyond them is an error: ten
#: million pages is 29 days of Cloudflare's whole quota (1,200 requests / 5 min), more than any
#: fetch can spend; 500 million records is ten million pages of 50 (a 7-day ``hourly`` window
#: of a million devices is 168 million).
MAX_PAGES = 10_000_000
MAX_RECORDS = 500_000_000
#: Default of ``Client(max_page_bytes=...)``: 16 MiB, over 100 times a page of 50 records.
DEFAULT_MAX_PAGE_BYTES = 16 * 1024 * 1024

_T = TypeVar("_T")
_AUTH_CODES = {9103, 9106, 9109, 10000, 10001}  # Cloudflare's "bad or missing credentials" codes
_DEDUP = ["device_id", "timestamp", "registration_id"]


def _run(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coro`` to completion from sync code, with or without a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        running = False
    else:
        running = True
    if not running:
        return asyncio.run(coro)
    # A running loop (a Jupyter cell): run the coroutine on its own loop in a worker thread;
    # an interrupt (the notebook's stop button) cancels it there, as asyncio.run would here.
    box: dict[str, Any] = {}
    started = threading.Event()

    async def main() -> _T:
        box["loop"], box["task"] = asyncio.get_running_loop(), asyncio.current_task()
        started.set()
        return await coro

    def work() -> None:
        try:
            box["value"] = asyncio.run(main())
        except BaseException as exc:
            box["error"] = exc

    worker = threading.Thread(target=work, name="dexkit", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.1)  # wake up now and then: an interrupt is seen between waits
    except KeyboardInterrupt:
        if started.wait(5):
            box["loop"].call_soon_threadsafe(box["task"].cancel)
        worker.join()
        raise
    if "error" in box:
        raise box["error"]
    return cast(_T, box["value"])


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """httpx's default TLS context, built once (building it costs ~20 ms per call otherwise)."""
    return httpx.create_ssl_context()


class _Borrowed(httpx.AsyncBaseTransport):
    """A caller's transport, used by each call but closed by none (the caller owns it)."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self._transport = transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._transport.handle_async_request(request)


class _Credentials:
    """The secret half of a client's configuration; its repr shows no secret."""

    __slots__ = ("_headers", "kind")

    def __init__(self, kind: Literal["api_token", "api_key"], headers: dict[str, str]) -> None:
        self.kind = kind
        self._headers = headers

    def headers(self) -> dict[str, str]:
        return dict(self._headers)

    def __repr__(self) -> str:
        return f"<{self.kind} credentials>"


_ACCOUNT = re.compile(r"[A-Za-z0-9_-]+")


def _whole(name: str, value: object, minimum: int, extra: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        extra = f" {extra}" if extra else ""
        raise ConfigError(f"{name} must be a whole number, {minimum} or more{extra}, got {value!r}")


def _seconds(name: str, value: object, *, above_zero: bool = False) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not float(value) >= 0
        or (above_zero and not 0 < float(value) < math.inf)
    ):
        least = "above 0" if above_zero else "0 or more"
        raise ConfigError(f"{name} must be a number of seconds, {least}, got {value!r}")


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _base_url(value: object, what: str = "base_url") -> str:
    """The API's base URL, checked: ``https://``, or ``http://`` to a loopback address only."""
    if not isinstance(value, str):
        raise ConfigError(f"{what} must be a string, got {type(value).__name__}")
    try:
        url = httpx.URL(value.strip())
    except httpx.InvalidURL as exc:
        raise ConfigError(f"{what} is not a URL ({exc}): got {value!r}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigError(f"{what} must be an http(s) URL such as {API_BASE!r}, got {value!r}")
    if url.scheme == "http" and not _is_loopback(url.host):
        raise ConfigError(
            f"{what} {value!r} would send the API token in clear text: use https://, or "
            "http:// only to a loopback address (127.0.0.1, ::1, localhost) such as a local "
            "fake API"
        )
    return str(url).rstrip("/")


def _secret(value: object, what: str) -> str:
    """A credential without surrounding whitespace; an error (never showing it) if unusable.

    A trailing newline (``$(cat token.txt)``) is a copy-paste artifact and goes; anything else
    an HTTP header cannot carry is refused here rather than failing every request later.
    """
    if not isinstance(value, str):
        raise CredentialsError(f"{what} must be a string, got {type(value).__name__}")
    text = value.strip()
    if not text:
        raise CredentialsError(f"{what} is empty")
    if not text.isascii() or not text.isprintable() or any(c.isspace() for c in text):
        raise CredentialsError(
            f"{what} contains whitespace, control or non-ASCII characters inside it (not "
            "shown here); copy it again from the Cloudflare dashboard"
        )
    return text


def _credentials(
    account_id: str | None, api_token: str | None, email: str | None, api_key: str | None
) -> tuple[str, _Credentials]:
    env = os.environ
    account = account_id or env.get("CLOUDFLARE_ACCOUNT_ID")
    if (email is None) != (api_key is None):
        raise CredentialsError(
            "email and api_key go together (the legacy global API key): pass both, or pass "
            "api_token instead"
        )
    token, pair = api_token, (email, api_key) if email and api_key else None
    token_what = "api_token"
    pair_what = ("email", "api_key")
    if token is None and pair is None:
        token = env.get("CLOUDFLARE_API_TOKEN") or None
        token_what = "CLOUDFLARE_API_TOKEN"
        if token is None and env.get("CLOUDFLARE_EMAIL") and env.get("CLOUDFLARE_API_KEY"):
            pair = (env["CLOUDFLARE_EMAIL"], env["CLOUDFLARE_API_KEY"])
            pair_what = ("CLOUDFLARE_EMAIL", "CLOUDFLARE_API_KEY")
    if token is None and pair is None:
        raise CredentialsError(
            "no Cloudflare credentials: pass api_token=... (a token with the 'DEX Read' or "
            "'Zero Trust Read' permission) or set CLOUDFLARE_API_TOKEN; the legacy "
            "CLOUDFLARE_EMAIL + CLOUDFLARE_API_KEY pair works too"
        )
    if not account:
        raise CredentialsError(
            "no Cloudflare account id: pass account_id=... or set CLOUDFLARE_ACCOUNT_ID "
            "(the 32-character id in the dashboard's URL)"
        )
    if not isinstance(account, str):
        raise CredentialsError(f"the account id must be a string, got {type(account).__name__}")
    account = account.strip()
    if _ACCOUNT.fullmatch(account) is None:
        raise CredentialsError(
            "the account id may hold only letters, digits, '-' and '_' (Cloudflare's is the "
            "32-character hex id in the dashboard's URL)"
        )
    if token is not None:
        token = _secret(token, token_what)
        return account, _Credentials("api_token", {"Authorization": f"Bearer {token}"})
    assert pair is not None
    mail, key = _secret(pair[0], pair_what[0]), _secret(pair[1], pair_what[1])
    return account, _Credentials("api_key", {"X-Auth-Email": mail, "X-Auth-Key": key})


# ------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Plan:
    """What a device-list query costs, in requests, time and quota (see :meth:`Client.plan`).

    Attributes
    ----------
    query
        The query, as text.
    total_count
        Records the API reports for the query (``None`` when it does not say).
    per_page
        Records per page.
    pages
        Pages the query spans.
    requests
        Requests a fetch needs (pages, plus one per extra chunk of a page store; 0 when a page
        store holds every chunk already).
    seconds
        Estimated duration: pages × latency / concurrency, or the rate limit if slower.
    latency
        Seconds the planning request took.
    concurrency
        Requests in flight at once.
    rate_limit
        ``(requests, seconds)`` of the limiter.
    source
        The query's ``source``.
    chunks, stored
        Chunks of a page store's window, and how many of them the store holds already.
    cheaper
        Cheaper ways to the same answer, one sentence each (empty when none applies).
    """

    query: str
    total_count: int | None
    per_page: int
    pages: int
    requests: int
    seconds: float
    latency: float
    concurrency: int
    rate_limit: tuple[int, float]
    source: str = "last_seen"
    chunks: int = 1
    stored: int = 0
    cheaper: tuple[str, ...] = ()

    @property
    def quota_share(self) -> float:
        """The requests as a multiple of the rate limit's window (1.0: a whole window's quota)."""
        return self.requests / self.rate_limit[0]

    @property
    def quota_seconds(self) -> float:
        """How long the requests hold the account's quota: requests / limit × window."""
        limit, period = self.rate_limit
        return self.requests / limit * period

    def __str__(self) -> str:
        records = "an unknown number of" if self.total_count is None else f"{self.total_count:,}"
        limit, period = self.rate_limit
        window = _duration(period)
        lines = [self.query, f"  {records} records in {self.pages:,} page(s) of {self.per_page}"]
        if self.stored:
            lines.append(
                f"  {self.stored} of {self.chunks} chunk(s) are in the page store already: "
                "only the others are requested"
            )
        if self.requests == 0:
            lines.append("  0 requests: the page store holds the whole window")
        else:
            share = self.quota_share
            lines.append(
                f"  {self.requests:,} request(s) ≈ {_duration(self.quota_seconds)} at "
                f"{limit:,} per {window} ({share:.0%} of the {window} quota"
                if share < 1
                else f"  {self.requests:,} requests ≈ {_duration(self.quota_seconds)} at "
                f"{limit:,} per {window} ({share:.1f}× the {window} quota"
            )
            lines[-1] += (
                f"; this client: about {_duration(self.seconds)} with {self.concurrency} in flight)"
            )
        if self.cheaper:
            lines.append("  cheaper ways to the same answer:")
            lines.extend(f"  - {way}" for way in self.cheaper)
        return "\n".join(lines)


def _cheaper(
    query: Query, total_count: int | None, requests: int, *, into: bool
) -> tuple[str, ...]:
    """Name the cheaper ways to what ``query`` asks, from the query alone (no request)."""
    out: list[str] = []
    if requests <= 1:
        return ()
    filtered = bool(query.filters)
    hours = max((query.end - query.start).total_seconds() / 3600, 1 / 6)
    if query.source in ("hourly", "raw") and total_count:
        step = 600 if query.source == "raw" else 3600  # one record a device a step
        seconds = (query.end - query.start).total_seconds()
        devices = max(1, round(total_count / max(1, math.ceil(seconds / step))))
        snapshot = math.ceil(devices / query.per_page)
        if snapshot * 2 <= requests:
            out.append(
                f"the fleet's current state: source='last_seen' over the last hour, one record "
                f"a device (≈ {devices:,} devices: ≈ {snapshot:,} requests)"
            )
        if not filtered:
            out.append(
                "fleet-level lines by status and mode per hour: client.counts_over_time() "
                "(/over-time), 1 request for up to 7 days; the current counts by colo, "
                "platform and version: client.live_counts() (/live), 1 request"
            )
    if query.source == "raw" and total_count:
        out.append(
            f"source='hourly' instead of 'raw': one record a device an hour instead of six "
            f"(≈ {math.ceil(requests / 6):,} requests)"
        )
    if not filtered and query.source in ("hourly", "raw"):
        out.append(
            "a filter (colo=, platform=, version=, device_id=): only the slice the question "
            "points at (one colo of 30 is a few per cent of the requests)"
        )
    if query.source in ("hourly", "raw"):
        if not into:
            out.append(
                "client.fetch(..., into=dexkit.default_store(...)): a page store keeps every "
                "hour it fetches, so a re-run costs 0 requests and a longer window only its "
                "new hours"
            )
        if hours >= 24 or requests > 1200:
            out.append(
                "a Logpush archive of the dex_device_state_events dataset, if the account "
                "ships one: the same records from your own bucket, 0 API requests"
            )
    return tuple(out)


@dataclass(frozen=True)
class FetchSummary:
    """What :meth:`Client.fetch` did.

    Attributes
    ----------
    path
        The page store.
    query
        The query, as text.
    chunks
        Chunks of the window; ``chunks_reused`` of them were complete in the store already.
    pages_fetched, pages_reused
        Pages requested now, and pages already in the store that were used as they were.
    requests
        Requests sent (retries included).
    records, duplicates
        Distinct records of the window's pages, and records seen twice that were counted once.
    seconds
        Wall time.
    """

    path: str
    query: str
    chunks: int
    chunks_reused: int
    pages_fetched: int
    pages_reused: int
    requests: int
    records: int
    duplicates: int
    seconds: float

    def __str__(self) -> str:
        return (
            f"{self.records:,} records ({self.duplicates} duplicate(s) dropped) in "
            f"{self.chunks} chunk(s) ({self.chunks_reused} already complete): fetched "
            f"{self.pages_fetched} page(s), reused {self.pages_reused}, {self.requests} "
            f"request(s) in {self.seconds:.1f} s → {self.path}"
        )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _asked(seconds: float) -> str:
    """A wait a server asked for, however absurd: ``'999,999,999 s (31.7 years)'``."""
    text = f"{seconds:,.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    if seconds >= 365 * 86400:
        return f"{text} ({seconds / (365.25 * 86400):,.1f} years)"
    if seconds >= 2 * 86400:
        return f"{text} ({seconds / 86400:.1f} days)"
    if seconds >= 90:
        return f"{text} ({_duration(seconds)})"
    return text


async def _claim(store: PageStore, chunk: Chunk) -> bool:
    """Hold ``chunk``'s claim in ``store``; False when another fetch completed the chunk since
    this one listed what to fetch (its pages are in the store: requesting them again would spend
    quota twice). A chunk another fetch left half done resumes from the pages it saved.

    Waits, polling, while another process (or another fetch of this one) requests the chunk, up
    to the store's ``claim_timeout``; past it, :class:`StoreError`.
    """
    waited = 0.0
    while not store.try_claim(chunk):
        if not waited:
            log.info("fetch: another fetch is requesting %s; waiting for it", chunk.key)
        if waited >= store.claim_timeout:
            raise StoreError(
                f"another fetch has been requesting chunk {chunk.key} for more than "
                f"{store.claim_timeout:g} s: wait for it to end (or end it) and fetch again; "
                "PageStore(claim_timeout=) sets this wait",
                path=store.root / chunk.key,
            )
        await asyncio.sleep(_CLAIM_POLL)
        waited += _CLAIM_POLL
    if store.refresh(chunk):
        store.release(chunk)
        return False
    return True


#: Seconds between two looks at a chunk another fetch is requesting.
_CLAIM_POLL = 0.2


@dataclass
class _Outcome:
    pages: list[bytes]
    numbers: list[int]
    records: int
    duplicates: int
    total_pages: int | None
    total_count: int | None
    stop: str
    fetched: int
    reused: int


# ------------------------------------------------------------------------------------------
# One call's HTTP session: retries, rate limit, logging and progress


class _Retry(Exception):
    """A failure worth another try; :meth:`final` is the error raised when tries run out."""

    def __init__(self, final: Exception, *, rate_limited: bool = False, once: bool = False) -> None:
        super().__init__(str(final))
        self.final = final
        self.rate_limited = rate_limited
        self.once = once


class _StopOnce(stop_base):
    """Stop after the second try of a failure that is retried only once."""

    def __call__(self, retry_state: RetryCallState) -> bool:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        return isinstance(exc, _Retry) and exc.once and retry_state.attempt_number >= 2


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds a 429's ``Retry-After`` asks for; ``None`` when absent; NaN when meaningless.

    A value that is negative, zero, not finite, not a time or a time in the past means
    nothing a client can follow: the caller backs off as for any failure instead.
    """
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return math.nan
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return seconds if 0 < seconds < math.inf else math.nan


def _errors_of(body: bytes) -> list[dict[str, Any]]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return []
    errors = doc.get("errors") if isinstance(doc, dict) else None
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


_PIECE = 1 << 16  # decoded bytes produced per step: a gzip bomb is stopped within 64 KiB
_CODINGS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}


class _Undecodable(Exception):
    """A body that its ``Content-Encoding`` does not describe (retried like a truncated body)."""


class _Inflater:
    """Decodes a gzip or deflate body a piece at a time, never more than ``_PIECE`` at once.

    httpx's own decoders inflate each network read whole (a 64 KiB read of a gzip bomb is
    64 MiB decoded); this one lets the caller stop at its cap.
    """

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self._z = zlib.decompressobj(_CODINGS[coding])
        self._raw_fallback = coding == "deflate"  # some servers send raw deflate: try it once

    @classmethod
    def of(cls, coding: str, page: int | None) -> _Inflater:
        if coding not in _CODINGS:
            raise PageError(
                f"the body is encoded as {coding[:40]!r}, which dexkit did not ask for (it "
                "asks for gzip or deflate)",
                page=page,
            )
        return cls(coding)

    def feed(self, data: bytes) -> Iterator[bytes]:
        while True:
            try:
                out = self._z.decompress(data, _PIECE)
            except zlib.error as exc:
                if self._raw_fallback:
                    self._raw_fallback = False
                    self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise _Undecodable(f"{self.coding}: {exc}") from exc
            self._raw_fallback = False
            data = self._z.unconsumed_tail
            if out:
                yield out
            if self._z.eof or (not data and len(out) < _PIECE):
                return

    def end(self) -> Iterator[bytes]:
        yield from self.feed(b"")
        if not self._z.eof:
            raise _Undecodable(f"the {self.coding} stream ends early")


async def _decoded(
    response: httpx.Response, inflater: _Inflater | None
) -> AsyncGenerator[bytes, None]:
    """The body of ``response`` as it arrives, decoded a bounded piece at a time."""
    async for data in response.aiter_raw():
        if inflater is None:
            yield data
        else:
            for piece in inflater.feed(data):
                yield piece
    if inflater is not None:
        for piece in inflater.end():
            yield piece


def _too_large(cap: int, detail: str, page: int | None, path: str) -> PageError:
    what = "the body" if page is not None else f"the body of {path}"
    return PageError(
        f"{what} is larger than max_page_bytes={cap:,} bytes{detail}, so reading stopped; a "
        "page of 50 records is about 100 KB: pass Client(max_page_bytes=...) to allow more",
        page=page,
    )


class _Session:
    """The state of one call: an ``httpx.AsyncClient``, a semaphore, counters and a bar."""

    def __init__(self, client: Client, *, progress: bool, desc: str) -> None:
        self.client = client
        self.http = httpx.AsyncClient(
            base_url=client.base_url,
            headers={
                **client._credentials.headers(),
                "Accept": "application/json",
                "Accept-Encoding": "gzip, deflate",  # what _Inflater decodes
            },
            timeout=client.timeout,
            verify=_ssl_context(),
            transport=_Borrowed(client._transport) if client._transport else None,
            limits=httpx.Limits(
                max_connections=client.concurrency, max_keepalive_connections=client.concurrency
            ),
        )
        self.slots = asyncio.Semaphore(client.concurrency)
        # exponential backoff (backoff, 2×, 4×, … up to 30 s) plus up to `backoff` of jitter
        self._backoff = wait_exponential(multiplier=client.backoff, max=30.0) + wait_random(
            0, client.backoff
        )
        self.requests = 0
        self.budget: int | None = None  # max_requests of the call: every request counts
        self.records = 0
        # a notebook bar, a terminal bar with ETA, or a line per tenth/chunk when not a TTY;
        # tqdm is imported when a session starts: `import dexkit` stays light
        self.bar = progress_bar(desc, enabled=progress)

    async def __aenter__(self) -> _Session:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.bar.close()
        await self.http.aclose()

    def show(self, note: str | None = None) -> None:
        parts = [f"records={self.records:,}"]
        if note:
            parts.append(note)
        self.bar.set_postfix_str(", ".join(parts), refresh=True)

    async def get(
        self, path: str, params: Mapping[str, str], *, page: int | None
    ) -> tuple[bytes, Any]:
        """GET ``path`` with retries; return the body and its parsed JSON."""
        client = self.client
        retrying = AsyncRetrying(
            stop=stop_any(stop_after_attempt(client.retries + 1), _StopOnce()),
            wait=self._wait,
            retry=retry_if_exception_type(_Retry),
            before_sleep=lambda state: self._before_sleep(state, page),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._once(path, params, page)
        except _Retry as exc:
            raise exc.final from exc.__cause__
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retry) and exc.rate_limited:
            return 0.0  # the limiter holds every request until Retry-After
        return float(self._backoff(state))

    def _before_sleep(self, state: RetryCallState, page: int | None) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        where = f"page {page}" if page is not None else "request"
        log.warning(
            "%s failed (%s); retry %d of %d in %.2fs",
            where,
            exc,
            state.attempt_number,
            self.client.retries,
            wait,
        )

    async def _once(
        self, path: str, params: Mapping[str, str], page: int | None
    ) -> tuple[bytes, Any]:
        client = self.client
        limiter = client._limiter
        short = path.replace(client.account_id, client._short_account)
        where = f" page={page}" if page is not None else ""
        async with self.slots:  # a slot is held for the exchange only, not for backoff or parsing
            if self.budget is not None and self.requests >= self.budget:
                raise BudgetError(
                    f"{_where(page)}this call has sent {self.requests:,} requests, all of "
                    f"max_requests={self.budget:,} (retries count too), and needs more: pass a "
                    "larger max_requests= (or None), or narrow the query; pages already in a "
                    "page store are kept, and the next fetch resumes there"
                )
            try:
                waited = await limiter.acquire(max_wait=client.max_retry_after)
            except WaitTooLong as exc:
                raise RateLimitError(
                    f"the server's rate-limit headers ask to wait {_asked(exc.seconds)} before "
                    f"the next request ({exc.why}), longer than max_retry_after="
                    f"{client.max_retry_after:g} s: try again later, or pass "
                    "Client(max_retry_after=...) to wait that long",
                    page=page,
                ) from None
            try:  # the limiter's slot is released on every path: cancelled, failed or answered
                if waited >= 1.0:
                    self.show()
                started = time.perf_counter()
                self.requests += 1
                try:
                    # one deadline for the whole attempt: connecting, the headers and the body
                    async with asyncio.timeout(client.deadline):
                        async with self.http.stream("GET", path, params=params) as response:
                            body = await self._read(response, page, short)
                except TimeoutError as exc:
                    self._log(short, where, "deadline", started)
                    error = TransportError(
                        f"{_where(page)}no complete answer within deadline={client.deadline:g} s "
                        "(connecting, headers and body) and retries did not help; a server this "
                        "slow may need a larger deadline=",
                        page=page,
                    )
                    raise _Retry(error) from exc
                except httpx.TimeoutException as exc:
                    self._log(short, where, "timeout", started)
                    error = TransportError(
                        f"{_where(page)}timed out after {client.timeout:g} s: retries did not help",
                        page=page,
                    )
                    raise _Retry(error) from exc
                except (_Undecodable, httpx.DecodingError) as exc:
                    self._log(short, where, "undecodable", started)
                    error = TransportError(
                        f"{_where(page)}the body could not be decoded ({exc}) and retries did "
                        "not help",
                        page=page,
                    )
                    raise _Retry(error) from exc
                except httpx.TransportError as exc:
                    kind = type(exc).__name__
                    self._log(short, where, kind, started)
                    text = str(exc) or kind
                    error = TransportError(
                        f"{_where(page)}the connection failed ({text}) and retries did not help",
                        page=page,
                    )
                    raise _Retry(error) from exc
                note = limiter.observe(response.headers)
                if response.status_code == 429:
                    self._pause(response)  # before the slot is free: no request may slip out
            finally:
                limiter.release()
        status = response.status_code
        if not 400 <= status < 500:
            await asyncio.sleep(0)  # let the next request go out before this response is parsed
        if note:
            log.info(note)
        self._log(short, where, str(status), started)
        return self._check(response, body, page)

    async def _read(self, response: httpx.Response, page: int | None, path: str) -> bytes:
        """Read a body as a stream, decoded, refusing more than ``max_page_bytes`` decoded."""
        cap = self.client.max_page_bytes
        # an error status's body only says why: keep its start and read no further
        keep_only = response.status_code >= 400
        coding = response.headers.get("Content-Encoding", "").strip().lower()
        if keep_only and coding not in ("", "identity", *_CODINGS):
            return b""  # the status says enough
        inflater = None if coding in ("", "identity") else _Inflater.of(coding, page)
        length = response.headers.get("Content-Length", "")
        if inflater is None and length.isdigit() and int(length) > cap and not keep_only:
            raise _too_large(cap, f" (Content-Length: {int(length):,})", page, path)
        if response.is_stream_consumed:  # a transport that built the response in memory
            if len(response.content) > cap and not keep_only:
                raise _too_large(cap, "", page, path)
            return response.content[:cap]
        parts: list[bytes] = []
        size = 0
        async with contextlib.aclosing(_decoded(response, inflater)) as pieces:
            async for piece in pieces:
                size += len(piece)
                if size > cap:
                    if keep_only:
                        break
                    detail = f" once {coding}-decoded" if inflater else ""
                    raise _too_large(cap, detail, page, path)
                parts.append(piece)
        return b"".join(parts)

    def _pause(self, response: httpx.Response) -> float | None:
        """Hold every request until a 429's ``Retry-After``; return the seconds left.

        ``None`` (no pause) when ``Retry-After`` means nothing (the request backs off alone) or
        asks for more than ``max_retry_after`` (the call fails: see :meth:`_check`).
        """
        asked = _retry_after(response)
        if asked is None:
            asked = min(self.client.max_retry_after, 60.0)
        if math.isnan(asked) or asked > self.client.max_retry_after:
            return None
        deadline = self.client._limiter.pause(asked)
        return deadline - time.monotonic()

    def _log(self, path: str, where: str, status: str, started: float) -> None:
        log.debug("GET %s%s status=%s %.3fs", path, where, status, time.perf_counter() - started)

    def _check(self, response: httpx.Response, body: bytes, page: int | None) -> tuple[bytes, Any]:
        status = response.status_code
        error: DexkitError
        ray = response.headers.get("cf-ray")
        if status == 429:
            asked = _retry_after(response)
            cap = self.client.max_retry_after
            if asked is not None and asked > cap:
                raise RateLimitError(
                    f"rate limited (429): the server asks to wait {_asked(asked)} "
                    f"(Retry-After: {response.headers['Retry-After'][:40]!r}), longer than "
                    f"max_retry_after={cap:g} s: try again later, or pass "
                    "Client(max_retry_after=...) to wait that long",
                    status=status,
                    errors=_errors_of(body),
                    cf_ray=ray,
                    page=page,
                )
            error = RateLimitError(
                "rate limited (429) and the retries ran out: Cloudflare allows 1200 requests "
                "per 5 minutes per token, shared with other tools; wait, or narrow the query",
                status=status,
                errors=_errors_of(body),
                cf_ray=ray,
                page=page,
            )
            left = self._pause(response)
            if left is None:  # a Retry-After that means nothing: back off as for any failure
                log.debug("429 with a Retry-After that means nothing: backing off")
                raise _Retry(error)
            log.warning("rate limited (429): every request waits %.0fs (Retry-After)", left)
            self.show(f"rate-limited: waiting {left:.0f} s")
            raise _Retry(error, rate_limited=True)
        if status >= 500:
            html = body.lstrip()[:1] == b"<"
            what = "an HTML error page" if html else "a server error"
            error = ServerError(
                f"Cloudflare answered with {what} and the retries ran out; try again later",
                status=status,
                errors=[] if html else _errors_of(body),
                cf_ray=ray,
                page=page,
            )
            raise _Retry(error)
        if status >= 400:
            raise _client_error(status, _errors_of(body), ray, page)
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            error = PageError(
                f"HTTP {status} with a body that is not JSON ({body[:60]!r}…)", page=page
            )
            raise _Retry(error) from None
        if not isinstance(doc, dict):
            raise _Retry(PageError("the body is not a JSON object", page=page))
        if doc.get("success") is False:
            raise APIError(
                "Cloudflare reported a failure",
                status=status,
                errors=doc.get("errors") or [],
                cf_ray=ray,
                page=page,
            )
        if page is not None and not isinstance(doc.get("result"), list):
            error = PageError("success, but the page has no `result` list (asked twice)", page=page)
            raise _Retry(error, once=True)
        return body, doc


async def _gather(coros: Sequence[Coroutine[Any, Any, _T]]) -> list[_T]:
    """Run ``coros`` concurrently; on the first failure cancel the rest and raise it as is."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(c) for c in coros]
    except BaseExceptionGroup as failed:
        first: BaseException = failed
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from first.__cause__
    return [t.result() for t in tasks]


def _where(page: int | None) -> str:
    return f"page {page}: " if page is not None else ""


def _client_error(
    status: int, errors: list[dict[str, Any]], ray: str | None, page: int | None
) -> APIError:
    codes = {e.get("code") for e in errors}
    if status in (401, 403) or (status == 400 and codes & _AUTH_CODES):
        return AuthError(
            "authentication failed: check the API token (it needs the 'DEX Read' or "
            "'Zero Trust Read' permission on this account) and the account id",
            status=status,
            errors=errors,
            cf_ray=ray,
            page=page,
        )
    if status == 404:
        return NotFoundError(
            "not found: check the account id (CLOUDFLARE_ACCOUNT_ID) and base_url",
            status=status,
            errors=errors,
            cf_ray=ray,
            page=page,
        )
    return APIError(
        "the API rejected the request", status=status, errors=errors, cf_ray=ray, page=page
    )


def _key(record: Any) -> tuple[Any, ...]:
    """What identifies a record: device, time and registration (multi-user devices)."""
    if not isinstance(record, dict):
        return (orjson.dumps(record),)
    key = (record.get("deviceId"), record.get("timestamp"), record.get("registrationId"))
    if any(isinstance(v, list | dict) for v in key):  # wrong-typed: read_pages names the field
        return tuple(orjson.dumps(v) if isinstance(v, list | dict) else v for v in key)
    return key


@dataclass(frozen=True)
class _Page:
    """What paging needs of a page: its records' keys and its ``result_info``."""

    keys: list[tuple[Any, ...]]
    info: dict[str, Any] | None

    @classmethod
    def of(cls, doc: Any) -> _Page:
        info = doc.get("result_info")
        return cls([_key(r) for r in doc["result"]], info if isinstance(info, dict) else None)


# ------------------------------------------------------------------------------------------
# The client


class Client:
    """A client of Cloudflare's DEX fleet-status API.

    Parameters
    ----------
    account_id
        The Cloudflare account id; else ``CLOUDFLARE_ACCOUNT_ID``.
    api_token
        An API token with the DEX Read (or Zero Trust Read) permission; else
        ``CLOUDFLARE_API_TOKEN``, else ``CLOUDFLARE_EMAIL`` + ``CLOUDFLARE_API_KEY``.
    email, api_key
        The legacy global API key and its account email, together, instead of a token.
    base_url
        The API's base URL; else ``CLOUDFLARE_BASE_URL``, else :data:`API_BASE`. Only
        ``https://``, or ``http://`` to a loopback address (``127.0.0.0/8``, ``::1``,
        ``localhost``: a local fake), since the token travels with every request.
    concurrency
        Requests in flight at once.
    rate_limit
        ``(requests, seconds)``: the limit to stay under, shared by every request of this
        client. Cloudflare's is 1200 per 300 s per token; a stricter ``Ratelimit-Policy`` sent by
        the server replaces it.
    retries
        Tries after the first for 5xx, HTML error pages, resets, truncated bodies, timeouts
        and 429s, with exponential backoff and jitter (429s wait for ``Retry-After``).
    backoff
        First backoff in seconds (it doubles, up to 30 s, plus up to ``backoff`` of jitter).
    max_retry_after
        Longest wait the server may ask for, in ``Retry-After`` or rate-limit headers
        (Cloudflare blocks for 300 s); a longer one raises :class:`~dexkit.RateLimitError` at
        once, saying how long was asked.
    timeout
        Seconds one read (or the connection) may wait for the server.
    deadline
        Seconds one attempt may take in all, connecting, headers and body (a server sending
        a byte a second never times out a read); default ``2 × timeout``, 60 s. Past it the
        attempt fails and is retried like a timeout; a :class:`~dexkit.TransportError` when
        the retries run out.
    max_page_bytes
        Largest response body read, counted after gzip/deflate decoding (default 16 MiB; a
        page of 50 records is about 100 KB). A larger body raises :class:`~dexkit.PageError`.
    max_requests
        Budget of one call, every request counted (retries, and every chunk of a page store):
        a query that needs more raises :class:`~dexkit.BudgetError` with its plan before
        spending them, and no call ever sends more.
    progress
        Show progress: tqdm's notebook bar in a Jupyter kernel, its text bar with an ETA in a
        terminal, and where stderr is not a terminal (cron, CI, captured output) a line at each
        tenth of the pages and each completed page-store chunk instead of redraws.
    transport
        An ``httpx.AsyncBaseTransport`` to send requests through (for tests).

    Raises
    ------
    CredentialsError
        No account id, or no credentials, in the arguments or the environment.
    ConfigError
        An argument out of range, or a base URL that would send the token in clear text.

    Examples
    --------
    >>> from dexkit.client import Client
    >>> from dexkit.testing import FakeCloudflare
    >>> with FakeCloudflare(devices=120, seed=1) as api:
    ...     client = Client(api.account_id, api.api_token, base_url=api.base_url)
    ...     print(client.plan("-30m").pages)
    ...     frame = client.devices("-30m", progress=False)
    3
    >>> 100 < frame.height <= 120, frame.columns[:3]
    (True, ['device_id', 'timestamp', 'colo'])
    >>> client  # doctest: +ELLIPSIS
    Client(account_id='0a1b2c…', auth='api_token', base_url='http://127.0.0.1:.../client/v4')
    """

    _account_id: str
    _credentials: _Credentials
    _base_url: str
    _concurrency: int
    _retries: int
    _backoff: float
    _max_retry_after: float
    _timeout: float
    _deadline: float
    _max_page_bytes: int
    _max_requests: int | None
    _progress: bool
    _transport: httpx.AsyncBaseTransport | None
    _limiter: RateLimiter
    _short_account: str

    def __init__(
        self,
        account_id: str | None = None,
        api_token: str | None = None,
        *,
        email: str | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        concurrency: int = 4,
        rate_limit: tuple[int, float] = (1200, 300.0),
        retries: int = 5,
        backoff: float = 0.5,
        max_retry_after: float = 300.0,
        timeout: float = 30.0,
        deadline: float | None = None,
        max_page_bytes: int = DEFAULT_MAX_PAGE_BYTES,
        max_requests: int | None = 1000,
        progress: bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        account, credentials = _credentials(account_id, api_token, email, api_key)
        object.__setattr__(self, "_account_id", account)
        object.__setattr__(self, "_credentials", credentials)
        _whole("concurrency", concurrency, 1)
        _whole("retries", retries, 0)
        if max_requests is not None:
            _whole("max_requests", max_requests, 1, "(or None)")
        _seconds("backoff", backoff)
        _seconds("max_retry_after", max_retry_after)
        _seconds("timeout", timeout)
        if deadline is None:
            deadline = 2 * float(timeout)
        else:
            _seconds("deadline", deadline, above_zero=True)
        _whole("max_page_bytes", max_page_bytes, 1024)
        if base_url is None and os.environ.get("CLOUDFLARE_BASE_URL"):
            url = _base_url(os.environ["CLOUDFLARE_BASE_URL"], "CLOUDFLARE_BASE_URL")
        else:
            url = _base_url(API_BASE if base_url is None else base_url)
        try:
            limiter = RateLimiter(*rate_limit)
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"rate_limit must be (requests, seconds), got {rate_limit!r}"
            ) from exc
        settings = {
            "base_url": url,
            "concurrency": int(concurrency),
            "retries": int(retries),
            "backoff": float(backoff),
            "max_retry_after": float(max_retry_after),
            "timeout": float(timeout),
            "deadline": float(deadline),
            "max_page_bytes": int(max_page_bytes),
            "max_requests": None if max_requests is None else int(max_requests),
            "progress": bool(progress),
        }
        for name, value in settings.items():
            object.__setattr__(self, f"_{name}", value)
        object.__setattr__(self, "_transport", transport)
        object.__setattr__(self, "_limiter", limiter)
        short = account[:6] + "…" if len(account) > 8 else account
        object.__setattr__(self, "_short_account", short)

    def __setattr__(self, name: str, value: object) -> None:
        # settings are fixed at construction: a call in flight (or a later one) can never see
        # a value that was not validated, such as concurrency=0
        raise AttributeError(
            f"Client settings are read-only: {name!r} cannot be set after construction; make "
            f"a new Client({name.lstrip('_')}=...)"
        )

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Client settings are read-only: {name!r} cannot be deleted")

    @property
    def account_id(self) -> str:
        """The Cloudflare account id."""
        return self._account_id

    @property
    def base_url(self) -> str:
        """The API's base URL."""
        return self._base_url

    @property
    def concurrency(self) -> int:
        """Requests in flight at once."""
        return self._concurrency

    @property
    def retries(self) -> int:
        """Tries after the first for failures worth retrying."""
        return self._retries

    @property
    def backoff(self) -> float:
        """First backoff in seconds."""
        return self._backoff

    @property
    def max_retry_after(self) -> float:
        """Longest wait the server may ask for (``Retry-After``, rate-limit headers)."""
        return self._max_retry_after

    @property
    def timeout(self) -> float:
        """Seconds one read (or connect) may take."""
        return self._timeout

    @property
    def deadline(self) -> float:
        """Seconds one attempt may take in all: connecting, the headers and the body."""
        return self._deadline

    @property
    def max_page_bytes(self) -> int:
        """Largest response body read, in decoded bytes."""
        return self._max_page_bytes

    @property
    def max_requests(self) -> int | None:
        """The default budget of one call."""
        return self._max_requests

    @property
    def progress(self) -> bool:
        """Whether calls show a progress bar by default."""
        return self._progress

    def __repr__(self) -> str:
        return (
            f"Client(account_id={self._short_account!r}, auth={self._credentials.kind!r}, "
            f"base_url={self.base_url!r})"
        )

    @property
    def rate_limit(self) -> tuple[int, float]:
        """The configured ``(requests, seconds)``."""
        return self._limiter.windows[0]

    def _path(self, op: str) -> str:
        return f"/accounts/{self.account_id}/dex/fleet-status/{op}"

    def _session(self, progress: bool | None, desc: str) -> _Session:
        return _Session(self, progress=self.progress if progress is None else progress, desc=desc)

    def _query(
        self,
        start: TimeLike,
        end: TimeLike | None,
        *,
        source: str,
        per_page: int,
        sort_by: str | None,
        filters: Mapping[str, str | None],
    ) -> Query:
        return build(
            start,
            end,
            now=datetime.now(UTC),
            source=source,
            per_page=per_page,
            sort_by=sort_by,
            filters=filters,
        )

    # -- paging -----------------------------------------------------------------------------

    async def _page_all(
        self,
        s: _Session,
        query: Query,
        *,
        budget: int | None,
        have: Mapping[int, bytes] | None = None,
        on_page: Callable[[int, bytes], None] | None = None,
        on_totals: Callable[[int | None, int | None], None] | None = None,
    ) -> _Outcome:
        """Fetch every page of ``query``; pages in ``have`` are used instead of requested."""
        path = self._path("devices")
        have = dict(have or {})
        counts = {"fetched": 0, "reused": 0}

        async def fetch(n: int, *, fresh: bool = False) -> _Page:
            if n in have and not fresh:
                counts["reused"] += 1
                s.bar.update(1)
                return _Page.of(orjson.loads(have[n]))
            raw, doc = await s.get(path, query.params(n), page=n)
            counts["fetched"] += 1
            have[n] = raw
            if on_page is not None:
                on_page(n, raw)
            page = _Page.of(doc)  # keep only what paging needs: parsed pages are heavy
            s.records += len(page.keys)
            s.bar.update(1)
            s.show()
            return page

        started = time.perf_counter()
        first = await fetch(1)
        total_pages, total_count = _totals(first.info, query.per_page)
        if on_totals is not None:
            on_totals(total_pages, total_count)
        docs: dict[int, _Page] = {1: first}
        if total_pages is not None:
            s.bar.total = (s.bar.total or 0) + total_pages
            s.bar.refresh()
            need = total_pages - 1 - sum(1 for n in have if 2 <= n <= total_pages)
            if budget is not None and need + s.requests > budget:
                latency = time.perf_counter() - started
                plan = self._make_plan(query, total_count, total_pages, 1, latency)
                raise _budget_error(plan, budget, need + s.requests)
            # a bounded pool of workers, twice the slots so that one is always ready to send
            # while another parses its page; no page after an empty one (paging stops there)
            pages = range(2, total_pages + 1)
            workers = 2 * self.concurrency
            docs.update(await _pool(pages, fetch, workers, last=lambda p: not p.keys))
        else:
            log.warning(
                "page 1 has no result_info (no total_pages): paging one page at a time until "
                "an empty, short or repeated page"
            )

        # Reassemble in order and apply the stop rules.
        seen: set[tuple[Any, ...]] = set()
        kept: list[int] = []
        duplicates = 0
        stop = ""
        previous: list[tuple[Any, ...]] | None = None
        n = 0
        while True:
            n += 1
            if n in docs:
                doc = docs[n]
            elif total_pages is None:
                if budget is not None and s.requests >= budget:
                    raise BudgetError(
                        f"paging without result_info reached max_requests={budget} before an "
                        "empty page: narrow the query or raise max_requests",
                    )
                doc = await fetch(n)
            else:
                stop = f"page {n - 1} is the last (total_pages={total_pages})"
                break
            keys = doc.keys
            if not keys:
                stop = f"page {n} is empty"
                break
            if keys == previous:
                log.info("page %d repeats page %d: asking for it again", n, n - 1)
                keys = (await fetch(n, fresh=True)).keys
                if keys == previous:
                    stop = f"page {n} repeats page {n - 1} (the server ignores `page`?)"
                    break
            new = [k for k in keys if k not in seen]
            if not new and total_pages is None:
                stop = f"page {n} holds only records already seen"
                break
            if not new:  # records moved back a page; later pages still hold new ones
                log.info("page %d holds only records already seen: going on", n)
                duplicates += len(keys)
                previous = keys
                continue
            duplicates += len(keys) - len(set(new))
            seen.update(new)
            kept.append(n)
            previous = keys
            if total_pages is None and len(keys) < query.per_page:
                stop = f"page {n} is short ({len(keys)} < per_page={query.per_page})"
                break
            if total_count is not None and len(seen) >= total_count and n < (total_pages or n + 1):
                stop = f"rows reached total_count={total_count} on page {n}"
                break
        log.info("stopped paging: %s", stop)
        if duplicates:
            log.info(
                "%d record(s) appeared twice (they moved between pages): kept once", duplicates
            )
        return _Outcome(
            pages=[have[k] for k in kept],
            numbers=kept,
            records=len(seen),
            duplicates=duplicates,
            total_pages=total_pages,
            total_count=total_count,
            stop=stop,
            fetched=counts["fetched"],
            reused=counts["reused"],
        )

    def _make_plan(
        self,
        query: Query,
        total_count: int | None,
        pages: int,
        chunks: int,
        latency: float,
        *,
        stored: int = 0,
        into: bool = False,
    ) -> Plan:
        requests = 0 if chunks == 0 else max(1, pages + chunks - 1)
        by_latency = latency * math.ceil(requests / self.concurrency)
        by_limit = max((math.ceil(requests / n) - 1) * p for n, p in self._limiter.windows)
        return Plan(
            query=str(query),
            total_count=total_count,
            per_page=query.per_page,
            pages=pages,
            requests=requests,
            seconds=max(by_latency, by_limit + latency) if requests else 0.0,
            latency=latency,
            concurrency=self.concurrency,
            rate_limit=self.rate_limit,
            source=query.source,
            chunks=chunks + stored,
            stored=stored,
            cheaper=_cheaper(query, total_count, requests, into=into),
        )

    # -- devices ----------------------------------------------------------------------------

    async def apages(
        self,
        start: TimeLike,
        end: TimeLike | None = None,
        *,
        source: str = "last_seen",
        colo: str | None = None,
        device_id: str | None = None,
        mode: str | None = None,
        platform: str | None = None,
        status: str | None = None,
        version: str | None = None,
        sort_by: str | None = None,
        per_page: int = 50,
        max_requests: int | None = None,
        progress: bool | None = None,
    ) -> list[bytes]:
        """Async twin of :meth:`pages`."""
        filters = {
            "colo": colo,
            "device_id": device_id,
            "mode": mode,
            "platform": platform,
            "status": status,
            "version": version,
        }
        query = self._query(
            start, end, source=source, per_page=per_page, sort_by=sort_by, filters=filters
        )
        budget = self.max_requests if max_requests is None else max_requests
        async with self._session(progress, "dexkit devices") as s:
            s.budget = budget
            started = time.perf_counter()
            outcome = await self._page_all(s, query, budget=budget)
            log.info(
                "fetched %d page(s), %d record(s) in %.2fs with %d request(s)",
                len(outcome.pages),
                outcome.records,
                time.perf_counter() - started,
                s.requests,
            )
        return outcome.pages

    def pages(
        self,
        start: TimeLike,
        end: TimeLike | None = None,
        *,
        source: str = "last_seen",
        colo: str | None = None,
        device_id: str | None = None,
        mode: str | None = None,
        platform: str | None = None,
        status: str | None = None,
        version: str | None = None,
        sort_by: str | None = None,
        per_page: int = 50,
        max_requests: int | None = None,
        progress: bool | None = None,
    ) -> list[bytes]:
        """Fetch the raw pages of a device-list query, in order.

        Takes the arguments of :meth:`devices`. Each item is one response body, as the API sent
        it; pages after the stop (a repeated page, say) are left out, but records that moved
        between pages are not removed (``read_pages`` + dedup is what :meth:`devices` does).

        Examples
        --------
        >>> from dexkit.client import Client
        >>> from dexkit.testing import FakeCloudflare
        >>> with FakeCloudflare(devices=120, seed=1) as api:
        ...     client = Client(api.account_id, api.api_token, base_url=api.base_url)
        ...     pages = client.pages("-30m", per_page=50, progress=False)
        >>> from dexkit import read_pages
        >>> len(pages), 100 < read_pages(pages).height <= 120
        (3, True)
        """
        return _run(
            self.apages(
                start,
                end,
                source=source,
                colo=colo,
                device_id=device_id,
                mode=mode,
                platform=platform,
                status=status,
                version=version,
                sort_by=sort_by,
                per_page=per_page,
                max_requests=max_requests,
                progress=progress,
            )
        )

    async def adevices(
        self,
        start: TimeLike,
        end: TimeLike | None = None,
        *,
        source: str = "last_seen",
        colo: str | None = None,
        device_id: str | None = None,
        mode: str | None = None,
        platform: str | None = None,
        status: str | None = None,
        version: str | None = None,
        sort_by: str | None = None,
        per_page: int = 50,
        max_requests: int | None = None,
        progress: bool | None = None,
    ) -> pl.DataFrame:
        """Async twin of :meth:`devices`."""
        pages = await self.apages(
            start,
            end,
            source=source,
            colo=colo,
            device_id=device_id,
            mode=mode,
            platform=platform,
            status=status,
            version=version,
            sort_by=sort_by,
            per_page=per_page,
            max_requests=max_requests,
            progress=progress,
        )
        return _dedup(read_pages(pages))

    def devices(
        self,
        start: TimeLike,
        end: TimeLike | None = None,
        *,
        source: str = "last_seen",
        colo: str | None = None,
        device_id: str | None = None,
        mode: str | None = None,
        platform: str | None = None,
        status: str | None = None,
        version: str | None = None,
        sort_by: str | None = None,
        per_page: int = 50,
        max_requests: int | None = None,
        progress: bool | None = None,
    ) -> pl.DataFrame:
        """Fetch device records as a typed frame, one row per record.

        Parameters
        ----------
        start, end
            The window. Aware or naive (UTC) datetimes, ISO 8601 strings, epoch milliseconds,
            ``"now"``, or offsets back from now (``"-90m"``, ``"2h"``, a ``timedelta``).
            ``end`` defaults to now.
        source
            ``"last_seen"`` (each device's latest state, windows up to 60 minutes),
            ``"hourly"`` (hourly aggregates) or ``"raw"``; the last two reach back 7 days.
        colo, device_id, mode, platform, status, version
            Exact-match filters, applied by the API.
        sort_by
            The API's sort dimension (it has no direction).
        per_page
            Records per request, 1–50: 50 (the most) spends the fewest requests.
        max_requests
            The budget of this call (default: the client's ``max_requests``).
        progress
            Show a progress bar (default: the client's ``progress``).

        Returns
        -------
        polars.DataFrame
            The typed frame of :func:`dexkit.read_pages` (:data:`dexkit.SCHEMA`); a record seen
            twice (records move between pages while paging) appears once.

        Raises
        ------
        QueryError
            The API would reject the query (the message says how to fix it); no request made.
        BudgetError
            The query needs more than ``max_requests`` requests (one request spent to find out).
        AuthError, NotFoundError, APIError
            Cloudflare refused the request (not retried).
        RateLimitError, ServerError, TransportError, PageError
            Retries did not get a good page.

        Examples
        --------
        >>> from dexkit.client import Client
        >>> from dexkit.testing import FakeCloudflare
        >>> with FakeCloudflare(devices=120, seed=1) as api:
        ...     client = Client(api.account_id, api.api_token, base_url=api.base_url)
        ...     frame = client.devices("-30m", progress=False)
        ...     fra = client.devices("-30m", colo=frame["colo"][0], progress=False)
        >>> frame.height == frame["device_id"].n_unique(), fra["colo"].n_unique()
        (True, 1)
        >>> client.devices("-3h")
        Traceback (most recent call last):
        ...
        dexkit.errors.QueryError: a 'last_seen' window covers at most 60 minutes, ...:
        use source='hourly' (or 'raw') for windows over 60 minutes, or shorten the window
        """
        return _run(
            self.adevices(
                start,
                end,
                source=source,
                colo=colo,
                device_id=device_id,
                mode=mode,
                platform=platform,
                status=status,
                version=version,
                sort_by=sort_by,
                per_page=per_page,
                max_requests=max_requests,
                progress=progress,
            )
        )

    # -- plan -------------------------------------------------------------------------------

    async def aplan(
        self,
        start: TimeLike,
        end: TimeLike | None = None,
        *,
        source: str = "last_seen",
        colo: str | None = None,
        device_id: str | None = None,
        mode: str | None = None,
        platform: str | None = None,
        status: str | None = None,
        version: str | None = None,
        per_page: int = 50,
        chunk: timedelta | None = None,
        into: str | os.PathLike[str] | None = None,
    ) -> Plan:
        """Async twin of :meth:`plan`."""
        filters = {
            "colo": colo,
            "device_id": device_id,
            "mode": mode,
            "platform": platform,
            "status": status,
            "version": version,
        }
        query = self._query(
            start, end, source=source, per_page=per_page, sort_by=None, filters=filters
        )
        if into is not None and chunk is None:
            chunk = timedelta(hours=1)  # what fetch() stores by default
        chunks = None if chunk is None else split(query, now=datetime.now(UTC), size=chunk)
        stored = 0
        if chunks is not None and into is not None:
            store = PageStore(into, query.shape())
            todo = [c for c in chunks if not store.complete(c)]
            stored = len(chunks) - len(todo)
            if not todo:  # the store holds the whole window: nothing to ask
                count = sum(store.records(c) for c in chunks)
                pages = sum(store.page_count(c) for c in chunks)
                plan = self._make_plan(query, count, pages, 0, 0.0, stored=stored, into=True)
                log.info("plan: %s", plan)
                return plan
            chunks = todo
        # a page store widens hourly/raw windows to whole chunks: plan what it will fetch
        parts = [query] if chunks is None else [c.query for c in chunks]
        span = query.with_window(parts[0].start, parts[-1].end)
        async with self._session(False, "dexkit plan") as s:
            return await self._plan(s, span, len(parts), stored=stored, into=into is not None)

    async def _plan(
        self, s: _Session, query: Query, chunks: int = 1, *, stored: int = 0, into: bool = False
    ) -> Plan:
        started = time.perf_counter()
        _, doc = await s.get(self._path("devices"), query.params(1), page=1)
        latency = time.perf_counter() - started
        info = doc.get("result_info") if isinstance(doc.get("result_info"), dict) else None
        pages, total_count = _totals(info, query.per_page)
        if pages is None:
            pages = 1
        plan = self._make_plan(
            query, total_count, max(pages, 1), chunks, latency, stored=stored, into=into
        )
        log.info("plan: %s", plan)
        return plan

    def plan(
        self,
        start: TimeLike,
        end: TimeLike | None = None,
        *,
        source: str = "last_seen",
        colo: str | None = None,
        device_id: str | None = None,
        mode: str | None = None,
        platform: str | None = None,
        status: str | None = None,
        version: str | None = None,
        per_page: int = 50,
        chunk: timedelta | None = None,
        into: str | os.PathLike[str] | None = None,
    ) -> Plan:
        """Say what a device-list query costs in requests, time and quota, spending one request.

        Takes the arguments of :meth:`devices`, plus ``chunk``, the chunk size of a page store,
        and ``into``, a page store: the plan then covers the window as :meth:`fetch` stores it
        (``hourly`` and ``raw`` widened to whole chunks, each extra chunk up to one more
        request) and leaves out the chunks the store holds already; when it holds them all, the
        plan costs no request and says 0. The plan gives the records, pages and requests, the
        time they hold the account's quota (requests / limit × window: 9,600 requests are
        40 min at 1,200 per 5 min), the share of one window's quota, how long this client takes,
        and the cheaper ways to the same answer that apply (``hourly`` instead of ``raw``, a
        filter, ``/over-time`` and ``/live`` for fleet-level lines, a page store, a Logpush
        archive).

        Examples
        --------
        >>> from dexkit.client import Client
        >>> from dexkit.testing import FakeCloudflare
        >>> with FakeCloudflare(devices=120, seed=1) as api:
        ...     client = Client(api.account_id, api.api_token, base_url=api.base_url)
        ...     plan = client.plan("-30m")
        >>> plan.pages, plan.requests, 100 < plan.total_count <= 120
        (3, 3, True)
        >>> print(plan)  # doctest: +ELLIPSIS
        source='last_seen', ...
          1... records in 3 page(s) of 50
          3 request(s) ≈ 0.8 s at 1,200 per 5 min (0% of the 5 min quota; this client: ...)
        """
        return _run(
            self.aplan(
                start,
                end,
                source=source,
                colo=colo,
                device_id=device_id,
                mode=mode,
                platform=platform,
                status=status,
                version=version,
                per_page=per_page,
                chunk=chunk,
                into=into,
            )
        )

    # -- page store -------------------------------------------------------------------------

    async def afetch(
        self,
        start: TimeLike,
        end: TimeLike | None = None,
        *,
        into: str | os.PathLike[str] | None = None,
        source: str = "last_seen",
        colo: str | None = None,
        device_id: str | None = None,
        mode: str | None = None,
        platform: str | None = None,
        status: str | None = None,
        version: str | None = None,
        sort_by: str | None = None,
        per_page: int = 50,
        chunk: timedelta = timedelta(hours=1),
        max_requests: int | None = None,
        progress: bool | None = None,
    ) -> FetchSummary:
        """Async twin of :meth:`fetch`."""
        filters = {
            "colo": colo,
            "device_id": device_id,
            "mode": mode,
            "platform": platform,
            "status": status,
            "version": version,
        }
        query = self._query(
            start, end, source=source, per_page=per_page, sort_by=sort_by, filters=filters
        )
        now = datetime.now(UTC)
        if into is None:
            into = default_store(
                query.source,
                account_id=self.account_id,
                per_page=query.per_page,
                sort_by=query.sort_by,
                **dict(query.filters),
            )
        store = PageStore(into, query.shape())
        chunks = split(query, now=now, size=chunk)
        todo = [c for c in chunks if not store.complete(c)]
        done = [c for c in chunks if c not in todo]
        budget = self.max_requests if max_requests is None else max_requests
        started = time.perf_counter()
        async with self._session(progress, "dexkit fetch") as s:
            s.budget = budget
            if len(todo) > 1 and budget is not None:
                # one request over the span still to fetch says what the chunks will cost
                span = query.with_window(todo[0].query.start, todo[-1].query.end)
                plan = await self._plan(s, span, len(todo), stored=len(done), into=True)
                if plan.requests + s.requests > budget:
                    raise _budget_error(plan, budget, plan.requests + s.requests)
            try:
                # chunks, like pages, go through a pool: at most `concurrency` at a time
                done_chunks = await _pool(
                    todo, lambda c: self._fetch_chunk(s, store, c, budget), self.concurrency
                )
                outcomes = [done_chunks[c] for c in todo]
            finally:
                store.save()
            requests = s.requests
        summary = FetchSummary(
            path=str(store.root),
            query=str(query),
            chunks=len(chunks),
            chunks_reused=len(done),
            pages_fetched=sum(o.fetched for o in outcomes),
            pages_reused=sum(o.reused for o in outcomes) + sum(store.page_count(c) for c in done),
            requests=requests,
            records=sum(o.records for o in outcomes) + sum(store.records(c) for c in done),
            duplicates=sum(o.duplicates for o in outcomes),
            seconds=time.perf_counter() - started,
        )
        store.log_fetch(query, asdict(summary))
        log.info("fetch: %s", summary)
        return summary

    async def _fetch_chunk(
        self, s: _Session, store: PageStore, chunk: Chunk, budget: int | None
    ) -> _Outcome:
        if not await _claim(store, chunk):  # another fetch completed it while this one waited
            pages, records = store.page_count(chunk), store.records(chunk)
            s.bar.total = (s.bar.total or 0) + pages  # its pages count as done here too
            s.bar.update(pages)
            s.bar.chunk_done(chunk.key, pages, records, how="fetched by another fetch")
            return _Outcome(
                pages=[],
                numbers=[],
                records=records,
                duplicates=0,
                total_pages=None,
                total_count=None,
                stop="fetched by another fetch",
                fetched=0,
                reused=pages,
            )
        try:
            have = store.prepare(chunk)
            try:
                outcome = await self._page_all(
                    s,
                    chunk.query,
                    budget=budget,
                    have=have,
                    on_page=lambda n, raw: store.write_page(chunk, n, raw),
                    on_totals=lambda pages, count: store.begin(chunk, pages, count),
                )
            except BaseException:
                store.interrupted(chunk)
                raise
            store.finish(chunk, outcome.numbers, records=outcome.records, stop=outcome.stop)
        finally:
            store.release(chunk)
        s.bar.chunk_done(chunk.key, len(outcome.numbers), outcome.records)
        return outcome

    def fetch(
        self,
        start: TimeLike,
        end: TimeLike | None = None,
        *,
        into: str | os.PathLike[str] | None = None,
        source: str = "last_seen",
        colo: str | None = None,
        device_id: str | None = None,
        mode: str | None = None,
        platform: str | None = None,
        status: str | None = None,
        version: str | None = None,
        sort_by: str | None = None,
        per_page: int = 50,
        chunk: timedelta = timedelta(hours=1),
        max_requests: int | None = None,
        progress: bool | None = None,
    ) -> FetchSummary:
        """Fetch a query's pages into a page store on disk, resuming what is there.

        Each page is saved (gzipped, atomically) as it arrives, under ``into``, with a
        ``manifest.json`` of the query, times and counts (no credentials). Re-running the same
        fetch after an interruption requests only the pages that are missing. ``hourly`` and
        ``raw`` windows are split into chunks aligned to ``chunk`` (UTC hours by default):
        a complete chunk is never fetched again, so a notebook re-run over an overlapping window
        fetches only what is new. Read the store offline with ``dexkit.read_pages(into)``.

        Takes the arguments of :meth:`devices`, plus ``into`` and ``chunk``. Without ``into``
        the pages go to the default store of the query's shape,
        :func:`dexkit.default_store` (``$DEXKIT_STORE`` or the user cache directory, per
        account), where the notebooks and ``dexkit fetch`` / ``dexkit report`` find them too.

        Returns
        -------
        FetchSummary
            What was fetched and what was reused.

        Examples
        --------
        >>> import tempfile, dexkit
        >>> from dexkit.client import Client
        >>> from dexkit.testing import FakeCloudflare
        >>> store = tempfile.mkdtemp()
        >>> with FakeCloudflare(devices=120, seed=1) as api:
        ...     client = Client(api.account_id, api.api_token, base_url=api.base_url)
        ...     first = client.fetch("2h", "now", source="hourly", into=store, progress=False)
        ...     again = client.fetch("2h", "now", source="hourly", into=store, progress=False)
        >>> first.chunks, again.chunks_reused >= 1, dexkit.read_pages(store).height >= 120
        (3, True, True)
        """
        return _run(
            self.afetch(
                start,
                end,
                into=into,
                source=source,
                colo=colo,
                device_id=device_id,
                mode=mode,
                platform=platform,
                status=status,
                version=version,
                sort_by=sort_by,
                per_page=per_page,
                chunk=chunk,
                max_requests=max_requests,
                progress=progress,
            )
        )

    # -- aggregates -------------------------------------------------------------------------

    async def _single(self, op: str, params: Mapping[str, str]) -> Any:
        async with self._session(False, "dexkit") as s:
            _, doc = await s.get(self._path(op), params, page=None)
        result = doc.get("result")
        stats = result.get("deviceStats") if isinstance(result, dict) else None
        if not isinstance(stats, dict):
            raise PageError(f"/{op}: the response has no result.deviceStats object")
        return stats

    async def alive_counts(self, since_minutes: int = 10) -> pl.DataFrame:
        """Async twin of :meth:`live_counts`."""
        if (
            isinstance(since_minutes, bool)
            or not isinstance(since_minutes, int)
            or not 1 <= since_minutes <= 60
        ):
            raise QueryError(
                f"since_minutes must be an integer from 1 to 60, got {since_minutes!r}"
            )
        stats = await self._single("live", {"since_minutes": str(since_minutes)})
        rows: list[dict[str, Any]] = []
        for name, dimension in _LIVE_DIMENSIONS:
            for item in stats.get(name) or []:
                rows.append(
                    {
                        "dimension": dimension,
                        "value": item.get("value"),
                        "unique_devices": item.get("uniqueDevicesTotal"),
                    }
                )
        rows.append(
            {"dimension": "total", "value": None, "unique_devices": stats.get("uniqueDevicesTotal")}
        )
        return pl.DataFrame(rows, schema=_COUNTS_SCHEMA)

    def live_counts(self, since_minutes: int = 10) -> pl.DataFrame:
        """Unique devices by colo, mode, platform, status and version (``/live``).

        Parameters
        ----------
        since_minutes
            The window, 1–60 minutes back from now (the server's clock).

        Returns
        -------
        polars.DataFrame
            ``dimension`` (``colo``, ``mode``, ``platform``, ``status``, ``version``, or
            ``total``), ``value`` and ``unique_devices``.

        Examples
        --------
        >>> from dexkit.client import Client
        >>> from dexkit.testing import FakeCloudflare
        >>> with FakeCloudflare(devices=120, seed=1) as api:
        ...     client = Client(api.account_id, api.api_token, base_url=api.base_url)
        ...     live = client.live_counts(since_minutes=30)
        >>> live.columns, live["dimension"].unique(maintain_order=True).to_list()
        (['dimension', 'value', 'unique_devices'],
         ['colo', 'mode', 'platform', 'status', 'version', 'total'])
        >>> live.filter(dimension="colo")["unique_devices"].sum() == live[-1, "unique_devices"]
        True
        """
        return _run(self.alive_counts(since_minutes))

    async def acounts_over_time(
        self,
        start: TimeLike,
        end: TimeLike | None = None,
        *,
        colo: str | None = None,
        device_id: str | None = None,
    ) -> pl.DataFrame:
        """Async twin of :meth:`counts_over_time`."""
        query = self._query(
            start,
            end,
            source="hourly",
            per_page=50,
            sort_by=None,
            filters={"colo": colo, "device_id": device_id},
        )
        params = {
            k: v for k, v in query.params(1).items() if k in ("from", "to", "colo", "device_id")
        }
        stats = await self._single("over-time", params)
        rows: list[dict[str, Any]] = []
        for name, dimension in (("byMode", "mode"), ("byStatus", "status")):
            for item in stats.get(name) or []:
                stamp = item.get("timestamp")
                rows.append(
                    {
                        "dimension": dimension,
                        "timestamp": parse_time(stamp, now=query.end) if stamp else None,
                        "value": item.get("value"),
                        "unique_devices": item.get("uniqueDevicesTotal"),
                    }
                )
        return pl.DataFrame(rows, schema=_OVER_TIME_SCHEMA)

    def counts_over_time(
        self,
        start: TimeLike,
        end: TimeLike | None = None,
        *,
        colo: str | None = None,
        device_id: str | None = None,
    ) -> pl.DataFrame:
        """Unique devices by mode and by status over time (``/over-time``), up to 7 days back.

        Returns
        -------
        polars.DataFrame
            ``dimension`` (``mode`` or ``status``), ``timestamp``, ``value``, ``unique_devices``.

        Examples
        --------
        >>> from dexkit.client import Client
        >>> from dexkit.testing import FakeCloudflare
        >>> with FakeCloudflare(devices=120, seed=1) as api:
        ...     client = Client(api.account_id, api.api_token, base_url=api.base_url)
        ...     over = client.counts_over_time("-3h")
        >>> over.columns, sorted(over["dimension"].unique())
        (['dimension', 'timestamp', 'value', 'unique_devices'], ['mode', 'status'])
        """
        return _run(self.acounts_over_time(start, end, colo=colo, device_id=device_id))

    async def across_check(self, since_minutes: int = 60) -> pl.DataFrame:
        """Async twin of :meth:`cross_check`."""
        live = await self.alive_counts(since_minutes)
        frame = await self.adevices(f"-{since_minutes}m", source="last_seen", progress=False)
        return compare_counts(live, frame)

    def cross_check(self, since_minutes: int = 60) -> pl.DataFrame:
        """Set ``/live`` counts beside the same counts computed from :meth:`devices`.

        Fetches the ``last_seen`` devices of the last ``since_minutes`` and compares; see
        :func:`compare_counts`. Exact agreement is not promised (clocks and windows differ).

        Examples
        --------
        >>> from dexkit.client import Client
        >>> from dexkit.testing import FakeCloudflare
        >>> with FakeCloudflare(devices=120, seed=1) as api:
        ...     client = Client(api.account_id, api.api_token, base_url=api.base_url)
        ...     check = client.cross_check(since_minutes=30)
        >>> check.columns
        ['dimension', 'value', 'live', 'computed', 'difference']
        >>> check.filter(dimension="total")["difference"].to_list()
        [0]
        """
        return _run(self.across_check(since_minutes))


_LIVE_DIMENSIONS = (
    ("byColo", "colo"),
    ("byMode", "mode"),
    ("byPlatform", "platform"),
    ("byStatus", "status"),
    ("byVersion", "version"),
)
_COUNTS_SCHEMA = pl.Schema({"dimension": pl.String, "value": pl.String, "unique_devices": pl.Int64})
_OVER_TIME_SCHEMA = pl.Schema(
    {
        "dimension": pl.String(),
        "timestamp": pl.Datetime("us", "UTC"),
        "value": pl.String(),
        "unique_devices": pl.Int64(),
    }
)


def _int(info: Mapping[str, Any] | None, name: str) -> int | None:
    value = None if info is None else info.get(name)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _totals(info: Mapping[str, Any] | None, per_page: int) -> tuple[int | None, int | None]:
    """``total_pages`` and ``total_count`` of page 1's ``result_info``, checked in O(1).

    Raises :class:`~dexkit.PageError` for a total no real query has (see :data:`MAX_PAGES`).
    """
    total_pages, total_count = _int(info, "total_pages"), _int(info, "total_count")
    for name, value, bound in (
        ("total_pages", total_pages, MAX_PAGES),
        ("total_count", total_count, MAX_RECORDS),
    ):
        if value is not None and not 0 <= value <= bound:
            sent = repr((info or {}).get(name))
            sent = sent if len(sent) <= 30 else sent[:29] + "…"
            raise PageError(
                f"result_info says {name}={sent}, which no real query has (0 to {bound:,}): "
                "the server's answer cannot be used",
                page=1,
            )
    if total_pages is None and total_count is not None:
        total_pages = math.ceil(total_count / per_page)
    return total_pages, total_count


_K = TypeVar("_K")


async def _pool(
    items: Iterable[_K],
    work: Callable[[_K], Awaitable[_T]],
    size: int,
    *,
    last: Callable[[_T], bool] | None = None,
) -> dict[_K, _T]:
    """``{item: await work(item)}`` with at most ``size`` running at once (never a task each).

    Items are started in order; once ``last(result)`` is true, no later item is started
    (those already running finish).
    """
    out: dict[_K, _T] = {}
    queue = enumerate(items)
    cut = math.inf

    async def worker() -> None:
        nonlocal cut
        for index, item in queue:  # one iterator shared by the workers: each item taken once
            if index > cut:
                return
            result = out[item] = await work(item)
            if last is not None and last(result):
                cut = min(cut, index)

    await _gather([worker() for _ in range(max(1, size))])
    return out


def _dedup(frame: pl.DataFrame) -> pl.DataFrame:
    before = frame.height
    frame = frame.unique(subset=_DEDUP, keep="first", maintain_order=True)
    if frame.height < before:
        log.info("dropped %d duplicate record(s)", before - frame.height)
    return frame


def budget_advice(plan: Plan, budget: int, *, cli: bool = False, needed: int | None = None) -> str:
    """Say why ``plan`` exceeds ``budget`` and how to fix it, in Python's or the CLI's terms.

    Parameters
    ----------
    plan
        The refused plan (``BudgetError.plan``).
    budget
        The ``max_requests`` in force.
    cli
        Name ``--max-requests`` and the ``--colo``-style flags instead of keywords.
    needed
        The requests the whole call needs (default: the plan's), when earlier chunks or retries
        of the same call have spent some already.

    Examples
    --------
    >>> plan = Plan("raw", 96_000, 50, 1920, 1920, 1.0, 0.1, 4, (1200, 300.0), source="raw")
    >>> print(budget_advice(plan, 1000, cli=True).splitlines()[0])  # doctest: +NORMALIZE_WHITESPACE
    this query needs 1,920 requests, more than --max-requests 1,000: narrow it, or pass
    --max-requests 1920 to spend them
    """
    needed = plan.requests if needed is None else needed
    if cli:
        limit = f"--max-requests {budget:,}"
        flags = "--colo, --platform, --status, --version, --device-id"
        snapshot, spend = "--source last_seen", f"--max-requests {needed}"
    else:
        limit = f"max_requests={budget:,}"
        flags = "colo=, platform=, status=, version=, device_id="
        snapshot, spend = "source='last_seen'", f"max_requests={needed}"
    return (
        f"this query needs {needed:,} requests, more than {limit}: narrow it, or pass "
        f"{spend} to spend them\n{plan}\n"
        f"  narrow it: add a filter ({flags}), shorten the window, or use {snapshot} "
        "(one record per device)"
    )


def _budget_error(plan: Plan, budget: int, needed: int | None = None) -> BudgetError:
    return BudgetError(budget_advice(plan, budget, needed=needed), plan=plan)


def compare_counts(live: pl.DataFrame, devices: pl.DataFrame) -> pl.DataFrame:
    """Set ``/live`` counts beside distinct-device counts computed from a device frame.

    Parameters
    ----------
    live
        A frame of :meth:`Client.live_counts`.
    devices
        A frame of :meth:`Client.devices` (``last_seen`` over the same window).

    Returns
    -------
    polars.DataFrame
        ``dimension``, ``value``, ``live``, ``computed`` and ``difference`` (computed − live),
        one row per value seen by either side.

    Examples
    --------
    >>> import polars as pl
    >>> live = pl.DataFrame({"dimension": ["colo", "colo", "total"], "value": ["FRA", "LHR", None],
    ...                      "unique_devices": [2, 1, 3]})
    >>> devices = pl.DataFrame({"device_id": ["a", "b", "c"], "colo": ["FRA", "FRA", "AMS"],
    ...                         "mode": "warp", "platform": "windows", "status": "connected",
    ...                         "version": "1.0"})
    >>> compare_counts(live, devices).filter(pl.col("dimension").is_in(["colo", "total"]))
    shape: (4, 5)
    ┌───────────┬───────┬──────┬──────────┬────────────┐
    │ dimension ┆ value ┆ live ┆ computed ┆ difference │
    │ ---       ┆ ---   ┆ ---  ┆ ---      ┆ ---        │
    │ str       ┆ str   ┆ i64  ┆ i64      ┆ i64        │
    ╞═══════════╪═══════╪══════╪══════════╪════════════╡
    │ colo      ┆ AMS   ┆ null ┆ 1        ┆ null       │
    │ colo      ┆ FRA   ┆ 2    ┆ 2        ┆ 0          │
    │ colo      ┆ LHR   ┆ 1    ┆ null     ┆ null       │
    │ total     ┆ null  ┆ 3    ┆ 3        ┆ 0          │
    └───────────┴───────┴──────┴──────────┴────────────┘
    """
    parts = [
        devices.group_by(pl.col(d).cast(pl.String).alias("value"))
        .agg(pl.col("device_id").n_unique().cast(pl.Int64).alias("computed"))
        .select(pl.lit(d).alias("dimension"), "value", "computed")
        for _, d in _LIVE_DIMENSIONS
    ]
    total = pl.DataFrame(
        {"dimension": ["total"], "value": [None], "computed": [devices["device_id"].n_unique()]},
        schema={"dimension": pl.String, "value": pl.String, "computed": pl.Int64},
    )
    computed = pl.concat([*parts, total])
    return (
        live.rename({"unique_devices": "live"})
        .join(computed, on=["dimension", "value"], how="full", coalesce=True, nulls_equal=True)
        .with_columns(difference=pl.col("computed") - pl.col("live"))
        .sort("dimension", "value", nulls_last=True)
    )
