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
3. With ``--dataset-size N``: a dataset of about ``N`` records copied from the synced one (not
   a sync of ``N`` records: converting 100M records from gzip would take about two hours on two
   cores). ``--days`` day shifts (10 by default) times ``round(N / synced records / days)``
   fleets. Each Parquet file of the synced dataset (one archive object's records of one day) is
   read once and written again once per day shift ``k``, holding its records once per fleet
   ``j``: fleet ``j > 0`` rewrites every ``device_id`` to ``c{j:03d}-{id}`` (more devices, as
   the archive copies do with ``DeviceID``), and every ``timestamp`` moves ``k`` whole days
   later, into the ``date=YYYY-MM-DD`` folder of its day (more history). A larger fleet's
   Logpush objects hold more records, so the files grow with the fleet and their number with
   the days. The files keep sync's layout and schema
   (``date=YYYY-MM-DD/source=logpush/part-<hash>.parquet``, zstd, statistics; no ``_logpush``
   ledger, since no archive was synced into it), and the build checks that every file has one
   schema, and with ``scan_dataset`` that the copy has the synced schema and exactly the
   records, devices and days expected. From the 1M archive (1,030,612 records, 7,381 devices,
   one day): ``--dataset-size 100000000`` gives 10 fleets x 10 days = 103,061,200 records of
   73,810 devices over 2026-11-18 to 2026-11-27 in 5,280 files. The fleets repeat the synced
   records' values, so the files compress far better than a real fleet's would (2.2 GB; the
   same records one fleet per file took 13.5 GB).
4. Queries on the dataset (the synced one, or the copy), each side in a fresh process that
   reports its time and its peak resident memory (``VmHWM``) above what it held after its
   imports; a process holding more than ``--max-rss-gb`` or leaving the machine less than
   ``--min-available-gb`` is stopped and reported as such. Every file is read once beforehand
   so that no side pays for a cold cache.
   - dexkit: ``dexkit.health`` functions on ``dexkit.scan_dataset(dir)``, collected with
     ``engine="streaming"``: ``summarize(by="colo", metrics=["cpu_pct"])``,
     ``timeline("1h", by="colo")`` (default metrics and quantiles) and
     ``compare_windows(by="colo")`` (default metrics, medians) of 13:00-15:00 UTC on the last
     day against the 24 hours before;
   - DuckDB (its defaults: as many threads as cores; ``TimeZone`` set to UTC, no progress bar)
     SQL on ``read_parquet('dir/*/*/*.parquet', hive_partitioning = true, union_by_name =
     true)``, which reads files with different columns as ``scan_dataset`` does, and again
     without ``union_by_name`` ("one schema": valid here, every file has the same columns),
     computing the same columns with dexkit's semantics: each device's latest record
     (``QUALIFY row_number()``), the health grade from ``Grading``'s thresholds, hours from
     ``date_trunc('hour', ...)``, distinct devices per hour, ``quantile_cont`` for quantiles
     and medians (linear interpolation between closest ranks, as dexkit's; ``quantile_disc``
     would differ), NaN and negative latencies as NULL, ``var_samp`` and the pooled standard
     deviation for Cohen's d, both windows in one scan with ``FILTER`` aggregates.
   The results are checked equal: the same rows and keys, counts exactly, floats within 1e-9
   relative. A difference prints ``False`` and the script exits with status 1.

Run: ``.venv/bin/python benchmarks/bench_logpush.py --sizes 1000000 10000000``; the 100M-record
queries alone: ``... --skip-read --sync-size 1000000 --dataset-size 100000000 --work DIR``
(2.2 GB of Parquet under ``DIR``, kept for the next run).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from _child import peak_mb, run_child

READERS = ("dexkit", "duckdb", "pandas")
BASE = 100_000


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
    print(json.dumps({"seconds": best, "extra_mb": max(0.0, peak_mb() - before), "rows": rows}))


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
    return run_child(__file__, "sync", "--dir", str(archive), "--into", str(into), quiet=True)


def sync_child(archive: Path, into: Path) -> None:
    from dexkit.cli import main

    started = time.perf_counter()
    code = main(["logpush", "sync", str(archive), "--into", str(into), "--quiet"])
    if code:
        raise SystemExit(code)
    print(json.dumps({"seconds": time.perf_counter() - started, "peak_mb": peak_mb()}))


QUERIES = ("summarize", "timeline", "compare_windows")
#: The columns that identify a row of each query's result.
QUERY_KEYS = {
    "summarize": ["colo"],
    "timeline": ["timestamp", "colo"],
    "compare_windows": ["colo", "metric"],
}
#: How each query is called (the table's first column).
QUERY_CALLS = {
    "summarize": 'summarize(by="colo", metrics=["cpu_pct"])',
    "timeline": 'timeline("1h", by="colo")',
    "compare_windows": 'compare_windows(by="colo")',
}
#: dexkit, DuckDB with union_by_name (files may hold different columns, as scan_dataset
#: allows), DuckDB without it (valid when every file has one schema, which the build checks).
SIDES = ("dexkit", "duckdb", "duckdb-one-schema")
QUANTILES = (0.5, 0.9, 0.99)
TIMELINE_METRICS = ("handshake_latency_ms", "estimated_loss_pct", "cpu_pct")
COMPARE_METRICS = (
    "estimated_loss_pct",
    "handshake_latency_ms",
    "cpu_pct",
    "ram_used_pct",
    "wifi_strength_dbm",
)
REL_TOL = 1e-9


def _windows(into: Path) -> tuple[tuple[datetime, datetime], tuple[datetime, datetime]]:
    """Baseline and incident windows inside the dataset: 13:00-15:00 UTC on its last day
    against the 24 hours before."""
    last = max(date.fromisoformat(p.name.removeprefix("date=")) for p in into.glob("date=*"))
    start = datetime(last.year, last.month, last.day, 13, tzinfo=UTC)
    return (start - timedelta(days=1), start), (start, start + timedelta(hours=2))


def _dexkit_query(name: str, into: Path) -> Any:
    import dexkit
    from dexkit import health

    frame = dexkit.scan_dataset(into)
    if name == "summarize":
        query = health.summarize(frame, by="colo", metrics=["cpu_pct"])
    elif name == "timeline":
        query = health.timeline(frame, "1h", by="colo")
    else:
        baseline, incident = _windows(into)
        query = health.compare_windows(frame, baseline, incident, by="colo")
    return query.collect(engine="streaming")


def _clean(name: str) -> str:
    """``dexkit.health.metric`` in SQL: a DOUBLE, NaN as NULL, a negative latency as NULL."""
    value = f"CAST({name} AS DOUBLE)"
    keep = f"NOT isnan({value})"
    if name == "handshake_latency_ms":
        keep += f" AND {value} >= 0"
    return f"CASE WHEN {keep} THEN {value} END AS {name}"


def _quantile_list(name: str, alias: str) -> str:
    """quantile_cont: linear interpolation between closest ranks, as dexkit's quantiles."""
    return f"quantile_cont({name}, [{', '.join(map(str, QUANTILES))}]) AS {alias}"


def _unpack(name: str, alias: str) -> list[str]:
    return [f"{alias}[{i + 1}] AS {name}_p{round(q * 100)}" for i, q in enumerate(QUANTILES)]


def _sql(name: str, into: Path, *, union: bool = True) -> str:
    """The query in DuckDB SQL, with dexkit's semantics (see each function's docstring)."""
    from dexkit.health import Grading

    source = f"read_parquet('{into}/*/*/*.parquet', hive_partitioning = true"
    source += ", union_by_name = true)" if union else ")"
    if name == "summarize":
        # each device's latest record (sync writes no two records of a device with one timestamp)
        g = Grading()
        signals = [
            ("connected_share <", g.connected_share),
            ("loss_p90 >", g.loss_p90),
            ("latency_p90 >", g.latency_p90),
            ("cpu_q[2] >", g.cpu_p90),
        ]
        critical, degraded = (
            " OR ".join(f"coalesce({s} {pair[i]}, false)" for s, pair in signals if pair) or "false"
            for i in (1, 0)
        )
        metrics = ("cpu_pct", "estimated_loss_pct", "handshake_latency_ms")
        cpu = ", ".join(_unpack("cpu_pct", "cpu_q"))
        return f"""
            WITH latest AS (
              SELECT colo, status, {", ".join(_clean(m) for m in metrics)} FROM {source}
              QUALIFY row_number() OVER (
                PARTITION BY device_id ORDER BY timestamp DESC NULLS LAST) = 1
            ), agg AS (
              SELECT colo, count(*)::UINTEGER AS devices,
                     (count(*) FILTER (WHERE status = 'connected'))::UINTEGER AS connected,
                     connected / devices AS connected_share,
                     {_quantile_list("cpu_pct", "cpu_q")},
                     quantile_cont(estimated_loss_pct, 0.9) AS loss_p90,
                     quantile_cont(handshake_latency_ms, 0.9) AS latency_p90
              FROM latest GROUP BY colo
            )
            SELECT colo, devices, connected, connected_share, {cpu},
                   CASE WHEN {critical} THEN 'critical' WHEN {degraded} THEN 'degraded'
                        ELSE 'ok' END AS health
            FROM agg ORDER BY colo NULLS LAST
        """
    if name == "timeline":
        # every record counts in its hour (UTC, aligned to the epoch); devices and connected
        # are distinct devices; records without a timestamp are left out
        lists = [_quantile_list(m, f"q{i}") for i, m in enumerate(TIMELINE_METRICS)]
        unpacked = [c for i, m in enumerate(TIMELINE_METRICS) for c in _unpack(m, f"q{i}")]
        return f"""
            WITH agg AS (
              SELECT date_trunc('hour', timestamp) AS timestamp, colo,
                     count(DISTINCT device_id)::UINTEGER AS devices,
                     (count(DISTINCT device_id) FILTER (WHERE status = 'connected'))::UINTEGER
                       AS connected,
                     {", ".join(lists)}
              FROM (SELECT timestamp, colo, device_id, status,
                           {", ".join(_clean(m) for m in TIMELINE_METRICS)}
                    FROM {source} WHERE timestamp IS NOT NULL)
              GROUP BY ALL
            )
            SELECT timestamp, colo, devices, connected, {", ".join(unpacked)}
            FROM agg ORDER BY timestamp, colo NULLS LAST
        """
    # compare_windows: per window (start <= t < end) and colo, the count, median, mean and
    # sample variance of each metric; a colo in either window is a group (a missing colo
    # counts as one); Cohen's d with the pooled standard deviation. One scan of the files,
    # filtered to the two windows, with an aggregate per window (FILTER): two scans each
    # filtered to its window, or a CTE shared by them (which DuckDB materializes), are slower.
    windows = dict(zip(("b", "i"), _windows(into), strict=True))
    inside = {
        w: f"timestamp >= TIMESTAMPTZ '{start.isoformat()}' "
        f"AND timestamp < TIMESTAMPTZ '{end.isoformat()}'"
        for w, (start, end) in windows.items()
    }
    aggs = ", ".join(
        f"{f}({m}) FILTER (WHERE in_{w}) AS {w}_{s}{k}"
        for w in windows
        for k, m in enumerate(COMPARE_METRICS)
        for f, s in (("count", "n"), ("median", "c"), ("avg", "a"), ("var_samp", "v"))
    )
    rows = []
    for k, m in enumerate(COMPARE_METRICS):
        nb, ni = f"coalesce(b_n{k}, 0)::DOUBLE", f"coalesce(i_n{k}, 0)::DOUBLE"
        pooled = (
            f"sqrt((({nb} - 1) * coalesce(b_v{k}, 0) + ({ni} - 1) * coalesce(i_v{k}, 0))"
            f" / ({nb} + {ni} - 2))"
        )
        d = f"(i_a{k} - b_a{k}) / {pooled}"
        rows.append(
            f"""SELECT colo, '{m}' AS metric, coalesce(b_n{k}, 0)::UINTEGER AS baseline_n,
                   coalesce(i_n{k}, 0)::UINTEGER AS incident_n, b_c{k} AS baseline,
                   i_c{k} AS incident, i_c{k} - b_c{k} AS change,
                   CASE WHEN b_c{k} != 0 THEN (i_c{k} - b_c{k}) / abs(b_c{k}) END AS rel_change,
                   CASE WHEN {nb} > 0 AND {ni} > 0 AND {nb} + {ni} > 2
                        THEN CASE WHEN isnan({d}) THEN 0.0 ELSE {d} END END AS effect
               FROM w"""
        )
    return f"""
        WITH w AS (
          SELECT colo, {aggs}
          FROM (SELECT colo, {inside["b"]} AS in_b, {inside["i"]} AS in_i,
                       {", ".join(_clean(m) for m in COMPARE_METRICS)}
                FROM {source} WHERE ({inside["b"]}) OR ({inside["i"]}))
          GROUP BY colo
        )
        {" UNION ALL ".join(rows)}
        ORDER BY abs(effect) DESC NULLS LAST, colo NULLS LAST, metric
    """


def _duckdb_query(name: str, into: Path, *, union: bool) -> Any:
    import duckdb

    con = duckdb.connect()  # DuckDB's defaults: as many threads as cores, 80% of RAM
    con.execute("SET TimeZone = 'UTC'")  # hours and windows in UTC, as dexkit's
    con.execute("SET enable_progress_bar = false")  # output only
    return con.sql(_sql(name, into, union=union)).pl()


def query_child(name: str, side: str, into: Path, out: Path) -> None:
    import polars as pl

    with contextlib.suppress(OSError):  # under memory pressure, this process goes first
        Path("/proc/self/oom_score_adj").write_text("1000")
    if side == "dexkit":
        import dexkit  # noqa: F401
    else:
        import duckdb  # noqa: F401
    before = _current_mb()
    started = time.perf_counter()
    if side == "dexkit":
        result = _dexkit_query(name, into)
    else:
        result = _duckdb_query(name, into, union=side == "duckdb")
    seconds = time.perf_counter() - started
    peak = peak_mb()
    assert isinstance(result, pl.DataFrame)
    result.write_parquet(out)
    print(
        json.dumps({"seconds": seconds, "extra_mb": max(0.0, peak - before), "rows": result.height})
    )


def _same(ours: Any, theirs: Any, keys: list[str]) -> tuple[bool, str]:
    """The same rows and keys, counts exactly equal, floats within REL_TOL (relative)."""
    import polars as pl

    missing = [c for c in ours.columns if c not in theirs.columns]
    if missing or ours.height != theirs.height:
        return False, f"columns missing {missing}, rows {ours.height} vs {theirs.height}"
    ours = ours.sort(keys, nulls_last=True)
    theirs = theirs.select(ours.columns).sort(keys, nulls_last=True)
    for column in ours.columns:
        a, b = ours[column], theirs[column]
        if a.dtype.is_float():
            b = b.cast(pl.Float64)
            both = pl.DataFrame({"a": a, "b": b})
            bad = both.filter(
                (pl.col("a").is_null() != pl.col("b").is_null())
                | (pl.col("a").is_nan() != pl.col("b").is_nan())
                | (
                    pl.col("a").is_finite()
                    & (
                        (pl.col("a") - pl.col("b")).abs()
                        > REL_TOL * pl.max_horizontal(pl.col("a").abs(), pl.col("b").abs())
                    )
                )
                | (pl.col("a").is_infinite() & (pl.col("a") != pl.col("b")))
            )
        else:
            if isinstance(a.dtype, pl.Enum | pl.Categorical):
                a = a.cast(pl.String)
            bad = pl.DataFrame({"a": a, "b": b.cast(a.dtype)}).filter(
                pl.col("a").ne_missing(pl.col("b"))
            )
        if bad.height:
            return False, f"{column}: {bad.height} rows differ, e.g. {bad.row(0)}"
    return True, ""


def _status_kb(pid: int, field: str) -> int:
    """A ``/proc/<pid>/status`` memory field (VmRSS, VmHWM) in kB; 0 once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _available_kb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1])
    return 0


def _run_query(
    name: str, side: str, into: Path, work: Path, limits: tuple[float, float]
) -> dict[str, Any]:
    """One query by one side in a fresh process (working directory ``work``, where DuckDB
    spills), stopped if it holds more than ``limits[0]`` GB or leaves the machine less than
    ``limits[1]`` GB available: the machine is shared."""
    max_kb, min_available_kb = (int(gb * 2**20) for gb in limits)
    command = [sys.executable, "-W", "ignore", __file__, "--child", "query", "--query", name]
    command += ["--side", side, "--into", str(into), "--out", str(work / f"{name}-{side}.parquet")]
    started = time.perf_counter()
    with (work / f"{name}-{side}.stderr").open("w") as errors:
        child = subprocess.Popen(
            command, cwd=work, stdout=subprocess.PIPE, stderr=errors, text=True
        )
        stopped = ""
        while child.poll() is None:
            if _status_kb(child.pid, "VmRSS") > max_kb:
                stopped = f"held more than {limits[0]:g} GB"
            elif _available_kb() < min_available_kb:
                stopped = f"machine below {limits[1]:g} GB available"
            if stopped:
                peak_kb = _status_kb(child.pid, "VmHWM")
                child.kill()
                child.wait()
                return {
                    "seconds": time.perf_counter() - started,
                    "extra_mb": peak_kb / 1024,
                    "rows": 0,
                    "stopped": stopped,
                }
            time.sleep(0.2)
        out = child.stdout.read() if child.stdout else ""
    if child.returncode:
        raise SystemExit(f"{name} ({side}) failed; see {work / f'{name}-{side}.stderr'}")
    timing: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return {**timing, "stopped": ""}


def _queries(
    into: Path, work: Path, repeats: int, limits: tuple[float, float]
) -> Iterator[dict[str, Any]]:
    """Each query by each side in a fresh process (alternating, best of ``repeats``), yielded
    as soon as it is done (a run stopped half way keeps its first rows)."""
    import polars as pl

    for name in QUERIES:
        best: dict[str, dict[str, Any]] = {}
        for _ in range(repeats):
            for side in SIDES:
                r = _run_query(name, side, into, work, limits)
                seen = best.setdefault(side, r)
                if r["stopped"] or seen["stopped"]:
                    best[side] = r if r["stopped"] else seen
                    continue
                seen["seconds"] = min(seen["seconds"], r["seconds"])
                seen["extra_mb"] = max(seen["extra_mb"], r["extra_mb"])
        if any(r["stopped"] for r in best.values()):
            same, why = (
                False,
                "not compared: "
                + ", ".join(f"{side} {r['stopped']}" for side, r in best.items() if r["stopped"]),
            )
        else:
            ours = pl.read_parquet(work / f"{name}-dexkit.parquet")
            same, why = True, ""
            for side in SIDES[1:]:
                theirs = pl.read_parquet(work / f"{name}-{side}.parquet")
                equal, differ = _same(ours, theirs, QUERY_KEYS[name])
                if not equal:
                    same, why = False, f"{why}{side}: {differ}; "
        yield {"query": name, **best, "same": same, "why": why}


def build_dataset(base: Path, records: int, days: int, target: Path) -> Path:
    """A dataset of about ``records`` records from copies of the synced dataset ``base``.

    Each Parquet file becomes one file per day shift ``k``, holding its records once per fleet
    ``j``: fleet ``j > 0`` rewrites every ``device_id`` to ``c{j:03d}-{device_id}``, and every
    ``timestamp`` moves ``k`` whole days later, into the ``date=`` folder of its new day (a
    larger fleet's Logpush objects hold more records, rather than more objects: the files grow
    with the fleet and their number with the days). The file keeps its source folder; shifted
    ones get a new ``part-<hash>.parquet`` name. One file is read at a time (a sync writes one
    file per archive object and day: a few thousand records). Built in ``target.partial`` and
    renamed when complete, so an interrupted build starts over and a complete one is reused.
    """
    import polars as pl

    import dexkit

    files = sorted(base.glob("date=*/source=*/*.parquet"))
    base_rows = dexkit.scan_dataset(base).select(pl.len()).collect().item()
    copies = max(1, round(records / base_rows))
    days = max(1, min(days, copies))
    fleets = max(1, round(copies / days))
    if not target.exists():
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        started = time.perf_counter()
        for path in files:
            frame = pl.read_parquet(path, hive_partitioning=False)
            day = date.fromisoformat(path.parent.parent.name.removeprefix("date="))
            fleet = pl.concat(
                [
                    frame.with_columns(
                        (pl.lit(f"c{j:03d}-" if j else "") + pl.col("device_id")).alias("device_id")
                    )
                    for j in range(fleets)
                ]
            )
            for shift in range(days):
                if shift == 0:
                    name = path.name
                else:
                    digest = hashlib.sha1(f"{path.name}:{shift}".encode()).hexdigest()
                    name = f"part-{digest[:20]}.parquet"
                folder = partial / f"date={day + timedelta(days=shift)}" / path.parent.name
                folder.mkdir(parents=True, exist_ok=True)
                fleet.with_columns(pl.col("timestamp") + pl.duration(days=shift)).write_parquet(
                    folder / name, compression="zstd", statistics=True
                )
        partial.rename(target)
        print(
            f"(built {target.name}: {len(files):,} files x {fleets} fleets x {days} days in "
            f"{time.perf_counter() - started:.0f} s)"
        )
    # every file has one schema (DuckDB may then read them without union_by_name), and the
    # copy reads as a dataset, with the records, devices and days expected
    if len({tuple(pl.read_parquet_schema(path).items()) for path in files}) != 1:
        raise SystemExit(f"{base}: files with different columns")
    copied = dexkit.scan_dataset(target)
    if copied.collect_schema() != dexkit.scan_dataset(base).collect_schema():
        raise SystemExit(f"{target}: not the schema of {base}")
    found = copied.select(
        pl.len(), pl.col("device_id").n_unique(), pl.col("date").n_unique()
    ).collect(engine="streaming")
    base_devices = dexkit.scan_dataset(base).select(pl.col("device_id").n_unique()).collect()
    base_days = len({p.parent.parent.name for p in files})
    expected = (base_rows * fleets * days, base_devices.item() * fleets, base_days + days - 1)
    if found.row(0) != expected:
        raise SystemExit(f"{target}: (records, devices, days) {found.row(0)}, expected {expected}")
    print(
        f"(dataset: {expected[0]:,} records, {expected[1]:,} devices, {expected[2]} days, "
        f"{len(list(target.glob('date=*/source=*/*.parquet'))):,} files, "
        f"{sum(p.stat().st_size for p in target.rglob('*.parquet')) / 1e9:.1f} GB)"
    )
    return target


def _schema_reads(into: Path) -> tuple[float, float]:
    """``scan_dataset`` without its schema cache (every footer read), then with it."""
    import dexkit

    shutil.rmtree(into / "_dexkit", ignore_errors=True)
    times = []
    for _ in range(2):
        started = time.perf_counter()
        dexkit.scan_dataset(into)
        times.append(time.perf_counter() - started)
    return times[0], times[1]


def _newest(into: Path) -> float:
    """Each partition's first and newest timestamps, made as ``logpush sync`` makes them (a dataset
    copied by ``build_dataset`` has none), which ``summarize`` and the other per-device
    functions read; the time to make them is about what a first query pays without them."""
    import dexkit
    from dexkit import dataset

    started = time.perf_counter()
    dataset.prepare(dexkit.scan_dataset(into))
    return time.perf_counter() - started


def _warm(into: Path) -> float:
    """Read every file once, so that neither side of the first query pays for a cold cache."""
    started = time.perf_counter()
    for path in into.rglob("*.parquet"):
        with path.open("rb") as f:
            while f.read(1 << 24):
                pass
    return time.perf_counter() - started


def _seconds(r: dict[str, Any]) -> str:
    return (
        f"> {r['seconds']:.0f} (stopped: {r['stopped']})" if r["stopped"] else f"{r['seconds']:.2f}"
    )


def _memory(r: dict[str, Any]) -> str:
    return f"> {r['extra_mb']:.0f} (whole process)" if r["stopped"] else f"{r['extra_mb']:.0f}"


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
    parser.add_argument(
        "--dataset-size",
        type=int,
        default=None,
        help="query a dataset of about this many records, copied from the synced one",
    )
    parser.add_argument(
        "--days", type=int, default=10, help="days of history in the copied dataset"
    )
    parser.add_argument(
        "--max-rss-gb", type=float, default=16.0, help="stop a query process holding more"
    )
    parser.add_argument(
        "--min-available-gb",
        type=float,
        default=3.0,
        help="stop a query process when the machine has less memory available",
    )
    parser.add_argument("--query", choices=QUERIES, help=argparse.SUPPRESS)
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "sync":
        sync_child(args.dir, args.into)
        return 0
    if args.child == "query":
        query_child(args.query, args.side, args.into, args.out)
        return 0
    if args.child:
        child(args.child, args.dir, args.repeats)
        return 0
    work = args.work or Path(tempfile.mkdtemp(prefix="dexkit-bench-logpush-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        if not args.skip_read:
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
                results[name] = run_child(
                    __file__, name, "--dir", str(archive), "--repeats", str(args.repeats)
                )
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
        if args.dataset_size:
            into = build_dataset(
                into, args.dataset_size, args.days, work / f"dataset-{args.dataset_size}-copies"
            )
        print(f"(every file read once beforehand: {_warm(into):.0f} s)")
        cold, cached = _schema_reads(into)
        print(
            f"(scan_dataset: {cold:.2f} s reading every file's schema, {cached:.2f} s from its "
            "schema cache)"
        )
        print(
            f"(each partition's first and newest timestamp per device: {_newest(into):.2f} s "
            "to make, as `logpush sync` does; the queries below start from them and the schema "
            "cache)\n"
        )
        print(
            "| query on the dataset (streaming) | dexkit (s) | DuckDB (s) | DuckDB, one schema (s) "
            "| dexkit / faster DuckDB | dexkit extra peak (MB) | DuckDB extra peak (MB) "
            "| DuckDB, one schema, extra peak (MB) | rows | same numbers |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        failed = False
        for r in _queries(into, work, args.repeats, (args.max_rss_gb, args.min_available_gb)):
            sides = [r[side] for side in SIDES]
            cells = [QUERY_CALLS[r["query"]], *map(_seconds, sides)]
            done = [x["seconds"] for x in sides[1:] if not x["stopped"]]
            stopped = sides[0]["stopped"] or not done
            cells.append("" if stopped else f"{sides[0]['seconds'] / min(done):.2f}")
            cells += [*map(_memory, sides), f"{sides[0]['rows']:,}", str(r["same"])]
            print(f"| {' | '.join(cells)} |", flush=True)
            if not r["same"]:
                failed = True
                print(f"  {r['query']}: {r['why']}", file=sys.stderr)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
