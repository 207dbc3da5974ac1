"""read_pages + flatten beside the parse floor and the json_normalize alternatives.

Every method starts from the same page bytes (``last_seen`` pages of the synthetic fleet, 50
records each, exactly as the API sends them) and ends with one row per device:

- dexkit: ``dexkit.flatten(dexkit.read_pages(pages))``, typed, every leaf a column;
- orjson floor: ``orjson.loads`` of every page, the cost of parsing alone (no frame at all);
- pandas: orjson + ``pandas.json_normalize`` of all records;
- polars: orjson + ``polars.json_normalize(..., strict=False)`` of all records
  (``strict=True`` fails on Go-style integers in float fields).

Each method runs in its own fresh process: best of 3 wall times, and the peak resident memory it
added over the loaded pages. Run: ``.venv/bin/python benchmarks/bench_frames.py``.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from _child import peak_mb, run_child

METHODS = ("dexkit", "orjson floor", "pandas.json_normalize", "polars.json_normalize")
SIZES = (50_000, 100_000)


def _records(pages: list[bytes]) -> list[dict[str, Any]]:
    return [r for p in pages for r in orjson.loads(p)["result"]]


def _method(name: str) -> Callable[[list[bytes]], Any]:
    if name == "dexkit":
        import dexkit

        return lambda pages: dexkit.flatten(dexkit.read_pages(pages))
    if name == "orjson floor":
        return lambda pages: [orjson.loads(p) for p in pages]
    if name == "pandas.json_normalize":
        import pandas as pd

        return lambda pages: pd.json_normalize(_records(pages))
    if name == "polars.json_normalize":
        import polars as pl

        return lambda pages: pl.json_normalize(
            _records(pages), strict=False, infer_schema_length=None
        )
    raise SystemExit(f"unknown method {name!r}")


def _current_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def child(name: str, path: Path, repeats: int) -> None:
    """Run one method on the pages in ``path``; print seconds and extra peak memory as JSON."""
    with path.open("rb") as f:
        pages = [line.rstrip(b"\n") for line in f]
    run = _method(name)
    before = _current_mb()
    result = run(pages)
    extra = max(0.0, peak_mb() - before)
    rows = len(result) if not isinstance(result, list) else sum(len(p["result"]) for p in result)
    del result
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        run(pages)
        best = min(best, time.perf_counter() - t0)
    print(json.dumps({"seconds": best, "extra_mb": extra, "rows": rows}))


def make_pages(devices: int, directory: Path) -> Path:
    """Write the ``last_seen`` pages of a ``devices``-strong synthetic fleet, one per line."""
    from dexkit.synth import Fleet

    path = directory / f"pages-{devices}.ndjson"
    if not path.exists():
        end = datetime(2026, 11, 18, 15, tzinfo=UTC)
        pages = Fleet(devices, seed=3).pages("last_seen", end - timedelta(hours=1), end)
        path.write_bytes(b"\n".join(pages))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--pages", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.pages, args.repeats)
        return 0
    print("| devices | MB of JSON | method | seconds | vs dexkit | extra peak memory (MB) |")
    print("|---:|---:|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for devices in args.sizes:
            path = make_pages(devices, Path(tmp))
            size_mb = path.stat().st_size / 1e6
            results = {}
            for name in METHODS:
                results[name] = run_child(
                    __file__, name, "--pages", str(path), "--repeats", str(args.repeats)
                )
            base = results["dexkit"]["seconds"]
            for name, r in results.items():
                print(
                    f"| {devices:,} | {size_mb:.0f} | {name} | {r['seconds']:.2f} | "
                    f"{r['seconds'] / base:.1f}x | {r['extra_mb']:.0f} |",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
