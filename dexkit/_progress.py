"""Progress that suits the place: a notebook bar, a terminal bar, or log lines.

A fetch at the account's rate limit can take an hour. Where it runs decides how to show it:

* in a Jupyter kernel, tqdm's notebook bar (a widget; ``tqdm.notebook``);
* in a terminal (stderr is a TTY), tqdm's text bar with its ETA;
* anywhere else (cron, CI, captured output, a pipe), no carriage-return redraws: one line on
  stderr each time another tenth of the pages is done, at most one every 30 s between them, a
  line per completed page-store chunk, and a last line at the end.

:func:`bar` picks one; all three have the methods the client uses (``update``, ``refresh``,
``set_postfix_str``, ``close``, ``total``, ``chunk_done``).

>>> import io
>>> out = io.StringIO()
>>> progress = LineProgress("dexkit fetch", file=out, every=0)
>>> progress.total = 4
>>> progress.update(2)
>>> progress.close()
>>> print(out.getvalue().strip())
dexkit fetch: 2/4 pages (50%), 0.0 s elapsed, about 0.0 s left
dexkit fetch: done, 2/4 pages in 0.0 s
"""

from __future__ import annotations

import sys
import time
from typing import Any, Literal, TextIO

__all__ = ["LineProgress", "bar", "where"]


def where(stream: Any = None) -> Literal["notebook", "terminal", "log"]:
    """Where progress is shown: ``"notebook"``, ``"terminal"`` or ``"log"`` (see the module).

    >>> import io
    >>> where(io.StringIO())
    'log'
    """
    ipython = sys.modules.get("IPython")
    if ipython is not None:
        get = getattr(ipython, "get_ipython", None)
        shell = get() if callable(get) else None
        if shell is not None and "IPKernelApp" in getattr(shell, "config", {}):
            return "notebook"
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    try:
        return "terminal" if callable(isatty) and isatty() else "log"
    except ValueError:  # a closed stream
        return "log"


def _span(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class LineProgress:
    """Progress as whole lines on a stream: no carriage returns, a few lines per fetch.

    Parameters
    ----------
    desc
        What is in progress (the start of each line).
    file
        Where to write (``sys.stderr`` by default).
    every
        Seconds between two lines at most, besides each tenth of the pages.
    """

    def __init__(self, desc: str, *, file: TextIO | None = None, every: float = 30.0) -> None:
        self.desc = desc
        self.file = file
        self.every = every
        self.total: int | None = None
        self.n = 0
        self.postfix = ""
        self._started = time.monotonic()
        self._last = self._started
        self._tenth = 0
        self._closed = False

    def _write(self, text: str) -> None:
        stream = self.file if self.file is not None else sys.stderr
        print(f"{self.desc}: {text}", file=stream, flush=True)

    def _line(self) -> str:
        elapsed = time.monotonic() - self._started
        if self.total:
            share = self.n / self.total
            text = f"{self.n:,}/{self.total:,} pages ({share:.0%}), {_span(elapsed)} elapsed"
            if 0 < self.n < self.total:
                text += f", about {_span(elapsed / self.n * (self.total - self.n))} left"
        else:
            text = f"{self.n:,} pages, {_span(elapsed)} elapsed"
        return f"{text}, {self.postfix}" if self.postfix else text

    def update(self, n: int = 1) -> None:
        """Count ``n`` more pages; write a line at each tenth of the total or every ``every`` s."""
        self.n += n
        now = time.monotonic()
        tenth = int(self.n * 10 / self.total) if self.total else 0
        if tenth > self._tenth or now - self._last >= self.every:
            self._tenth = max(tenth, self._tenth)
            self._last = now
            self._write(self._line())

    def refresh(self) -> None:
        """Nothing to redraw: lines are written as pages arrive."""

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        """Append ``text`` (e.g. ``records=1,200``) to the next lines."""
        self.postfix = text

    def chunk_done(self, key: str, pages: int, records: int, how: str = "fetched") -> None:
        """Write a line for a completed page-store chunk (``how``: fetched, or fetched by
        another fetch into the same store)."""
        self._write(f"{key} {how} ({pages:,} pages, {records:,} records); {self._line()}")
        self._last = time.monotonic()

    def close(self) -> None:
        """Write the last line (once)."""
        if self._closed:
            return
        self._closed = True
        if self.n:
            elapsed = _span(time.monotonic() - self._started)
            total = f"/{self.total:,}" if self.total else ""
            self._write(f"done, {self.n:,}{total} pages in {elapsed}")


def bar(desc: str, *, enabled: bool) -> Any:
    """A progress bar for ``desc`` that suits the place (see the module); inert if disabled.

    >>> bar("dexkit", enabled=False).disable
    True
    """
    if enabled and where() == "log":
        return LineProgress(desc)
    if enabled and where() == "notebook":
        from tqdm.notebook import tqdm as notebook_tqdm

        progress = notebook_tqdm(total=None, unit="page", desc=desc, leave=True)
    else:
        from tqdm.std import tqdm as text_tqdm

        progress = text_tqdm(
            total=None,
            unit="page",
            desc=desc,
            disable=not enabled,
            dynamic_ncols=True,
            leave=True,
            mininterval=0.5,
        )
    progress.chunk_done = lambda key, pages, records, how="fetched": None
    return progress
