"""The page store: API pages saved on disk as they arrive, resumable, readable offline.

Layout of a store directory::

    DIR/manifest.json                                   the query, chunks, counts, fetch log
    DIR/hourly/2026-11-18T13/page-00001.json.gz         one response body per file (gzip, mtime 0)
    DIR/last_seen/2026-11-18T133000--2026-11-18T140000/page-00001.json.gz

Pages are the API's response bodies exactly, so ``dexkit.read_pages(DIR)`` reads a store offline
(it skips ``manifest.json``, and leaves out chunks whose fetch did not finish). Every write is
atomic (a temporary file, then ``os.replace``): an interrupted fetch leaves whole pages or none,
and the next fetch of the same window requests only the pages that are missing. ``hourly`` and
``raw`` windows are split into chunks aligned to whole UTC hours (see :func:`split`); a chunk
that is complete and entirely in the past is never fetched again. No credential is ever written.

Safety: the store never follows a symbolic link out of its directory (a store unpacked from an
archive may hold one): it checks the whole tree when opened and every path before it deletes or
writes, and raises :class:`~dexkit.StoreError` instead. The manifest is updated under a file
lock (``DIR/.manifest.lock``, the ``filelock`` package) by reading it, merging this process's
changes and writing it back, so that processes fetching into one store keep each other's chunks.
A damaged or crafted manifest or stored page is one :class:`~dexkit.StoreError` naming the file.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import filelock
import orjson

from dexkit._files import MAX_FILES, MAX_PAGE_BYTES, atomic_write, read_page, walk
from dexkit._query import HISTORY_MARGIN, HISTORY_MAX, Query
from dexkit.errors import ConfigError, PageError, StoreError, printable

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "MANIFEST",
    "STORE_ENV",
    "Chunk",
    "PageStore",
    "cache_frame",
    "default_store",
    "is_store",
    "load_manifest",
    "split",
    "store_root",
    "stored_pages",
    "window_pages",
]

#: The environment variable that moves every default page store (see :func:`store_root`).
STORE_ENV = "DEXKIT_STORE"

#: The manifest's file name (``read_pages`` skips it).
MANIFEST = "manifest.json"
#: The lock file that serializes manifest updates between processes.
LOCK = ".manifest.lock"
_FORMAT = "dexkit-page-store"
_VERSION = 1
#: A manifest larger than this is not one dexkit wrote (a week of hourly chunks is ~100 KB).
MAX_MANIFEST_BYTES = 64 * 2**20
#: Seconds to wait for another process's manifest update before giving up.
LOCK_TIMEOUT = 60.0
#: The directory of the per-chunk locks that keep two fetches from requesting one chunk.
CLAIMS = ".claims"
#: Seconds to wait for another process that is fetching a chunk this one needs.
CLAIM_TIMEOUT = 1800.0
_KEY = re.compile(r"(?:last_seen|hourly|raw)/[0-9T-]{10,40}")


@dataclass(frozen=True)
class Chunk:
    """One part of a fetch's window, stored in its own directory.

    Attributes
    ----------
    key
        Its directory under the store, e.g. ``"hourly/2026-11-18T13"``.
    query
        The query of this chunk (the fetch's query over the chunk's window).
    closed
        The window is a whole aligned chunk entirely in the past: once fetched, it is final.
    """

    key: str
    query: Query
    closed: bool


def _stamp(moment: datetime, *, seconds: bool = False) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H%M%S" if seconds else "%Y-%m-%dT%H%M")


def split(query: Query, *, now: datetime, size: timedelta = timedelta(hours=1)) -> list[Chunk]:
    """Split a query's window into chunks aligned to ``size`` (whole UTC hours by default).

    ``last_seen`` queries are one chunk (a snapshot of the window). ``hourly`` and ``raw``
    windows are widened to whole chunks, so that overlapping windows share them; the first chunk
    is cut to the API's 7 days and the last one at ``now`` (such cut chunks are not ``closed``
    and are fetched again next time).

    >>> from dexkit._query import build
    >>> now = datetime(2026, 11, 18, 14, 20, tzinfo=UTC)
    >>> [(c.key, c.closed) for c in split(build("-2h", now=now, source="hourly"), now=now)]
    [('hourly/2026-11-18T12', True), ('hourly/2026-11-18T13', True),
     ('hourly/2026-11-18T14', False)]
    """
    if query.source == "last_seen":
        key = f"last_seen/{_stamp(query.start, seconds=True)}--{_stamp(query.end, seconds=True)}"
        return [Chunk(key, query, closed=query.end <= now)]
    step = size.total_seconds()
    if step <= 0 or step % 60 or size > HISTORY_MAX:
        raise ConfigError(
            f"chunk must be a whole number of minutes, from 1 to 7 days (10080), got {size}"
        )
    hourly = step % 3600 == 0
    earliest = now - HISTORY_MAX + HISTORY_MARGIN
    first = int(query.start.timestamp() // step) * step
    chunks = []
    at = datetime.fromtimestamp(first, UTC)
    while at < query.end:
        stop = at + size
        lo, hi = max(at, earliest), min(stop, now)
        if lo < hi:
            name = at.strftime("%Y-%m-%dT%H") if hourly else _stamp(at)
            closed = lo == at and hi == stop
            chunks.append(Chunk(f"{query.source}/{name}", query.with_window(lo, hi), closed))
        at = stop
    return chunks


def store_root(account_id: str | None = None) -> Path:
    """The directory under which dexkit keeps an account's page stores by default.

    ``$DEXKIT_STORE/<account_id>`` when ``DEXKIT_STORE`` is set, else
    ``<user cache dir>/dexkit/<account_id>`` (``~/.cache/dexkit/…`` on Linux,
    ``~/Library/Caches/dexkit/…`` on macOS, ``%LOCALAPPDATA%\\dexkit\\Cache\\…`` on Windows).
    Not the working directory: a notebook runs in ``notebooks/``, the command line wherever
    it is typed, and both must find the same hours. One directory per account, so two accounts
    never share pages. The account id comes from ``CLOUDFLARE_ACCOUNT_ID`` when not given.

    Parameters
    ----------
    account_id
        The Cloudflare account id (else ``CLOUDFLARE_ACCOUNT_ID``).

    Raises
    ------
    ConfigError
        No account id, or one that is not a plain name (letters, digits, ``-``, ``_``).

    Examples
    --------
    >>> import os
    >>> os.environ["DEXKIT_STORE"] = "/tmp/dexkit-stores"
    >>> store_root("0a1b2c3d").as_posix()
    '/tmp/dexkit-stores/0a1b2c3d'
    >>> del os.environ["DEXKIT_STORE"]
    """
    account = account_id if account_id is not None else os.environ.get("CLOUDFLARE_ACCOUNT_ID")
    if not account:
        raise ConfigError(
            "no account id for the default page store: pass account_id= or set "
            "CLOUDFLARE_ACCOUNT_ID (or give the store's directory, into=)"
        )
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", account):
        raise ConfigError(
            "the account id must be letters, digits, '-' or '_' (at most 64) to name a "
            "page store directory"
        )
    base = os.environ.get(STORE_ENV)
    if base:
        return Path(base).expanduser() / account
    import platformdirs

    return Path(platformdirs.user_cache_dir("dexkit", appauthor=False)) / account


def default_store(
    source: str = "hourly",
    *,
    account_id: str | None = None,
    per_page: int = 50,
    sort_by: str | None = None,
    **filters: str | None,
) -> Path:
    """The default page store of one query shape: ``store_root(account_id) / <shape>``.

    A page store holds one query shape (source, filters, sort, page size), so each shape has
    its own directory, named after it: ``hourly``, ``raw,colo=FRA``,
    ``hourly,platform=windows,version=2025.10.186.0``. ``Client.fetch``, ``dexkit fetch`` and
    ``dexkit report --source`` use it when no directory is given, and so do the notebooks:
    what one of them fetched, the others read without a request.

    Parameters
    ----------
    source
        ``"last_seen"``, ``"hourly"`` or ``"raw"``.
    account_id
        The account (else ``CLOUDFLARE_ACCOUNT_ID``).
    per_page, sort_by
        As for ``Client.fetch`` (named in the directory only when not the defaults).
    **filters
        ``colo=``, ``platform=``, … (``None`` values are left out).

    Examples
    --------
    >>> import os
    >>> os.environ["DEXKIT_STORE"] = "/tmp/dexkit-stores"
    >>> default_store("raw", account_id="0a1b2c3d", colo="FRA").as_posix()
    '/tmp/dexkit-stores/0a1b2c3d/raw,colo=FRA'
    >>> default_store("hourly", account_id="0a1b2c3d", version="../x").name
    'hourly,version=..%2Fx'
    >>> del os.environ["DEXKIT_STORE"]
    """
    from urllib.parse import quote

    from dexkit._query import FILTERS, SOURCES

    if source not in SOURCES:
        raise ConfigError(f"source must be one of {', '.join(SOURCES)}; got {source!r}")
    unknown = sorted(set(filters) - set(FILTERS))
    if unknown:
        raise ConfigError(f"unknown filter(s) {unknown}; known: {', '.join(FILTERS)}")
    parts = [source]
    parts += [f"{k}={quote(str(v), safe='')}" for k, v in sorted(filters.items()) if v is not None]
    if sort_by is not None:
        parts.append(f"sort_by={quote(sort_by, safe='')}")
    if per_page != 50:
        parts.append(f"per_page={per_page}")
    return store_root(account_id) / ",".join(parts)


def window_pages(
    root: str | os.PathLike[str], start: datetime, end: datetime, *, max_files: int = MAX_FILES
) -> list[Path]:
    """The page files of a store's complete chunks that overlap ``[start, end)``.

    For a ``last_seen`` store, the snapshots that lie inside the window. The manifest and the
    files go through the same checks as :func:`stored_pages` (a damaged manifest or a link out of
    the store is a :class:`~dexkit.StoreError`); ``dexkit.inputs.read_window`` reads them.

    >>> import tempfile
    >>> window_pages(tempfile.mkdtemp(), datetime(2026, 11, 18, tzinfo=UTC), datetime.now(UTC))
    Traceback (most recent call last):
    ...
    dexkit.errors.StoreError: .../manifest.json: cannot read the manifest (No such file ...)
    """
    folder = Path(root)
    manifest = load_manifest(folder / MANIFEST)
    shape = manifest.get("shape")
    snapshot = isinstance(shape, dict) and shape.get("source") == "last_seen"
    wanted: set[str] = set()
    for key, entry in manifest["chunks"].items():
        query = entry.get("query") if isinstance(entry, dict) else None
        try:
            lo = datetime.fromisoformat(query["from"])  # type: ignore[index]
            hi = datetime.fromisoformat(query["to"])  # type: ignore[index]
        except (TypeError, KeyError, ValueError) as exc:
            raise StoreError(
                f"{printable(str(folder / MANIFEST))}: chunk {printable(repr(key))} has no "
                "readable window: fetch into a new store",
                path=str(folder / MANIFEST),
            ) from exc
        if (lo >= start and hi <= end) if snapshot else (lo < end and hi > start):
            wanted.add(key)
    files, _ = stored_pages(folder, max_files=max_files)
    return [f for f in files if "/".join(f.relative_to(folder).parts[:2]) in wanted]


def cache_frame(path: str | os.PathLike[str], make: Callable[[], pl.DataFrame]) -> pl.DataFrame:
    """Return the frame saved at ``path`` (Parquet), or ``make()`` it and save it there.

    For answers that are not device pages (``/over-time`` counts of a closed window): a re-run
    reads them back instead of asking again. Written atomically.

    Examples
    --------
    >>> import tempfile, polars as pl
    >>> path = Path(tempfile.mkdtemp()) / "over-time" / "day.parquet"
    >>> cache_frame(path, lambda: pl.DataFrame({"n": [1]}))["n"].to_list()
    [1]
    >>> cache_frame(path, lambda: pl.DataFrame({"n": [2]}))["n"].to_list()  # not made again
    [1]
    """
    import polars as pl

    target = Path(path)
    if target.is_file():
        return pl.read_parquet(target)
    frame = make()
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(f".{target.name}.{os.getpid()}.part")
    frame.write_parquet(part)
    os.replace(part, target)
    return frame


def _page_name(number: int) -> str:
    return f"page-{number:05d}.json.gz"


# --------------------------------------------------------------------------------------------
# The manifest, checked


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_ENTRY_FIELDS: dict[str, tuple[Any, bool]] = {  # name: (check, required)
    "query": (lambda v: isinstance(v, dict), True),
    "complete": (lambda v: isinstance(v, bool), True),
    "closed": (lambda v: isinstance(v, bool), False),
    "finished": (lambda v: isinstance(v, bool), False),
    "total_pages": (lambda v: v is None or (_is_int(v) and v >= 0), False),
    "total_count": (lambda v: v is None or (_is_int(v) and v >= 0), False),
    "pages": (lambda v: isinstance(v, list) and all(_is_int(n) and n > 0 for n in v), False),
    "records": (lambda v: _is_int(v) and v >= 0, False),
    "stop": (lambda v: isinstance(v, str), False),
    "fetched": (lambda v: isinstance(v, str), False),
}


def _manifest_problem(doc: Any) -> str | None:
    """What is wrong with a parsed manifest, or ``None``."""
    if not isinstance(doc, dict):
        return f"a JSON {type(doc).__name__}, not an object"
    if doc.get("format") != _FORMAT:
        return f"its format is {printable(repr(doc.get('format')))}, not {_FORMAT!r}"
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= _VERSION:
        return f"version {printable(repr(version))} (this dexkit reads version {_VERSION})"
    if not isinstance(doc.get("shape"), dict):
        return "'shape' is not an object"
    for name in ("created", "updated"):
        if not isinstance(doc.get(name), str):
            return f"{name!r} is not a string"
    chunks = doc.get("chunks")
    if not isinstance(chunks, dict):
        return "'chunks' is not an object"
    for key, entry in chunks.items():
        if not _KEY.fullmatch(key):
            return f"chunk {printable(repr(key[:80]))} is not a chunk name dexkit writes"
        if not isinstance(entry, dict):
            return f"chunk {key!r} is not an object"
        for name, (check, required) in _ENTRY_FIELDS.items():
            if name not in entry:
                if required:
                    return f"chunk {key!r} has no {name!r}"
                continue
            if not check(entry[name]):
                value = printable(repr(entry[name]))[:60]
                return f"chunk {key!r} has a wrong {name!r} ({value})"
    fetches = doc.get("fetches")
    if not isinstance(fetches, list) or not all(isinstance(f, dict) for f in fetches):
        return "'fetches' is not a list of objects"
    return None


def load_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check a page store's ``manifest.json``.

    Raises
    ------
    StoreError
        The file cannot be read, is not JSON (empty, truncated, binary, nested too deeply) or
        not a manifest dexkit writes (wrong types, unknown chunk names); the message names it.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp(), "manifest.json")
    >>> _ = path.write_text('{"format": "dexkit-page-store", "chunks": []}')
    >>> load_manifest(path)
    Traceback (most recent call last):
    ...
    dexkit.errors.StoreError: .../manifest.json: not a dexkit page store manifest (version None ...
    """
    path = Path(path)
    advice = (
        "move it away and fetch into a new directory (read_pages() then reads the pages as "
        "plain saved pages, complete or not)"
    )
    try:
        if path.is_symlink():
            raise StoreError("the manifest is a symbolic link: " + advice, path=path)
        size = path.stat().st_size
        if size > MAX_MANIFEST_BYTES:
            raise StoreError(
                f"not a dexkit page store manifest ({size:,} bytes, more than a manifest ever "
                f"holds): {advice}",
                path=path,
            )
        data = path.read_bytes()
    except OSError as exc:
        raise StoreError(f"cannot read the manifest ({exc.strerror or exc})", path=path) from exc
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        what = "empty" if not data.strip() else f"not JSON: {exc}"
        raise StoreError(
            f"not a dexkit page store manifest ({printable(what)}): {advice}", path=path
        ) from exc
    problem = _manifest_problem(doc)
    if problem is not None:
        raise StoreError(f"not a dexkit page store manifest ({problem}): {advice}", path=path)
    assert isinstance(doc, dict)
    return doc


def _finished(entry: Mapping[str, Any]) -> bool:
    """Whether a chunk's fetch ran to its end (manifests before ``finished``: ``stop`` says)."""
    if "finished" in entry:
        return bool(entry["finished"])
    return bool(entry.get("complete")) or "stop" in entry


# --------------------------------------------------------------------------------------------
# Paths that stay in the store


def _real(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError) as exc:  # a link loop
        raise StoreError(f"cannot resolve this path ({exc})", path=path) from exc


def _refuse_link_out(path: Path, real_root: Path) -> None:
    """Raise if the symbolic link ``path`` leads out of the store at ``real_root``."""
    if not _real(path).is_relative_to(real_root):
        raise StoreError(
            f"a symbolic link leads out of the page store (to {printable(_real(path))}): "
            "dexkit never reads, writes or deletes outside a store; remove the link, or "
            "fetch into another directory",
            path=path,
        )


def _check_tree(root: Path, real_root: Path) -> None:
    """Refuse a store holding a symbolic link that leads out of it (checked without following)."""
    for path, _, is_link in walk(root, follow=False):
        if is_link:
            _refuse_link_out(path, real_root)


def is_store(root: str | os.PathLike[str]) -> bool:
    """Whether ``root`` is a page store: it has a ``manifest.json`` that is not another tool's.

    A manifest that cannot be read or parsed counts as a (damaged) store; a JSON object with
    another ``format``, or none, is another tool's file.

    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> is_store(root)
    False
    >>> _ = (root / "manifest.json").write_text('{"name": "my notes"}')
    >>> is_store(root)
    False
    >>> _ = (root / "manifest.json").write_text('{"format": "dexkit-page-store", "version"')
    >>> is_store(root)
    True
    """
    path = Path(root) / MANIFEST
    if not os.path.lexists(path):
        return False
    try:
        if path.is_file() and not path.is_symlink() and path.stat().st_size <= MAX_MANIFEST_BYTES:
            doc = orjson.loads(path.read_bytes())
            if isinstance(doc, dict) and doc.get("format", _FORMAT) != _FORMAT:
                return False
            if isinstance(doc, dict) and "format" not in doc and "chunks" not in doc:
                return False
    except (OSError, orjson.JSONDecodeError):
        pass
    return True


def stored_pages(
    root: str | os.PathLike[str],
    *,
    include_incomplete: bool = False,
    max_files: int = MAX_FILES,
) -> tuple[list[Path], list[str]]:
    """The page files of a page store, and the chunks left out as incomplete.

    A chunk is complete when its last fetch ran to its end; pages of chunks that are not
    (an interrupted or running fetch), or that the manifest does not know, are left out unless
    ``include_incomplete``. Raises :class:`~dexkit.StoreError` for a damaged manifest or a
    symbolic link out of the store, :class:`~dexkit.ConfigError` past ``max_files``.

    >>> import tempfile
    >>> stored_pages(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    dexkit.errors.StoreError: .../manifest.json: cannot read the manifest (No such file ...)
    """
    root = Path(root)
    manifest = load_manifest(root / MANIFEST)
    real_root = _real(root)
    finished = {key for key, entry in manifest["chunks"].items() if _finished(entry)}
    files: list[Path] = []
    skipped: set[str] = set()
    for path, is_dir, is_link in walk(root, follow=False):
        if is_link:
            _refuse_link_out(path, real_root)
        name = path.name
        if is_dir or not name.endswith((".json", ".json.gz")) or name == MANIFEST:
            continue
        key = "/".join(path.relative_to(root).parts[:2])
        if key in finished or include_incomplete:
            files.append(path)
            if len(files) > max_files:
                raise ConfigError(
                    f"the page store {printable(repr(str(root)))} holds more than "
                    f"max_files={max_files} pages: pass a larger max_files= (dexkit report "
                    "--max-files)"
                )
        else:
            skipped.add(key)
    return sorted(files, key=str), sorted(skipped)


# --------------------------------------------------------------------------------------------
# The store


class PageStore:
    """A directory of saved pages of one query shape (source, filters, sort, page size).

    Parameters
    ----------
    root
        The directory (created if missing).
    shape
        What identifies the query apart from its window (``Query.shape()``). A store holds one
        shape: opening it with another raises :class:`~dexkit.ConfigError`.
    lock_timeout
        Seconds to wait for another process's manifest update (they take milliseconds); past
        it, :class:`~dexkit.StoreError`.
    claim_timeout
        Seconds to wait for another process that is fetching a chunk this one needs (a fetch
        holds each chunk's claim while it requests that chunk's pages, so that two fetches into
        one store never request the same chunk); past it, :class:`~dexkit.StoreError`.

    Examples
    --------
    >>> import tempfile
    >>> from dexkit._query import build
    >>> now = datetime(2026, 11, 18, 14, 20, tzinfo=UTC)
    >>> query = build("-30m", now=now)
    >>> store = PageStore(tempfile.mkdtemp(), query.shape())
    >>> [chunk] = split(query, now=now)
    >>> store.prepare(chunk)
    {}
    >>> store.write_page(chunk, 1, b'{"success": true, "result": []}')
    >>> store.finish(chunk, [1], records=0, stop="page 1 is empty")
    >>> store.complete(chunk), sorted(p.name for p in store.root.rglob("*.gz"))
    (True, ['page-00001.json.gz'])
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        shape: Mapping[str, Any],
        *,
        lock_timeout: float = LOCK_TIMEOUT,
        claim_timeout: float = CLAIM_TIMEOUT,
    ) -> None:
        self.root = Path(root)
        self.shape = dict(shape)
        self._lock_timeout = lock_timeout
        self.claim_timeout = claim_timeout
        self._claims: dict[str, filelock.BaseFileLock] = {}
        self._dirty: set[str] = set()  # chunks this process changed since its last save
        self._new_fetches: list[dict[str, Any]] = []
        path = self.root / MANIFEST
        if self.root.exists() or self.root.is_symlink():
            self._real_root = _real(self.root)
            _check_tree(self.root, self._real_root)
        if os.path.lexists(path):
            self.manifest: dict[str, Any] = self._checked(load_manifest(path))
        else:
            # hidden names: the lock, and the temporary file of a process creating the store
            if self.root.exists() and any(not p.name.startswith(".") for p in self.root.iterdir()):
                raise ConfigError(
                    f"{self.root} is not empty and has no {MANIFEST}: fetch into a new or empty "
                    "directory, or one that an earlier fetch made"
                )
            now = datetime.now(UTC).isoformat()
            self.manifest = {
                "format": _FORMAT,
                "version": _VERSION,
                "shape": self.shape,
                "created": now,
                "updated": now,
                "chunks": {},
                "fetches": [],
            }
        self.root.mkdir(parents=True, exist_ok=True)
        self._real_root = _real(self.root)
        self._lock = filelock.FileLock(self._inside(self.root / LOCK), timeout=lock_timeout)
        if not os.path.lexists(path):
            self.save()  # a new store: its manifest first, before any page

    def _checked(self, manifest: dict[str, Any]) -> dict[str, Any]:
        if manifest["shape"] != self.shape:
            raise ConfigError(
                f"{self.root} holds pages of another query ({manifest['shape']}), not "
                f"{self.shape}: fetch into another directory"
            )
        return manifest

    def __repr__(self) -> str:
        return f"PageStore({str(self.root)!r}, {len(self.manifest['chunks'])} chunk(s))"

    def _inside(self, path: Path) -> Path:
        """``path``, once sure that it and the directories above it stay in the store."""
        if not _real(path).is_relative_to(self._real_root):
            raise StoreError(
                f"this path leads out of the page store (to {printable(_real(path))}) through "
                "a symbolic link: dexkit never reads, writes or deletes outside a store; "
                "remove the link, or fetch into another directory",
                path=path,
            )
        return path

    def _entry(self, chunk: Chunk) -> dict[str, Any] | None:
        entry = self.manifest["chunks"].get(chunk.key)
        if entry is None or entry.get("query") != chunk.query.describe():
            return None
        return dict(entry)

    def complete(self, chunk: Chunk) -> bool:
        """Whether ``chunk`` is final in the store (complete, closed, same window)."""
        entry = self._entry(chunk)
        return bool(entry and entry.get("complete"))

    def present(self, chunk: Chunk) -> dict[int, Path]:
        """The saved page files of ``chunk``, by page number."""
        folder = self._inside(self.root / chunk.key)
        out: dict[int, Path] = {}
        for path in folder.glob("page-*.json.gz"):
            try:
                number = int(path.name[5:10])
            except ValueError:
                continue
            out[number] = self._inside(path)
        return dict(sorted(out.items()))

    def _reuse(self, path: Path) -> bytes:
        """A saved page's body, checked as far as paging needs it."""
        try:
            raw = read_page(path, MAX_PAGE_BYTES)
            doc = orjson.loads(raw)
        except (PageError, orjson.JSONDecodeError) as exc:
            reason = str(exc).removeprefix(f"page {printable(path)}: ")
            raise StoreError(
                f"a stored page is damaged ({printable(reason)}): delete it and fetch again",
                path=path,
            ) from exc
        result = doc.get("result") if isinstance(doc, dict) else None
        if not isinstance(result, list) or not all(isinstance(r, dict) for r in result):
            raise StoreError(
                "a stored page is damaged (not an API envelope with a list of records in "
                "'result'): delete it and fetch again",
                path=path,
            )
        return raw

    def try_claim(self, chunk: Chunk) -> bool:
        """Take ``chunk``'s claim if no other fetch holds it (without waiting).

        A fetch holds a chunk's claim (a lock file under ``.claims``, released by the system
        if its process dies) from before :meth:`prepare` to after :meth:`finish`, so that two
        fetches into one store, in two processes or in one, never request the same chunk.
        """
        lock = self._claims.get(chunk.key)
        if lock is None:
            folder = self._inside(self.root / CLAIMS)
            folder.mkdir(exist_ok=True)
            name = chunk.key.replace("/", "_") + ".lock"
            lock = filelock.FileLock(self._inside(folder / name), thread_local=False)
            self._claims[chunk.key] = lock
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            return False
        return True

    def release(self, chunk: Chunk) -> None:
        """Give up ``chunk``'s claim (see :meth:`try_claim`)."""
        lock = self._claims.pop(chunk.key, None)
        if lock is not None:
            lock.release()

    def refresh(self, chunk: Chunk) -> bool:
        """Take ``chunk``'s entry from the manifest on disk, where another fetch may have
        recorded it since this store was opened (unless this one changed it since); return
        whether the chunk is final. Called with the chunk's claim held: a chunk another fetch
        completed is not requested again, and one it left half done resumes from its pages."""
        if self.complete(chunk) or chunk.key in self._dirty:
            return self.complete(chunk)
        path = self._inside(self.root / MANIFEST)
        entry = self._checked(load_manifest(path))["chunks"].get(chunk.key)
        if entry is not None:
            self.manifest["chunks"][chunk.key] = entry
        return self.complete(chunk)

    def prepare(self, chunk: Chunk) -> dict[int, bytes]:
        """Get ready to fetch ``chunk``: return the pages a resumed fetch can reuse.

        Pages saved for the same window are kept (an interrupted fetch resumes); pages of another
        window of the same chunk (an open hour fetched earlier) are removed. The chunk is marked
        unfinished until :meth:`finish`.
        """
        folder = self._inside(self.root / chunk.key)
        entry = self._entry(chunk)
        # a chunk the manifest does not know yet is unfinished for readers as it is: recording it
        # can wait for page 1; one it knows must be marked unfinished before a page changes
        known = chunk.key in self.manifest["chunks"]
        if entry is None:
            shutil.rmtree(folder, ignore_errors=True)
            self.manifest["chunks"][chunk.key] = {
                "query": chunk.query.describe(),
                "complete": False,
                "finished": False,
                "closed": chunk.closed,
                "total_pages": None,
                "total_count": None,
                "pages": [],
            }
            have = {}
        else:
            have = {n: self._reuse(path) for n, path in self.present(chunk).items()}
            self.manifest["chunks"][chunk.key] = {**entry, "finished": False}
        self._dirty.add(chunk.key)
        if known:
            self.save()
        return have

    def begin(self, chunk: Chunk, total_pages: int | None, total_count: int | None) -> None:
        """Record the totals page 1 announced."""
        entry = self.manifest["chunks"][chunk.key]
        entry.update(total_pages=total_pages, total_count=total_count)
        self._dirty.add(chunk.key)
        self.save()

    def write_page(self, chunk: Chunk, number: int, body: bytes) -> None:
        """Save one page's body, atomically."""
        path = self._inside(self.root / chunk.key / _page_name(number))
        atomic_write(path, gzip.compress(body, mtime=0))

    def finish(self, chunk: Chunk, numbers: Iterable[int], *, records: int, stop: str) -> None:
        """Record a chunk fetched to its end; drop saved pages past the stop."""
        keep = sorted(set(numbers))
        for number, path in self.present(chunk).items():
            if number not in keep:
                path.unlink()
        entry = self.manifest["chunks"][chunk.key]
        entry.update(
            complete=chunk.closed,
            finished=True,
            pages=keep,
            records=records,
            stop=stop,
            fetched=datetime.now(UTC).isoformat(),
        )
        self._dirty.add(chunk.key)
        self.save()

    def interrupted(self, chunk: Chunk) -> None:
        """Record which pages of ``chunk`` were saved before a fetch stopped early."""
        entry = self.manifest["chunks"].get(chunk.key)
        if entry is not None:
            entry.update(complete=False, finished=False, pages=list(self.present(chunk)))
            self._dirty.add(chunk.key)

    def records(self, chunk: Chunk) -> int:
        """Distinct records of a finished chunk."""
        entry = self._entry(chunk)
        return int(entry.get("records", 0)) if entry else 0

    def page_count(self, chunk: Chunk) -> int:
        """Pages saved for a chunk."""
        entry = self._entry(chunk)
        return len(entry.get("pages", [])) if entry else 0

    def log_fetch(self, query: Query, summary: Mapping[str, Any]) -> None:
        """Append one fetch to the manifest's log (the last 100 are kept)."""
        item = {"query": query.describe(), "finished": datetime.now(UTC).isoformat()}
        item.update({k: v for k, v in summary.items() if k not in ("path", "query")})
        self._new_fetches.append(item)
        self.save()

    def save(self) -> None:
        """Write the manifest atomically, merged under the store's lock with what other
        processes wrote since: their chunks are kept, this process's changes win for the
        chunks it changed, and the fetch logs are joined."""
        path = self._inside(self.root / MANIFEST)
        try:
            with self._lock:
                merged = self.manifest
                if os.path.lexists(path):
                    merged = self._checked(load_manifest(path))
                    for key in self._dirty:
                        merged["chunks"][key] = self.manifest["chunks"][key]
                merged["fetches"] = [*merged["fetches"], *self._new_fetches][-100:]
                merged["updated"] = datetime.now(UTC).isoformat()
                data = orjson.dumps(merged, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
                atomic_write(path, data + b"\n")
        except filelock.Timeout as exc:
            raise StoreError(
                f"another process has held the store's lock for more than {self._lock_timeout:g}"
                " s, where a fetch holds it for milliseconds to record a chunk: that process is"
                " likely stuck; end it and fetch again (nothing recorded is lost; a PageStore's"
                " lock_timeout= sets this wait)",
                path=self.root / LOCK,
            ) from exc
        self.manifest = merged
        self._dirty.clear()
        self._new_fetches.clear()
