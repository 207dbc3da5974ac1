"""One call that loads device records from wherever they are: the sample, a path, or the live API.

:func:`load` is how the notebooks, the CLI and users start: ``dexkit.load()`` reads the bundled
sample offline, or the live API when credentials are in the environment; ``dexkit.load(path)``
reads a page store, saved pages or a Parquet dataset. :func:`sample_dir` says where the bundled
sample is, in a checkout or in an installed wheel.
"""

from __future__ import annotations

import os
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

import polars as pl

from dexkit._time import TimeLike, instant, window
from dexkit.errors import ConfigError

if TYPE_CHECKING:
    from dexkit.client import Client

__all__ = ["load", "sample_dir"]

Source = Literal["last_seen", "hourly", "raw"]
_SOURCES = ("last_seen", "hourly", "raw")


def sample_dir() -> Path:
    """Return the directory of the bundled sample (``last_seen/``, ``hourly/``, ``raw/`` pages).

    An installed wheel carries it inside the package; a checkout has it in ``data/sample``.

    >>> sorted(p.name for p in sample_dir().iterdir() if p.is_dir())
    ['hourly', 'last_seen', 'raw']
    """
    packaged = Path(str(resources.files("dexkit").joinpath("data", "sample")))
    checkout = Path(__file__).resolve().parent.parent / "data" / "sample"
    for candidate in (packaged, checkout):
        if (candidate / "raw").is_dir():
            return candidate
    raise ConfigError(
        "the bundled sample is missing from this installation (looked in "
        f"{packaged} and {checkout}); reinstall dexkit, or regenerate it with "
        "`python -m dexkit.synth --out data/sample`"
    )


def _credentials_in_env() -> bool:
    env = os.environ
    token = env.get("CLOUDFLARE_API_TOKEN") or (
        env.get("CLOUDFLARE_EMAIL") and env.get("CLOUDFLARE_API_KEY")
    )
    return bool(token and env.get("CLOUDFLARE_ACCOUNT_ID"))


def _between(frame: pl.DataFrame, start: TimeLike | None, end: TimeLike | None) -> pl.DataFrame:
    if start is None and end is None:
        return frame
    if frame.is_empty():
        return frame
    first = cast(datetime, frame["timestamp"].min())
    last = cast(datetime, frame["timestamp"].max())
    lo, hi = window((start or first, end or "now"), "load() window")
    kept = frame.filter(pl.col("timestamp").is_between(lo, hi, closed="left"))
    if kept.is_empty():
        raise ConfigError(
            f"load(): no records between {lo:%Y-%m-%d %H:%M} and {hi:%Y-%m-%d %H:%M} UTC; the data "
            f"covers {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC"
        )
    return kept


def load(
    origin: str | os.PathLike[str] | None = None,
    *,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    source: Source = "raw",
    client: Client | None = None,
) -> pl.DataFrame:
    """Load device records as one typed frame, from the sample, a path or the live API.

    Parameters
    ----------
    origin
        ``"sample"`` (the bundled 500-device fleet, offline), ``"api"`` (the live API through
        :class:`dexkit.Client`), or a path: a page store, a directory or glob of saved pages, or a
        Parquet dataset. ``None`` picks ``"api"`` when ``CLOUDFLARE_ACCOUNT_ID`` and a credential
        are in the environment, else ``"sample"``.
    start, end
        The window, ``[start, end)``, in any spelling of an instant (docs: time.md); ``None`` keeps
        everything the input holds (for ``"api"``: the last hour of ``last_seen``, or the last
        24 hours otherwise). A window that holds no records is an error.
    source
        Which records: ``"raw"`` (default), ``"hourly"`` or ``"last_seen"``, for the sample and
        the API.
    client
        The client for ``"api"`` (default: ``Client()`` from the environment).

    Returns
    -------
    polars.DataFrame
        The records, with :data:`dexkit.SCHEMA`.

    Examples
    --------
    >>> import dexkit
    >>> raw = dexkit.load("sample")
    >>> raw.height, raw["device_id"].n_unique()
    (19706, 484)
    >>> dexkit.load("sample", start="2026-11-18T13:00Z", end="2026-11-18T15:00Z").height
    5663
    >>> dexkit.load("sample", source="latest")
    Traceback (most recent call last):
    ...
    dexkit.errors.ConfigError: load(): source must be one of last_seen, hourly, raw; got 'latest'
    """
    if source not in _SOURCES:
        raise ConfigError(f"load(): source must be one of {', '.join(_SOURCES)}; got {source!r}")
    if origin is None:
        origin = "api" if _credentials_in_env() else "sample"
    text = os.fspath(origin)
    if text == "sample":
        from dexkit.frames import read_pages

        return _between(read_pages(sample_dir() / source), start, end)
    if text == "api":
        from dexkit.client import Client

        api = client if client is not None else Client()
        default_start = "-60m" if source == "last_seen" else "-24h"
        return api.devices(
            instant(start if start is not None else default_start, "load() start"),
            instant(end if end is not None else "now", "load() end"),
            source=source,
        )
    from dexkit.report import read_input

    frame, _ = read_input(text)
    return _between(frame, start, end)
