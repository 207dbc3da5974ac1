"""Instants, offsets, durations and windows: the one time vocabulary of every entry point.

The client, the health functions, the charts, the explorer, reports and the ``dexkit`` command all
read what a user typed through this module, so every one of them accepts the same spellings:

- **instant**: an aware or naive (UTC) ``datetime``; a ``date`` (its midnight, UTC); ISO 8601
  (``2026-11-18T13:00Z``, ``+01:00`` offsets, the API's ``2026-11-18 13:00:00+00``); ``"now"``;
  epoch milliseconds (an ``int``, a ``float`` or a digit string); or an offset back from now.
- **offset** (ago): a duration with an optional sign, ``"-90m"`` = ``"90m"`` = 90 minutes ago,
  or a ``timedelta`` (its sign is ignored: offsets always point into the past).
- **duration**: one or more ``<number><unit>`` parts, decimals allowed, spaces ignored:
  ``"500ms"``, ``"30s"``, ``"90m"``, ``"90min"``, ``"1.5h"``, ``"1d12h"``, ``"2w"``; units ``ms``,
  ``s``/``sec``, ``m``/``min``, ``h``/``hr``, ``d``, ``w``; or a ``timedelta``.
- **window**: a ``(start, end)`` pair of instants with ``start < end``, or anything with ``start``
  and ``end`` attributes.

Months and years are not durations (they have no fixed length) and are refused with that reason.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import TypeAlias

import polars as pl

from dexkit.errors import ConfigError

__all__ = ["TimeLike", "duration", "instant", "polars_every", "timestamps", "window"]

#: Everything an instant may be given as (see the module docstring).
TimeLike: TypeAlias = "datetime | date | str | int | float | timedelta"
#: Everything a duration may be given as.
DurationLike: TypeAlias = "str | timedelta"

_UNITS = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "sec": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "min": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "hr": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)(ms|sec|min|hr|s|m|h|d|w)", re.IGNORECASE)
_WHOLE = re.compile(r"(?:(?:\d+(?:\.\d+)?|\.\d+)(?:ms|sec|min|hr|s|m|h|d|w))+", re.IGNORECASE)
_CALENDAR = re.compile(r"^\d+(?:mo|q|y|month|months|year|years)$", re.IGNORECASE)
#: The largest duration or offset anyone means (100 years): past it, arithmetic on datetimes fails.
_MAX = timedelta(days=36_525)

Error: TypeAlias = "type[ConfigError]"


def _parse_duration(text: str) -> timedelta | None:
    """A duration string's value, or None when it is not one."""
    compact = re.sub(r"\s+", "", text)
    if not compact or _WHOLE.fullmatch(compact) is None:
        return None
    total = timedelta()
    for number, unit in _PART.findall(compact):
        value = float(number)
        if not math.isfinite(value) or value * _UNITS[unit.lower()] / _MAX > 1:
            raise OverflowError
        total += value * _UNITS[unit.lower()]
    return total


def duration(
    value: object, what: str, *, positive: bool = True, error: Error = ConfigError
) -> timedelta:
    """Return a duration (see the module docstring) as a ``timedelta``.

    ``what`` names the argument in errors; ``positive`` refuses zero.

    >>> duration("1d12h", "every")
    datetime.timedelta(days=1, seconds=43200)
    >>> duration("90min", "every") == duration("1.5h", "every")
    True
    >>> duration("1mo", "every")
    Traceback (most recent call last):
    ...
    dexkit.errors.ConfigError: every: '1mo' is a calendar span, not a duration: ...
    """
    if isinstance(value, timedelta):
        result = value
    elif isinstance(value, str):
        text = value.strip()
        if _CALENDAR.match(text):
            raise error(
                f"{what}: {value!r} is a calendar span, not a duration: months and years have no "
                "fixed length; use days or weeks ('30d', '4w')"
            )
        try:
            parsed = _parse_duration(text)
        except OverflowError:
            raise error(
                f"{what}: the duration {value!r} is out of range (at most 100 years)"
            ) from None
        if parsed is None:
            raise error(
                f"{what}: {value!r} is not a duration; use e.g. '30s', '90m', '1.5h', '1d12h' or "
                "'2w' (units ms, s, m/min, h, d, w) or a timedelta"
            )
        result = parsed
    else:
        raise error(
            f"{what} must be a duration string such as '90m' or a timedelta, "
            f"got {type(value).__name__}"
        )
    if result < timedelta():
        raise error(f"{what} must not be negative, got {value!r}")
    if positive and result == timedelta():
        raise error(f"{what} must be longer than zero, got {value!r}")
    if abs(result) > _MAX:
        raise error(f"{what}: the duration {value!r} is out of range (at most 100 years)")
    return result


_CALENDAR_EVERY = re.compile(r"^\s*([1-9]\d*)\s*(mo|q|y)\s*$", re.IGNORECASE)


def polars_every(
    value: object, what: str, *, calendar: bool = False, error: Error = ConfigError
) -> str:
    """Return a positive duration as the string Polars' ``dt.truncate`` and ``offset_by`` take.

    With ``calendar``, calendar spans (``"1mo"``, ``"1q"``, ``"1y"``) are buckets too.

    >>> polars_every("1.5h", "every"), polars_every("90min", "every"), polars_every("1d", "every")
    ('90m', '90m', '1d')
    >>> polars_every("1mo", "every", calendar=True)
    '1mo'
    """
    if calendar and isinstance(value, str) and (match := _CALENDAR_EVERY.match(value)):
        return f"{int(match[1])}{match[2].lower()}"
    span = duration(value, what, error=error)
    micros = span // timedelta(microseconds=1)
    for unit, size in (("w", 604_800_000_000), ("d", 86_400_000_000), ("h", 3_600_000_000)):
        if micros % size == 0:
            return f"{micros // size}{unit}"
    for unit, size in (("m", 60_000_000), ("s", 1_000_000), ("ms", 1_000)):
        if micros % size == 0:
            return f"{micros // size}{unit}"
    return f"{micros}us"


def _epoch_ms(value: float, what: str, error: Error) -> datetime:
    try:
        if not math.isfinite(value):
            raise ValueError
        return datetime.fromtimestamp(value / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        raise error(
            f"{what}: {value!r} is not a usable time in epoch milliseconds "
            "(e.g. 1795000000000 is 2026-11-18T11:06:40Z)"
        ) from None


def _ago(now: datetime, offset: timedelta, value: object, what: str, error: Error) -> datetime:
    try:
        return now - abs(offset)
    except OverflowError:
        raise error(f"{what}: the offset {value!r} is out of range") from None


def instant(
    value: object,
    what: str,
    *,
    now: datetime | Callable[[], datetime] | None = None,
    error: Error = ConfigError,
) -> datetime:
    """Return an instant (see the module docstring) as an aware UTC datetime.

    Naive values are taken as UTC; offsets count back from ``now`` (default: the current time).
    ``what`` names the argument in errors, which are ``error`` (a ``ConfigError`` subclass).

    >>> instant("2026-11-18T13:00+01:00", "start")
    datetime.datetime(2026, 11, 18, 12, 0, tzinfo=datetime.timezone.utc)
    >>> now = datetime(2026, 11, 18, 14, tzinfo=UTC)
    >>> instant("-90m", "start", now=now) == instant("90min", "start", now=now)
    True
    >>> instant("-1.5h", "start", now=now).isoformat()
    '2026-11-18T12:30:00+00:00'
    >>> instant("2026-11-18 13:00:00+00", "start").isoformat()
    '2026-11-18T13:00:00+00:00'
    >>> instant(1795000000000, "start").isoformat()
    '2026-11-18T11:06:40+00:00'
    """

    def current() -> datetime:
        if now is None:
            return datetime.now(UTC)
        return now() if callable(now) else now

    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, timedelta):
        return _ago(current(), value, value, what, error)
    if isinstance(value, bool):
        raise error(f"{what}: expected a time, got {value!r}")
    if isinstance(value, int | float):
        return _epoch_ms(value, what, error)
    if isinstance(value, str):
        text = value.strip()
        if text.lower() == "now":
            return current()
        if text.isdigit():
            return _epoch_ms(int(text), what, error)
        sign = text[:1] if text[:1] in "+-" else ""
        try:
            offset = _parse_duration(text[len(sign) :])
        except OverflowError:
            raise error(f"{what}: the offset {value!r} is out of range") from None
        if offset is not None:
            return _ago(current(), offset, value, what, error)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise error(
                f"{what}: cannot read {value!r} as a time: use ISO 8601 ('2026-11-18T13:00Z'), "
                "epoch milliseconds, 'now', or an offset such as '-90m' or '-1d12h'"
            ) from None
        return instant(parsed, what, error=error)
    raise error(
        f"{what}: expected a datetime, a date, a string or epoch milliseconds, "
        f"got {type(value).__name__}"
    )


def window(
    value: object,
    what: str,
    *,
    now: datetime | Callable[[], datetime] | None = None,
    error: Error = ConfigError,
) -> tuple[datetime, datetime]:
    """Return a ``(start, end)`` pair as aware UTC datetimes, checking that start < end.

    Anything with ``start`` and ``end`` attributes (the explorer's incident) is a window too.

    >>> window(("2026-11-18T13:00Z", "2026-11-18T15:00Z"), "incident")[1].hour
    15
    """
    if hasattr(value, "start") and hasattr(value, "end") and not isinstance(value, tuple | list):
        value = (value.start, value.end)
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise error(f"{what} must be a (start, end) pair, got {value!r}")
    moment = now() if callable(now) else now if now is not None else datetime.now(UTC)
    start = instant(value[0], what, now=moment, error=error)
    end = instant(value[1], what, now=moment, error=error)
    if not start < end:
        raise error(f"{what} must start before it ends, got {start} to {end}")
    return start, end


def timestamps(text: pl.Expr) -> pl.Expr:
    """A Polars expression: timestamp strings as records carry them → ``Datetime("us", "UTC")``.

    The API's own form (``2026-11-18 13:00:00+00``), ISO 8601 / RFC 3339 with ``T`` or a space,
    ``Z``, ``+HH``, ``+HHMM`` or ``+HH:MM`` offsets, and naive times (UTC); what does not parse is
    null (the callers count or report it).

    >>> pl.select(timestamps(pl.lit("2026-11-18T14:00:00+01"))).item().isoformat()
    '2026-11-18T13:00:00+00:00'
    """
    return (
        text.str.strip_chars()
        .str.replace(r"^(\d{4}-\d\d-\d\d)[Tt ]", "$1 ")
        .str.replace(r"[Zz]$", "+00:00")
        .str.replace(r"([+-]\d\d)$", "$1:00")
        .str.replace(r"([+-]\d\d)(\d\d)$", "$1:$2")
        .str.replace(r"(\d\d:\d\d:\d\d(?:\.\d+)?)$", "$1+00:00")
        .str.to_datetime("%Y-%m-%d %H:%M:%S%.f%:z", time_zone="UTC", time_unit="us", strict=False)
    )
