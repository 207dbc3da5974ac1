"""read_pages from a page store on disk beside read_pages of the same pages in memory.

The same ``last_seen`` pages of the synthetic fleet (50 records each) are read three ways, in one
process, taking turns: as a list of bytes (what ``bench_frames.py`` measures), from a page store
(``PageStore`` files: gzip, a manifest, chunk directories), and through a ``**`` glob over the
store. The store's extra cost is what reading files adds: the manifest and symbolic-link checks,
the directory walk, and gzip decoding with the ``max_page_bytes`` cap. Best of ``--repeats``.
Run: ``.venv/bin/python benchmarks/bench_store.py [--sizes 50000]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

SIZES = (50_000,)


def make_store(devices: int, root: Path) -> list[bytes]:
    """Write a one-chunk page store of a ``devices``-strong fleet's pages; return the pages."""
    from dexkit._query import build
    from dexkit.store import PageStore, split
    from dexkit.synth import Fleet

    end = datetime(2026, 11, 18, 15, tzinfo=UTC)
    pages = Fleet(devices, seed=3).pages("last_seen", end - timedelta(hours=1), end)
    query = build(end - timedelta(hours=1), end, now=end)
    store = PageStore(root, query.shape())
    [chunk] = split(query, now=end)
    store.prepare(chunk)
    for number, body in enumerate(pages, start=1):
        store.write_page(chunk, number, body)
    store.finish(chunk, range(1, len(pages) + 1), records=devices, stop="the last page")
    return pages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    import dexkit

    print("| devices | pages | source | seconds | vs bytes |")
    print("|---:|---:|---|---:|---:|")
    for devices in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "store"
            pages = make_store(devices, root)
            ways: dict[str, Any] = {
                "list of bytes": pages,
                "page store": root,
                "glob **/*.json.gz": str(root / "**" / "*.json.gz"),
            }
            best = dict.fromkeys(ways, float("inf"))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for _ in range(args.repeats):  # taking turns: load changes hit all alike
                    for name, source in ways.items():
                        started = time.perf_counter()
                        dexkit.read_pages(source)
                        best[name] = min(best[name], time.perf_counter() - started)
            base = best["list of bytes"]
            for name, seconds in best.items():
                print(
                    f"| {devices:,} | {len(pages):,} | {name} | {seconds:.2f} | "
                    f"{seconds / base:.2f}x |",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
