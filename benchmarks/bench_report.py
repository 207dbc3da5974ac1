"""Benchmark dexkit.report: generation time and file size for 10,000 and 100,000 devices.

Run ``python benchmarks/bench_report.py`` (part of ``make bench``). It synthesizes hourly-like
device records directly with numpy and Polars (``--hours`` records per device, with names,
emails, SSIDs, an ISP struct and per-app CPU lists, and an incident in FRA), then times
``build_report`` with redaction and an incident window (the Vega bundle is loaded once before
timing, as in any process that writes more than one report) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from dexkit import report

# fmt: off
COLOS = [
    "FRA", "LHR", "AMS", "CDG", "IAD", "EWR", "ORD", "DFW", "LAX", "SJC",
    "SEA", "ATL", "MIA", "YYZ", "GRU", "NRT", "HKG", "SIN", "SYD", "BOM",
    "DEL", "MAD", "MXP", "WAW", "ARN", "DUB", "ZRH", "JNB", "ICN", "DXB",
]
APPS = ["chrome", "teams", "msedge", "zoom", "slack", "outlook", "firefox", "code", "warp-svc"]
# fmt: on
START = datetime(2026, 11, 18, 8, tzinfo=UTC)


def synthesize(devices: int, hours: int, seed: int = 0) -> pl.DataFrame:
    """``devices * hours`` records: one per device and hour from :data:`START`."""
    rng = np.random.default_rng(seed)
    n = devices * hours
    device = np.tile(np.arange(devices), hours)
    hour = np.repeat(np.arange(hours), devices)
    colo = np.asarray(COLOS)[device % len(COLOS)]
    incident = (colo == "FRA") & (hour >= hours // 2) & (hour < hours // 2 + 2)
    epoch = int(START.timestamp()) * 1_000_000
    ids = pl.Series([f"{i:08x}-0000-4000-8000-{i * 7919:012x}" for i in range(devices)])
    frame = pl.DataFrame(
        {
            "device_id": ids.gather(device),
            "timestamp": pl.Series(epoch + hour * 3_600_000_000).cast(pl.Datetime("us", "UTC")),
            "colo": colo,
            "platform": np.array(["windows", "mac", "linux", "ios"])[device % 4],
            "status": np.where(
                rng.random(n) < np.where(incident, 0.7, 0.94), "connected", "paused"
            ),
            "mode": "warp",
            "version": np.array(["2025.9.558.0", "2025.10.186.0", "2025.8.779.0"])[device % 3],
            "device_idx": device,
            "cpu_pct": rng.beta(2, 5, n) * 100,
            "ram_used_pct": rng.beta(5, 3, n) * 100,
            "handshake_latency_ms": rng.gamma(2.0, 25.0, n) * np.where(incident, 4.0, 1.0),
            "estimated_loss_pct": rng.exponential(0.3, n) + np.where(incident, 6.0, 0.0),
            "wifi_strength_dbm": rng.integers(-90, -30, n),
            "app": rng.integers(0, len(APPS), (n, 3)),
            "app_cpu": rng.random((n, 3)) * 10,
        }
    )
    name = pl.col("device_idx").cast(pl.String)
    apps = [
        pl.struct(
            pl.col("app_cpu").arr.get(i).alias("cpu_pct"),
            pl.col("app").arr.get(i).replace_strict(dict(enumerate(APPS))).alias("name"),
        )
        for i in range(3)
    ]
    return frame.with_columns(
        pl.concat_str(pl.lit("ACME-LT-"), name).alias("device_name"),
        pl.concat_str(pl.lit("user"), name, pl.lit("@example.com")).alias("person_email"),
        pl.concat_str(pl.lit("wifi-"), (pl.col("device_idx") % 997).cast(pl.String)).alias(
            "network_ssid"
        ),
        pl.concat_list(apps).alias("cpu_pct_by_app"),
        pl.struct(
            pl.concat_str(pl.lit("203.0.113."), (pl.col("device_idx") % 250).cast(pl.String)).alias(
                "address"
            ),
            pl.lit(3320, pl.Int64).alias("asn"),
            pl.lit("Deutsche Telekom").alias("name"),
            pl.struct(
                pl.lit("DE").alias("country_iso"),
                (pl.col("device_idx") % 90000 + 10000).cast(pl.String).alias("zip"),
            ).alias("location"),
        ).alias("isp_ipv4"),
    ).drop("device_idx", "app", "app_cpu")


def run(devices: int, hours: int) -> tuple[int, int, float, int]:
    """Generate one report; return devices, records, seconds and bytes."""
    frame = synthesize(devices, hours)
    mid = START + timedelta(hours=hours // 2)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "report.html"
        started = time.perf_counter()
        report.write_report(frame, path, incident=(mid, mid + timedelta(hours=2)), key="bench")
        seconds = time.perf_counter() - started
        size = path.stat().st_size
    return devices, frame.height, seconds, size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--devices", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--hours", type=int, default=8, help="records per device (8)")
    args = parser.parse_args(argv)
    report._bundle()  # load the JavaScript bundle once, outside the timings
    rows = [run(devices, args.hours) for devices in args.devices]
    print(
        f"## dexkit.report ({platform.python_implementation()} {platform.python_version()}, "
        f"Polars {pl.__version__}; {args.hours} records per device, redacted, with an incident)"
    )
    print()
    print("| devices | records | build + write (s) | file size (MB) |")
    print("|---:|---:|---:|---:|")
    for devices, records, seconds, size in rows:
        print(f"| {devices:,} | {records:,} | {seconds:.2f} | {size / 1e6:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
