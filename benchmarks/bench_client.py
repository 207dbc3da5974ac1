"""Benchmark: dexkit's ``Client.devices`` beside the official ``cloudflare`` SDK's auto-pagination.

Both page through the same ``FakeCloudflare`` (``dexkit fake-api`` in a subprocess: 5,000 devices,
50 ms per response, ~100 pages of 50 for a 60-minute ``last_seen`` window). A third run fetches the
same window under a server-side rate limit of 20 requests per 5 s (the client configured alike)
and reports the sustained request rate the server saw and the 429s it sent.

A second table is the fleet at real size: a 20,000-device ``last_seen`` snapshot and a day of
``hourly`` records of one colo (FRA), fetched into a page store against the fake at 50 ms a
response under a server-side limit scaled down from Cloudflare's 1,200 / 300 s to 200 / 60 s (the
same shape, five times faster, so that it runs in minutes): requests spent against
``ceil(records / 50)`` per chunk, the sustained rate against the limit, 429s, and wall time
against the limiter's bound.

Run ``.venv/bin/python benchmarks/bench_client.py`` (the SDK is a bench-only dependency:
``pip install cloudflare``). Prints markdown tables.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from dexkit.client import Client
from dexkit.testing import FakeCloudflare

DEVICES = 5000
LATENCY = 0.05
CONCURRENCY = 4
LIMIT = (20, 5.0)
FLEET = 20_000
FLEET_LIMIT = (200, 60.0)


@contextmanager
def fake_api(*args: str) -> Iterator[dict[str, str]]:
    """Run ``dexkit fake-api`` in a subprocess; yield its JSON line."""
    command = [sys.executable, "-m", "dexkit", "fake-api", *args]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            yield json.loads(proc.stdout.readline())
        finally:
            proc.terminate()
            proc.wait(timeout=10)


class _Count(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.requests = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("GET "):
            self.requests += 1


def best(runs: int, fn: Callable[[], tuple[int, int]]) -> tuple[float, int, int]:
    """Fastest of ``runs`` calls of ``fn`` (which returns records, requests), in seconds."""
    times, out = [], (0, 0)
    for _ in range(runs):
        started = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - started)
    return min(times), *out


def run_sdk(api: dict[str, str], start: datetime, end: datetime) -> tuple[int, int]:
    from cloudflare import Cloudflare

    sent = [0]

    def count(request: httpx.Request) -> None:
        sent[0] += 1

    with httpx.Client(event_hooks={"request": [count]}) as http:
        sdk = Cloudflare(api_token=api["api_token"], base_url=api["base_url"], http_client=http)
        listing = sdk.zero_trust.dex.fleet_status.devices.list(
            account_id=api["account_id"],
            from_=start.isoformat(),
            to=end.isoformat(),
            page=1,
            per_page=50,
            source="last_seen",
        )
        records = sum(1 for _ in listing)
    return records, sent[0]


def run_dexkit(
    api: dict[str, str], start: datetime, end: datetime, **options: Any
) -> tuple[int, int]:
    counter = _Count()
    log = logging.getLogger("dexkit")
    log.addHandler(counter)
    log.setLevel(logging.DEBUG)
    try:
        client = Client(
            api["account_id"],
            api["api_token"],
            base_url=api["base_url"],
            concurrency=CONCURRENCY,
            progress=False,
            **options,
        )
        frame = client.devices(start, end)
    finally:
        log.removeHandler(counter)
    return frame.height, counter.requests


def rate_limited(start: datetime, end: datetime) -> dict[str, float]:
    """Fetch under a server-side limit; return what the server saw."""
    with FakeCloudflare(DEVICES, seed=1, latency=LATENCY, rate_limit=LIMIT, retry_after=5) as api:
        warm = {"base_url": api.base_url, "account_id": api.account_id, "api_token": api.api_token}
        started = time.perf_counter()
        records, _ = run_dexkit(warm, start, end, rate_limit=LIMIT)
        seconds = time.perf_counter() - started
        arrivals = [r.at for r in api.requests]
        too_many = sum(r.status == 429 for r in api.requests)
    quota, window = LIMIT
    busiest = max(sum(1 for b in arrivals if a <= b < a + window) for a in arrivals)
    # a sliding window allows request i + quota no sooner than `window` after request i: the
    # sustained rate is quota / the mean of those gaps (the limit's rate when they equal window)
    gaps = [later - early for early, later in zip(arrivals, arrivals[quota:], strict=False)]
    sustained = quota / (sum(gaps) / len(gaps))
    return {
        "records": records,
        "requests": len(arrivals),
        "seconds": seconds,
        "sustained": sustained,
        "limit": quota / window,
        "busiest": busiest,
        "429": too_many,
    }


def sustained_rate(arrivals: list[float], quota: int) -> float:
    """Requests per second a sliding window let through (see ``rate_limited``)."""
    gaps = [later - early for early, later in zip(arrivals, arrivals[quota:], strict=False)]
    return quota / (sum(gaps) / len(gaps)) if gaps else float("nan")


def fleet_scale(devices: int) -> list[str]:
    """A snapshot and an hourly colo-day of ``devices`` under ``FLEET_LIMIT``: table rows."""
    quota, window = FLEET_LIMIT
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    runs = (
        ("`last_seen` snapshot, 60 min", end - timedelta(hours=1), {"source": "last_seen"}),
        (
            "`hourly` day of one colo (FRA)",
            end - timedelta(hours=24),
            {"source": "hourly", "colo": "FRA"},
        ),
    )
    rows = []
    for what, start, query in runs:
        with FakeCloudflare(
            devices, seed=1, latency=LATENCY, rate_limit=FLEET_LIMIT, retry_after=5
        ) as api:
            assert api._index is not None
            api._index.build()
            client = Client(
                api.account_id,
                api.api_token,
                base_url=api.base_url,
                concurrency=CONCURRENCY,
                rate_limit=FLEET_LIMIT,
                progress=False,
            )
            with tempfile.TemporaryDirectory() as store:
                started = time.perf_counter()
                summary = client.fetch(start, end, into=store, **query)
                seconds = time.perf_counter() - started
                manifest = json.loads((Path(store) / "manifest.json").read_text())
            chunks = manifest["chunks"].values()
            needed = sum(math.ceil(c["records"] / 50) or 1 for c in chunks)
            pages = {(r.params["from"], r.page) for r in api.requests if r.page is not None}
            asked = len(api.requests)
            planning = asked - len(pages)  # the fetch's one planning request over many chunks
            arrivals = [r.at for r in api.requests]
            too_many = sum(r.status == 429 for r in api.requests)
        rate = sustained_rate(arrivals, quota)
        bound = (math.ceil(asked / quota) - 1) * window + LATENCY
        rows.append(
            f"| {what} | {summary.records:,} | {len(manifest['chunks'])} | {needed:,} | "
            f"{asked:,} ({planning} to plan) | {rate:.2f} req/s = "
            f"{100 * rate / (quota / window):.1f}% "
            f"| {too_many} | {seconds:.1f} s | {bound:.1f} s ({seconds / bound:.2f}x) |"
        )
    return [
        f"FakeCloudflare: {devices:,} devices, {LATENCY * 1000:.0f} ms per response, server and "
        f"client limit {quota} requests / {window:g} s, `Client.fetch` into a page store\n",
        "| fetch | records | chunks | Σ ceil(records/50) | requests | sustained rate (% of "
        "limit) | 429s | wall | limiter bound |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per client (the fastest counts)")
    parser.add_argument("--skip-rate-limit", action="store_true")
    parser.add_argument("--skip-sdk", action="store_true", help="only the fleet-size table")
    parser.add_argument("--fleet", type=int, default=FLEET, help="devices of the fleet table")
    args = parser.parse_args()
    if args.skip_sdk:
        print("\n".join(fleet_scale(args.fleet)))
        return 0

    end = datetime.now(UTC).replace(second=0, microsecond=0)
    start = end - timedelta(minutes=60)
    fake = ["--devices", str(DEVICES), "--seed", "1", "--latency", str(LATENCY)]
    with fake_api(*fake) as api:
        run_dexkit(api, start, end)  # warm the fake's listing cache
        sdk_s, sdk_records, sdk_requests = best(args.runs, lambda: run_sdk(api, start, end))
        dex_s, dex_records, dex_requests = best(args.runs, lambda: run_dexkit(api, start, end))
    pages = -(-dex_records // 50)
    bound = LATENCY * pages / CONCURRENCY
    import cloudflare

    rows = [
        "| run | records | requests | seconds | note |",
        "|---|---:|---:|---:|---|",
        f"| `cloudflare` {cloudflare.__version__} SDK auto-pagination | {sdk_records:,} | "
        f"{sdk_requests} | {sdk_s:.2f} | sequential, one wasted request |",
        f"| dexkit `Client.devices()` (concurrency {CONCURRENCY}) | {dex_records:,} | "
        f"{dex_requests} | {dex_s:.2f} | **{sdk_s / dex_s:.1f}x faster** than the SDK |",
        f"| bound: latency × pages / concurrency | | {pages} | {bound:.2f} | dexkit at "
        f"{dex_s / bound:.2f}x the bound |",
    ]
    if not args.skip_rate_limit:
        limited = rate_limited(start, end)
        quota, window = LIMIT
        rows.append(
            f"| dexkit under a {quota} requests / {window:g} s server limit | "
            f"{limited['records']:,.0f} | {limited['requests']:.0f} | {limited['seconds']:.2f} | "
            f"sustained {limited['sustained']:.2f} req/s = "
            f"{100 * limited['sustained'] / limited['limit']:.1f}% of the limit, "
            f"busiest {window:g} s: {limited['busiest']:.0f}, {limited['429']:.0f} × 429 |"
        )
    print(
        f"FakeCloudflare: {DEVICES:,} devices, {LATENCY * 1000:.0f} ms per response, "
        "60-minute last_seen window, 50 records per page\n"
    )
    print("\n".join(rows))
    print()
    print("\n".join(fleet_scale(args.fleet)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
