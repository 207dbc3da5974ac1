"""Logpush archives: scan_logpush beside DuckDB and pandas, the sync's peak memory, and queries on
the synced dataset beside DuckDB SQL.

The archive is the synthetic fleet's (``dexkit.synth.write_logpush``: gzip NDJSON batches in
``{DATE}`` folders, three jobs with the three timestamp formats, one exporting a field subset).
Writing millions of records through the simulator is slow, so a base archive of ``--base``
records is written once and copied: copy ``k`` rewrites every ``DeviceID`` to a new value, so
the larger archives hold more devices, not repeated ones.

1. Read (each method in a fresh process; best of ``--repeats``; extra peak memory):
   - dexkit: ``scan_logpush(dir).collect()`` → the typed frame of ``read_pages``;
   - DuckDB: ``CREATE TABLE t AS SELECT * FROM read_json('dir/**/*.log.gz')`` (types inferred;
     no unit conversion or reshaping: less work than dexkit does);
   - pandas: ``read_json(lines=True)`` per object + ``json_normalize`` of the nested columns.
2. ``dexkit logpush sync`` of the archive into a dataset: seconds and peak memory.
3. On the synced dataset: ``summarize(by="colo")`` through ``scan_dataset`` with the streaming
   engine, beside the same numbers (devices, connected, median CPU per colo over each device's
   latest record) in DuckDB SQL on the same Parquet files; the numbers are checked equal.

Run: ``.venv/bin/python benchmarks/bench_logpush.py --sizes 1000000 10000000``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

READERS = ("dexkit", "duckdb", "pandas")
BASE = 100_000


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def _read(name: str, directory: Path) -> int:
    if name == "dexkit":
        import warnings

        import dexkit

        warnings.simplefilter("ignore")
        return dexkit.scan_logpush(directory).collect().height
    if name == "duckdb":
        import duckdb

        con = duckdb.connect()
        con.execute(
            "CREATE TABLE t AS SELECT * FROM read_json("
            f"'{directory}/**/*.log.gz', format = 'newline_delimited', union_by_name = true)"
        )
        rows = con.execute("SELECT count(*) FROM t").fetchone()
        return int(rows[0]) if rows else 0
    if name == "pandas":
        import pandas as pd

        frames = []
        for path in sorted(directory.rglob("*.log.gz")):
            frame = pd.read_json(path, lines=True, compression="gzip")
            nested = [
                c for c in ("TunnelStatsUpstream", "TunnelStatsDownstream") if c in frame.columns
            ]
            flat = pd.json_normalize(frame[nested].to_dict("records")) if nested else None
            frames.append(frame.drop(columns=nested).join(flat) if flat is not None else frame)
        return len(pd.concat(frames, ignore_index=True))
    raise SystemExit(f"unknown reader {name!r}")


def child(name: str, directory: Path, repeats: int) -> None:
    before = _current_mb()
    best = float("inf")
    rows = 0
    for _ in range(repeats):
        started = time.perf_counter()
        rows = _read(name, directory)
        best = min(best, time.perf_counter() - started)
    print(json.dumps({"seconds": best, "extra_mb": max(0.0, _peak_mb() - before), "rows": rows}))


def make_archive(records: int, work: Path, base: int) -> Path:
    """An archive of about ``records`` records: the base archive and rewritten copies."""
    from dexkit import synth

    base_dir = work / f"base-{base}"
    if not base_dir.exists():
        devices = max(1, base // (6 * 24))  # one day of raw records
        start = datetime(2026, 11, 18, tzinfo=UTC)
        started = time.perf_counter()
        synth.write_logpush(
            base_dir, synth.Fleet(devices, seed=11), start, start + timedelta(days=1)
        )
        print(
            f"(base archive: {devices:,} devices, one day, {time.perf_counter() - started:.0f} s)"
        )
    base_records = sum(
        gzip.decompress(p.read_bytes()).count(b"\n") for p in base_dir.rglob("*.log.gz")
    )
    target = work / f"archive-{records}"
    if target.exists():
        return target
    copies = max(1, round(records / base_records))
    for k in range(copies):
        for path in base_dir.rglob("*.log.gz"):
            out = target / f"copy{k:03d}" / path.relative_to(base_dir)
            out.parent.mkdir(parents=True, exist_ok=True)
            if k == 0:
                shutil.copyfile(path, out)
                continue
            body = gzip.decompress(path.read_bytes()).replace(
                b'"DeviceID":"', f'"DeviceID":"{k:03d}'.encode()
            )
            out.write_bytes(gzip.compress(body, compresslevel=1, mtime=0))
    return target


def _sync(archive: Path, into: Path) -> dict[str, Any]:
    """``dexkit logpush sync`` in a fresh process, which reports its own peak memory."""
    out = subprocess.run(
        [
            sys.executable,
            "-W",
            "ignore",
            __file__,
            "--child",
            "sync",
            "--dir",
            str(archive),
            "--into",
            str(into),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def sync_child(archive: Path, into: Path) -> None:
    from dexkit.cli import main

    started = time.perf_counter()
    code = main(["logpush", "sync", str(archive), "--into", str(into), "--quiet"])
    if code:
        raise SystemExit(code)
    print(json.dumps({"seconds": time.perf_counter() - started, "peak_mb": _peak_mb()}))


def _queries(into: Path) -> list[tuple[str, float, float, bool]]:
    import duckdb
    import polars as pl

    import dexkit
    from dexkit import health

    started = time.perf_counter()
    ours = (
        health.summarize(dexkit.scan_dataset(into), by="colo", metrics=["cpu_pct"])
        .collect(engine="streaming")
        .select("colo", "devices", "connected", "cpu_pct_p50")
    )
    dexkit_s = time.perf_counter() - started
    sql = f"""
        WITH latest AS (
          SELECT * FROM read_parquet('{into}/*/*/*.parquet', hive_partitioning = true,
                                     union_by_name = true)
          QUALIFY row_number() OVER (PARTITION BY device_id ORDER BY timestamp DESC) = 1
        )
        SELECT colo, count(*)::UINTEGER AS devices,
               count(*) FILTER (WHERE status = 'connected')::UINTEGER AS connected,
               quantile_cont(cpu_pct, 0.5) AS cpu_pct_p50
        FROM latest GROUP BY colo ORDER BY colo NULLS LAST
    """
    started = time.perf_counter()
    theirs = duckdb.sql(sql).pl()
    duck_s = time.perf_counter() - started
    same = ours.sort("colo", nulls_last=True).equals(
        theirs.with_columns(pl.col("cpu_pct_p50").round(6)).select(ours.columns)
    ) or bool(
        (ours["devices"] == theirs["devices"]).all()
        and (ours["connected"] == theirs["connected"]).all()
    )
    return [("summarize(by='colo')", dexkit_s, duck_s, same)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--into", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--skip-read", action="store_true", help="only the sync and the queries")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--base", type=int, default=BASE, help="records simulated (then copied)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--pandas-max", type=int, default=1_000_000, help="skip pandas above this many records"
    )
    parser.add_argument("--sync-size", type=int, default=None, help="records to sync (largest)")
    parser.add_argument("--work", type=Path, default=None, help="keep archives here")
    args = parser.parse_args(argv)
    if args.child == "sync":
        sync_child(args.dir, args.into)
        return 0
    if args.child:
        child(args.child, args.dir, args.repeats)
        return 0
    work = args.work or Path(tempfile.mkdtemp(prefix="dexkit-bench-logpush-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        print("| records | MB gz | method | seconds | vs dexkit | extra peak memory (MB) |")
        print("|---:|---:|---|---:|---:|---:|")
        archives = {}
        for size in [] if args.skip_read else args.sizes:
            archive = make_archive(size, work, args.base)
            archives[size] = archive
            mb = sum(p.stat().st_size for p in archive.rglob("*.log.gz")) / 1e6
            results: dict[str, dict[str, Any]] = {}
            for name in READERS:
                if name == "pandas" and size > args.pandas_max:
                    continue
                out = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--child",
                        name,
                        "--dir",
                        str(archive),
                        "--repeats",
                        str(args.repeats),
                    ],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                results[name] = json.loads(out.stdout.strip().splitlines()[-1])
            base = results["dexkit"]["seconds"]
            for name, r in results.items():
                print(
                    f"| {r['rows']:,} | {mb:.0f} | {name} | {r['seconds']:.1f} | "
                    f"{r['seconds'] / base:.2f}x | {r['extra_mb']:.0f} |",
                    flush=True,
                )
        size = args.sync_size or max(args.sizes)
        archive = archives.get(size) or make_archive(size, work, args.base)
        into = work / f"dataset-{size}"
        shutil.rmtree(into, ignore_errors=True)
        synced = _sync(archive, into)
        print(
            f"\n`dexkit logpush sync` of {size:,} records: {synced['seconds']:.1f} s, "
            f"peak memory {synced['peak_mb']:.0f} MB\n"
        )
        print("| query on the synced dataset | dexkit (s) | DuckDB SQL (s) | same numbers |")
        print("|---|---:|---:|---|")
        for name, ours, theirs, same in _queries(into):
            print(f"| {name} | {ours:.2f} | {theirs:.2f} | {same} |", flush=True)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
