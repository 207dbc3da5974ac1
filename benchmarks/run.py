"""Run every benchmark in turn and print its table: ``make bench``.

Each benchmark is a script of its own (``benchmarks/bench_*.py``) that can also be run alone; they
run one after another, never side by side, so that they do not compete for the two cores.
Pass names to run some of them: ``.venv/bin/python benchmarks/run.py frames health``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if argv:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in argv]
    failed = []
    for script in scripts:
        print(f"\n## {script.stem.removeprefix('bench_')}  (`python benchmarks/{script.name}`)\n")
        sys.stdout.flush()
        started = time.perf_counter()
        code = subprocess.call([sys.executable, str(script)])
        print(f"\n({time.perf_counter() - started:.0f} s)")
        if code:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
