"""Instants and windows given by users of the analytics, charts and reports, as aware UTC datetimes.

(The client's own time parsing, with relative offsets and epoch milliseconds, is in ``_query``.)
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TypeAlias

from dexkit.errors import ConfigError

__all__ = ["TimeLike", "instant", "window"]

TimeLike: TypeAlias = "datetime | date | str"


def instant(value: object, what: str) -> datetime:
    """Return ``value`` (a datetime, a date or an ISO 8601 string) as an aware UTC datetime.

    Naive values are taken as UTC; ``what`` names the argument in errors.

    >>> instant("2026-11-18T13:00+01:00", "start")
    datetime.datetime(2026, 11, 18, 12, 0, tzinfo=datetime.timezone.utc)
    """
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ConfigError(f"{what}: {value!r} is not an ISO 8601 date or time") from exc
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise ConfigError(f"{what} must be a datetime, a date or an ISO string, got {value!r}")


def window(value: object, what: str) -> tuple[datetime, datetime]:
    """Return a ``(start, end)`` pair as aware UTC datetimes, checking that start < end.

    An object with ``start`` and ``end`` attributes (the explorer's ``incident``) will do too.

    >>> window(("2026-11-18T13:00Z", "2026-11-18T15:00Z"), "incident")[1].hour
    15
    """
    if not isinstance(value, tuple | list) and hasattr(value, "start") and hasattr(value, "end"):
        value = (value.start, value.end)
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise ConfigError(f"{what} must be a (start, end) pair, got {value!r}")
    start, end = instant(value[0], what), instant(value[1], what)
    if not start < end:
        raise ConfigError(f"{what} must start before it ends, got {start} to {end}")
    return start, end
