"""API pages → typed Polars frames, and the helpers that reshape them.

:func:`read_pages` turns response bodies of ``GET …/dex/fleet-status/devices`` into one typed,
nested frame with :data:`dexkit.SCHEMA`; :func:`flatten` turns struct columns into one column per
leaf; :func:`app_usage` turns the per-app lists into a long frame.

How pages are read
------------------
The fast path hands all pages at once, one page per line, to Arrow's multi-threaded JSON reader
with an explicit schema (so Go-style integers load into float columns) and lets it infer any
field the schema does not know, so that nothing is dropped. When the fast path meets anything
unusual (a page that is not a clean success envelope, a wrong-typed value, an older record shape,
epoch-millisecond timestamps) every page goes through a checked path instead: parsed with orjson,
validated field by field against :data:`dexkit.schema.RECORD`, normalized, and read again. The
checked path is what names the page, record, field and value in errors.
"""

from __future__ import annotations

import codecs
import glob
import io
import json
import os
import warnings
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, TypeAlias, TypeVar

import orjson
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from dexkit import store as _store
from dexkit._files import (
    MAX_FILES,
    MAX_PAGE_BYTES,
    MAX_PAGE_BYTES_LIMIT,
    decompress,
    find,
    read_page,
    walk,
)
from dexkit._records import INT64, Normalizer, arrow_type, renamed, warn_nulled
from dexkit._time import timestamps
from dexkit.errors import (
    APIError,
    ConfigError,
    DexkitError,
    IncompleteChunksWarning,
    PageError,
    RecordError,
    StoreError,
    UnknownFieldsWarning,
    printable,
)
from dexkit.schema import RECORD, REQUIRED, Spec, empty_frame, snake_case

__all__ = ["app_usage", "flatten", "read_pages"]

PageSource: TypeAlias = "bytes | str | os.PathLike[str] | Sequence[bytes | str | os.PathLike[str]]"
OnError: TypeAlias = Literal["raise", "null"]
Incomplete: TypeAlias = Literal["skip", "include", "raise"]
FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)

_MANIFEST = _store.MANIFEST
_MIN_BLOCK = 1 << 22

# --------------------------------------------------------------------------------------------
# Arrow schemas derived from dexkit.schema.RECORD (API names, as the JSON has them)


_RECORD_ARROW = arrow_type(RECORD)
_MESSAGE_ARROW = pa.list_(pa.struct([("code", pa.int64()), ("message", pa.string())]))
_ENVELOPE_ARROW = pa.schema(
    [
        ("success", pa.bool_()),
        ("errors", _MESSAGE_ARROW),
        ("messages", _MESSAGE_ARROW),
        ("result", pa.list_(_RECORD_ARROW)),
    ]
)


def _renamed(
    dtype: pa.DataType, known: Spec | None, path: str, unknown: list[tuple[str, str]], to: str = ""
) -> pa.DataType:
    """Return ``dtype`` with every struct field renamed to snake_case.

    Collects ``(API path, column path)`` of every field the schema does not know. An unknown
    field whose snake_case name is taken keeps its own name, or gets a ``_`` suffix until it is
    unique. An unknown field holding only empty objects (``{}``) has no values to keep: it
    becomes a null column.
    """
    if pa.types.is_struct(dtype) and dtype.num_fields == 0:
        return pa.null()
    if pa.types.is_struct(dtype):
        spec = known if isinstance(known, dict) else None
        fields = []
        taken: set[str] = set()
        for field in (dtype.field(i) for i in range(dtype.num_fields)):
            sub = spec.get(field.name) if spec is not None else None
            name = snake_case(field.name)
            is_unknown = spec is not None and field.name not in spec
            if is_unknown and name in taken:
                name = field.name
                while name in taken:
                    name += "_"
            taken.add(name)
            if is_unknown:
                unknown.append((f"{path}{field.name}", f"{to}{name}"))
            fields.append(
                pa.field(
                    name,
                    _renamed(field.type, sub, f"{path}{field.name}.", unknown, f"{to}{name}."),
                )
            )
        return pa.struct(fields)
    if pa.types.is_list(dtype):
        item = known[0] if isinstance(known, list) else None
        items, items_to = (f"{path[:-1]}[].", f"{to[:-1]}[].") if path else ("", "")
        return pa.list_(_renamed(dtype.value_type, item, items, unknown, items_to))
    return dtype


def _rebuild(array: pa.Array, target: pa.DataType) -> pa.Array:
    """Return ``array`` with the field names of ``target`` (same layout); children are shared."""
    if pa.types.is_null(target):
        return array if pa.types.is_null(array.type) else pa.nulls(len(array))
    if pa.types.is_struct(target):
        children = [
            _rebuild(child, target.field(i).type) for i, child in enumerate(array.flatten())
        ]
        mask = array.is_null() if array.null_count else None
        fields = [target.field(i) for i in range(target.num_fields)]
        return pa.StructArray.from_arrays(children, fields=fields, mask=mask)
    if pa.types.is_list(target):
        mask = array.is_null() if array.null_count else None
        values = _rebuild(array.values, target.value_type)
        return pa.ListArray.from_arrays(array.offsets, values, type=target, mask=mask)
    return array


# --------------------------------------------------------------------------------------------
# Collecting page bytes from the many kinds of source


def _looks_like_json(item: str | os.PathLike[str]) -> bool:
    return isinstance(item, str) and item.lstrip()[:1] in ("{", "[")


def _not_a_path(item: str | os.PathLike[str], reason: str) -> ConfigError:
    if _looks_like_json(item):
        return ConfigError(
            "read_pages() got a str that looks like JSON, not a path: pass the page as bytes "
            "(as the API sends it), e.g. text.encode()"
        )
    shown = str(item) if len(str(item)) <= 80 else str(item)[:77] + "..."
    return ConfigError(f"{reason}: {printable(repr(shown))}")


class _Selection:
    """What the sources of one :func:`read_pages` call select: pages and what was left out."""

    def __init__(self, max_page_bytes: int, max_files: int, incomplete: Incomplete) -> None:
        self.max_page_bytes = max_page_bytes
        self.max_files = max_files
        self.incomplete = incomplete
        self.pages: list[tuple[int | str, bytes]] = []
        self.stored: set[str] = set()  # labels of pages read from a page store
        self.skipped: list[str] = []  # incomplete chunks left out, as "STORE/KEY"

    def files(self, item: str | os.PathLike[str]) -> list[Path]:
        path = Path(item)
        try:
            is_dir, is_file = path.is_dir(), path.is_file()
        except OSError as exc:  # a name too long, say
            raise _not_a_path(item, f"cannot use as a path ({exc.strerror or exc})") from exc
        if is_dir and _store.is_store(path):
            stored, skipped = _store.stored_pages(
                path, include_incomplete=self.incomplete == "include", max_files=self.max_files
            )
            if skipped and self.incomplete == "raise":
                raise StoreError(
                    f"{len(skipped)} chunk(s) of this page store are incomplete (a fetch was "
                    f"interrupted): {', '.join(skipped)}; fetch the window again to finish "
                    "them, or pass incomplete='skip' or 'include' (dexkit report --incomplete)",
                    path=path,
                )
            self.stored.update(str(f) for f in stored)
            self.skipped.extend(f"{path}/{key}" for key in skipped)
            if not stored and not skipped:
                raise ConfigError(
                    f"the page store {printable(repr(str(path)))} holds no pages: nothing was "
                    "fetched into it yet, or only windows without records"
                )
            return stored
        if is_dir:
            files = []
            for found, found_dir, _ in walk(path):
                name = found.name
                if not found_dir and name.endswith((".json", ".json.gz")) and name != _MANIFEST:
                    files.append(found)
                    if len(files) > self.max_files:
                        raise ConfigError(
                            f"{printable(repr(str(path)))} holds more than "
                            f"max_files={self.max_files} page files: read a part of it, or "
                            "pass a larger max_files= (dexkit report --max-files)"
                        )
            if not files:
                raise ConfigError(
                    f"no page files (.json or .json.gz) in {printable(repr(str(path)))}"
                )
            return sorted(files, key=str)
        if is_file:
            return [path]
        if glob.has_magic(str(item)):
            matched = [p for p in find(str(item), max_files=self.max_files) if p.name != _MANIFEST]
            if not matched:
                if _looks_like_json(item):
                    raise _not_a_path(item, "no such file or directory")  # JSON text, most likely
                raise _not_a_path(item, "no file matches this glob")
            return matched
        raise _not_a_path(item, "no such file or directory")

    def add(self, item: Any) -> None:
        if isinstance(item, bytes | bytearray | memoryview):
            label = len(self.pages) + 1
            self.pages.append((label, decompress(label, bytes(item), self.max_page_bytes)))
            return
        if not isinstance(item, str | os.PathLike):
            raise ConfigError(f"cannot read pages from a {type(item).__name__}")
        for path in self.files(item):
            try:
                data = read_page(path, self.max_page_bytes)
            except PageError as exc:
                raise self.damaged(exc) from exc
            self.pages.append((str(path), data))

    def damaged(self, exc: PageError) -> DexkitError:
        """A page error, or the store error it is when the page comes from a page store."""
        if type(exc) is not PageError or str(exc.page) not in self.stored:
            return exc
        reason = str(exc).removeprefix(f"page {printable(exc.page)}: ")
        return StoreError(
            f"a stored page is damaged ({reason}): delete it and fetch the window again",
            path=str(exc.page),
        )


def _collect(source: PageSource, selection: _Selection) -> _Selection:
    items: Iterable[Any]
    if isinstance(source, bytes | bytearray | memoryview | str | os.PathLike):
        items = [source]
    elif isinstance(source, Sequence):
        items = source
    else:
        raise ConfigError(
            "read_pages() takes page bytes, a list of page bytes, a page file, "
            f"or a directory or glob of saved pages; got {type(source).__name__}"
        )
    for item in items:
        selection.add(item)
    return selection


# --------------------------------------------------------------------------------------------
# The checked path: validate and normalize one page at a time


def _describe_bad_json(raw: bytes, exc: Exception) -> str:
    head = raw.lstrip()[:200]
    if not head:
        return "the body is empty"
    if head[:4] == b"PAR1":
        return "this is a Parquet file, not an API page: read it with dexkit.scan_dataset()"
    try:  # a body cut inside a multi-byte character is truncated, not another encoding
        codecs.getincrementaldecoder("utf-8")().decode(raw, final=False)
    except UnicodeDecodeError:
        return "the body is not UTF-8 text (binary data, or another encoding)"
    if head[:1] == b"<":
        title = ""
        lower = raw.lower()
        start = lower.find(b"<title>")
        if start >= 0:
            end = lower.find(b"</title>", start)
            title = (
                raw[start + 7 : end if end > 0 else start + 87].decode("utf-8", "replace").strip()
            )
        detail = f" ({title!r})" if title else ""
        return f"got an HTML page instead of JSON{detail}; a proxy or Cloudflare error page?"
    return f"invalid or truncated JSON: {exc}"


def _int64(text: str) -> int:
    value = int(text)
    if not INT64[0] <= value <= INT64[1]:
        raise ValueError(f"integer out of the 64-bit range: {text}")
    return value


def _nonstandard_json(raw: bytes) -> Any:
    """The page parsed with ``NaN``, ``Infinity`` and ``-Infinity`` literals (not JSON, but
    some encoders, Python's among them, write them), else ``None``. Otherwise as strict as
    orjson: integers within 64 bits, valid UTF-8 (no lone surrogates)."""
    if b"NaN" not in raw and b"Infinity" not in raw:
        return None
    try:
        doc = json.loads(raw, parse_int=_int64)
        json.dumps(doc, ensure_ascii=False).encode()  # lone surrogates fail here
    except (ValueError, RecursionError, UnicodeError):
        return None
    return doc


def _checked_page(label: int | str, raw: bytes, norm: Normalizer) -> bytes:
    """Validate one page; return its normalized records as a ``{"result": [...]}`` line."""
    nonstandard = False
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        doc = _nonstandard_json(raw)
        if doc is None:
            raise PageError(_describe_bad_json(raw, exc), page=label) from exc
        nonstandard = True
    if isinstance(doc, list):
        raise PageError(
            "expected the API envelope (a JSON object), got a JSON list: a bare list of "
            "records? wrap it in an envelope first, e.g. "
            "read_pages(orjson.dumps({'success': True, 'result': records}))",
            page=label,
        )
    if not isinstance(doc, dict):
        raise PageError(
            f"expected the API envelope (a JSON object), got a JSON {type(doc).__name__}",
            page=label,
        )
    errors = doc.get("errors") or []
    errors = [
        e if isinstance(e, dict) else {"message": str(e)}
        for e in (errors if isinstance(errors, list) else [errors])
    ]
    if doc.get("success") is False:
        raise APIError("the API reported failure (success: false)", errors=errors, page=label)
    if doc.get("result") is None:
        keys = ", ".join(sorted(doc)) or "none"
        raise PageError(f"the response has no 'result' (keys: {keys})", page=label)
    result = doc["result"]
    if not isinstance(result, list):
        raise PageError(
            f"'result' should be a list of device records, got a JSON {type(result).__name__}",
            page=label,
        )
    records = {"result": [norm.record(label, i, record) for i, record in enumerate(result)]}
    if (
        nonstandard
    ):  # json, unlike orjson, writes NaN and Infinity back, as the fast path keeps them
        return json.dumps(records, ensure_ascii=False).encode()
    return orjson.dumps(records)


# --------------------------------------------------------------------------------------------
# The fast path


def _as_line(raw: bytes) -> bytes:
    raw = raw.strip()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if b"\n" in raw or b"\r" in raw:  # raw newlines cannot occur inside JSON strings
        raw = raw.replace(b"\r", b" ").replace(b"\n", b" ")
    return raw


def _arrow_read(lines: list[bytes]) -> pa.Table:
    """Parse one page per line; raises ``pa.ArrowInvalid`` on anything unexpected.

    The reader can build structurally invalid arrays for inferred lists of nulls; validation
    (cheap: no data is scanned) sends those to the checked path.
    """
    longest = max(len(line) for line in lines)
    table = pa_json.read_json(
        io.BytesIO(b"\n".join(lines)),
        read_options=pa_json.ReadOptions(block_size=max(_MIN_BLOCK, 2 * longest + 2)),
        parse_options=pa_json.ParseOptions(
            explicit_schema=_ENVELOPE_ARROW, unexpected_field_behavior="infer"
        ),
    )
    table.validate()
    return table


def _utf8(line: bytes) -> bool:
    if line.isascii():
        return True
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


#: What ``bytes.translate`` deletes to leave a page's openers, or its quotes and brackets.
_NOT_OPENER = bytes(c for c in range(256) if c not in b"[{")
_NOT_STRUCTURE = bytes(c for c in range(256) if c not in b'"[]{}')
#: How deeply a page may nest to be read by Arrow (a DEX page nests 5 levels). Arrow's parser
#: recurses once per level and overflows the stack near 10,000 levels; deeper input takes the
#: checked path, where orjson stops at 1,024 levels with an error.
_ARROW_DEPTH = 64
#: A page with fewer openers than this cannot nest deeper (a 50-record page has about 1,400).
_FEW_OPENERS = 2048


def _shallow(line: bytes) -> bool:
    """Whether Arrow may read ``line`` without recursing too deeply.

    True when the page has fewer than :data:`_FEW_OPENERS` ``[`` and ``{`` (no deeper nesting
    is possible; one pass, about 0.3 ns per byte), else when :data:`_ARROW_DEPTH` rounds
    unwind its nesting (64 to 128 levels, as ``[`` and ``{`` alternate). Brackets inside
    strings do not count there: escaped backslashes and quotes go first, then string contents
    (between the remaining quotes); each round then removes the innermost ``[]`` and ``{}``
    pairs. Malformed input gives ``False``.

    >>> _shallow(b'{"a": [1, {"b": "]]]]"}]}')
    True
    >>> _shallow(b"[" * 3000 + b"]" * 3000), _shallow(b'{"a": "' + b"[" * 3000 + b'"}')
    (False, True)
    """
    if len(line.translate(None, _NOT_OPENER)) < _FEW_OPENERS:
        return True
    if b"\\" in line:
        line = line.replace(b"\\\\", b"").replace(b'\\"', b"")
    # dropping two adjacent quotes keeps every other quote's parity: most strings go at once
    marks = line.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in marks:  # strings holding brackets
        marks = b"".join(marks.split(b'"')[::2])
    for _ in range(_ARROW_DEPTH):
        if not marks:
            return True
        marks = marks.replace(b"[]", b"").replace(b"{}", b"")
    return not marks


def _fast_table(lines: list[bytes]) -> pa.Table | None:
    """Read clean success envelopes, or return ``None`` to send the input to the checked path."""
    if not all(line[:1] == b"{" and _utf8(line) and _shallow(line) for line in lines):
        return None
    try:
        table = _arrow_read(lines)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    if table.num_rows != len(lines):
        return None
    success, result = table.column("success"), table.column("result")
    if success.null_count or not pc.all(success).as_py() or result.null_count:
        return None
    try:
        if not _finite(result):  # NaN or infinity literals: the checked path decides which load
            return None
    except RecursionError:  # hundreds of levels: the checked path says so
        return None
    return table


def _floats(kind: pa.DataType) -> bool:
    """Whether a type holds floats at some depth."""
    if pa.types.is_floating(kind):
        return True
    if pa.types.is_struct(kind):
        return any(_floats(kind.field(i).type) for i in range(kind.num_fields))
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return _floats(kind.value_type)
    return False


def _finite(array: pa.ChunkedArray) -> bool:
    """Whether every float in ``array`` (at any depth) is finite or null."""
    kind = array.type
    if pa.types.is_floating(kind):
        return pc.all(pc.is_finite(array)).as_py() is not False
    if pa.types.is_struct(kind):
        return all(
            _finite(pc.struct_field(array, [i]))
            for i in range(kind.num_fields)
            if _floats(kind.field(i).type)
        )
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return not _floats(kind.value_type) or _finite(pc.list_flatten(array))
    return True


# --------------------------------------------------------------------------------------------
# From the Arrow table to the frame


_TIMESTAMP = timestamps(pl.col("timestamp"))
_EPOCH_MS = pl.col("timestamp").str.contains(r"^-?\d{9,}$")
#: Epoch milliseconds dexkit reads: 1970 up to the year 3000 (beyond, a value is a mistake).
_EPOCH_RANGE = (0, 32_503_680_000_000)


def _records_frame(table: pa.Table) -> tuple[pl.DataFrame, list[tuple[str, str]], list[int]]:
    """Flatten the pages' result lists into a frame with snake_case names.

    Returns the frame, the API paths of unknown fields, and the cumulative record counts of
    the pages (to turn a row number back into page and record).
    """
    result = table.column("result")
    lengths = pc.list_value_length(result).to_pylist()
    ends, total = [], 0
    for length in lengths:
        total += length or 0
        ends.append(total)
    unknown: list[tuple[str, str]] = []
    target = _renamed(result.type, [RECORD], "", unknown)
    renamed = pa.chunked_array([_rebuild(chunk, target) for chunk in result.chunks], type=target)
    series = pl.from_arrow(pc.list_flatten(renamed))
    assert isinstance(series, pl.Series)
    return series.struct.unnest(), unknown, ends


def _finish(
    frame: pl.DataFrame,
    labels: list[int | str],
    ends: list[int],
    lenient: bool,
    nulled: Counter[str],
) -> pl.DataFrame:
    epoch = pl.col("timestamp").cast(pl.Int64, strict=False)
    parsed = frame.select(
        pl.when(_EPOCH_MS & epoch.is_between(*_EPOCH_RANGE))
        .then(
            pl.from_epoch(epoch, time_unit="ms").dt.cast_time_unit("us").dt.replace_time_zone("UTC")
        )
        .when(~_EPOCH_MS)
        .then(_TIMESTAMP)
        .alias("timestamp"),
    ).with_columns(
        (frame.get_column("timestamp").is_not_null() & pl.col("timestamp").is_null()).alias("bad")
    )
    bad = parsed.get_column("bad")
    if bad.any():
        rows = bad.arg_true()
        if not lenient:
            row = int(rows[0])
            page = bisect_right(ends, row)
            record = row - (ends[page - 1] if page else 0)
            raise RecordError(
                "cannot read this timestamp (expected e.g. '2023-10-11 00:00:00+00', ISO 8601 or "
                "epoch milliseconds between 1970 and 3000)",
                page=labels[page],
                record=record,
                field="timestamp",
                value=frame.get_column("timestamp")[row],
                problems=len(rows),
            )
        nulled["timestamp"] += len(rows)
    if not lenient:
        for name in REQUIRED:
            column = snake_case(name)
            if column != "timestamp" and frame.get_column(column).null_count():
                raise AssertionError("checked path lets no missing required field through")
    out = frame.with_columns(
        parsed.get_column("timestamp"),
        pl.when(pl.col("handshake_latency_ms") >= 0).then(pl.col("handshake_latency_ms")),
        pl.coalesce("registration_id", "device_registration").alias("registration_id"),
    )
    # Arrow put the explicit schema's fields first, inferred ones after: SCHEMA order, then extras
    return out


def _warn(unknown: Sequence[tuple[str, str]], nulled: Counter[str], as_json: bool) -> None:
    if unknown:
        how = " as JSON text" if as_json else ""
        warnings.warn(
            f"{len(unknown)} field(s) not in dexkit's schema were kept{how}: {renamed(unknown)}",
            UnknownFieldsWarning,
            stacklevel=4,
        )
    warn_nulled(nulled, "wrong-typed or missing value(s) became null", stacklevel=4)


def read_pages(
    source: PageSource,
    *,
    on_error: OnError = "raise",
    incomplete: Incomplete = "skip",
    max_page_bytes: int = MAX_PAGE_BYTES,
    max_files: int = MAX_FILES,
) -> pl.DataFrame:
    """Read DEX fleet-status device pages into a typed frame.

    Parameters
    ----------
    source
        One page's bytes (a response body of ``GET …/dex/fleet-status/devices``), a list of
        page bytes (numbered from 1 in errors, like the API's pages), a saved page file
        (``.json`` or ``.json.gz``), a directory of saved pages (read recursively, in path
        order; ``manifest.json`` files are skipped), a page store (a directory written by
        ``Client.fetch``), or a glob (``**`` for any depth). A directory or glob that selects
        no page raises.
    on_error
        ``"raise"`` (the default): a missing required field, a wrong-typed value or an
        unreadable timestamp raises :class:`~dexkit.RecordError` naming the page, record,
        field and value. ``"null"``: such values become nulls and a
        :class:`~dexkit.CoercionWarning` says how many per field. Pages that are not a
        success envelope (not JSON, HTML, ``success: false``, no ``result``) always raise.
    incomplete
        What to do with the chunks of a page store whose fetch did not finish (interrupted,
        or still running): ``"skip"`` (the default) leaves them out and names them in one
        :class:`~dexkit.IncompleteChunksWarning`, so that a partial hour never passes for a
        whole one; ``"include"`` reads the pages they have; ``"raise"`` raises
        :class:`~dexkit.StoreError`.
    max_page_bytes
        The most bytes one page may hold, after gzip decompression (256 MiB by default; a
        page of 50 records is about 100 KB; at most 1 GiB - 1 byte, the largest page Arrow
        reads). A larger page raises :class:`~dexkit.PageError` without being read whole (a
        gzip bomb stops there).
    max_files
        The most files a directory, store or glob may select (200,000 by default); more
        raises :class:`~dexkit.ConfigError`.

    Returns
    -------
    polars.DataFrame
        One row per record, in page order, with :data:`dexkit.SCHEMA`. Fields the schema does not
        know are kept (snake_case names; top-level ones as extra columns after the 43, nested ones
        as extra struct fields) and named once by an :class:`~dexkit.UnknownFieldsWarning`.

    Raises
    ------
    ConfigError
        The source selects no page (an empty directory or store, a glob matching nothing, a
        missing path), or more than ``max_files``.
    PageError
        A page is not JSON (an HTML error page, truncated JSON), has no ``result``, or is
        larger than ``max_page_bytes``.
    StoreError
        A page store's manifest or a stored page is damaged, or a symbolic link leads out of
        the store.
    APIError
        A page says ``success: false``; carries Cloudflare's error codes and messages.
    RecordError
        A value has the wrong type (with ``on_error="raise"``).

    Notes
    -----
    Timestamps are accepted as ``2023-10-11 00:00:00+00`` (the API's form), ISO 8601 with ``Z``
    or an offset, naive ISO 8601 (taken as UTC) and epoch milliseconds, all converted to UTC.
    Whole numbers load into float columns. A negative ``handshakeLatencyMs`` (``-1`` marks a
    disconnected client in Cloudflare's exports) becomes null. ``registration_id`` falls back to
    the deprecated ``deviceRegistration``. Older shapes load: per-app lists as lists of lists,
    IP ``version`` as a string.

    Examples
    --------
    >>> import dexkit
    >>> page = b'''{"success": true, "errors": [], "messages": [], "result": [
    ...   {"deviceId": "d1", "timestamp": "2023-10-11 00:00:00+00", "colo": "FRA",
    ...    "platform": "windows", "status": "connected", "mode": "warp", "version": "2025.9.1",
    ...    "cpuPct": 12, "handshakeLatencyMs": -1,
    ...    "cpuPctByApp": [{"name": "zoom", "cpu_pct": 7.5}]}],
    ...   "result_info": {"page": 1, "per_page": 50, "count": 1, "total_count": 1}}'''
    >>> frame = dexkit.read_pages(page)
    >>> frame.shape
    (1, 43)
    >>> frame.select("device_id", "timestamp", "cpu_pct", "handshake_latency_ms")
    shape: (1, 4)
    ┌───────────┬─────────────────────────┬─────────┬──────────────────────┐
    │ device_id ┆ timestamp               ┆ cpu_pct ┆ handshake_latency_ms │
    │ ---       ┆ ---                     ┆ ---     ┆ ---                  │
    │ str       ┆ datetime[μs, UTC]       ┆ f64     ┆ f64                  │
    ╞═══════════╪═════════════════════════╪═════════╪══════════════════════╡
    │ d1        ┆ 2023-10-11 00:00:00 UTC ┆ 12.0    ┆ null                 │
    └───────────┴─────────────────────────┴─────────┴──────────────────────┘
    """
    if on_error not in ("raise", "null"):
        raise ConfigError(f"on_error must be 'raise' or 'null', not {on_error!r}")
    if incomplete not in ("skip", "include", "raise"):
        raise ConfigError(f"incomplete must be 'skip', 'include' or 'raise', not {incomplete!r}")
    for name, bound in (("max_page_bytes", max_page_bytes), ("max_files", max_files)):
        if isinstance(bound, bool) or not isinstance(bound, int) or bound < 1:
            raise ConfigError(f"{name} must be a positive integer, not {bound!r}")
    if max_page_bytes > MAX_PAGE_BYTES_LIMIT:
        raise ConfigError(
            f"max_page_bytes can be at most {MAX_PAGE_BYTES_LIMIT} (1 GiB - 1 byte, the largest "
            f"page Arrow reads), not {max_page_bytes}"
        )
    selection = _collect(source, _Selection(max_page_bytes, max_files, incomplete))
    pages = selection.pages
    if not pages and selection.skipped:
        raise ConfigError(
            f"every chunk selected is incomplete (a fetch did not finish): "
            f"{printable(', '.join(selection.skipped))}; fetch the window again to finish "
            "them, or pass incomplete='include' to read what they hold (dexkit report "
            "--incomplete include)"
        )
    if not pages:
        return empty_frame()
    try:
        frame = _read(pages, on_error == "null")
    except PageError as exc:
        raise selection.damaged(exc) from exc
    if selection.skipped:
        warnings.warn(
            f"left out {len(selection.skipped)} incomplete chunk(s) of a page store (their "
            f"fetch did not finish): {printable(', '.join(selection.skipped))}; fetch the "
            "window again to finish them, or pass incomplete='include' to read what they hold "
            "(dexkit report --incomplete include)",
            IncompleteChunksWarning,
            stacklevel=2,
        )
    return frame


def _read(pages: list[tuple[int | str, bytes]], lenient: bool) -> pl.DataFrame:
    labels = [label for label, _ in pages]
    lines = [_as_line(raw) for _, raw in pages]
    nulled: Counter[str] = Counter()
    as_json = False
    table = _fast_table(lines)
    if table is not None:
        # required fields are cheap to check here: strictly, a miss goes to the checked path for
        # the error; leniently, it is counted as the checked path would
        records = pc.list_flatten(table.column("result"))
        if not lenient:
            if any(pc.struct_field(records, name).null_count for name in REQUIRED):
                table = None
        else:
            counts = {"<record>": records.null_count}  # a null instead of a record
            for name in REQUIRED:
                counts[name] = pc.struct_field(records, name).null_count - records.null_count
            nulled.update({name: n for name, n in counts.items() if n})
    if table is None:
        norm = Normalizer(lenient)
        checked = [
            _checked_page(label, raw, norm) for label, raw in zip(labels, lines, strict=True)
        ]
        try:
            table = _arrow_read(checked)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            # unknown fields whose type changes between records: keep them as JSON text
            norm = Normalizer(lenient, unknown_as_json=True)
            as_json = True
            checked = [
                _checked_page(label, raw, norm) for label, raw in zip(labels, lines, strict=True)
            ]
            table = _arrow_read(checked)
        nulled = norm.nulled
    try:
        frame, unknown, ends = _records_frame(table)
    except RecursionError as exc:
        raise PageError(
            "a record nests objects deeper than dexkit can read (hundreds of levels)"
        ) from exc
    if frame.height == 0 and not unknown:
        return empty_frame()
    frame = _finish(frame, labels, ends, lenient, nulled)
    _warn(unknown, nulled, as_json)
    return frame


# --------------------------------------------------------------------------------------------
# Reshaping


def _leaf_columns(expr: pl.Expr, dtype: Any, name: str, sep: str) -> Iterator[pl.Expr]:
    if isinstance(dtype, pl.Struct):
        for field in dtype.fields:
            yield from _leaf_columns(
                expr.struct.field(field.name), field.dtype, f"{name}{sep}{field.name}", sep
            )
    else:
        yield expr.alias(name)


def flatten(frame: FrameT, separator: str = "_") -> FrameT:
    """Return ``frame`` with every struct column replaced by one column per leaf.

    Leaf columns are named by their path joined with ``separator``; list columns are kept
    as they are.

    Parameters
    ----------
    frame
        A frame from :func:`read_pages` (or any frame), eager or lazy.
    separator
        What joins the parts of a leaf's path.

    Examples
    --------
    >>> import polars as pl
    >>> frame = pl.DataFrame(
    ...     {"device_id": ["d1", "d2"],
    ...      "rtt": [{"rtt_us": {"downstream": 900, "upstream": 1100}}, None]}
    ... )
    >>> flatten(frame)
    shape: (2, 3)
    ┌───────────┬───────────────────────┬─────────────────────┐
    │ device_id ┆ rtt_rtt_us_downstream ┆ rtt_rtt_us_upstream │
    │ ---       ┆ ---                   ┆ ---                 │
    │ str       ┆ i64                   ┆ i64                 │
    ╞═══════════╪═══════════════════════╪═════════════════════╡
    │ d1        ┆ 900                   ┆ 1100                │
    │ d2        ┆ null                  ┆ null                │
    └───────────┴───────────────────────┴─────────────────────┘
    """
    schema = frame.collect_schema()
    columns = [  # pl.nth: a column named "*" or "^…$" must not act as a wildcard or regex
        expr
        for i, (name, dtype) in enumerate(schema.items())
        for expr in _leaf_columns(pl.nth(i), dtype, name, separator)
    ]
    return frame.select(columns)


def app_usage(frame: FrameT) -> FrameT:
    """Return per-app CPU and RAM use as a long frame.

    Merges ``cpu_pct_by_app`` and ``ram_used_pct_by_app`` into one row per device, timestamp
    and app: ``device_id, timestamp, app, cpu_pct, ram_used_pct`` (null where an app appears in
    one list only). An app listed twice in one record (several processes) is summed.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime, timezone
    >>> frame = pl.DataFrame(
    ...     {"device_id": ["d1"], "timestamp": [datetime(2026, 11, 18, tzinfo=timezone.utc)],
    ...      "cpu_pct_by_app": [[{"cpu_pct": 7.5, "name": "zoom"},
    ...                          {"cpu_pct": 2.0, "name": "slack"}]],
    ...      "ram_used_pct_by_app": [[{"name": "zoom", "ram_used_pct": 11.0}]]}
    ... )
    >>> app_usage(frame)
    shape: (2, 5)
    ┌───────────┬─────────────────────────┬───────┬─────────┬──────────────┐
    │ device_id ┆ timestamp               ┆ app   ┆ cpu_pct ┆ ram_used_pct │
    │ ---       ┆ ---                     ┆ ---   ┆ ---     ┆ ---          │
    │ str       ┆ datetime[μs, UTC]       ┆ str   ┆ f64     ┆ f64          │
    ╞═══════════╪═════════════════════════╪═══════╪═════════╪══════════════╡
    │ d1        ┆ 2026-11-18 00:00:00 UTC ┆ slack ┆ 2.0     ┆ null         │
    │ d1        ┆ 2026-11-18 00:00:00 UTC ┆ zoom  ┆ 7.5     ┆ 11.0         │
    └───────────┴─────────────────────────┴───────┴─────────┴──────────────┘
    """
    keys = ["device_id", "timestamp", "app"]
    schema = frame.collect_schema()
    needed = ["device_id", "timestamp", "cpu_pct_by_app", "ram_used_pct_by_app"]
    missing = [c for c in needed if c not in schema]
    if missing:
        raise ConfigError(
            f"app_usage() needs the column(s) {', '.join(missing)}, which the frame lacks; "
            "pass a frame from dexkit.read_pages()"
        )

    def long(column: str, value: str) -> FrameT:
        return (
            frame.select("device_id", "timestamp", column)
            .explode(column)
            .filter(pl.col(column).is_not_null())
            .select(
                "device_id",
                "timestamp",
                pl.col(column).struct.field("name").alias("app"),
                pl.col(column).struct.field(value).alias(value),
            )
            .group_by(keys)
            .agg(pl.when(pl.col(value).count() > 0).then(pl.col(value).sum()).alias(value))
        )

    merged = long("cpu_pct_by_app", "cpu_pct").join(
        long("ram_used_pct_by_app", "ram_used_pct"),
        on=keys,
        how="full",
        coalesce=True,
        nulls_equal=True,
    )
    return merged.select(*keys, "cpu_pct", "ram_used_pct").sort(keys, nulls_last=True)
