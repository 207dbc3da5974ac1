"""Fetched device records on disk: a hive-partitioned Parquet dataset, and the colo table.

:func:`write_dataset` stores frames of :func:`dexkit.read_pages` under ``root`` with one
directory per UTC day and source (``last_seen``, ``hourly``, ``raw``)::

    root/
      date=2026-03-01/
        source=hourly/data.parquet
        source=raw/data.parquet
      date=2026-03-02/
        source=raw/data.parquet

:func:`scan_dataset` reads it back as a ``LazyFrame`` (with ``date`` and ``source`` columns) for
Polars' streaming engine, so that a week of raw records is summarized without loading it::

    from dexkit import health
    frame = scan_dataset("fleet/", source="raw")
    health.summarize(frame, by="colo").collect(engine="streaming")

The layout is plain hive partitioning and plain Parquet (zstd, timestamps as UTC microseconds,
nested structs and lists as Parquet groups), so other engines read it as is:

- DuckDB: ``SELECT * FROM read_parquet('fleet/**/*.parquet', hive_partitioning = true)``
- Spark: ``spark.read.parquet("fleet/")`` (``date`` and ``source`` become partition columns)
- pyarrow: ``pyarrow.dataset.dataset("fleet/", format="parquet", partitioning="hive")``

Re-writing is idempotent
------------------------
Each partition holds one file, ``data.parquet``. Writing to a partition that exists merges
(``mode="merge"``, the default): the existing rows and the new ones are combined and
deduplicated on ``key`` (``device_id`` and ``timestamp``: a device reports once per
timestamp), the new row winning, and the result replaces the file atomically (it is written to a
hidden temporary file first, then renamed). Writing the same records twice, or overlapping
fetches, therefore never duplicates rows. ``mode="overwrite"`` replaces each partition the frame
touches with the frame's rows. Partitions the frame does not touch are left alone. One writer at
a time per dataset: two concurrent writers to the same partition can lose each other's rows.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import re
import uuid
import weakref
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeAlias, cast

import polars as pl

from dexkit import _checks
from dexkit._files import atomic_write
from dexkit._places import colos
from dexkit.errors import ConfigError
from dexkit.schema import SCHEMA

__all__ = ["DEFAULT_KEY", "PARTITIONS", "DatasetWrite", "colos", "scan_dataset", "write_dataset"]

#: The columns that identify a record when partitions are merged.
DEFAULT_KEY: tuple[str, ...] = ("device_id", "timestamp")
#: The hive partition columns, outermost first.
PARTITIONS: dict[str, pl.DataType] = {"date": pl.Date(), "source": pl.String()}

_FILE = "data.parquet"
#: What scan_dataset remembers of each file's schema (a cache: deleting it is harmless). The
#: ``_`` prefix keeps it out of other engines' partition discovery (Spark, pyarrow).
_CACHE = Path("_dexkit") / "schemas.json"
#: A larger cache file is ignored (and rewritten): about 100 bytes per Parquet file.
_CACHE_MAX_BYTES = 256 << 20
_SOURCE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
#: Each partition's first and newest timestamp per device (see :func:`newest`): one Arrow IPC
#: file per partition (see ``_Summaries``), whose name changes with the partition's files.
_NEWEST = Path("_dexkit") / "newest"


@dataclass(frozen=True)
class DatasetWrite:
    """What :func:`write_dataset` did.

    Attributes
    ----------
    root
        The dataset's directory.
    partitions
        The partitions written, as relative paths such as ``"date=2026-03-01/source=raw"``.
    rows
        Rows the written partitions hold now.
    added
        Net change in the dataset's row count: 0 when the same records are written again
        (negative when ``mode="overwrite"`` replaced a partition with fewer rows).
    """

    root: Path
    partitions: tuple[str, ...]
    rows: int
    added: int


def _check_source(value: object) -> str:
    if not isinstance(value, str) or _SOURCE.fullmatch(value) is None:
        raise ConfigError(
            f"source must be a name made of letters, digits, '_', '.' and '-' (such as "
            f"'last_seen', 'hourly' or 'raw'), got {value!r}"
        )
    return value


def _utc_timestamp(schema: pl.Schema) -> pl.Expr:
    dtype = schema["timestamp"]
    if not isinstance(dtype, pl.Datetime):
        raise ConfigError(f"the timestamp column must be a Datetime, got {dtype}")
    if dtype.time_zone is None:
        return pl.col("timestamp").dt.replace_time_zone("UTC")
    return pl.col("timestamp").dt.convert_time_zone("UTC")


def write_dataset(
    frame: pl.DataFrame | pl.LazyFrame,
    root: str | os.PathLike[str],
    *,
    source: str | None = None,
    mode: Literal["merge", "overwrite"] = "merge",
    key: Sequence[str] = DEFAULT_KEY,
) -> DatasetWrite:
    """Write device records into a hive-partitioned Parquet dataset (``date=…/source=…``).

    Parameters
    ----------
    frame
        Device records (``DataFrame`` or ``LazyFrame``; a ``LazyFrame`` is collected one
        partition at a time). Every row needs a ``timestamp``; its UTC day is the ``date``
        partition. An existing ``date`` column is replaced.
    root
        The dataset's directory (created if needed).
    source
        The ``source`` partition: ``"last_seen"``, ``"hourly"``, ``"raw"`` or another name.
        ``None`` takes it from the frame's ``source`` column (a frame read back with
        :func:`scan_dataset`); a given ``source`` replaces that column.
    mode
        ``"merge"`` (default) combines the rows with those already in each partition,
        deduplicated on ``key`` (new rows win); ``"overwrite"`` replaces each partition the frame
        touches.
    key
        The columns that identify a record when deduplicating.

    Returns
    -------
    DatasetWrite

    Raises
    ------
    ConfigError
        Bad arguments, a missing ``timestamp``/``source``/key column, or rows without a
        timestamp.

    Examples
    --------
    >>> import tempfile
    >>> import polars as pl
    >>> from dexkit.dataset import scan_dataset, write_dataset
    >>> frame = pl.DataFrame({
    ...     "device_id": ["a", "b", "a"],
    ...     "timestamp": ["2026-03-01 23:00", "2026-03-01 23:30", "2026-03-02 00:10"],
    ...     "cpu_pct": [12.0, 40.0, 15.0],
    ... }).with_columns(pl.col("timestamp").str.to_datetime(time_zone="UTC"))
    >>> root = tempfile.mkdtemp()
    >>> write_dataset(frame, root, source="raw").partitions
    ('date=2026-03-01/source=raw', 'date=2026-03-02/source=raw')
    >>> write_dataset(frame, root, source="raw").added  # the same records again: no duplicates
    0
    >>> scan_dataset(root).select("device_id", "cpu_pct", "date", "source").collect()
    shape: (3, 4)
    ┌───────────┬─────────┬────────────┬────────┐
    │ device_id ┆ cpu_pct ┆ date       ┆ source │
    │ ---       ┆ ---     ┆ ---        ┆ ---    │
    │ str       ┆ f64     ┆ date       ┆ str    │
    ╞═══════════╪═════════╪════════════╪════════╡
    │ a         ┆ 12.0    ┆ 2026-03-01 ┆ raw    │
    │ b         ┆ 40.0    ┆ 2026-03-01 ┆ raw    │
    │ a         ┆ 15.0    ┆ 2026-03-02 ┆ raw    │
    └───────────┴─────────┴────────────┴────────┘
    >>> import shutil
    >>> shutil.rmtree(root)
    """
    lf = _checks.lazy(frame, "write_dataset")
    schema = lf.collect_schema()
    if mode not in ("merge", "overwrite"):
        raise ConfigError(f"write_dataset(): mode must be 'merge' or 'overwrite', got {mode!r}")
    if "timestamp" not in schema:
        raise ConfigError("write_dataset() needs a timestamp column to partition by date")
    keys = [key] if isinstance(key, str) else list(key)
    missing = [k for k in keys if k not in schema]
    if not keys or missing:
        raise ConfigError(
            f"write_dataset(): key must name columns of the frame, missing: {missing or keys!r}"
        )
    if source is not None:
        lf = lf.with_columns(pl.lit(_check_source(source)).alias("source"))
    elif "source" not in schema:
        raise ConfigError(
            "write_dataset() needs source='last_seen', 'hourly' or 'raw' (or a source column)"
        )
    lf = lf.with_columns(_utc_timestamp(schema).alias("timestamp")).with_columns(
        pl.col("timestamp").dt.date().alias("date"), pl.col("source").cast(pl.String)
    )
    parts = lf.select("date", "source").unique().collect().sort("date", "source")
    if parts["date"].null_count():
        raise ConfigError("write_dataset(): some rows have no timestamp; drop them first")
    if parts["source"].null_count():
        raise ConfigError("write_dataset(): some rows have no source; pass source=...")
    for value in parts["source"]:
        _check_source(value)

    if isinstance(frame, pl.DataFrame) and parts.height > 1:
        split = lf.collect().partition_by("date", "source", as_dict=True, include_key=False)
        pieces = {(d, s): split[(d, s)] for d, s in parts.iter_rows()}
    else:
        pieces = {
            (d, s): lf.filter((pl.col("date") == d) & (pl.col("source") == s))
            .drop("date", "source")
            .collect()
            for d, s in parts.iter_rows()
        }

    base = Path(root)
    written: list[str] = []
    rows = added = 0
    for (day, name), new in pieces.items():
        relative = f"date={day.isoformat()}/source={name}"
        kept, before = _write_partition(base / relative, new, mode=mode, key=keys)
        written.append(relative)
        rows += kept
        added += kept - before
    return DatasetWrite(root=base, partitions=tuple(written), rows=rows, added=added)


def _write_partition(
    directory: Path, new: pl.DataFrame, *, mode: str, key: list[str]
) -> tuple[int, int]:
    """Merge or overwrite one partition; return (rows now, rows before)."""
    directory.mkdir(parents=True, exist_ok=True)
    existing = sorted(directory.glob("*.parquet"))
    before = 0
    combined = new
    if existing:
        old = pl.read_parquet(existing, hive_partitioning=False)
        before = old.height
        if mode == "merge":
            combined = pl.concat([old, new], how="diagonal_relaxed")
    order = [c for c in ("timestamp", "device_id") if c in combined.columns]
    combined = combined.unique(subset=key, keep="last", maintain_order=True).sort(
        order, nulls_last=True, maintain_order=True
    )
    temporary = directory / f".{_FILE}.{uuid.uuid4().hex}.tmp"
    try:
        combined.write_parquet(temporary, compression="zstd", statistics=True)
        os.replace(temporary, directory / _FILE)
    finally:
        temporary.unlink(missing_ok=True)
    for path in existing:
        if path.name != _FILE:
            path.unlink(missing_ok=True)
    return combined.height, before


def _day(value: date | datetime | str | None, what: str) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo is None else value.astimezone(UTC)).date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError as exc:
            raise ConfigError(f"{what}: {value!r} is not an ISO 8601 date") from exc
    raise ConfigError(f"{what} must be a date, a datetime or an ISO string, got {value!r}")


def scan_dataset(
    root: str | os.PathLike[str],
    *,
    source: str | Sequence[str] | None = None,
    start: date | datetime | str | None = None,
    end: date | datetime | str | None = None,
) -> pl.LazyFrame:
    """Scan a dataset written by :func:`write_dataset` as a ``LazyFrame``.

    Only the partitions asked for are read, and only the columns a query uses. Files written at
    different times may hold different columns: the frame has them all (null where a file lacks
    one). The partition columns ``date`` (Date) and ``source`` (String) come last.

    Parameters
    ----------
    root
        The dataset's directory.
    source
        Keep only this source or these sources.
    start, end
        Keep only the days from ``start`` to ``end``, both included (UTC dates; a datetime
        counts by its UTC day).

    Returns
    -------
    polars.LazyFrame
        Collect it with ``engine="streaming"`` for data larger than memory. An empty dataset
        (or no matching partition) gives an empty frame with :data:`dexkit.SCHEMA` plus the
        partition columns.

    Examples
    --------
    >>> import tempfile
    >>> import polars as pl
    >>> from dexkit.dataset import scan_dataset, write_dataset
    >>> frame = pl.DataFrame({
    ...     "device_id": ["a", "b"],
    ...     "timestamp": ["2026-03-01 10:00", "2026-03-02 10:00"],
    ... }).with_columns(pl.col("timestamp").str.to_datetime(time_zone="UTC"))
    >>> root = tempfile.mkdtemp()
    >>> _ = write_dataset(frame, root, source="hourly")
    >>> scan_dataset(root, start="2026-03-02").collect()
    shape: (1, 4)
    ┌───────────┬─────────────────────────┬────────────┬────────┐
    │ device_id ┆ timestamp               ┆ date       ┆ source │
    │ ---       ┆ ---                     ┆ ---        ┆ ---    │
    │ str       ┆ datetime[μs, UTC]       ┆ date       ┆ str    │
    ╞═══════════╪═════════════════════════╪════════════╪════════╡
    │ b         ┆ 2026-03-02 10:00:00 UTC ┆ 2026-03-02 ┆ hourly │
    └───────────┴─────────────────────────┴────────────┴────────┘
    >>> import shutil
    >>> shutil.rmtree(root)
    """
    base = Path(root)
    if not base.is_dir():
        raise ConfigError(f"scan_dataset(): {str(base)!r} is not a directory")
    sources = None if source is None else {source} if isinstance(source, str) else set(source)
    first, last = _day(start, "start"), _day(end, "end")
    files: list[Path] = []
    for path in sorted(base.glob("date=*/source=*/*.parquet")):
        try:
            day = date.fromisoformat(path.parent.parent.name.removeprefix("date="))
        except ValueError:
            continue
        name = path.parent.name.removeprefix("source=")
        if sources is not None and name not in sources:
            continue
        if (first is not None and day < first) or (last is not None and day > last):
            continue
        files.append(path)
    if not files:
        return pl.LazyFrame(schema={**SCHEMA, **PARTITIONS})
    scan = _Scan(base, tuple(files), _union(_schemas(base, files)))
    frame = scan.frame(scan.files)
    _remember(frame, scan)
    return frame


@dataclass(frozen=True)
class _Scan:
    """What :func:`scan_dataset` scanned: the dataset, its files, their columns."""

    base: Path
    files: tuple[Path, ...]
    columns: dict[str, pl.DataType]

    def frame(self, files: Sequence[Path]) -> pl.LazyFrame:
        return pl.scan_parquet(
            list(files),
            hive_partitioning=True,
            hive_schema=PARTITIONS,
            schema=self.columns,
            missing_columns="insert",
        )


#: The frames scan_dataset returned and still alive, by id (a LazyFrame is not hashable).
_SCANS: dict[int, tuple[weakref.ref[pl.LazyFrame], _Scan]] = {}


def _remember(frame: pl.LazyFrame, scan: _Scan) -> None:
    key = id(frame)

    def forget(ref: weakref.ref[pl.LazyFrame]) -> None:
        if _SCANS.get(key, (None,))[0] is ref:
            del _SCANS[key]

    _SCANS[key] = (weakref.ref(frame, forget), scan)


_Newest: TypeAlias = "tuple[pl.DataFrame, pl.LazyFrame]"
_Around: TypeAlias = "tuple[datetime | None, datetime | None, pl.LazyFrame]"
#: What reading a summary may raise; Polars' panics (a damaged Arrow file can cause one) are
#: not Exceptions.
_UNREADABLE = (pl.exceptions.PolarsError, pl.exceptions.PanicException, OSError)


def newest(frame: pl.LazyFrame) -> _Newest | None:
    """Each device's newest ``timestamp`` in a frame of :func:`scan_dataset`, without a pass
    over its records; None for any other frame (a filtered or derived one included).

    Returns the ``device_id`` / ``timestamp`` frame that ``group_by("device_id")`` and
    ``max()`` would give, and the same scan narrowed to the partitions that hold one of those
    (device, timestamp) pairs: usually the last day or two of a long history. Each partition's
    first and newest timestamp per device are kept in ``root/_dexkit/newest/`` (one small
    Arrow file per partition, made by the first call that needs it; a partition whose files
    changed since is read again). Nothing here is needed for correctness: when a summary
    cannot be written or read, this returns None and the caller reads ``device_id`` and
    ``timestamp`` itself.
    """
    summaries = _Summaries.of(frame)
    if summaries is None:
        return None
    try:
        # a few summaries in memory at a time, folded into the devices' newest timestamps
        def fold(pieces: list[pl.DataFrame]) -> list[pl.DataFrame]:
            return [pl.concat(pieces).group_by("device_id").agg(pl.col("timestamp").max())]

        numbers = range(len(summaries.parts))
        pieces: list[pl.DataFrame] = []
        for number in numbers:
            pieces.append(summaries.load(number).select("device_id", "timestamp"))
            if len(pieces) > 16:
                pieces = fold(pieces)
        [found] = fold(pieces)
        keep = {
            number
            for number in numbers
            if summaries.load(number)
            .join(found, on=["device_id", "timestamp"], how="semi", nulls_equal=True)
            .height
        }
    except _UNREADABLE:
        return None
    return found, summaries.only(keep)


def around(frame: pl.LazyFrame, windows: Sequence[tuple[datetime, datetime]]) -> _Around | None:
    """For a frame of :func:`scan_dataset`: the first and the last ``timestamp`` it holds (None
    when it holds none), and the same scan narrowed to the partitions whose records span some
    of ``windows`` (each ``[start, end)``), from the partitions' summaries (see
    :func:`newest`); None for any other frame.

    A partition's span comes from its records, not from its ``date``: a file placed in the
    wrong day's folder is still found."""
    summaries = _Summaries.of(frame)
    if summaries is None:
        return None
    keep: set[int] = set()
    lows: list[datetime] = []
    highs: list[datetime] = []
    try:
        for number in range(len(summaries.parts)):
            summary = summaries.load(number)
            low = cast("datetime | None", summary["first"].min())
            high = cast("datetime | None", summary["timestamp"].max())
            if low is None or high is None:
                continue
            lows.append(low)
            highs.append(high)
            if any(low < end and high >= start for start, end in windows):
                keep.add(number)
    except _UNREADABLE:
        return None
    return min(lows, default=None), max(highs, default=None), summaries.only(keep)


def prepare(frame: pl.LazyFrame, partitions: Iterable[str] | None = None) -> None:
    """Make the summaries (see :func:`newest`) of a frame of :func:`scan_dataset`, or of some
    of its partitions (such as ``"date=2026-11-18/source=logpush"``), where they are missing or
    out of date; a failure is left for the first query to meet."""
    only = None if partitions is None else {Path(part) for part in partitions}
    with contextlib.suppress(*_UNREADABLE):
        _Summaries.of(frame, only=only)


@dataclass
class _Summaries:
    """The summaries of a scan's partitions (``parts``, in the scan's order), each stored in
    ``folder`` as ``{date=…},{source=…},{digest}.{crc}.arrow``: the digest is of the
    partition's files as they are now (:func:`_identity`), the CRC-32 of the summary's bytes,
    checked when it is read."""

    scan: _Scan
    frame: pl.LazyFrame
    folder: Path
    files: dict[Path, list[Path]]
    parts: list[Path]
    #: Each partition's ``{date=…},{source=…},{digest}``.
    names: dict[Path, str]
    #: The summaries in ``folder`` (listed once: a glob per partition grew with their square),
    #: by the same ``{date=…},{source=…},{digest}``.
    stored: dict[str, set[str]]
    #: Summaries read in this call, while they are few (see ``load``).
    cache: dict[int, pl.DataFrame]
    cached: int = 0

    #: Partitions whose summaries are made in one call of Polars (each one's own query, side by
    #: side), up to this many or this many bytes of Parquet: many small partitions share the
    #: cost of a call, and large ones are made one after another (side by side, ten
    #: partitions of 220 MB took three times as long).
    BATCH: ClassVar[int] = 32
    BATCH_BYTES: ClassVar[int] = 64 << 20
    #: A larger summary is not read (a row per device: about 50 bytes each).
    MAX_BYTES: ClassVar[int] = 1 << 30
    #: A smaller dataset (its Parquet files, in bytes) has no summaries: reading its
    #: ``device_id`` and ``timestamp`` takes less than a second, and less than reading
    #: thousands of summaries of small partitions.
    MIN_BYTES: ClassVar[int] = 256 << 20
    #: Rows of summaries ``load`` keeps for a second read in the same call.
    CACHE_ROWS: ClassVar[int] = 4_000_000

    @classmethod
    def of(cls, frame: pl.LazyFrame, only: set[Path] | None = None) -> _Summaries | None:
        """The summaries of ``frame``'s partitions (or of those in ``only``, relative to the
        dataset), made where missing; None for a frame scan_dataset did not return, a small
        dataset (``MIN_BYTES``), or when they cannot be written (a read-only dataset): the
        caller reads the records instead."""
        entry = _SCANS.get(id(frame))
        if entry is None or entry[0]() is not frame:
            return None
        scan = entry[1]
        if not {"device_id", "timestamp"} <= scan.columns.keys():
            return None
        folder = scan.base / _NEWEST
        try:
            stats = {path: path.stat() for path in scan.files}
            if sum(stat.st_size for stat in stats.values()) < cls.MIN_BYTES:
                return None
            files: dict[Path, list[Path]] = {}
            for path in scan.files:
                if only is None or path.parent.relative_to(scan.base) in only:
                    files.setdefault(path.parent, []).append(path)
            names = {}
            for part, paths in files.items():
                listing = [part.relative_to(scan.base).as_posix()]
                listing += [":".join(map(str, [p.name, *_identity(stats[p])])) for p in paths]
                digest = hashlib.sha256("\n".join(listing).encode()).hexdigest()[:32]
                names[part] = f"{_partition(part)}{digest}"
            stored: dict[str, set[str]] = {}
            for name in os.listdir(folder) if folder.exists() else ():
                key, _, crc = name.removesuffix(".arrow").rpartition(".")
                if name.endswith(".arrow") and re.fullmatch("[0-9a-f]{8}", crc):
                    stored.setdefault(key, set()).add(name)
            summaries = cls(scan, frame, folder, files, list(files), names, stored, {})
            missing = [part for part in files if names[part] not in stored]
            if missing:  # a folder that cannot be written: made and thrown away at each call
                folder.mkdir(parents=True, exist_ok=True)
                if not os.access(folder, os.W_OK):
                    return None
            batch: list[Path] = []
            size = 0
            for part in missing:
                batch.append(part)
                size += sum(stats[path].st_size for path in files[part])
                if len(batch) >= cls.BATCH or size >= cls.BATCH_BYTES:
                    summaries._make(batch)
                    batch, size = [], 0
            if batch:
                summaries._make(batch)
        except _UNREADABLE:  # unwritable, or a file gone or damaged: the caller reads it
            return None
        return summaries

    def _make(self, parts: Sequence[Path]) -> list[pl.DataFrame]:
        """Find and store the summaries of ``parts`` (one call of Polars)."""
        made = pl.collect_all(
            [
                self.scan.frame(self.files[part])
                .group_by("device_id")
                .agg(pl.col("timestamp").max(), pl.col("timestamp").min().alias("first"))
                for part in parts
            ],
            engine="streaming",
        )
        for part, summary in zip(parts, made, strict=True):
            self._store(part, summary)
        return made

    def _store(self, part: Path, summary: pl.DataFrame) -> None:
        """Write ``part``'s summary and remove the ones of its earlier files."""
        buffer = io.BytesIO()
        summary.write_ipc(buffer, compression="lz4")
        data = buffer.getvalue()
        name = f"{self.names[part]}.{zlib.crc32(data):08x}.arrow"
        atomic_write(self.folder / name, data)
        prefix = _partition(part)
        for key in [k for k in self.stored if k.startswith(prefix)]:
            if "," in key.removeprefix(prefix):  # another partition's, whose source goes on
                continue
            for old in self.stored.pop(key):
                if old != name:
                    with contextlib.suppress(OSError):
                        (self.folder / old).unlink()
        self.stored[self.names[part]] = {name}

    def load(self, number: int) -> pl.DataFrame:
        """The summary of partition ``number``, checked; a damaged one is made again."""
        if number in self.cache:
            return self.cache[number]
        summary = self._load(self.parts[number])
        if self.cached + len(summary) <= self.CACHE_ROWS:
            self.cache[number] = summary
            self.cached += len(summary)
        return summary

    def _load(self, part: Path) -> pl.DataFrame:
        stamp = self.scan.columns["timestamp"]
        wanted = pl.Schema(
            {"device_id": self.scan.columns["device_id"], "timestamp": stamp, "first": stamp}
        )
        for name in sorted(self.stored.pop(self.names[part], ())):
            path = self.folder / name
            try:
                if path.stat().st_size <= self.MAX_BYTES:
                    data = path.read_bytes()
                    if f"{zlib.crc32(data):08x}" == name.rsplit(".", 2)[1]:
                        summary = pl.read_ipc(io.BytesIO(data))
                        if summary.schema == wanted:
                            self.stored[self.names[part]] = {name}
                            return summary
            except _UNREADABLE:
                pass
            with contextlib.suppress(OSError):
                path.unlink()
        return self._make([part])[0]

    def only(self, keep: set[int]) -> pl.LazyFrame:
        """The scan of the partitions numbered in ``keep`` (in the scan's order)."""
        parts = {self.parts[number] for number in keep}
        files = [path for path in self.scan.files if path.parent in parts]
        return self.scan.frame(files) if files else self.frame.clear()


def _partition(part: Path) -> str:
    """The start of the names of a partition's summaries: ``{date=…},{source=…},``."""
    return f"{part.parent.name},{part.name},"


def _union(schemas: Sequence[pl.Schema]) -> dict[str, pl.DataType]:
    """Every column of ``schemas``, with the first type seen (a ``Null`` column gives way)."""
    columns: dict[str, pl.DataType] = {}
    for schema in schemas:
        for name, dtype in schema.items():
            if name not in columns or columns[name] == pl.Null:
                columns[name] = dtype
    return columns


def _schemas(base: Path, files: Sequence[Path]) -> list[pl.Schema]:
    """The distinct schemas of ``files``, in order of first appearance.

    Reading one Parquet footer costs about a millisecond (5 s for 5,000 files), so each file's
    schema is remembered in ``base/_dexkit/schemas.json`` under its path, size, mtime, inode
    and ctime: a file rewritten since (``write_dataset`` replaces, a sync overwrites) is read
    again. A cache that is missing, damaged or not writable (a read-only dataset) costs only
    the footer reads.
    """
    cache = base / _CACHE
    known, texts = _load_cache(cache)
    found: dict[str, pl.Schema] = {}
    entries: dict[str, list[Any]] = {}
    missed = False
    for path in files:
        relative = path.relative_to(base).as_posix()
        try:
            stat = path.stat()
        except OSError as exc:
            raise _unreadable(path, exc) from exc
        digest = _hit(known.get(relative), stat)
        if digest is not None and digest not in found:
            schema = _decode(texts[digest])
            if schema is None:
                digest = None
            else:
                found[digest] = schema
        if digest is None:
            missed = True
            try:
                schema = pl.Schema(pl.read_parquet_schema(path))
            except (pl.exceptions.PolarsError, OSError) as exc:
                raise _unreadable(path, exc) from exc
            digest = next((d for d, seen in found.items() if seen == schema), None)
            if digest is None:  # encoded once per distinct schema
                text = _encode(schema)
                digest = hashlib.sha256(text.encode()).hexdigest()[:32]
                texts[digest] = text
                found.setdefault(digest, schema)
        entries[relative] = [*_identity(stat), digest]
    if missed:
        _save_cache(cache, base, known, entries, texts)
    return list(found.values())


def _unreadable(path: Path, exc: Exception) -> ConfigError:
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return ConfigError(
        f"scan_dataset(): {str(path)!r} is not readable Parquet ({reason}); re-fetch that "
        "day, or remove the partition"
    )


def _hit(entry: list[Any] | None, stat: os.stat_result) -> str | None:
    """The cached schema's digest when ``entry`` describes the file as it is now."""
    if entry is not None and entry[:-1] == _identity(stat):
        return str(entry[-1])
    return None


def _identity(stat: os.stat_result) -> list[int]:
    """What says a file is the one seen before: size, mtime, inode and ctime (a file replaced
    by one of the same size, its mtime set back, has another inode or ctime)."""
    return [stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_ctime_ns]


def _encode(schema: pl.Schema) -> str:
    """A schema as text: an empty Arrow IPC file (exact for every Polars type), in base64."""
    buffer = io.BytesIO()
    pl.DataFrame(schema=schema).write_ipc(buffer)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _decode(text: str) -> pl.Schema | None:
    try:
        return pl.Schema(pl.read_ipc_schema(io.BytesIO(base64.b64decode(text, validate=True))))
    except (
        ValueError,
        TypeError,
        OSError,
        pl.exceptions.PolarsError,
        pl.exceptions.PanicException,
    ):
        return None


def _load_cache(path: Path) -> tuple[dict[str, list[Any]], dict[str, str]]:
    """The cache's file entries (``[size, mtime_ns, inode, ctime_ns, digest]``, each naming a
    schema text it holds) and schema texts; empty when it is missing or damaged, malformed
    entries left out."""
    try:
        if path.stat().st_size > _CACHE_MAX_BYTES:
            return {}, {}
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}, {}
    if not isinstance(data, dict) or data.get("format") != 2:
        return {}, {}
    files, schemas = data.get("files"), data.get("schemas")
    if not isinstance(files, dict) or not isinstance(schemas, dict):
        return {}, {}
    # a text whose digest is not its key is damaged (a flipped bit could change a type)
    texts = {
        k: v
        for k, v in schemas.items()
        if isinstance(v, str) and hashlib.sha256(v.encode()).hexdigest()[:32] == k
    }
    entries = {
        relative: entry
        for relative, entry in files.items()
        if isinstance(entry, list)
        and len(entry) == 5
        and all(isinstance(n, int) for n in entry[:-1])
        and isinstance(entry[-1], str)
        and entry[-1] in texts
    }
    return entries, texts


def _save_cache(
    path: Path,
    base: Path,
    known: dict[str, list[Any]],
    entries: dict[str, list[Any]],
    texts: dict[str, str],
) -> None:
    """Write the cache: this scan's files, and the earlier entries of files still there (a
    scan of some days or sources keeps the others). Atomic (a reader sees the old cache or the
    new one); a failure to write is ignored: the cache only saves time."""
    kept = {
        relative: entry
        for relative, entry in known.items()
        if relative not in entries and (base / relative).is_file()
    }
    files = {**kept, **entries}
    used = {entry[-1] for entry in files.values()}
    data = json.dumps(
        {"format": 2, "schemas": {d: t for d, t in texts.items() if d in used}, "files": files},
        separators=(",", ":"),
    ).encode()
    if len(data) > _CACHE_MAX_BYTES:
        return
    with contextlib.suppress(OSError):
        atomic_write(path, data)
