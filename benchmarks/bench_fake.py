"""Benchmark: ``FakeCloudflare`` at real fleet sizes (20,000 and 100,000 devices).

Measures what a client benchmark needs from the fake: that ``dexkit fake-api --devices 100000``
listens at once, how long its roster takes to build (in a background thread, served as soon as
it is ready), what ``Client.plan("-7d", source="hourly")`` costs against it, and the server time
of one page (the handler's work, no network) at pages spread over 7-day ``hourly`` and ``raw``
listings, with and without a ``colo`` filter.

Run ``.venv/bin/python benchmarks/bench_fake.py [--devices 20000 100000]``. Prints a markdown
table; targets: plan < 1 s at 20,000 devices, listening < 5 s at 100,000, < 5 ms a page.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx

from dexkit.client import Client
from dexkit.testing import FakeCloudflare


def listening(devices: int) -> tuple[float, float]:
    """Seconds until ``dexkit fake-api`` prints its line, and until its first 7-day page."""
    command = [sys.executable, "-m", "dexkit", "fake-api", "--devices", str(devices)]
    started = time.perf_counter()
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            line = json.loads(proc.stdout.readline())
            up = time.perf_counter() - started
            now = datetime.now(UTC)
            params = {
                "from": (now - timedelta(days=7)).isoformat(),
                "to": now.isoformat(),
                "source": "hourly",
                "page": 1,
                "per_page": 50,
            }
            url = f"{line['base_url']}/accounts/{line['account_id']}/dex/fleet-status/devices"
            headers = {"Authorization": f"Bearer {line['api_token']}"}
            httpx.get(url, params=params, headers=headers, timeout=300).raise_for_status()
            first = time.perf_counter() - started
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return up, first


def page_times(
    api: FakeCloudflare, source: str, *, sequential: bool = False, **filters: str
) -> tuple[int, float, float, float]:
    """Pages of a 7-day listing, the median and worst server time of 40 pages (ms), and the
    median CPU time of the thread (ms: the fake's own work, whatever else loads the machine).

    The 40 pages are spread over the listing, or (``sequential``) 40 pages in a row from its
    middle, as a client reads them."""
    now = api.now()
    params = {
        "from": (now - timedelta(days=7)).isoformat(),
        "to": now.isoformat(),
        "source": source,
        "page": "1",
        "per_page": "50",
        **filters,
    }
    first = json.loads(api._devices(params, None))  # builds the listing's counts
    pages = first["result_info"]["total_pages"]
    times, cpu = [], []
    for k in range(40):
        spread = 1 + (k * 7919) % max(pages, 1)
        params["page"] = str(pages // 2 + k if sequential else spread)
        started, thread = time.perf_counter(), time.thread_time()
        api._devices(params, None)
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.thread_time() - thread) * 1000)
    return pages, statistics.median(times), max(times), statistics.median(cpu)


QUERIES = (
    ("`last_seen`, 60 min (a snapshot)", "-60m", {"source": "last_seen"}),
    ("`hourly`, 24 h", "-24h", {"source": "hourly"}),
    ("`hourly`, 24 h, one colo (FRA)", "-24h", {"source": "hourly", "colo": "FRA"}),
    ("`hourly`, 7 days", "-7d", {"source": "hourly"}),
    ("`raw`, 24 h", "-24h", {"source": "raw"}),
    ("`raw`, 7 days", "-7d", {"source": "raw"}),
)


def costs(sizes: list[int]) -> list[str]:
    """The requests each source costs at each fleet size (``Client.plan``): table rows."""
    plans: dict[str, list[str]] = {what: [] for what, _, _ in QUERIES}
    for devices in sizes:
        with FakeCloudflare(devices) as api:
            client = Client(api.account_id, api.api_token, base_url=api.base_url)
            for what, start, query in QUERIES:
                plan = client.plan(start, **query)
                seconds = plan.quota_seconds
                if seconds < 90:
                    time = f"{seconds:.0f} s"
                elif seconds < 5400:
                    time = f"{seconds / 60:.0f} min"
                elif seconds < 172_800:
                    time = f"{seconds / 3600:.1f} h"
                else:
                    time = f"{seconds / 86400:.1f} days"
                plans[what].append(f"{plan.requests:,} ({time})")
    head = " | ".join(f"{n:,} devices" for n in sizes)
    rows = [f"| query | {head} |", "|---|" + "---:|" * len(sizes)]
    rows += [f"| {what} | {' | '.join(cells)} |" for what, cells in plans.items()]
    ones = " | ".join("1 (0.25 s)" for _ in sizes)
    rows.append(f"| `/over-time`, up to 7 days (`counts_over_time`) | {ones} |")
    rows.append(f"| `/live`, up to 60 min (`live_counts`) | {ones} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument(
        "--costs", type=int, nargs="*", default=[1_000, 20_000, 100_000], help="fleet sizes"
    )
    args = parser.parse_args()
    if args.costs:
        print("Requests (and the time they hold the 1,200 / 5 min quota) per query:\n")
        print("\n".join(costs(args.costs)))
        print()
    print("| devices | measure | value |")
    print("|---:|---|---:|")
    for devices in args.devices:
        up, first = listening(devices)
        print(f"| {devices:,} | `dexkit fake-api` listening | {up:.2f} s |")
        print(f"| {devices:,} | … first 7-day hourly page (roster built) | {first:.2f} s |")
        with FakeCloudflare(devices) as api:
            started = time.perf_counter()
            assert api._index is not None
            api._index.build()
            print(
                f"| {devices:,} | roster and index (in-process) | "
                f"{time.perf_counter() - started:.2f} s |"
            )
            client = Client(api.account_id, api.api_token, base_url=api.base_url)
            started = time.perf_counter()
            plan = client.plan("-7d", source="hourly")
            print(
                f'| {devices:,} | `plan("-7d", source="hourly")` ({plan.requests:,} requests) '
                f"| {time.perf_counter() - started:.2f} s |"
            )
            for source, sequential, filters in (
                ("hourly", False, {}),
                ("raw", False, {}),
                ("hourly", False, {"colo": "FRA"}),
                ("raw", False, {"status": "disconnected"}),
                ("raw", True, {"status": "disconnected"}),
            ):
                started = time.perf_counter()
                pages, median, worst, cpu = page_times(
                    api, source, sequential=sequential, **filters
                )
                built = time.perf_counter() - started
                what = f"7-day `{source}`" + "".join(f" {k}={v}" for k, v in filters.items())
                what += ", 40 pages in a row" if sequential else ""
                print(
                    f"| {devices:,} | {what}: {pages:,} pages, first page (counts) "
                    f"| {built:.2f} s |"
                )
                print(
                    f"| {devices:,} | {what}: server time a page, median / worst of 40 "
                    f"(CPU median) | {median:.1f} / {worst:.1f} ms ({cpu:.1f} ms) |"
                )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
