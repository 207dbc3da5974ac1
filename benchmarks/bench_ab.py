"""A/B of read_pages + flatten between two checkouts, in alternating fresh processes.

For "no slower than before" claims on a shared machine: the same pages, read by the old and the new
tree in turn (old, new, new, old, …), best of 3 per process, the median per tree over the rounds.

    .venv/bin/python benchmarks/bench_ab.py --old ../dexkit-old --new . --devices 50000 --rounds 6

(``git worktree add ../dexkit-old <commit>`` makes the old tree.)
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = """
import pickle, sys, time
pages = pickle.load(open(sys.argv[1], "rb"))
import dexkit
best = float("inf")
for _ in range(3):
    started = time.perf_counter()
    dexkit.flatten(dexkit.read_pages(pages))
    best = min(best, time.perf_counter() - started)
print(best)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, required=True, help="the checkout to compare with")
    parser.add_argument("--new", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--devices", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    from datetime import UTC, datetime, timedelta

    from dexkit.synth import Fleet

    end = datetime(2026, 11, 18, 14, tzinfo=UTC)
    pages = Fleet(args.devices, seed=1).pages("last_seen", end - timedelta(hours=1), end)
    path = Path(tempfile.mkdtemp()) / "pages.pickle"
    path.write_bytes(pickle.dumps(pages))
    times: dict[str, list[float]] = {"old": [], "new": []}
    trees = {"old": args.old.resolve(), "new": args.new.resolve()}
    for round_ in range(args.rounds):
        order = ("old", "new") if round_ % 2 == 0 else ("new", "old")
        for name in order:
            done = subprocess.run(
                [sys.executable, "-c", _CHILD, str(path)],
                capture_output=True,
                text=True,
                check=True,
                cwd=tempfile.gettempdir(),
                env={**os.environ, "PYTHONPATH": str(trees[name])},
            )
            times[name].append(float(done.stdout))
    old, new = statistics.median(times["old"]), statistics.median(times["new"])
    print(f"{args.devices:,} devices, {args.rounds} rounds: old {old:.3f} s, new {new:.3f} s, ")
    print(f"new / old = {new / old:.3f}")


if __name__ == "__main__":
    main()
