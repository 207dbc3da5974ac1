"""What the benchmarks share: running a measurement in a fresh interpreter, and its peak memory.

Each benchmark script runs every method in a child process of its own (``script --child ...``)
that prints one JSON line last; :func:`run_child` runs it and returns that line. A child reports
its peak resident memory with :func:`peak_mb`, read from ``VmHWM``, which starts afresh at
``exec``: ``ru_maxrss`` keeps the forking parent's peak, so a parent that had held 3 GB made every
child report at least 3 GB.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any


def peak_mb() -> float:
    """This process's peak resident memory in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # no /proc: not Linux


def run_child(script: str, *args: str, quiet: bool = False) -> dict[str, Any]:
    """``python script --child args...`` in a fresh interpreter; the JSON of its last line."""
    command = [sys.executable, *(["-W", "ignore"] if quiet else []), script, "--child", *args]
    out = subprocess.run(command, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result
