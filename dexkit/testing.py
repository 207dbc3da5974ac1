"""A fake Cloudflare DEX fleet-status API over real HTTP, for tests, demos and benchmarks.

:class:`FakeCloudflare` serves the four fleet-status endpoints on ``127.0.0.1`` (an ephemeral port
by default) from a synthetic fleet (:class:`dexkit.synth.Fleet`) with the API's envelope,
pagination, parameter rules and error bodies; it checks Bearer and email + key authentication,
can add latency, enforce a server-side rate limit (429 + ``Retry-After`` and ``Ratelimit``
headers) and inject faults. It records every request it receives (arrival time, path, page,
status, fault) so that tests can assert what a client did.

Fault kinds (for ``faults={kind: probability}`` or :meth:`FakeCloudflare.inject`):

====================  ======================================================================
``"429"``             429 with ``Retry-After``; every request is refused until the window ends
``"500"``             a JSON 500 error envelope
``"html502"``         a proxy's HTML 502 page
``"reset"``           the connection is reset (``SO_LINGER`` 0) before any response
``"truncate"``        ``Content-Length`` promises more bytes than are sent
``"slow"``            the response waits ``slow`` seconds (longer than a client's timeout)
``"repeat"``          page *p* serves page *p - 1* (a server that ignores ``page`` repeats it)
``"no_result_info"``  the envelope has no ``result_info``
``"no_result"``       ``success: true`` without ``result``
``"duplicate"``       page *p* also carries the last record of page *p - 1* (a record that moved)
====================  ======================================================================

Nothing here needs pytest: the module imports only the standard library, orjson and dexkit.

Examples
--------
>>> import httpx
>>> from datetime import UTC, datetime, timedelta
>>> from dexkit.testing import FakeCloudflare
>>> now = datetime.now(UTC)
>>> with FakeCloudflare(devices=120, seed=1) as api:
...     response = httpx.get(
...         f"{api.base_url}/accounts/{api.account_id}/dex/fleet-status/devices",
...         params={"from": (now - timedelta(minutes=30)).isoformat(), "to": now.isoformat(),
...                 "page": 1, "per_page": 50},
...         headers={"Authorization": f"Bearer {api.api_token}"},
...     )
>>> response.status_code, sorted(response.json()["result_info"])
(200, ['count', 'page', 'per_page', 'total_count', 'total_pages'])
>>> [(r.path.rsplit("/", 1)[1], r.page, r.status) for r in api.requests]
[('devices', 1, 200)]
"""

from __future__ import annotations

import contextlib
import random
import re
import secrets
import socket
import struct
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import orjson

from dexkit.synth import _stamp

__all__ = ["FAULTS", "FakeCloudflare", "Request", "iter_faults"]

#: The fault kinds :class:`FakeCloudflare` can inject.
FAULTS: tuple[str, ...] = (
    "429",
    "500",
    "html502",
    "reset",
    "truncate",
    "slow",
    "repeat",
    "no_result_info",
    "no_result",
    "duplicate",
)

_SOURCES = ("last_seen", "hourly", "raw")
_SORT_BY = {
    "colo": "colo",
    "device_id": "deviceId",
    "mode": "mode",
    "platform": "platform",
    "status": "status",
    "timestamp": "timestamp",
    "version": "version",
}
_FILTERS = {
    "colo": "colo",
    "device_id": "deviceId",
    "mode": "mode",
    "platform": "platform",
    "status": "status",
    "version": "version",
}
_ROUTES = re.compile(
    r"^/accounts/(?P<account>[^/]+)/dex/(?:"
    r"fleet-status/(?P<op>devices|live|over-time)"
    r"|devices/(?P<device>[^/]+)/fleet-status/live)/?$"
)
_HTML_502 = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>"
    b"<body><center><h1>502 Bad Gateway</h1></center><hr><center>cloudflare</center>"
    b"</body></html>\n"
)
# The fake accepts start times this much older than 7 days, so that a client's "-7d" survives
# the trip.
_SLACK = timedelta(minutes=5)


class _Fleet(Protocol):
    def records(self, source: str, start: datetime, end: datetime) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class Request:
    """One request as :class:`FakeCloudflare` received it (no headers: they hold secrets).

    Attributes
    ----------
    at
        Arrival time, ``time.monotonic()`` of the serving process.
    path
        The URL path.
    params
        The query parameters (first value of each).
    page
        The ``page`` parameter of a device-list request, else ``None``.
    status
        The HTTP status answered (0 for a reset connection).
    fault
        The injected fault kind, or ``None``.
    """

    at: float
    path: str
    params: dict[str, str]
    page: int | None
    status: int
    fault: str | None


class _Reject(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _parse_time(value: str, name: str) -> datetime:
    text = value.strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise _Reject(400, 1001, f"Invalid '{name}': expected ISO 8601 or epoch ms") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _number(params: Mapping[str, str], name: str, low: int, high: int | None) -> int:
    if name not in params:
        raise _Reject(400, 1001, f"Missing required query parameter '{name}'")
    try:
        value = int(float(params[name]))
    except ValueError:
        raise _Reject(400, 1001, f"Invalid '{name}': not a number") from None
    if value < low or (high is not None and value > high):
        top = f" and {high}" if high is not None else ""
        raise _Reject(400, 1001, f"Invalid '{name}': must be between {low}{top}")
    return value


def _envelope(result: Any, result_info: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"success": True, "errors": [], "messages": [], "result": result}
    if result_info is not None:
        body["result_info"] = result_info
    return body


def _failure(code: int, message: str) -> bytes:
    errors = [{"code": code, "message": message}]
    return orjson.dumps({"success": False, "errors": errors, "messages": [], "result": None})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeCloudflare

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet about clients that went away."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    server_version = "cloudflare"
    sys_version = ""
    wbufsize = 1 << 16  # headers and body leave in one write, flushed after each request

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Requests are recorded in ``FakeCloudflare.requests``, not printed."""

    def do_GET(self) -> None:
        self.server.fake._serve(self)


class FakeCloudflare:
    """A fake of Cloudflare's DEX fleet-status API over real HTTP on ``127.0.0.1``.

    Parameters
    ----------
    devices
        Number of devices in the synthetic fleet.
    seed
        Seed of the synthetic fleet (same seed, same records).
    latency
        Seconds each response waits before it is sent.
    incident
        A :class:`dexkit.synth.Incident` for the fleet, or ``None``.
    fleet
        Serve this fleet instead (any object with ``records(source, start, end)``). A
        :class:`dexkit.synth.Fleet` built with ``countable=True`` (as the default one is) is
        served page by page from an index; any other builds each listing whole.
    port
        Port to listen on; 0 (the default) picks a free one.
    account_id, api_token, email, api_key
        Credentials the fake accepts; the token and key are random by default.
    rate_limit
        ``(requests, seconds)``: a sliding-window limit like Cloudflare's; ``None`` for none.
        Every response then carries ``Ratelimit`` and ``Ratelimit-Policy`` headers.
    retry_after
        Seconds of ``Retry-After`` on a 429 (Cloudflare blocks for 300).
    faults
        ``{kind: probability}``: inject faults at random (seeded by ``fault_seed``) into
        device-list requests.
    slow
        Seconds a ``"slow"`` response waits.
    now
        The fake's clock: ``None`` for the real time, a fixed ``datetime``, or a callable.

    Attributes
    ----------
    base_url
        ``http://127.0.0.1:<port>/client/v4`` once started.
    requests
        Every request received so far (:class:`Request`).
    peak
        The most requests it was serving at once.

    Examples
    --------
    >>> from dexkit.client import Client
    >>> from dexkit.testing import FakeCloudflare
    >>> with FakeCloudflare(devices=120, seed=1) as api:
    ...     client = Client(api.account_id, api.api_token, base_url=api.base_url)
    ...     frame = client.devices("-30m", progress=False)
    ...     pages = [r.page for r in api.requests]
    >>> frame.height == frame["device_id"].n_unique() > 100, sorted(pages)
    (True, [1, 2, 3])
    """

    def __init__(
        self,
        devices: int = 1000,
        *,
        seed: int = 0,
        latency: float = 0.0,
        incident: Any = None,
        fleet: _Fleet | None = None,
        port: int = 0,
        account_id: str = "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        api_token: str | None = None,
        email: str = "fleet-admin@example.com",
        api_key: str | None = None,
        rate_limit: tuple[int, float] | None = None,
        retry_after: float = 1.0,
        faults: Mapping[str, float] | None = None,
        fault_seed: int = 0,
        slow: float = 2.0,
        now: datetime | Callable[[], datetime] | None = None,
    ) -> None:
        unknown = set(faults or {}) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown fault kind(s) {sorted(unknown)}; known: {FAULTS}")
        if fleet is None:
            from dexkit.synth import Fleet

            fleet = Fleet(devices, seed=seed, incident=incident, countable=True)
        self.fleet: _Fleet = fleet
        self._index: Any = None
        if getattr(fleet, "countable", False) and type(fleet).__module__ == "dexkit.synth":
            from dexkit._fleetindex import FleetIndex

            # pages, totals and aggregates in time proportional to the page, not the window
            self._index = FleetIndex(fleet)  # type: ignore[arg-type]
        self.latency = latency
        self.port = port
        self.account_id = account_id
        self.api_token = api_token or "fake-token-" + secrets.token_urlsafe(24)
        self.email = email
        self.api_key = api_key or secrets.token_hex(20)
        self.rate_limit = rate_limit
        self.retry_after = retry_after
        self.faults = dict(faults or {})
        self.slow = slow
        self._now = now
        self._rng = random.Random(fault_seed)
        self._lock = threading.Lock()
        self._listing_lock = threading.Lock()
        self._listings: OrderedDict[tuple[Any, ...], list[bytes]] = OrderedDict()
        self._scripted: list[list[Any]] = []  # [kind, page or None, times left]
        self._arrivals: deque[float] = deque()
        self._blocked_until = 0.0
        self._stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._active = 0
        self.peak = 0
        self.requests: list[Request] = []

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The API's base URL, as ``Client(base_url=...)`` takes it."""
        if self._server is None:
            raise RuntimeError("the fake is not running: use `with FakeCloudflare(...) as api:`")
        return f"http://127.0.0.1:{self._server.server_address[1]}/client/v4"

    def start(self) -> FakeCloudflare:
        """Start serving in a background thread; return ``self``."""
        if self._server is not None:
            return self
        self._stopping.clear()
        if self._index is not None:  # the roster takes seconds at 100,000 devices: start now
            threading.Thread(target=self._index.build, daemon=True).start()
        server = _Server(("127.0.0.1", self.port), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close every connection and join the threads."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> FakeCloudflare:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.base_url if self._server is not None else "stopped"
        return f"<FakeCloudflare {where}>"

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (used by ``dexkit fake-api``)."""
        self.start()
        try:
            while not self._stopping.wait(0.5):
                pass
        finally:
            self.stop()

    # -- test helpers -----------------------------------------------------------------------

    def inject(self, kind: str, *, page: int | None = None, times: int = 1) -> None:
        """Answer the next ``times`` device-list requests (for ``page``, or any) with a fault.

        >>> from dexkit.testing import FakeCloudflare
        >>> api = FakeCloudflare(devices=10)
        >>> api.inject("reset", page=2, times=3)
        """
        if kind not in FAULTS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {FAULTS}")
        with self._lock:
            self._scripted.append([kind, page, times])

    def now(self) -> datetime:
        """The fake's current time (UTC)."""
        if self._now is None:
            return datetime.now(UTC)
        if isinstance(self._now, datetime):
            return self._now
        return self._now()

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    # -- serving ----------------------------------------------------------------------------

    def _serve(self, handler: _Handler) -> None:
        with self._lock:
            self._active += 1
            self.peak = max(self.peak, self._active)
        try:
            self._respond(handler)
        finally:
            with self._lock:
                self._active -= 1

    def _respond(self, handler: _Handler) -> None:
        arrived = time.monotonic()
        url = urlsplit(handler.path)
        params = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        path = url.path
        page: int | None = None
        match = _ROUTES.match(path.removeprefix("/client/v4"))
        if match and match["op"] == "devices":
            try:
                page = int(float(params.get("page", "")))
            except ValueError:
                page = None
        fault = self._pick_fault(page, match is not None and match["op"] == "devices")
        status, body = 0, b""
        headers: dict[str, str] = {}
        limited = self._rate_limit(arrived)
        if limited is not None:
            status, body, headers = limited
            fault = None
        elif fault == "429":
            with self._lock:
                self._blocked_until = arrived + self.retry_after
            status, body = (
                429,
                _failure(971, "Please wait and consider throttling your request speed"),
            )
            headers = {"Retry-After": str(max(1, round(self.retry_after)))}
        if status == 0:
            try:
                status, body = self._answer(path, match, params, handler, fault)
            except _Reject as exc:
                status, body = exc.status, _failure(exc.code, exc.message)
        self._log(Request(arrived, path, params, page, 0 if fault == "reset" else status, fault))
        wait = self.latency + (self.slow if fault == "slow" else 0.0)
        if wait and self._stopping.wait(wait):
            return
        if fault == "reset":
            handler.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            handler.close_connection = True
            handler.connection.close()
            return
        content_type = "text/html" if fault == "html502" else "application/json"
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("cf-ray", f"{secrets.token_hex(8)}-FAKE")
        for name, value in {**headers, **self._ratelimit_headers(arrived)}.items():
            handler.send_header(name, value)
        if fault == "truncate":
            handler.send_header("Content-Length", str(len(body) + 64))
            handler.end_headers()
            handler.wfile.write(body[: len(body) // 2])
            handler.close_connection = True
            return
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _log(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def _pick_fault(self, page: int | None, is_devices: bool) -> str | None:
        with self._lock:
            for entry in self._scripted:
                kind, want, _ = entry
                if is_devices and (want is None or want == page):
                    entry[2] -= 1
                    if entry[2] <= 0:
                        self._scripted.remove(entry)
                    return str(kind)
            if not is_devices:
                return None
            for kind, probability in self.faults.items():
                if self._rng.random() < probability:
                    return kind
        return None

    def _rate_limit(self, arrived: float) -> tuple[int, bytes, dict[str, str]] | None:
        with self._lock:
            if arrived < self._blocked_until:
                wait = self._blocked_until - arrived
                body = _failure(971, "Please wait and consider throttling your request speed")
                return 429, body, {"Retry-After": str(max(1, round(wait + 0.499)))}
            if self.rate_limit is None:
                return None
            quota, window = self.rate_limit
            while self._arrivals and self._arrivals[0] <= arrived - window:
                self._arrivals.popleft()
            if len(self._arrivals) >= quota:
                self._blocked_until = arrived + self.retry_after
                body = _failure(971, "Please wait and consider throttling your request speed")
                return 429, body, {"Retry-After": str(max(1, round(self.retry_after)))}
            self._arrivals.append(arrived)
        return None

    def _ratelimit_headers(self, arrived: float) -> dict[str, str]:
        if self.rate_limit is None:
            return {}
        quota, window = self.rate_limit
        with self._lock:
            live = [t for t in self._arrivals if t > arrived - window]
            remaining = max(0, quota - len(live))
            reset = (live[0] + window - arrived) if live else window
        seconds = max(0, int(reset + 0.999))
        return {
            "Ratelimit": f'"default";r={remaining};t={seconds}',
            "Ratelimit-Policy": f'"burst";q={quota};w={window:g}',
        }

    def _answer(
        self,
        path: str,
        match: re.Match[str] | None,
        params: dict[str, str],
        handler: _Handler,
        fault: str | None,
    ) -> tuple[int, bytes]:
        if not path.startswith("/client/v4/") or match is None:
            raise _Reject(404, 7000, "No route for that URI")
        self._authenticate(handler)
        if match["account"] != self.account_id:
            raise _Reject(
                404, 7003, f"Could not route to {path}, perhaps your object identifier is invalid?"
            )
        if fault == "500":
            return 500, _failure(1000, "Internal server error")
        if fault == "html502":
            return 502, _HTML_502
        if match["device"] is not None:
            return 200, self._device_live(match["device"], params)
        if match["op"] == "live":
            return 200, self._live(params)
        if match["op"] == "over-time":
            return 200, self._over_time(params)
        return 200, self._devices(params, fault)

    def _authenticate(self, handler: _Handler) -> None:
        auth = handler.headers.get("Authorization")
        email, key = handler.headers.get("X-Auth-Email"), handler.headers.get("X-Auth-Key")
        if auth is None and email is None and key is None:
            raise _Reject(400, 9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers")
        if auth is not None:
            ok = secrets.compare_digest(auth, f"Bearer {self.api_token}")
        else:
            ok = secrets.compare_digest(email or "", self.email) and secrets.compare_digest(
                key or "", self.api_key
            )
        if not ok:
            raise _Reject(403, 10000, "Authentication error")

    def _window(self, params: Mapping[str, str], *, days: int = 7) -> tuple[datetime, datetime]:
        for name in ("from", "to"):
            if name not in params:
                raise _Reject(400, 1001, f"Missing required query parameter '{name}'")
        start, end = _parse_time(params["from"], "from"), _parse_time(params["to"], "to")
        if start >= end:
            raise _Reject(400, 1001, "Invalid time range: 'from' must be before 'to'")
        if start < self.now() - timedelta(days=days) - _SLACK:
            raise _Reject(400, 1001, f"Invalid time range: data is kept for {days} days")
        return start, end

    def _devices(self, params: dict[str, str], fault: str | None) -> bytes:
        start, end = self._window(params)
        page = _number(params, "page", 1, None)
        per_page = _number(params, "per_page", 1, 50)
        source = params.get("source", "last_seen")
        if source not in _SOURCES:
            raise _Reject(400, 1001, f"Invalid 'source': must be one of {', '.join(_SOURCES)}")
        sort_by = params.get("sort_by", "timestamp")
        if sort_by not in _SORT_BY:
            raise _Reject(400, 1001, f"Invalid 'sort_by': must be one of {', '.join(_SORT_BY)}")
        if source == "last_seen" and end - start > timedelta(minutes=60):
            raise _Reject(
                400,
                1001,
                "Time windows exceeding 60 minutes are not supported for source 'last_seen'. "
                "Please use 'hourly' or 'raw' instead for longer time ranges.",
            )
        filters = tuple((k, params[k]) for k in _FILTERS if k in params)
        served = page - 1 if fault == "repeat" and page > 1 else page
        lo, hi = (served - 1) * per_page, served * per_page
        if fault == "duplicate" and served > 1:
            lo -= 1
        if self._index is not None and sort_by == "timestamp":
            fast = self._index.listing(source, start, end, dict(filters))
            total = fast.total
            records = fast.slice(max(lo, 0), hi, shared=True)
            count, result = len(records), orjson.dumps(records)
        else:
            listing = self._listing(source, start, end, sort_by, filters)
            total = len(listing)
            serialized = listing[max(lo, 0) : hi]
            count, result = len(serialized), b"[" + b",".join(serialized) + b"]"
        pages = -(-total // per_page)
        if fault == "no_result":
            return orjson.dumps({"success": True, "errors": [], "messages": []})
        info = None
        if fault != "no_result_info":
            info = {
                "count": count,
                "page": served,
                "per_page": per_page,
                "total_count": total,
                "total_pages": pages,
            }
        head = orjson.dumps(_envelope(None, info))
        # splice the pre-serialized records into the envelope: `"result":null` → `"result":[…]`
        return head.replace(b'"result":null', b'"result":' + result, 1)

    def _listing(
        self,
        source: str,
        start: datetime,
        end: datetime,
        sort_by: str,
        filters: tuple[tuple[str, str], ...],
    ) -> list[bytes]:
        key = (source, start, end, sort_by, filters)
        with self._listing_lock:
            if key in self._listings:
                self._listings.move_to_end(key)
                return self._listings[key]
            records = self.fleet.records(source, start, end)
            for name, value in filters:
                field = _FILTERS[name]
                records = [r for r in records if str(r.get(field)) == value]
            field = _SORT_BY[sort_by]
            records = sorted(records, key=lambda r: (str(r.get(field)), str(r.get("deviceId"))))
            listing = [orjson.dumps(r) for r in records]
            self._listings[key] = listing
            while len(self._listings) > 16:
                self._listings.popitem(last=False)
            return listing

    def _since(self, params: Mapping[str, str]) -> tuple[datetime, datetime]:
        minutes = _number(params, "since_minutes", 1, 60)
        now = self.now()
        return now - timedelta(minutes=minutes), now

    def _live(self, params: dict[str, str]) -> bytes:
        start, end = self._since(params)
        if self._index is not None:
            names = ("byColo", "byMode", "byPlatform", "byStatus", "byVersion")
            fields = ("colo", "mode", "platform", "status", "version")
            unique, tallies = self._index.listing("last_seen", start, end).tally(fields)
            stats: dict[str, Any] = {"uniqueDevicesTotal": unique}
            for name, field in zip(names, fields, strict=True):
                totals: dict[str, int] = {}
                for _, value, count in tallies[field]:
                    totals[value] = totals.get(value, 0) + count
                stats[name] = [
                    {"value": value, "uniqueDevicesTotal": count}
                    for value, count in sorted(totals.items())
                ]
            return orjson.dumps(_envelope({"deviceStats": stats}))
        records = self.fleet.records("last_seen", start, end)
        stats = {"uniqueDevicesTotal": len({r["deviceId"] for r in records})}
        for name, field in (
            ("byColo", "colo"),
            ("byMode", "mode"),
            ("byPlatform", "platform"),
            ("byStatus", "status"),
            ("byVersion", "version"),
        ):
            stats[name] = [
                {"value": value, "uniqueDevicesTotal": count}
                for value, count in sorted(_unique_counts(records, field).items())
            ]
        return orjson.dumps(_envelope({"deviceStats": stats}))

    def _over_time(self, params: dict[str, str]) -> bytes:
        start, end = self._window(params)
        if self._index is not None:
            filters = {name: params[name] for name in ("colo", "device_id") if name in params}
            listing = self._index.listing("hourly", start, end, filters)
            unique, tallies = listing.tally(("mode", "status"))
            stats: dict[str, Any] = {"uniqueDevicesTotal": unique}
            for name, field in (("byMode", "mode"), ("byStatus", "status")):
                stats[name] = [
                    {"timestamp": _stamp(bucket * 600), "value": value, "uniqueDevicesTotal": n}
                    for bucket, value, n in sorted(tallies[field])
                ]
            return orjson.dumps(_envelope({"deviceStats": stats}))
        records = self.fleet.records("hourly", start, end)
        for name in ("colo", "device_id"):
            if name in params:
                records = [r for r in records if r.get(_FILTERS[name]) == params[name]]
        stats = {"uniqueDevicesTotal": len({r["deviceId"] for r in records})}
        for name, field in (("byMode", "mode"), ("byStatus", "status")):
            buckets: dict[tuple[str, str], set[str]] = {}
            for r in records:
                buckets.setdefault((r["timestamp"], str(r.get(field))), set()).add(r["deviceId"])
            stats[name] = [
                {"timestamp": ts, "value": value, "uniqueDevicesTotal": len(ids)}
                for (ts, value), ids in sorted(buckets.items())
            ]
        return orjson.dumps(_envelope({"deviceStats": stats}))

    def _device_live(self, device_id: str, params: dict[str, str]) -> bytes:
        start, end = self._since(params)
        if self._index is not None:
            listing = self._index.listing("last_seen", start, end, {"device_id": device_id})
            found = listing.slice(0, listing.total)
        else:
            found = [
                r for r in self.fleet.records("last_seen", start, end) if r["deviceId"] == device_id
            ]
        if "colo" in params:
            found = [r for r in found if r.get("colo") == params["colo"]]
        if not found:
            raise _Reject(404, 1002, f"Device {device_id} was not seen in the last window")
        return orjson.dumps(found[-1])


def _unique_counts(records: list[dict[str, Any]], field: str) -> dict[str, int]:
    seen: dict[str, set[str]] = {}
    for r in records:
        seen.setdefault(str(r.get(field)), set()).add(r["deviceId"])
    return {k: len(v) for k, v in seen.items()}


def iter_faults(spec: str) -> Iterator[tuple[str, float]]:
    """Parse ``"429:0.02,reset:0.05"`` (the ``--faults`` option) into ``(kind, probability)``.

    >>> dict(iter_faults("429:0.02, reset:0.05"))
    {'429': 0.02, 'reset': 0.05}
    """
    for item in filter(None, (part.strip() for part in spec.split(","))):
        kind, _, probability = item.partition(":")
        if kind not in FAULTS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULTS)}")
        try:
            value = float(probability or "0.05")
        except ValueError:
            raise ValueError(
                f"fault {kind!r}: probability {probability!r} is not a number"
            ) from None
        if not 0 <= value <= 1:
            raise ValueError(f"fault {kind!r}: probability must be between 0 and 1")
        yield kind, value
