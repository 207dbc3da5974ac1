"""One call that loads device records from wherever they are: the sample, a path, or the live API.

:func:`load` is how the notebooks, the CLI and users start: ``dexkit.load()`` reads the bundled
sample offline, or the live API when credentials are in the environment; ``dexkit.load(path)``
reads a page store, saved pages or a Parquet dataset. :func:`sample_dir` says where the bundled
sample is, in a checkout or in an installed wheel.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import polars as pl

from dexkit._time import TimeLike, instant, window
from dexkit.errors import ConfigError

if TYPE_CHECKING:
    from dexkit.client import Client

__all__ = ["is_live", "load", "read_input", "read_window", "sample_dir"]

Source = Literal["last_seen", "hourly", "raw"]
_SOURCES = ("last_seen", "hourly", "raw")


def sample_dir(kind: Literal["pages", "logpush"] = "pages") -> Path:
    """Return the directory of a bundled sample of the synthetic fleet (500 devices, an incident).

    ``"pages"``: the API's pages (``last_seen/``, ``hourly/``, ``raw/``); ``"logpush"``: the same
    raw records as a Logpush archive of ``dex_device_state_events``. An installed wheel carries
    both inside the package; a checkout has them in ``data/sample`` and ``data/logpush``.

    >>> sorted(p.name for p in sample_dir().iterdir() if p.is_dir())
    ['hourly', 'last_seen', 'raw']
    >>> sample_dir("logpush").name
    'logpush'
    """
    if kind not in ("pages", "logpush"):
        raise ConfigError(f"sample_dir(): kind must be 'pages' or 'logpush', got {kind!r}")
    name, probe = ("sample", "raw") if kind == "pages" else ("logpush", "")
    packaged = Path(str(resources.files("dexkit").joinpath("data", name)))
    checkout = Path(__file__).resolve().parent.parent / "data" / name
    for candidate in (packaged, checkout):
        if (candidate / probe).is_dir() and any(candidate.iterdir()):
            return candidate
    raise ConfigError(
        f"the bundled {kind} sample is missing from this installation (looked in "
        f"{packaged} and {checkout}); reinstall dexkit, or regenerate it with "
        "`python -m dexkit.synth`"
    )


def _credentials_in_env() -> bool:
    env = os.environ
    token = env.get("CLOUDFLARE_API_TOKEN") or (
        env.get("CLOUDFLARE_EMAIL") and env.get("CLOUDFLARE_API_KEY")
    )
    return bool(token and env.get("CLOUDFLARE_ACCOUNT_ID"))


def is_live(origin: str | os.PathLike[str] | None = None) -> bool:
    """Say whether :func:`load` of this ``origin`` reads the live API.

    ``"api"`` does; ``None`` does when ``CLOUDFLARE_ACCOUNT_ID`` and a credential are in the
    environment; ``"sample"`` and paths never do. Notebooks use it for the cells that only make
    sense live (``/over-time`` lines, finding the colo that moved before fetching its records).

    >>> is_live("sample"), is_live("api"), is_live("data/logpush")
    (False, True, False)
    """
    if origin is None:
        return _credentials_in_env()
    return os.fspath(origin) == "api"


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


def _only(frame: pl.DataFrame, filters: dict[str, str]) -> pl.DataFrame:
    if not filters:
        return frame
    kept = frame.filter(**filters)
    if kept.is_empty():
        wanted = ", ".join(f"{k}={v!r}" for k, v in filters.items())
        raise ConfigError(f"load(): no records with {wanted} in this input")
    return kept


def read_window(root: str | os.PathLike[str], start: TimeLike, end: TimeLike) -> pl.DataFrame:
    """Read the records of ``[start, end)`` from a page store, without a request.

    Only the complete chunks that overlap the window are read (for ``last_seen``, the snapshots
    that lie inside it), then the records are cut to the window.

    Parameters
    ----------
    root
        The page store (``Client.fetch(into=...)``, :func:`dexkit.default_store`).
    start, end
        The window, in any spelling of an instant.

    Raises
    ------
    ConfigError
        None of the store's chunks covers the window (fetch it first).
    StoreError
        The store is damaged, or a link leads out of it.

    Examples
    --------
    >>> import tempfile
    >>> from datetime import timedelta
    >>> from dexkit.client import Client
    >>> from dexkit.testing import FakeCloudflare
    >>> end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    >>> store = tempfile.mkdtemp()
    >>> with FakeCloudflare(devices=60, seed=1) as api:
    ...     client = Client(api.account_id, api.api_token, base_url=api.base_url, progress=False)
    ...     _ = client.fetch(end - timedelta(hours=3), end, source="hourly", into=store)
    >>> read_window(store, end - timedelta(hours=2), end)["timestamp"].n_unique()
    2
    """
    from dexkit.frames import read_pages
    from dexkit.store import window_pages

    lo, hi = window((start, end), "read_window()")
    files = window_pages(root, lo, hi)
    if not files:
        raise ConfigError(
            f"the page store {os.fspath(root)!r} holds nothing of {lo:%Y-%m-%d %H:%M} to "
            f"{hi:%Y-%m-%d %H:%M} UTC: fetch that window into it first"
        )
    frame = read_pages(files)
    return frame.filter(pl.col("timestamp").is_between(lo, hi, closed="left"))


def _from_api(
    client: Client | None,
    start: TimeLike | None,
    end: TimeLike | None,
    source: Source,
    filters: dict[str, str],
    store: str | os.PathLike[str] | None,
    verbose: bool,
) -> pl.DataFrame:
    from dexkit.client import Client
    from dexkit.store import default_store

    api = client if client is not None else Client()
    # Whole hours are final: a window that ends on the hour is fetched once, then read from the
    # page store by every re-run.
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    last = instant(end, "load() end") if end is not None else hour
    span = timedelta(hours=1) if source == "last_seen" else timedelta(hours=24)
    first = instant(start, "load() start") if start is not None else last - span
    where = store
    if where is None:
        where = default_store(source, account_id=api.account_id, **filters)  # type: ignore[arg-type]
    if verbose:  # a plan costs a request: only when it is shown
        print(api.plan(first, last, source=source, into=where, **filters))  # type: ignore[arg-type]
    api.fetch(first, last, source=source, into=where, **filters)  # type: ignore[arg-type]
    return read_window(where, first, last)


def read_input(
    source: str | os.PathLike[str], **options: Any
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Read device records from a page store, saved pages, a Parquet dataset or a Logpush archive.

    Parameters
    ----------
    source
        A page store directory (with ``manifest.json``), a directory or glob of saved pages
        (``.json``/``.json.gz``), a Parquet dataset of :func:`dexkit.dataset.write_dataset`
        (a directory with ``date=…/source=…`` partitions), or a Logpush archive
        (:func:`dexkit.read_logpush`: an object store URL, or a directory holding ``.log.gz``
        batches).
    **options
        Passed to :func:`dexkit.read_pages` for pages and stores (``incomplete``,
        ``max_page_bytes``, ``max_files``).

    Returns
    -------
    (polars.DataFrame, dict)
        The records, and provenance: the input's kind and path, and for a page store its
        query shape and when it was fetched (secrets filtered out).

    Examples
    --------
    >>> from dexkit.inputs import read_input
    >>> read_input("/nonexistent/dir")
    Traceback (most recent call last):
    ...
    dexkit.errors.ConfigError: no device records at '/nonexistent/dir': ...
    """
    from dexkit.dataset import scan_dataset
    from dexkit.frames import read_pages
    from dexkit.store import MANIFEST, is_store, load_manifest

    text = os.fspath(source)
    path = Path(text)
    info: dict[str, Any] = {"input": text}
    if _is_logpush(text, path):
        from dexkit.logpush import read_logpush

        info["kind"] = "Logpush archive (dex_device_state_events)"
        return read_logpush(text), info
    if path.is_dir() and any(path.glob("date=*/source=*/*.parquet")):
        info["kind"] = "Parquet dataset"
        try:
            return scan_dataset(path).collect(), info
        except pl.exceptions.PolarsError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(
                f"cannot read the Parquet dataset at {text!r}: {first} (a file damaged or "
                "written by another tool; re-fetch, or remove that partition)"
            ) from exc
    if path.is_dir() and is_store(path):
        info["kind"] = "page store"
        data = load_manifest(path / MANIFEST)  # a damaged one is a StoreError naming it
        for name in ("shape", "created", "updated"):
            info["query" if name == "shape" else f"store {name}"] = data[name]
        fetches = data["fetches"]
        if fetches:
            info["fetched at"] = fetches[-1].get("finished")
    elif path.is_dir():
        info["kind"] = "saved pages"
    elif path.is_file():
        info["kind"] = "saved page"
    elif any(ch in text for ch in "*?["):
        info["kind"] = "saved pages (glob)"
    else:
        raise ConfigError(f"no device records at {text!r}: not a file, directory or glob")
    return read_pages(text, **options), info


def _is_logpush(text: str, path: Path) -> bool:
    """An object store URL, or local Logpush batches (``.log.gz``, as Cloudflare names them)."""
    if "://" in text:
        return True
    if path.is_file():
        return path.name.endswith(".log.gz")
    from dexkit._files import walk
    from dexkit.store import is_store

    if not path.is_dir() or is_store(path) or any(path.glob("date=*/source=*/*.parquet")):
        return False  # asked first: a page store or a dataset is not walked for batches

    return any(p.name.endswith(".log.gz") and not is_dir for p, is_dir, _ in walk(path))


def load(
    origin: str | os.PathLike[str] | None = None,
    *,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    source: Source | None = None,
    client: Client | None = None,
    store: str | os.PathLike[str] | None = None,
    verbose: bool = False,
    **filters: str,
) -> pl.DataFrame:
    """Load device records as one typed frame: from the sample, a path or the live API.

    The first line of every example notebook. Live, it spends the API's quota once: records go
    through a page store, so a re-run (or a report written afterwards) costs no request, and
    extending the window by an hour costs only that hour.

    Parameters
    ----------
    origin
        ``"sample"`` (the bundled 500-device fleet, offline), ``"api"`` (the live API through
        :class:`dexkit.Client`), or a path: a page store, a directory or glob of saved pages, a
        Parquet dataset, or a Logpush archive (a directory of ``.log.gz`` batches, or an object
        store URL such as ``s3://bucket/prefix``). ``None`` picks ``"api"`` when
        ``CLOUDFLARE_ACCOUNT_ID`` and a credential are in the environment, else ``"sample"``.
    start, end
        The window, ``[start, end)``, in any spelling of an instant (docs: time.md). ``None``:
        everything the input holds; for ``"api"``, the hour (``last_seen``) or the 24 hours
        (``hourly``, ``raw``) before the last whole hour. A window that holds no records is an
        error that says what the data covers.
    source
        Which records: ``"raw"``, ``"hourly"`` or ``"last_seen"``. Default: ``"raw"`` from the
        sample and paths, ``"last_seen"`` (a snapshot, ``devices / 50`` requests) from the API.
    client
        The client for ``"api"`` (default: ``Client()`` from the environment).
    store
        For ``"api"``: the page store (default: :func:`dexkit.default_store` of the query).
    verbose
        For ``"api"``: print the plan (requests, time at the rate limit, cheaper ways) before
        spending anything.
    **filters
        ``colo=``, ``platform=``, ``status=``, ``version=``, ``mode=``, ``device_id=``: only
        those records (for the API, a server-side filter: fewer requests).

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
    >>> dexkit.load("sample", colo="FRA")["colo"].unique().to_list()
    ['FRA']
    >>> dexkit.load("sample", source="latest")
    Traceback (most recent call last):
    ...
    dexkit.errors.ConfigError: load(): source must be one of last_seen, hourly, raw; got 'latest'
    """
    from dexkit._query import FILTERS

    if source is not None and source not in _SOURCES:
        raise ConfigError(f"load(): source must be one of {', '.join(_SOURCES)}; got {source!r}")
    unknown = sorted(set(filters) - set(FILTERS))
    if unknown:
        raise ConfigError(
            f"load(): unknown filter {', '.join(unknown)}; filters are {', '.join(FILTERS)}"
        )
    kept = {k: v for k, v in filters.items() if v is not None}
    if origin is None:
        origin = "api" if _credentials_in_env() else "sample"
    text = os.fspath(origin)
    if text == "api":
        return _from_api(client, start, end, source or "last_seen", kept, store, verbose)
    if text == "sample":
        from dexkit.frames import read_pages

        frame = read_pages(sample_dir() / (source or "raw"))
    else:
        if _is_logpush(text, Path(text)):
            from dexkit.logpush import read_logpush

            return _only(read_logpush(text, start=start, end=end), kept)
        frame, _ = read_input(text)
    return _only(_between(frame, start, end), kept)
