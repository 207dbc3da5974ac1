"""Queries of the device list: time parsing and the API's rules, checked before any request.

A :class:`Query` is one validated call of ``GET …/dex/fleet-status/devices`` without its page:
source, window, filters, sort and page size. :func:`build` turns what a user typed into one, or
raises :class:`~dexkit.QueryError` saying how to fix the call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dexkit._time import TimeLike, instant
from dexkit.errors import QueryError

__all__ = ["FILTERS", "SORT_BY", "SOURCES", "Query", "TimeLike", "build", "parse_time"]


SOURCES = ("last_seen", "hourly", "raw")
SORT_BY = ("colo", "device_id", "mode", "platform", "status", "timestamp", "version")
FILTERS = ("colo", "device_id", "mode", "platform", "status", "version")
LAST_SEEN_MAX = timedelta(minutes=60)
HISTORY_MAX = timedelta(days=7)
#: How far inside the 7-day limit a start at (or a moment past) the limit is moved, so that
#: the request is still inside it when the server reads it.
HISTORY_MARGIN = timedelta(minutes=1)


def parse_time(value: TimeLike, *, now: datetime, name: str = "time") -> datetime:
    """Return ``value`` as an aware UTC datetime.

    Every spelling of an instant in :mod:`dexkit._time` (ISO 8601, the API's own form, ``"now"``,
    epoch milliseconds, offsets back from ``now`` such as ``"-90m"`` or ``"-1d12h"``); errors are
    :class:`~dexkit.QueryError`.

    >>> now = datetime(2026, 11, 18, 14, 0, tzinfo=UTC)
    >>> parse_time("-90m", now=now)
    datetime.datetime(2026, 11, 18, 12, 30, tzinfo=datetime.timezone.utc)
    >>> parse_time("2026-11-18 13:00:00+00", now=now).isoformat()
    '2026-11-18T13:00:00+00:00'
    >>> parse_time(1795000000000, now=now).isoformat()
    '2026-11-18T11:06:40+00:00'
    """
    return instant(value, name, now=now, error=QueryError)


def _iso(moment: datetime) -> str:
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def _span(delta: timedelta) -> str:
    minutes = delta.total_seconds() / 60
    if minutes < 120:
        return f"{minutes:g} minutes"
    if minutes < 48 * 60:
        return f"{minutes / 60:.3g} hours"
    return f"{minutes / 1440:.3g} days"


@dataclass(frozen=True)
class Query:
    """One validated device-list query, without its page number.

    Attributes
    ----------
    source
        ``"last_seen"``, ``"hourly"`` or ``"raw"``.
    start, end
        The window, aware UTC datetimes.
    per_page
        Records per page, 1–50.
    sort_by
        The API's ``sort_by``, or ``None`` for its default.
    filters
        Exact-match filters, ``(name, value)`` pairs in the API's order.
    """

    source: str
    start: datetime
    end: datetime
    per_page: int = 50
    sort_by: str | None = None
    filters: tuple[tuple[str, str], ...] = field(default=())

    def params(self, page: int) -> dict[str, str]:
        """The query parameters of page ``page``."""
        out = {
            "from": _iso(self.start),
            "to": _iso(self.end),
            "page": str(page),
            "per_page": str(self.per_page),
            "source": self.source,
        }
        if self.sort_by is not None:
            out["sort_by"] = self.sort_by
        out.update(self.filters)
        return out

    def shape(self) -> dict[str, Any]:
        """What identifies the query apart from its window (for page stores)."""
        return {
            "source": self.source,
            "per_page": self.per_page,
            "sort_by": self.sort_by,
            "filters": dict(self.filters),
        }

    def describe(self) -> dict[str, Any]:
        """The query as plain JSON-able values."""
        return {"from": _iso(self.start), "to": _iso(self.end), **self.shape()}

    def with_window(self, start: datetime, end: datetime) -> Query:
        """The same query over another window."""
        return Query(self.source, start, end, self.per_page, self.sort_by, self.filters)

    def __str__(self) -> str:
        parts = [f"source={self.source!r}", f"{_iso(self.start)} → {_iso(self.end)}"]
        parts += [f"{k}={v!r}" for k, v in self.filters]
        if self.sort_by:
            parts.append(f"sort_by={self.sort_by!r}")
        return ", ".join(parts)


def build(
    start: TimeLike,
    end: TimeLike | None = None,
    *,
    now: datetime,
    source: str = "last_seen",
    per_page: int = 50,
    sort_by: str | None = None,
    filters: Mapping[str, str | None] | None = None,
) -> Query:
    """Validate a device-list query against the API's rules and return it.

    Raises :class:`~dexkit.QueryError` with the fix when the API would reject the call. A
    start less than :data:`HISTORY_MARGIN` (a minute) inside the 7-day limit, at it
    (``"-7d"``) or up to a minute past it is moved to ``HISTORY_MARGIN`` inside it, so the
    request is still valid when the server reads it.

    >>> now = datetime(2026, 11, 18, 14, 0, tzinfo=UTC)
    >>> str(build("-30m", now=now, filters={"colo": "FRA"}))
    "source='last_seen', 2026-11-18T13:30:00.000Z → 2026-11-18T14:00:00.000Z, colo='FRA'"
    >>> build("-7d", now=now, source="hourly").start.isoformat()
    '2026-11-11T14:01:00+00:00'
    >>> build("-3h", now=now)
    Traceback (most recent call last):
    ...
    dexkit.errors.QueryError: a 'last_seen' window covers at most 60 minutes, this one covers
    3 hours: use source='hourly' (or 'raw') for windows over 60 minutes, or shorten the window
    """
    if source not in SOURCES:
        raise QueryError(
            f"source must be one of {', '.join(map(repr, SOURCES))}, got {source!r}: "
            "'last_seen' (latest state, windows up to 60 minutes), 'hourly' or 'raw' "
            "(history up to 7 days)"
        )
    if sort_by is not None and sort_by not in SORT_BY:
        raise QueryError(f"sort_by must be one of {', '.join(map(repr, SORT_BY))}, got {sort_by!r}")
    if isinstance(per_page, bool) or not isinstance(per_page, int) or not 1 <= per_page <= 50:
        raise QueryError(
            f"per_page must be an integer from 1 to 50 (the API's maximum), got {per_page!r}"
        )
    begin = parse_time(start, now=now, name="start")
    finish = now if end is None else parse_time(end, now=now, name="end")
    if begin >= finish:
        raise QueryError(
            f"start ({_iso(begin)}) must be before end ({_iso(finish)}): "
            "swap them, or give start as an offset such as '-30m'"
        )
    if source == "last_seen" and finish - begin > LAST_SEEN_MAX:
        raise QueryError(
            f"a 'last_seen' window covers at most 60 minutes, this one covers "
            f"{_span(finish - begin)}: use source='hourly' (or 'raw') for windows over "
            "60 minutes, or shorten the window"
        )
    earliest = now - HISTORY_MAX + HISTORY_MARGIN
    if begin < now - HISTORY_MAX - HISTORY_MARGIN:
        raise QueryError(
            f"source={source!r} reaches back at most 7 days, but start ({_iso(begin)}) is "
            f"{_span(now - begin)} ago: start at {_iso(earliest)} or later"
        )
    if begin < earliest:
        # "-7d", or now - 7 days computed a moment ago: asked for the whole history
        begin = earliest
        if begin >= finish:
            raise QueryError(
                f"the window ends at {_iso(finish)}, at the edge of the 7 days the API keeps: "
                f"end after {_iso(earliest)}"
            )
    pairs: list[tuple[str, str]] = []
    for key, value in (filters or {}).items():
        if key not in FILTERS:
            raise QueryError(f"unknown filter {key!r}; the API filters on {', '.join(FILTERS)}")
        if value is not None:
            if not isinstance(value, str) or not value:
                raise QueryError(f"filter {key} must be a non-empty string, got {value!r}")
            pairs.append((key, value))
    pairs.sort(key=lambda kv: FILTERS.index(kv[0]))
    return Query(source, begin, finish, per_page, sort_by, tuple(pairs))
