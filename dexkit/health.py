"""Fleet health analytics: how is the fleet, where does it hurt, since when, compared with what.

Every function takes the frame of :func:`dexkit.read_pages` (a ``DataFrame`` or a ``LazyFrame``,
possibly with extra columns) and returns a new frame of the same kind: give it a ``LazyFrame``
(for example :func:`dexkit.scan_dataset`) and you get a ``LazyFrame`` back, to collect with
``engine="streaming"``. Polars does all the work; nothing loops over rows in Python. Some read
a column or two when called, to plan a cheaper query: the per-device functions on a Parquet scan
(each device's newest timestamp), :func:`timeline` (where to cut a long scan) and
:func:`compare_windows` (whether the windows hold records, and on which days).

=========================  ===================================================================
:func:`latest`             one row per device: its latest record
:func:`summarize`          devices, connected, p50/p90/p99 of each metric and a health grade
:func:`status_counts`      devices per status (by their latest record)
:func:`version_drift`      devices per platform and version, releases behind the newest
:func:`stale`              devices not seen for a while
:func:`unhealthy`          devices that break a :class:`Rules` threshold, and which ones
:func:`top_apps`           the apps that use the most CPU or RAM across the fleet
:func:`outliers`           devices far from their group on a metric (robust z-score)
:func:`hotspots`           where it hurts: colos, ISPs and countries, worst first
:func:`timeline`           devices, connected and quantiles per time bucket
:func:`compare_windows`    baseline vs incident per group and metric, sorted by effect size
=========================  ===================================================================

Conventions
-----------
- *Latest record*: per ``device_id``, the row with the greatest ``timestamp``; among rows with the
  same timestamp the one that appears last in the frame wins. A device is counted once, by its
  latest record, in :func:`summarize`, :func:`status_counts`, :func:`version_drift`,
  :func:`stale`, :func:`unhealthy`, :func:`top_apps`, :func:`outliers` and :func:`hotspots`.
  :func:`timeline` and :func:`compare_windows` use every record in a bucket or window.
- *Metrics* (:data:`METRICS`) are read through :func:`metric`: NaN counts as missing, and so does a
  negative ``handshake_latency_ms`` (Cloudflare's exports write ``-1`` for a disconnected device).
  Missing values are ignored; a metric column the frame lacks counts as all missing.
- *Quantiles* use linear interpolation between closest ranks (numpy's default) and are named
  ``{metric}_p50``, ``{metric}_p90``, ``{metric}_p99``.
- *Groups* (``by``): ``None`` (the whole fleet), a column name, an expression, or a list of them.
  Three names work even though no column has them: ``"isp"`` (two columns: ``isp_asn`` and
  ``isp_name``), ``"asn"`` (``isp_asn``) and ``"country"`` (the country of the device's public
  IP). They read the ``isp_ipv4`` struct, falling back to ``isp_ipv6`` (or to the flat columns
  ``isp_ipv4_asn``… of :func:`dexkit.frames.flatten`). Results are sorted by the group columns,
  nulls last, unless a function says otherwise.
- Empty frames give empty results with the same columns, except in :func:`compare_windows`:
  a window that holds no records is a :class:`~dexkit.ConfigError` (naming the window and the
  span the records cover), and one the records cover only in part gives a
  :class:`~dexkit.PartialWindowWarning` with the covered fraction.
"""

from __future__ import annotations

import functools
import numbers
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from typing import Any, ClassVar, Literal, TypeAlias, TypeVar

import polars as pl

from dexkit import _checks
from dexkit import _presentation as _p
from dexkit import dataset as _dataset
from dexkit._time import TimeLike, duration, polars_every
from dexkit._time import instant as _instant
from dexkit._time import window as _window
from dexkit.errors import ConfigError, PartialWindowWarning

__all__ = [
    "APP_METRICS",
    "COMPARE_METRICS",
    "DERIVED_GROUPS",
    "GRADES",
    "METRICS",
    "QUANTILES",
    "TIMELINE_METRICS",
    "AppMetric",
    "Grading",
    "Rules",
    "compare_windows",
    "connected",
    "country",
    "hotspots",
    "isp_asn",
    "isp_name",
    "latest",
    "metric",
    "outliers",
    "quantiles",
    "robust_z",
    "stale",
    "status_counts",
    "summarize",
    "timeline",
    "top_apps",
    "unhealthy",
    "version_drift",
    "version_key",
]

FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)
#: What ``by`` accepts: nothing, a column name or expression, or a list of them.
By: TypeAlias = "str | pl.Expr | Sequence[str | pl.Expr] | None"
#: A point in time: a ``datetime`` (naive means UTC), a ``date`` or an ISO 8601 string.

#: The numeric health metrics of a device record, in the order :func:`summarize` reports them
#: (their labels and units: :data:`dexkit.charts.METRICS`; one vocabulary, in
#: ``dexkit._presentation``).
METRICS: tuple[str, ...] = tuple(_p.METRICS)
#: Group names that work although no column has them (read from the ISP IP structs).
DERIVED_GROUPS: tuple[str, ...] = ("isp", "asn", "country")
#: The quantiles :func:`summarize` and :func:`timeline` report by default.
QUANTILES: tuple[float, ...] = (0.5, 0.9, 0.99)
#: The metrics :func:`timeline` reports by default.
TIMELINE_METRICS: tuple[str, ...] = ("handshake_latency_ms", "estimated_loss_pct", "cpu_pct")
#: The metrics :func:`compare_windows` compares by default.
COMPARE_METRICS: tuple[str, ...] = (
    "estimated_loss_pct",
    "handshake_latency_ms",
    "cpu_pct",
    "ram_used_pct",
    "wifi_strength_dbm",
)
#: Health grades, best first; the ``health`` column is a ``pl.Enum`` of these, so it sorts by
#: severity.
GRADES: tuple[str, ...] = _p.GRADES
_GRADE = pl.Enum(list(GRADES))

_ROW = "__dexkit_row"
_TS = "__dexkit_ts"
_ALL = "__dexkit_all"


# --------------------------------------------------------------------------------------------
# Expression builders


def metric(name: str) -> pl.Expr:
    """Return a health metric as a clean ``Float64`` expression.

    NaN becomes null, and so does a negative ``handshake_latency_ms`` (``-1`` marks a
    disconnected device in Cloudflare's exports). The expression keeps the column's name.

    Parameters
    ----------
    name
        A metric column, usually one of :data:`METRICS`.

    Returns
    -------
    polars.Expr

    Examples
    --------
    >>> import polars as pl
    >>> from dexkit.health import metric
    >>> frame = pl.DataFrame({"handshake_latency_ms": [12.0, -1.0, float("nan"), None]})
    >>> frame.select(metric("handshake_latency_ms"))["handshake_latency_ms"].to_list()
    [12.0, None, None, None]
    """
    value = pl.col(name).cast(pl.Float64).fill_nan(None)
    if name == "handshake_latency_ms":
        value = pl.when(value >= 0).then(value)
    return value.alias(name)


def quantiles(name: str, qs: Sequence[float] = QUANTILES) -> list[pl.Expr]:
    """Return aggregation expressions for quantiles of a metric.

    Linear interpolation between closest ranks (numpy's default); nulls and NaN are ignored.

    Parameters
    ----------
    name
        A metric column (read through :func:`metric`).
    qs
        Quantiles between 0 and 1; 0.5 is named ``{name}_p50``, 0.999 ``{name}_p99.9``.

    Returns
    -------
    list of polars.Expr

    Examples
    --------
    >>> import polars as pl
    >>> from dexkit.health import quantiles
    >>> pl.DataFrame({"cpu_pct": [10.0, 20.0, 30.0, 40.0]}).select(quantiles("cpu_pct"))
    shape: (1, 3)
    ┌─────────────┬─────────────┬─────────────┐
    │ cpu_pct_p50 ┆ cpu_pct_p90 ┆ cpu_pct_p99 │
    │ ---         ┆ ---         ┆ ---         │
    │ f64         ┆ f64         ┆ f64         │
    ╞═════════════╪═════════════╪═════════════╡
    │ 25.0        ┆ 37.0        ┆ 39.7        │
    └─────────────┴─────────────┴─────────────┘
    """
    return _quantiles(metric(name), name, qs)


def _quantiles(value: pl.Expr, name: str, qs: Sequence[float]) -> list[pl.Expr]:
    return [
        value.quantile(q, interpolation="linear").alias(_p.quantile_column(name, q)) for q in qs
    ]


def connected() -> pl.Expr:
    """Return whether a record's status is ``"connected"`` (null status counts as not).

    Returns
    -------
    polars.Expr
        A boolean expression named ``connected``.

    Examples
    --------
    >>> import polars as pl
    >>> from dexkit.health import connected
    >>> pl.DataFrame({"status": ["connected", "paused", None]}).select(connected())["connected"]
    shape: (3,)
    Series: 'connected' [bool]
    [
        true
        false
        false
    ]
    """
    return (pl.col("status") == "connected").fill_null(False).alias("connected")


def _ip_field(schema: pl.Schema | None, *path: str) -> pl.Expr:
    """The ``isp_ipv4`` leaf at ``path``, falling back to ``isp_ipv6``; struct or flat columns."""
    parts: list[pl.Expr] = []
    for column in ("isp_ipv4", "isp_ipv6"):
        flat = "_".join((column, *path))
        if schema is not None and column not in schema and flat in schema:
            parts.append(pl.col(flat))
        elif schema is None or (column in schema and _has_path(schema[column], path)):
            expr = pl.col(column)
            for step in path:
                expr = expr.struct.field(step)
            parts.append(expr)
    if not parts:
        raise ConfigError(
            "grouping by ISP or country needs the isp_ipv4 or isp_ipv6 column "
            "(or their flattened leaves such as isp_ipv4_asn)"
        )
    return pl.coalesce(parts) if len(parts) > 1 else parts[0]


def _has_path(dtype: object, path: Sequence[str]) -> bool:
    for step in path:
        if not isinstance(dtype, pl.Struct):
            return False
        found = {f.name: f.dtype for f in dtype.fields}
        if step not in found:
            return False
        dtype = found[step]
    return True


def isp_asn(schema: pl.Schema | None = None) -> pl.Expr:
    """Return the device's ISP autonomous system number (``isp_ipv4.asn``, else ``isp_ipv6``).

    Parameters
    ----------
    schema
        The frame's schema, when it may hold flattened columns (``isp_ipv4_asn``) or only one
        of the two IP structs; ``None`` assumes both nested structs.

    Returns
    -------
    polars.Expr
        An ``Int64`` expression named ``isp_asn``.

    Examples
    --------
    >>> import polars as pl
    >>> from dexkit.health import isp_asn
    >>> frame = pl.DataFrame({"isp_ipv4": [{"asn": 3320}, None], "isp_ipv6": [None, {"asn": 7922}]})
    >>> frame.select(isp_asn())["isp_asn"].to_list()
    [3320, 7922]
    """
    return _ip_field(schema, "asn").alias("isp_asn")


def isp_name(schema: pl.Schema | None = None) -> pl.Expr:
    """Return the device's ISP name (``name`` of the ISP IP object, else its ``aso``).

    ``isp_ipv4`` is read first, then ``isp_ipv6``. See :func:`isp_asn` for ``schema``.

    Returns
    -------
    polars.Expr
        A ``String`` expression named ``isp_name``.

    Examples
    --------
    >>> import polars as pl
    >>> from dexkit.health import isp_name
    >>> frame = pl.DataFrame({"isp_ipv4": [{"name": "Deutsche Telekom", "aso": "DTAG"},
    ...                                    {"name": None, "aso": "Comcast"}]})
    >>> frame.select(isp_name(frame.schema))["isp_name"].to_list()
    ['Deutsche Telekom', 'Comcast']
    """
    parts: list[pl.Expr] = []
    for field in ("name", "aso"):
        try:
            parts.append(_ip_field(schema, field))
        except ConfigError:
            continue
    if not parts:
        _ip_field(schema, "name")  # raises the explanatory error
    return (pl.coalesce(parts) if len(parts) > 1 else parts[0]).alias("isp_name")


def country(schema: pl.Schema | None = None) -> pl.Expr:
    """Return the country (ISO 3166-1 alpha-2) of the device's public IP, as geolocated.

    Reads ``isp_ipv4.location.country_iso``, else ``isp_ipv6``'s. See :func:`isp_asn` for
    ``schema``.

    Returns
    -------
    polars.Expr
        A ``String`` expression named ``country``.

    Examples
    --------
    >>> import polars as pl
    >>> from dexkit.health import country
    >>> frame = pl.DataFrame({"isp_ipv4": [{"location": {"country_iso": "DE"}}]})
    >>> frame.select(country(frame.schema))["country"].to_list()
    ['DE']
    """
    return _ip_field(schema, "location", "country_iso").alias("country")


def version_key(version: str | pl.Expr = "version") -> pl.Expr:
    """Return a sortable key for a version string: its dot-separated numbers as a list.

    ``"2025.10.186.0"`` becomes ``[2025, 10, 186, 0]``, so that 2024.10 sorts after 2024.9 (string
    order would put it first). A part is read up to its first non-digit (``"1-beta"`` is 1); a
    part with no leading digit is null.

    Parameters
    ----------
    version
        A column name or a ``String`` expression.

    Returns
    -------
    polars.Expr
        A ``List(Int64)`` expression; lists compare element by element.

    Examples
    --------
    >>> import polars as pl
    >>> from dexkit.health import version_key
    >>> frame = pl.DataFrame({"version": ["2024.10.3", "2024.9.12", "2024.10.1-beta"]})
    >>> frame.sort(version_key())["version"].to_list()
    ['2024.9.12', '2024.10.1-beta', '2024.10.3']
    """
    expr = (pl.col(version) if isinstance(version, str) else version).cast(pl.String)
    return expr.str.split(".").list.eval(pl.element().str.extract(r"^\s*(\d+)", 1).cast(pl.Int64))


def robust_z(name: str, by: str | Sequence[str] | None = None) -> pl.Expr:
    """Return the robust (median/MAD) z-score of a metric, within groups.

    The modified z-score of Iglewicz and Hoaglin: ``0.6745 * (x - median) / MAD``, where MAD is
    the median absolute deviation from the median. When more than half of the values are equal
    the MAD is 0; the score then falls back to ``(x - median) / (1.253314 * MeanAD)`` with the
    mean absolute deviation (as IBM SPSS does), and is 0 when every value is equal. Both
    constants make the score comparable with a standard z-score for normal data.

    Parameters
    ----------
    name
        A metric column (read through :func:`metric`).
    by
        Column(s) defining the groups; ``None`` scores against the whole frame.

    Returns
    -------
    polars.Expr
        A ``Float64`` expression named ``z``; null where the metric is missing.

    Examples
    --------
    >>> import polars as pl
    >>> from dexkit.health import robust_z
    >>> frame = pl.DataFrame({"cpu_pct": [10.0, 12.0, 11.0, 13.0, 95.0]})
    >>> frame.select(robust_z("cpu_pct").round(2))["z"].to_list()
    [-1.35, 0.0, -0.67, 0.67, 55.98]
    """
    value = metric(name)
    center = _over(value.median(), by)
    deviation = (value - center).abs()
    mad = _over(deviation.median(), by)
    mean_ad = _over(deviation.mean(), by)
    return (
        pl.when(value.is_null())
        .then(None)
        .when(mad > 0)
        .then(0.6745 * (value - center) / mad)
        .when(mean_ad > 0)
        .then((value - center) / (1.253314 * mean_ad))
        .otherwise(0.0)
        .alias("z")
    )


def _over(expr: pl.Expr, by: str | Sequence[str] | None) -> pl.Expr:
    if by is None:
        return expr
    names = [by] if isinstance(by, str) else list(by)
    return expr.over(names) if names else expr


# --------------------------------------------------------------------------------------------
# Rules and grading


_T = TypeVar("_T")


def _strict(what: str) -> Callable[[type[_T]], type[_T]]:
    """Make a dataclass refuse an unknown keyword with a :class:`ConfigError` naming the
    closest fields (instead of Python's bare ``TypeError``)."""

    def decorate(cls: type[_T]) -> type[_T]:
        init = cls.__init__
        names = [f.name for f in fields(cls)]  # type: ignore[arg-type]

        @functools.wraps(init)
        def __init__(self: object, *args: Any, **kwargs: Any) -> None:
            for key in kwargs:
                if key not in names:
                    raise _checks.unknown(cls.__name__, what, key, names)
            init(self, *args, **kwargs)

        setattr(cls, "__init__", __init__)  # noqa: B010
        return cls

    return decorate


@_strict("signal")
@dataclass(frozen=True)
class Grading:
    """Thresholds of the health grade that :func:`summarize` gives each group.

    A group is graded on four signals computed over its devices' latest records. Each signal has
    a *degraded* and a *critical* threshold (a pair); the grade is ``"critical"`` if any signal
    crosses its critical threshold, else ``"degraded"`` if any crosses its degraded threshold,
    else ``"ok"``. A signal without data (no device reports the metric) does not count.

    ===================  ================================================  =========  ========
    field                signal                                            degraded   critical
    ===================  ================================================  =========  ========
    ``connected_share``  share of devices whose status is ``connected``    < 0.90     < 0.75
    ``loss_p90``         p90 of ``estimated_loss_pct``                     > 1.0      > 5.0
    ``latency_p90``      p90 of ``handshake_latency_ms``                   > 150      > 400
    ``cpu_p90``          p90 of ``cpu_pct``                                > 80       > 95
    ===================  ================================================  =========  ========

    Change a threshold with ``Grading(latency_p90=(100.0, 250.0))`` or
    ``dataclasses.replace(grading, ...)``; set a pair to ``None`` to ignore that signal.

    Examples
    --------
    >>> import polars as pl
    >>> from dexkit.health import Grading
    >>> frame = pl.DataFrame({
    ...     "status": ["connected", "connected", "disconnected"],
    ...     "estimated_loss_pct": [0.1, 0.2, 0.3],
    ... })
    >>> frame.select(Grading().expr(frame.schema))["health"].to_list()
    ['critical']
    >>> frame.select(Grading(connected_share=(0.6, 0.5)).expr(frame.schema))["health"].to_list()
    ['ok']
    """

    connected_share: tuple[float, float] | None = (0.90, 0.75)
    loss_p90: tuple[float, float] | None = (1.0, 5.0)
    latency_p90: tuple[float, float] | None = (150.0, 400.0)
    cpu_p90: tuple[float, float] | None = (80.0, 95.0)

    def __post_init__(self) -> None:
        for spec in fields(self):
            pair = getattr(self, spec.name)
            if pair is None:
                continue
            if not (isinstance(pair, tuple) and len(pair) == 2 and all(map(_number, pair))):
                raise ConfigError(
                    f"Grading.{spec.name} must be a (degraded, critical) pair of numbers or None, "
                    f"got {pair!r}"
                )
            low_is_bad = spec.name == "connected_share"
            if (pair[0] < pair[1]) if low_is_bad else (pair[0] > pair[1]):
                raise ConfigError(
                    f"Grading.{spec.name}: the critical threshold {pair[1]!r} must be "
                    f"{'below' if low_is_bad else 'above'} the degraded one {pair[0]!r}"
                )

    def expr(self, schema: pl.Schema | None = None) -> pl.Expr:
        """Return the grade as an aggregation over one group's latest records.

        Parameters
        ----------
        schema
            The frame's schema; metrics it lacks count as missing. ``None`` assumes all.

        Returns
        -------
        polars.Expr
            A ``pl.Enum(GRADES)`` expression named ``health``.
        """
        return self._grade(
            connected().sum() / pl.len(),
            _p90(schema, "estimated_loss_pct"),
            _p90(schema, "handshake_latency_ms"),
            _p90(schema, "cpu_pct"),
        )

    def _grade(self, share: pl.Expr, loss: pl.Expr, latency: pl.Expr, cpu: pl.Expr) -> pl.Expr:
        """The grade from a group's connected share and p90s (row-wise)."""
        signals: list[tuple[pl.Expr, tuple[float, float] | None, bool]] = [
            (share, self.connected_share, True),
            (loss, self.loss_p90, False),
            (latency, self.latency_p90, False),
            (cpu, self.cpu_p90, False),
        ]
        warn: list[pl.Expr] = []
        crit: list[pl.Expr] = []
        for value, pair, low_is_bad in signals:
            if pair is None:
                continue
            if low_is_bad:
                warn.append((value < pair[0]).fill_null(False))
                crit.append((value < pair[1]).fill_null(False))
            else:
                warn.append((value > pair[0]).fill_null(False))
                crit.append((value > pair[1]).fill_null(False))
        grade = pl.lit("ok")
        if warn:
            grade = (
                pl.when(pl.any_horizontal(crit))
                .then(pl.lit("critical"))
                .when(pl.any_horizontal(warn))
                .then(pl.lit("degraded"))
                .otherwise(pl.lit("ok"))
            )
        return grade.cast(_GRADE).alias("health")


def _number(value: object) -> bool:
    """A real number, NumPy's included (not a bool, not NaN; ±inf means "never")."""
    if isinstance(value, bool):
        return False
    return isinstance(value, numbers.Real) and value == value


def _p90(schema: pl.Schema | None, name: str) -> pl.Expr:
    return _metric(schema, name).quantile(0.9, interpolation="linear")


#: The metrics the health grade reads.
_GRADED = ("estimated_loss_pct", "handshake_latency_ms", "cpu_pct")
_SORTED = "__dexkit_sorted_"


def _sorted_values(schema: pl.Schema, name: str) -> pl.Expr:
    """Aggregation: a group's non-missing values of a metric, sorted (for :func:`_from_sorted`).

    Sorting each group once and reading every quantile from the sorted list is several times
    faster than one ``quantile`` aggregation per quantile.
    """
    return _metric(schema, name).drop_nulls().sort().implode().alias(_SORTED + name)


def _from_sorted(name: str, q: float) -> pl.Expr:
    """The ``q`` quantile with linear interpolation (numpy's default) from a sorted list."""
    values = pl.col(_SORTED + name)
    n = values.list.len()
    rank = (n.cast(pl.Float64) - 1.0) * q
    low = rank.floor()
    below = values.list.get(low.cast(pl.Int64), null_on_oob=True)
    above = values.list.get(rank.ceil().cast(pl.Int64), null_on_oob=True)
    return pl.when(n > 0).then(below + (rank - low) * (above - below))


def _quantile_columns(names: Sequence[str], qs: Sequence[float]) -> list[pl.Expr]:
    return [_from_sorted(n, q).alias(_p.quantile_column(n, q)) for n in names for q in qs]


@_strict("rule")
@dataclass(frozen=True)
class Rules:
    """Thresholds that make a device unhealthy in :func:`unhealthy`.

    Each field is one rule, named after the field; set it to ``None`` to turn it off. A metric
    rule only fires when the device reports the metric.

    ========================  =========  ====================================================
    rule                      default    fires when the device's latest record has
    ========================  =========  ====================================================
    ``cpu_pct``               90.0       ``cpu_pct`` above it
    ``ram_used_pct``          90.0       ``ram_used_pct`` above it
    ``disk_usage_pct``        90.0       ``disk_usage_pct`` above it
    ``handshake_latency_ms``  300.0      ``handshake_latency_ms`` above it
    ``estimated_loss_pct``    5.0        ``estimated_loss_pct`` above it
    ``wifi_strength_dbm``     -75.0      ``wifi_strength_dbm`` below it (weak Wi-Fi)
    ``battery_pct``           10.0       ``battery_pct`` below it and the battery not charging
    ``status``                ``("disconnected",)``  a status in this tuple
    ========================  =========  ====================================================

    Examples
    --------
    >>> from dexkit.health import Rules
    >>> strict = Rules(cpu_pct=75.0, wifi_strength_dbm=None)
    >>> strict.describe()["cpu_pct"], "wifi_strength_dbm" in strict.describe()
    ('cpu_pct > 75', False)
    """

    cpu_pct: float | None = 90.0
    ram_used_pct: float | None = 90.0
    disk_usage_pct: float | None = 90.0
    handshake_latency_ms: float | None = 300.0
    estimated_loss_pct: float | None = 5.0
    wifi_strength_dbm: float | None = -75.0
    battery_pct: float | None = 10.0
    status: tuple[str, ...] | None = ("disconnected",)

    _BELOW: ClassVar[frozenset[str]] = frozenset(n for n, m in _p.METRICS.items() if m.low_is_bad)

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = getattr(self, spec.name)
            if spec.name != "status" and value is not None and not _number(value):
                raise ConfigError(f"Rules.{spec.name} must be a number or None, got {value!r}")
        status: object = self.status
        if status is not None and not (
            isinstance(status, tuple) and all(isinstance(s, str) for s in status)
        ):
            raise ConfigError(
                f"Rules.status must be a tuple of status strings or None, got {self.status!r}"
            )

    def describe(self) -> dict[str, str]:
        """Return each enabled rule's name and a readable condition.

        Returns
        -------
        dict of str to str
        """
        out: dict[str, str] = {}
        for spec in fields(self):
            value = getattr(self, spec.name)
            if value is None:
                continue
            if spec.name == "status":
                out["status"] = "status in " + ", ".join(value)
            elif spec.name == "battery_pct":
                out[spec.name] = f"battery_pct < {value:g} (not charging)"
            else:
                op = "<" if spec.name in self._BELOW else ">"
                out[spec.name] = f"{spec.name} {op} {value:g}"
        return out

    def flags(self, schema: pl.Schema | None = None) -> dict[str, pl.Expr]:
        """Return each enabled rule as a boolean expression over device records.

        Parameters
        ----------
        schema
            The frame's schema; metrics it lacks count as missing (the rule never fires).

        Returns
        -------
        dict of str to polars.Expr
            Rule name → expression that is true where the rule fires (never null).
        """
        out: dict[str, pl.Expr] = {}
        for spec in fields(self):
            value = getattr(self, spec.name)
            if value is None:
                continue
            if spec.name == "status":
                flag = pl.col("status").is_in(list(value))
            elif spec.name == "battery_pct":
                charging = (
                    pl.col("battery_charging").fill_null(False)
                    if schema is None or "battery_charging" in schema
                    else pl.lit(False)
                )
                flag = (_metric(schema, spec.name) < value) & ~charging
            elif spec.name in self._BELOW:
                flag = _metric(schema, spec.name) < value
            else:
                flag = _metric(schema, spec.name) > value
            out[spec.name] = flag.fill_null(False).alias(spec.name)
        return out


# --------------------------------------------------------------------------------------------
# Plumbing


def _finish(frame: FrameT, result: pl.LazyFrame) -> FrameT:
    if isinstance(frame, pl.DataFrame):
        return result.collect()
    return result


def _require(schema: pl.Schema, columns: Sequence[str], func: str) -> None:
    missing = [c for c in columns if c not in schema]
    if missing:
        raise ConfigError(
            f"{func}() needs the column(s) {', '.join(missing)}, which the frame lacks; "
            "pass a frame from dexkit.read_pages() or dexkit.scan_dataset()"
        )
    for name in columns:
        dtype = schema[name]
        if name == "timestamp" and not isinstance(dtype, pl.Datetime):
            raise ConfigError(
                f"{func}(): the timestamp column must be a Datetime (as read_pages gives it), "
                f"got {dtype}; parse it first, e.g. pl.col('timestamp').str.to_datetime()"
            )
        strings = pl.String | pl.Categorical | pl.Enum | pl.Null
        if name not in ("timestamp", "device_id") and not isinstance(dtype, strings):
            raise ConfigError(
                f"{func}(): the {name} column must hold strings (as read_pages gives it), "
                f"got {dtype}"
            )


def _metric(schema: pl.Schema | None, name: str, func: str | None = None) -> pl.Expr:
    if schema is not None and name not in schema:
        return pl.lit(None, dtype=pl.Float64).alias(name)
    if schema is not None and not (schema[name].is_numeric() or schema[name] == pl.Null):
        where = f"{func}(): " if func else ""
        raise ConfigError(
            f"{where}{name!r} is not a numeric column ({schema[name]}): metrics are numbers "
            f"such as {', '.join(METRICS[:3])}…"
        )
    return metric(name)


def _metrics(metrics: Sequence[str] | str, func: str, schema: pl.Schema) -> list[str]:
    """Check the metric names a function reads: known, numeric, at least one, no repeats."""
    if not isinstance(metrics, str | Iterable):
        raise ConfigError(f"{func}(): metrics must be a name or a list of names, got {metrics!r}")
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    if not all(isinstance(n, str) for n in names):
        raise ConfigError(f"{func}(): metrics must be column names, got {metrics!r}")
    if not names:
        raise ConfigError(f"{func}() needs at least one metric")
    if len(set(names)) != len(names):
        raise ConfigError(f"{func}(): metrics repeat: {names!r}")
    for name in names:
        _known_metric(schema, name, func)
    return names


def _known_metric(schema: pl.Schema, name: str, func: str) -> None:
    """A metric is one of :data:`METRICS` (missing from the frame: all missing) or a numeric
    column of the frame; any other name is a :class:`ConfigError` with the closest names."""
    if name in METRICS or name in schema:
        _metric(schema, name, func)  # raises for a column that is not numeric
        return
    numeric = [c for c, dtype in schema.items() if dtype.is_numeric()]
    raise _checks.unknown(
        func,
        "metric",
        name,
        [*METRICS, *numeric],
        hint=f"metrics: {', '.join(METRICS)}, or a numeric column of the frame",
    )


def _keys(by: By, schema: pl.Schema, func: str) -> list[pl.Expr]:
    """Resolve ``by`` into named group expressions."""
    if by is None:
        return []
    if not isinstance(by, str | pl.Expr | Iterable):
        raise ConfigError(
            f"{func}(): by takes a column name, an expression or a list of them, got {by!r}"
        )
    items: list[str | pl.Expr] = [by] if isinstance(by, str | pl.Expr) else list(by)
    keys: list[pl.Expr] = []
    for item in items:
        if isinstance(item, pl.Expr):
            keys.append(item)
        elif not isinstance(item, str):
            raise ConfigError(
                f"{func}(): by takes column names or expressions, got {_checks.type_name(item)}"
            )
        elif item in schema:
            keys.append(pl.col(item))
        elif item == "isp":
            keys.extend([isp_asn(schema), isp_name(schema)])
        elif item == "asn":
            keys.append(isp_asn(schema))
        elif item == "country":
            keys.append(country(schema))
        else:
            raise _checks.unknown(
                func,
                "group",
                item,
                [*schema, *DERIVED_GROUPS],
                hint=f"the frame has no column {item!r}; group by a column name, 'isp', 'asn', "
                "'country' or a polars expression",
            )
    names = [k.meta.output_name() for k in keys]
    if len(set(names)) != len(names):
        raise ConfigError(f"{func}(): the group columns repeat: {names!r}")
    return keys


def _names(keys: Sequence[pl.Expr]) -> list[str]:
    return [k.meta.output_name() for k in keys]


def _utc(lf: pl.LazyFrame, schema: pl.Schema) -> pl.LazyFrame:
    """Make ``timestamp`` a UTC datetime (naive values are taken as UTC)."""
    dtype = schema["timestamp"]
    if not isinstance(dtype, pl.Datetime):
        raise ConfigError(f"the timestamp column must be a Datetime, got {dtype}")
    if dtype.time_zone is None:
        return lf.with_columns(pl.col("timestamp").dt.replace_time_zone("UTC"))
    if dtype.time_zone != "UTC":
        return lf.with_columns(pl.col("timestamp").dt.convert_time_zone("UTC"))
    return lf


def _duration(value: str | timedelta, what: str) -> timedelta:
    return duration(value, what, positive=False)


def _latest(lf: pl.LazyFrame, *, sort: bool = False) -> pl.LazyFrame:
    """Per device_id the row with the greatest timestamp; ties: the last row in frame order.

    A streaming ``group_by`` with ``max_by`` on a key that orders by timestamp, then row:
    memory grows with the devices, not the records (window functions over ``device_id`` held
    every record: 14 GB at 100M records). On a Parquet scan, that pass only finds each
    device's newest timestamp (reading ``device_id`` and ``timestamp``), when called; on the
    frame :func:`dexkit.scan_dataset` returned, :func:`dexkit.dataset.newest` reads them from
    its partitions' summaries instead, and narrows the scan to the partitions that hold them.
    The query then reads the rows at those timestamps alone (Parquet statistics skip the files
    without them) and breaks ties by row number.
    """
    names = lf.collect_schema().names()
    if _rescannable(lf):
        ts = pl.col("timestamp")
        scanned = _dataset.newest(lf)  # a frame of scan_dataset: from per-partition summaries
        if scanned is None:
            newest = lf.group_by("device_id").agg(ts.max()).collect(engine="streaming")
        else:
            newest, lf = scanned
        stamps = newest["timestamp"]
        known = stamps.drop_nulls().unique()
        # the range first: Parquet statistics skip the files outside it
        at = ts.is_between(known.min(), known.max()) & ts.is_in(known.implode())
        if stamps.null_count():  # a device without any timestamp: its rows are all candidates
            at = at | ts.is_null()
        # each device's rows at its newest timestamp (several for a tie: the last one wins)
        # (numbered after the filter, which keeps frame order: numbering first would stop the
        # filter from reaching the scan, which would then read every row)
        result = (
            lf.filter(at)
            .with_row_index(_ROW)
            .join(newest.lazy(), on=["device_id", "timestamp"], how="semi", nulls_equal=True)
            .filter(pl.col(_ROW) == pl.col(_ROW).max().over("device_id"))
        )
    else:
        key = pl.col("timestamp").dt.epoch("us").fill_null(-(2**63)).cast(pl.Int128) * pl.lit(
            2**64, pl.Int128
        ) + pl.col(_ROW).cast(pl.Int128)
        result = (
            lf.with_row_index(_ROW)
            .with_columns(key.alias(_TS))
            .group_by("device_id")
            .agg(
                *(pl.col(n).max_by(_TS) for n in names if n != "device_id"),
                pl.col(_ROW).max_by(_TS),
            )
        )
    ordered = result.sort("device_id", nulls_last=True) if sort else result.sort(_ROW)
    return ordered.select(names)


#: The plan nodes of a frame that _latest may read twice: a Parquet scan, filtered, with columns
#: added or selected (each pass numbers its rows the same way). Anything else (an in-memory
#: frame, a join, an aggregation, a Logpush scan that parses every object at each pass) gets
#: one pass.
_RESCANNABLE = (
    "Parquet",
    "PROJECT",
    "ESTIMATED",
    "FILTER",
    "FROM",
    "SELECT",
    "WITH_COLUMNS:",
    "simple",
)


def _rescannable(lf: pl.LazyFrame) -> bool:
    plan = lf.explain(optimized=False).splitlines()
    nodes = [line.split()[0] for line in plan if line.strip() and not line.lstrip().startswith("[")]
    return "Parquet" in nodes and all(node in _RESCANNABLE for node in nodes)


def _grouped(
    lf: pl.LazyFrame, keys: Sequence[pl.Expr], aggs: Sequence[pl.Expr], *, count: str
) -> pl.LazyFrame:
    """Aggregate per group, or over everything (no row for an empty frame) when no keys."""
    if keys:
        names = _names(keys)
        return lf.group_by(keys).agg(aggs).sort(names, nulls_last=True)
    return lf.select(aggs).filter(pl.col(count) > 0)


# --------------------------------------------------------------------------------------------
# The toolbox


def latest(frame: FrameT) -> FrameT:
    """Return each device's latest record.

    Per ``device_id`` the row with the greatest ``timestamp``; among rows with equal timestamps,
    the one that appears last in the frame. All columns are kept; rows are sorted by
    ``device_id``.

    Parameters
    ----------
    frame
        Device records (``DataFrame`` or ``LazyFrame``) with ``device_id`` and ``timestamp``.

    Returns
    -------
    DataFrame or LazyFrame
        Same kind as ``frame``.

    Examples
    --------
    >>> import polars as pl
    >>> from dexkit import health
    >>> frame = pl.DataFrame({
    ...     "device_id": ["a", "b", "a", "a"],
    ...     "timestamp": ["2026-03-01 09:00", "2026-03-01 09:30", "2026-03-01 10:00",
    ...                   "2026-03-01 10:00"],
    ...     "status": ["connected", "connected", "disconnected", "paused"],
    ... }).with_columns(pl.col("timestamp").str.to_datetime(time_zone="UTC"))
    >>> health.latest(frame)
    shape: (2, 3)
    ┌───────────┬─────────────────────────┬───────────┐
    │ device_id ┆ timestamp               ┆ status    │
    │ ---       ┆ ---                     ┆ ---       │
    │ str       ┆ datetime[μs, UTC]       ┆ str       │
    ╞═══════════╪═════════════════════════╪═══════════╡
    │ a         ┆ 2026-03-01 10:00:00 UTC ┆ paused    │
    │ b         ┆ 2026-03-01 09:30:00 UTC ┆ connected │
    └───────────┴─────────────────────────┴───────────┘
    """
    lf = _checks.lazy(frame, "latest")
    _require(lf.collect_schema(), ["device_id", "timestamp"], "latest")
    return _finish(frame, _latest(lf, sort=True))


def summarize(
    frame: FrameT,
    by: By = None,
    *,
    metrics: Sequence[str] = METRICS,
    quantiles: Sequence[float] = QUANTILES,
    grading: Grading | None = None,
) -> FrameT:
    """Summarize fleet health per group, over each device's latest record.

    Parameters
    ----------
    frame
        Device records (``DataFrame`` or ``LazyFrame``).
    by
        Group by nothing (one row for the fleet), a column, an expression, ``"isp"``,
        ``"asn"``, ``"country"``, or a list of them (see the module docstring).
    metrics
        Metrics to report; all of :data:`METRICS` by default.
    quantiles
        Quantiles to report per metric (linear interpolation, nulls ignored).
    grading
        Thresholds of the ``health`` grade; :class:`Grading` defaults when ``None``.

    Returns
    -------
    DataFrame or LazyFrame
        One row per group: the group columns, then

        - ``devices`` (UInt32): distinct devices whose latest record falls in the group;
        - ``connected`` (UInt32): those whose latest status is ``"connected"``;
        - ``connected_share`` (Float64): ``connected / devices``;
        - ``{metric}_p50``, ``{metric}_p90``, ``{metric}_p99`` (Float64) per metric;
        - ``health`` (``pl.Enum(GRADES)``): ``ok``, ``degraded`` or ``critical`` (:class:`Grading`);
        - ``sample_rate`` (Float64), only for records of a sampled Logpush job
          (:func:`dexkit.read_logpush`): the counts are of that sample, not of devices.

        Sorted by the group columns; with ``by=None``, one row (none for an empty frame).

    See Also
    --------
    dexkit.show : a readable view of the result in a notebook (labels, units, coloured grades).

    Examples
    --------
    >>> import polars as pl
    >>> from dexkit import health
    >>> frame = pl.DataFrame({
    ...     "device_id": ["a", "a", "b", "c", "d"],
    ...     "timestamp": ["2026-03-01 09:00", "2026-03-01 10:00", "2026-03-01 10:00",
    ...                   "2026-03-01 10:00", "2026-03-01 10:00"],
    ...     "colo": ["FRA", "FRA", "FRA", "LHR", "LHR"],
    ...     "status": ["disconnected", "connected", "connected", "connected", "disconnected"],
    ...     "cpu_pct": [99.0, 10.0, 30.0, 50.0, None],
    ...     "estimated_loss_pct": [9.0, 0.0, 0.5, 0.2, 7.5],
    ... }).with_columns(pl.col("timestamp").str.to_datetime(time_zone="UTC"))
    >>> summary = health.summarize(frame, by="colo")
    >>> summary.select("colo", "devices", "connected", "cpu_pct_p50", "cpu_pct_p90", "health")
    shape: (2, 6)
    ┌──────┬─────────┬───────────┬─────────────┬─────────────┬──────────┐
    │ colo ┆ devices ┆ connected ┆ cpu_pct_p50 ┆ cpu_pct_p90 ┆ health   │
    │ ---  ┆ ---     ┆ ---       ┆ ---         ┆ ---         ┆ ---      │
    │ str  ┆ u32     ┆ u32       ┆ f64         ┆ f64         ┆ enum     │
    ╞══════╪═════════╪═══════════╪═════════════╪═════════════╪══════════╡
    │ FRA  ┆ 2       ┆ 2         ┆ 20.0        ┆ 28.0        ┆ ok       │
    │ LHR  ┆ 2       ┆ 1         ┆ 50.0        ┆ 50.0        ┆ critical │
    └──────┴─────────┴───────────┴─────────────┴─────────────┴──────────┘
    """
    lf = _checks.lazy(frame, "summarize")
    schema: pl.Schema = lf.collect_schema()
    _require(schema, ["device_id", "timestamp", "status"], "summarize")
    names: list[str] = _metrics(metrics, "summarize", schema)
    keys: list[pl.Expr] = _keys(by, schema, "summarize")
    grading = Grading() if grading is None else grading
    if not isinstance(grading, Grading):
        raise ConfigError(f"summarize(): grading must be a dexkit.Grading, got {grading!r}")
    aggs = [
        pl.len().alias("devices"),
        connected().sum().alias("connected"),
        *(_sorted_values(schema, name) for name in dict.fromkeys([*names, *_GRADED])),
    ]
    # records of a sampled Logpush job: say so beside the counts, which are of a sample
    sampled = ["sample_rate"] if "sample_rate" in schema else []
    aggs += [pl.col(name).max() for name in sampled]
    grade = grading._grade(
        pl.col("connected") / pl.col("devices"), *(_from_sorted(n, 0.9) for n in _GRADED)
    )
    result = _grouped(_latest(lf), keys, aggs, count="devices").select(
        *_names(keys),
        "devices",
        "connected",
        (pl.col("connected") / pl.col("devices")).alias("connected_share"),
        *_quantile_columns(names, quantiles),
        grade,
        *sampled,
    )
    return _finish(frame, result)


def status_counts(frame: FrameT, by: By = None) -> FrameT:
    """Count devices per status, each device once by its latest record.

    Parameters
    ----------
    frame
        Device records (``DataFrame`` or ``LazyFrame``).
    by
        Optional groups, as in :func:`summarize`.

    Returns
    -------
    DataFrame or LazyFrame
        The group columns, then ``status``, ``devices`` (UInt32) and ``share`` (Float64: of the
        group's devices). Sorted by group, then most devices first, then status.

    Examples
    --------
    >>> import polars as pl
    >>> from dexkit import health
    >>> frame = pl.DataFrame({
    ...     "device_id": ["a", "a", "b", "c"],
    ...     "timestamp": ["2026-03-01 09:00", "2026-03-01 10:00", "2026-03-01 10:00",
    ...                   "2026-03-01 10:00"],
    ...     "status": ["disconnected", "connected", "connected", "paused"],
    ... }).with_columns(pl.col("timestamp").str.to_datetime(time_zone="UTC"))
    >>> health.status_counts(frame)
    shape: (2, 3)
    ┌───────────┬─────────┬──────────┐
    │ status    ┆ devices ┆ share    │
    │ ---       ┆ ---     ┆ ---      │
    │ str       ┆ u32     ┆ f64      │
    ╞═══════════╪═════════╪══════════╡
    │ connected ┆ 2       ┆ 0.666667 │
    │ paused    ┆ 1       ┆ 0.333333 │
    └───────────┴─────────┴──────────┘
    """
    lf = _checks.lazy(frame, "status_counts")
    schema: pl.Schema = lf.collect_schema()
    _require(schema, ["device_id", "timestamp", "status"], "status_counts")
    keys: list[pl.Expr] = _keys(by, schema, "status_counts")
    if "status" in _names(keys):
        raise ConfigError(
            "status_counts() counts devices per status already: group by other columns "
            "(by='colo', by=['platform', 'version']) or use by=None"
        )
    names: list[str] = _names(keys)
    total = pl.col("devices").sum()
    result = (
        _latest(lf)
        .group_by([*keys, pl.col("status")])
        .agg(pl.len().alias("devices"))
        .with_columns((pl.col("devices") / (total.over(names) if names else total)).alias("share"))
        .sort(
            [*names, "devices", "status"],
            descending=[*([False] * len(names)), True, False],
            nulls_last=True,
        )
    )
    return _finish(frame, result)


def version_drift(frame: FrameT) -> FrameT:
    """Show which client versions run where, and how far behind each one is.

    Versions compare numerically (:func:`version_key`): ``2024.10`` is newer than ``2024.9``.

    Parameters
    ----------
    frame
        Device records with ``device_id``, ``timestamp``, ``platform`` and ``version``.

    Returns
    -------
    DataFrame or LazyFrame
        One row per platform and version (each device once, by its latest record):

        - ``platform``, ``version``;
        - ``devices`` (UInt32) and ``share`` (Float64: of the platform's devices);
        - ``newest`` (String): the newest version seen on that platform;
        - ``behind`` (UInt32): releases behind ``newest``, counting the versions seen on that
          platform (0 for the newest; null for a null version).

        Sorted by platform, then newest version first. Filter ``behind >= N`` for the devices N
        or more releases behind.

    Examples
    --------
    >>> import polars as pl
    >>> from dexkit import health
    >>> frame = pl.DataFrame({
    ...     "device_id": ["a", "b", "c", "d", "e"],
    ...     "timestamp": ["2026-03-01 10:00"] * 5,
    ...     "platform": ["windows", "windows", "windows", "windows", "mac"],
    ...     "version": ["2024.9.1", "2024.10.0", "2024.10.0", "2024.8.5", "2024.9.1"],
    ... }).with_columns(pl.col("timestamp").str.to_datetime(time_zone="UTC"))
    >>> health.version_drift(frame)
    shape: (4, 6)
    ┌──────────┬───────────┬─────────┬───────┬───────────┬────────┐
    │ platform ┆ version   ┆ devices ┆ share ┆ newest    ┆ behind │
    │ ---      ┆ ---       ┆ ---     ┆ ---   ┆ ---       ┆ ---    │
    │ str      ┆ str       ┆ u32     ┆ f64   ┆ str       ┆ u32    │
    ╞══════════╪═══════════╪═════════╪═══════╪═══════════╪════════╡
    │ mac      ┆ 2024.9.1  ┆ 1       ┆ 1.0   ┆ 2024.9.1  ┆ 0      │
    │ windows  ┆ 2024.10.0 ┆ 2       ┆ 0.5   ┆ 2024.10.0 ┆ 0      │
    │ windows  ┆ 2024.9.1  ┆ 1       ┆ 0.25  ┆ 2024.10.0 ┆ 1      │
    │ windows  ┆ 2024.8.5  ┆ 1       ┆ 0.25  ┆ 2024.10.0 ┆ 2      │
    └──────────┴───────────┴─────────┴───────┴───────────┴────────┘
    """
    lf = _checks.lazy(frame, "version_drift")
    schema: pl.Schema = lf.collect_schema()
    _require(schema, ["device_id", "timestamp", "platform", "version"], "version_drift")
    key = "__dexkit_version_key"
    result = (
        _latest(lf)
        .group_by("platform", "version")
        .agg(pl.len().alias("devices"))
        .with_columns(
            (pl.col("devices") / pl.col("devices").sum().over("platform")).alias("share"),
            version_key("version").alias(key),
        )
        .with_columns(
            pl.col("version")
            .sort_by(key, nulls_last=False)
            .last()
            .over("platform")
            .alias("newest"),
            (pl.col(key).rank("dense", descending=True).over("platform") - 1)
            .cast(pl.UInt32)
            .alias("behind"),
        )
        .sort(["platform", key, "version"], descending=[False, True, False], nulls_last=True)
        .drop(key)
    )
    return _finish(frame, result)


def stale(
    frame: FrameT, older_than: str | timedelta = "24h", *, now: TimeLike | None = None
) -> FrameT:
    """Return the devices whose latest record is older than ``older_than``.

    Parameters
    ----------
    frame
        Device records (``DataFrame`` or ``LazyFrame``).
    older_than
        A ``timedelta`` or a duration string: ``"90m"``, ``"24h"``, ``"7d"``, ``"1d12h"``
        (units ``us``, ``ms``, ``s``, ``m``, ``h``, ``d``, ``w``).
    now
        The reference time. ``None`` (default) uses the newest timestamp in the frame — "as of
        the data", reproducible for saved data; pass ``datetime.now(UTC)`` for wall-clock time.

    Returns
    -------
    DataFrame or LazyFrame
        Each stale device's latest record with ``age`` (Duration: ``now - timestamp``) as its
        third column, oldest first.

    Examples
    --------
    >>> import polars as pl
    >>> from dexkit import health
    >>> frame = pl.DataFrame({
    ...     "device_id": ["a", "b", "b", "c"],
    ...     "timestamp": ["2026-02-27 08:00", "2026-02-28 09:00", "2026-03-01 09:00",
    ...                   "2026-03-01 10:00"],
    ... }).with_columns(pl.col("timestamp").str.to_datetime(time_zone="UTC"))
    >>> health.stale(frame, "12h")
    shape: (1, 3)
    ┌───────────┬─────────────────────────┬──────────────┐
    │ device_id ┆ timestamp               ┆ age          │
    │ ---       ┆ ---                     ┆ ---          │
    │ str       ┆ datetime[μs, UTC]       ┆ duration[μs] │
    ╞═══════════╪═════════════════════════╪══════════════╡
    │ a         ┆ 2026-02-27 08:00:00 UTC ┆ 2d 2h        │
    └───────────┴─────────────────────────┴──────────────┘
    """
    lf = _checks.lazy(frame, "stale")
    schema: pl.Schema = lf.collect_schema()
    _require(schema, ["device_id", "timestamp"], "stale")
    limit = _duration(older_than, "older_than")
    reference = pl.col("timestamp").max() if now is None else pl.lit(_instant(now, "now"))
    age = (reference - pl.col("timestamp")).alias("age")
    lat = _latest(_utc(lf, schema))
    order = ["device_id", "timestamp", "age"]
    result = (
        lat.with_columns(age)
        .filter(pl.col("age") > limit)
        .select(*order, pl.exclude(order))
        .sort(["age", "device_id"], descending=[True, False], nulls_last=True)
    )
    return _finish(frame, result)


def unhealthy(frame: FrameT, rules: Rules | None = None) -> FrameT:
    """Return the devices whose latest record breaks a rule, with the rules each one broke.

    Parameters
    ----------
    frame
        Device records (``DataFrame`` or ``LazyFrame``).
    rules
        Thresholds; :class:`Rules` defaults when ``None``.

    Returns
    -------
    DataFrame or LazyFrame
        Each flagged device's latest record with ``broken`` (List(String): the names of the rules
        it broke, in :class:`Rules` field order) as its third column. Most rules broken first,
        then by ``device_id``. ``Rules().describe()`` spells out each rule.

    Examples
    --------
    >>> import polars as pl
    >>> from dexkit import health
    >>> frame = pl.DataFrame({
    ...     "device_id": ["a", "b", "c"],
    ...     "timestamp": ["2026-03-01 10:00"] * 3,
    ...     "status": ["connected", "disconnected", "connected"],
    ...     "cpu_pct": [97.0, 95.0, 20.0],
    ...     "wifi_strength_dbm": [-80, -50, -60],
    ... }).with_columns(pl.col("timestamp").str.to_datetime(time_zone="UTC"))
    >>> health.unhealthy(frame).select("device_id", "broken").rows()
    [('a', ['cpu_pct', 'wifi_strength_dbm']), ('b', ['cpu_pct', 'status'])]
    """
    lf = _checks.lazy(frame, "unhealthy")
    schema: pl.Schema = lf.collect_schema()
    rules = Rules() if rules is None else rules
    if not isinstance(rules, Rules):
        raise ConfigError(
            f"unhealthy(): rules must be a dexkit.Rules, got {_checks.type_name(rules)}"
        )
    for name in rules.describe():
        if name != "status":
            _metric(schema, name, "unhealthy")  # raises for a column that is not numeric
    flags: dict[str, pl.Expr] = rules.flags(schema)
    _require(
        schema, ["device_id", "timestamp", *(["status"] if "status" in flags else [])], "unhealthy"
    )
    if flags:
        broken = pl.concat_list(
            [pl.when(flag).then(pl.lit(name)) for name, flag in flags.items()]
        ).list.drop_nulls()
    else:
        broken = pl.lit([], dtype=pl.List(pl.String))
    order = ["device_id", "timestamp", "broken"]
    result = (
        _latest(lf)
        .with_columns(broken.alias("broken"))
        .filter(pl.col("broken").list.len() > 0)
        .select(*order, pl.exclude(order))
        .sort(
            [pl.col("broken").list.len(), pl.col("device_id")],
            descending=[True, False],
            nulls_last=True,
        )
    )
    return _finish(frame, result)


_APPS = {
    "cpu_pct": ("cpu_pct_by_app", "cpu_pct"),
    "ram_used_pct": ("ram_used_pct_by_app", "ram_used_pct"),
}
#: What :func:`top_apps` accepts for ``metric``, and the metric each one means.
APP_METRICS: dict[str, str] = {
    "cpu_pct": "cpu_pct",
    "ram_used_pct": "ram_used_pct",
    "cpu": "cpu_pct",
    "ram": "ram_used_pct",
}
AppMetric: TypeAlias = Literal["cpu_pct", "ram_used_pct", "cpu", "ram"]


def top_apps(
    frame: FrameT, metric: AppMetric = "cpu_pct", n: int = 10, *, by: AppMetric | None = None
) -> FrameT:
    """Return the apps that use the most CPU or RAM across the fleet.

    Reads ``cpu_pct_by_app`` (or ``ram_used_pct_by_app``) of each device's latest record. An
    app listed twice in one record counts once, with its usage summed.

    Parameters
    ----------
    frame
        Device records (``DataFrame`` or ``LazyFrame``).
    metric
        ``"cpu_pct"`` (or ``"cpu"``) or ``"ram_used_pct"`` (or ``"ram"``).
    n
        How many apps to return.
    by
        Deprecated spelling of ``metric`` (``by`` groups everywhere else); it still works, with
        a ``DeprecationWarning``.

    Returns
    -------
    DataFrame or LazyFrame
        Columns ``app``, ``devices`` (UInt32: devices running it), ``device_share`` (of all
        devices), then ``{m}_sum`` (the app's load summed over the fleet, the ranking key),
        ``{m}_mean``, ``{m}_p90`` and ``{m}_max`` over the devices running it, where ``{m}`` is
        ``cpu_pct`` or ``ram_used_pct``. Largest load first.

    Examples
    --------
    >>> import polars as pl
    >>> from dexkit import health
    >>> frame = pl.DataFrame({
    ...     "device_id": ["a", "b", "c"],
    ...     "timestamp": ["2026-03-01 10:00"] * 3,
    ...     "cpu_pct_by_app": [
    ...         [{"cpu_pct": 30.0, "name": "zoom"}, {"cpu_pct": 5.0, "name": "slack"}],
    ...         [{"cpu_pct": 10.0, "name": "zoom"}],
    ...         None,
    ...     ],
    ... }).with_columns(pl.col("timestamp").str.to_datetime(time_zone="UTC"))
    >>> health.top_apps(frame, n=5).select("app", "devices", "device_share", "cpu_pct_sum")
    shape: (2, 4)
    ┌───────┬─────────┬──────────────┬─────────────┐
    │ app   ┆ devices ┆ device_share ┆ cpu_pct_sum │
    │ ---   ┆ ---     ┆ ---          ┆ ---         │
    │ str   ┆ u32     ┆ f64          ┆ f64         │
    ╞═══════╪═════════╪══════════════╪═════════════╡
    │ zoom  ┆ 2       ┆ 0.666667     ┆ 40.0        │
    │ slack ┆ 1       ┆ 0.333333     ┆ 5.0         │
    └───────┴─────────┴──────────────┴─────────────┘
    """
    lf = _checks.lazy(frame, "top_apps")
    schema: pl.Schema = lf.collect_schema()
    _require(schema, ["device_id", "timestamp"], "top_apps")
    chosen = _checks.renamed("top_apps", "by", "metric", by, metric, "cpu_pct")
    if not isinstance(chosen, str) or chosen not in APP_METRICS:
        raise _checks.unknown("top_apps", "metric", chosen, list(APP_METRICS))
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"top_apps(): n must be a positive integer, got {n!r}")
    column, field = _APPS[APP_METRICS[chosen]]
    lat = _latest(lf)
    fleet = lat.select(pl.len().alias("__dexkit_fleet"))
    apps = schema.get(column)
    usable = (
        isinstance(apps, pl.List)
        and isinstance(apps.inner, pl.Struct)
        and {"name", field} <= {f.name for f in apps.inner.fields}
    )
    if apps is not None and apps != pl.Null and not usable:
        raise ConfigError(
            f"top_apps(): {column} must be a list of {{name, {field}}} structs (as read_pages "
            f"gives it), got {apps}"
        )
    if usable:
        usage = (
            lat.select("device_id", column)
            .explode(column)
            .select(
                "device_id",
                pl.col(column).struct.field("name").alias("app"),
                pl.col(column).struct.field(field).cast(pl.Float64).fill_nan(None).alias(field),
            )
        )
    else:
        usage = pl.LazyFrame(schema={"device_id": pl.String, "app": pl.String, field: pl.Float64})
    value = pl.col(field)
    result = (
        usage.filter(pl.col("app").is_not_null())
        .group_by("device_id", "app")
        .agg(value.sum(), value.is_not_null().any().alias("__dexkit_seen"))
        .with_columns(pl.when(pl.col("__dexkit_seen")).then(value).alias(field))
        .group_by("app")
        .agg(
            pl.len().alias("devices"),
            value.sum().alias(f"{field}_sum"),
            value.mean().alias(f"{field}_mean"),
            value.quantile(0.9, interpolation="linear").alias(_p.quantile_column(field, 0.9)),
            value.max().alias(f"{field}_max"),
        )
        .join(fleet, how="cross")
        .with_columns((pl.col("devices") / pl.col("__dexkit_fleet")).alias("device_share"))
        .select(
            "app",
            "devices",
            "device_share",
            f"{field}_sum",
            f"{field}_mean",
            _p.quantile_column(field, 0.9),
            f"{field}_max",
        )
        .sort([f"{field}_sum", "app"], descending=[True, False], nulls_last=True)
        .head(n)
    )
    return _finish(frame, result)


def outliers(frame: FrameT, metric: str, by: By = None, *, threshold: float = 3.5) -> FrameT:
    """Return the devices far from their group on a metric, by robust z-score.

    Scores each device's latest value with :func:`robust_z` (median and MAD of its group) and
    keeps those with ``|z| > threshold``; 3.5 is Iglewicz and Hoaglin's recommendation.

    Parameters
    ----------
    frame
        Device records (``DataFrame`` or ``LazyFrame``).
    metric
        A metric column, for example ``"handshake_latency_ms"``.
    by
        Groups to compare within (``"colo"``, ``"isp"``, …), as in :func:`summarize`; ``None``
        compares with the whole fleet.
    threshold
        The ``|z|`` above which a device is an outlier.

    Returns
    -------
    DataFrame or LazyFrame
        ``device_id``, ``timestamp``, the group columns, the metric, the group's ``median`` and
        ``mad`` and the score ``z``; largest ``|z|`` first.

    Examples
    --------
    >>> import polars as pl
    >>> from dexkit import health
    >>> frame = pl.DataFrame({
    ...     "device_id": ["a", "b", "c", "d", "e"],
    ...     "timestamp": ["2026-03-01 10:00"] * 5,
    ...     "handshake_latency_ms": [20.0, 22.0, 21.0, 23.0, 180.0],
    ... }).with_columns(pl.col("timestamp").str.to_datetime(time_zone="UTC"))
    >>> health.outliers(frame, "handshake_latency_ms").drop("timestamp")
    shape: (1, 5)
    ┌───────────┬──────────────────────┬────────┬─────┬─────────┐
    │ device_id ┆ handshake_latency_ms ┆ median ┆ mad ┆ z       │
    │ ---       ┆ ---                  ┆ ---    ┆ --- ┆ ---     │
    │ str       ┆ f64                  ┆ f64    ┆ f64 ┆ f64     │
    ╞═══════════╪══════════════════════╪════════╪═════╪═════════╡
    │ e         ┆ 180.0                ┆ 22.0   ┆ 1.0 ┆ 106.571 │
    └───────────┴──────────────────────┴────────┴─────┴─────────┘
    """
    lf = _checks.lazy(frame, "outliers")
    schema: pl.Schema = lf.collect_schema()
    _require(schema, ["device_id", "timestamp"], "outliers")
    if not isinstance(metric, str):
        raise ConfigError(f"outliers(): metric must be a column name, got {metric!r}")
    _known_metric(schema, metric, "outliers")
    if not _number(threshold) or threshold < 0:
        raise ConfigError(f"outliers(): threshold must be a number, 0 or more, got {threshold!r}")
    keys: list[pl.Expr] = _keys(by, schema, "outliers")
    names: list[str] = _names(keys)
    value = _metric(schema, metric, "outliers")
    center = _over(value.median(), names)
    mad = _over((value - center).abs().median(), names)
    result = (
        _latest(lf)
        .with_columns(*keys, value)
        .with_columns(
            center.alias("median"),
            mad.alias("mad"),
            robust_z(metric, names) if metric in schema else pl.lit(None, pl.Float64).alias("z"),
        )
        .filter(pl.col("z").abs() > threshold)
        .select("device_id", "timestamp", *names, metric, "median", "mad", "z")
        .sort([pl.col("z").abs(), pl.col("device_id")], descending=[True, False], nulls_last=True)
    )
    return _finish(frame, result)


def hotspots(
    frame: FrameT,
    dimensions: Sequence[str] = ("colo", "isp", "country"),
    *,
    min_devices: int = 5,
    grading: Grading | None = None,
) -> FrameT:
    """Show where it hurts: every colo, ISP and country in one table, worst first.

    Parameters
    ----------
    frame
        Device records (``DataFrame`` or ``LazyFrame``).
    dimensions
        What to break the fleet down by: column names or ``"isp"``, ``"asn"``, ``"country"``.
    min_devices
        Leave out groups with fewer devices (default 5: one bad laptop is not a hotspot).
    grading
        Thresholds of the ``health`` grade; :class:`Grading` defaults when ``None``.

    Returns
    -------
    DataFrame or LazyFrame
        ``dimension`` (``"colo"``, ``"isp"``…), ``key`` (the group as text; an ISP reads
        ``"AS3320 Deutsche Telekom"``), ``devices``, ``connected``, ``connected_share``,
        ``estimated_loss_pct_p90``, ``handshake_latency_ms_p90``, ``cpu_pct_p90`` and
        ``health``, over each device's latest record. Sorted by health (critical first), then
        lowest connected share, then most devices.

    Examples
    --------
    >>> import polars as pl
    >>> from dexkit import health
    >>> frame = pl.DataFrame({
    ...     "device_id": ["a", "b", "c", "d"],
    ...     "timestamp": ["2026-03-01 10:00"] * 4,
    ...     "colo": ["FRA", "FRA", "LHR", "LHR"],
    ...     "status": ["connected", "connected", "connected", "disconnected"],
    ... }).with_columns(pl.col("timestamp").str.to_datetime(time_zone="UTC"))
    >>> hot = health.hotspots(frame, ["colo"], min_devices=2)
    >>> hot.select("dimension", "key", "devices", "health")
    shape: (2, 4)
    ┌───────────┬─────┬─────────┬──────────┐
    │ dimension ┆ key ┆ devices ┆ health   │
    │ ---       ┆ --- ┆ ---     ┆ ---      │
    │ str       ┆ str ┆ u32     ┆ enum     │
    ╞═══════════╪═════╪═════════╪══════════╡
    │ colo      ┆ LHR ┆ 2       ┆ critical │
    │ colo      ┆ FRA ┆ 2       ┆ ok       │
    └───────────┴─────┴─────────┴──────────┘
    """
    lf = _checks.lazy(frame, "hotspots")
    schema: pl.Schema = lf.collect_schema()
    _require(schema, ["device_id", "timestamp", "status"], "hotspots")
    if isinstance(dimensions, str):
        dimensions = [dimensions]
    if not dimensions:
        raise ConfigError("hotspots() needs at least one dimension")
    if isinstance(min_devices, bool) or not isinstance(min_devices, int) or min_devices < 1:
        raise ConfigError(
            f"hotspots(): min_devices must be a positive integer, got {min_devices!r}"
        )
    grading = Grading() if grading is None else grading
    if not isinstance(grading, Grading):
        raise ConfigError(f"hotspots(): grading must be a dexkit.Grading, got {grading!r}")
    lat = _latest(lf)
    aggs = [
        pl.len().alias("devices"),
        connected().sum().alias("connected"),
        *(_sorted_values(schema, name) for name in _GRADED),
    ]
    share = (pl.col("connected") / pl.col("devices")).alias("connected_share")
    p90s: list[pl.Expr] = [_from_sorted(name, 0.9) for name in _GRADED]
    stats: list[str | pl.Expr] = [
        "devices",
        "connected",
        share,
        *(
            p90.alias(_p.quantile_column(name, 0.9))
            for p90, name in zip(p90s, _GRADED, strict=True)
        ),
        grading._grade(share, *p90s),
    ]
    parts: list[pl.LazyFrame] = []
    for dimension in dimensions:
        keys = _keys(dimension, schema, "hotspots")
        names = _names(keys)
        if dimension == "isp":
            asn, name = pl.col("isp_asn"), pl.col("isp_name")
            key: pl.Expr = pl.when(asn.is_not_null() | name.is_not_null()).then(
                pl.concat_str("AS" + asn.cast(pl.String), name, separator=" ", ignore_nulls=True)
            )
        else:
            key = pl.concat_str([pl.col(n).cast(pl.String) for n in names], separator=" ")
        parts.append(
            lat.group_by(keys)
            .agg(aggs)
            .select(pl.lit(str(dimension)).alias("dimension"), key.alias("key"), *stats)
        )
    result = (
        pl.concat(parts, how="vertical")
        .filter(pl.col("devices") >= min_devices)
        .sort(
            ["health", "connected_share", "devices", "dimension", "key"],
            descending=[True, False, True, False, False],
            nulls_last=True,
        )
    )
    return _finish(frame, result)


def timeline(
    frame: FrameT,
    every: str | timedelta = "1h",
    by: By = None,
    *,
    metrics: Sequence[str] = TIMELINE_METRICS,
    quantiles: Sequence[float] = QUANTILES,
) -> FrameT:
    """Follow the fleet through time: devices, connected and quantiles per time bucket.

    Meant for ``hourly`` and ``raw`` frames. Every record counts in its bucket (a device that
    reported five times in an hour adds five values to that hour's quantiles).

    A ``LazyFrame`` (such as :func:`dexkit.scan_dataset`'s) is aggregated in slices of whole
    buckets of about four million records each, one slice after another, so that memory stays
    bounded at any size: exact quantiles and distinct counts hold every value of the buckets
    they aggregate. Finding the slices reads the ``timestamp`` column once, when this function
    is called. A scan that cannot skip records (:func:`dexkit.scan_logpush`, which parses every
    object at every pass) is aggregated in one pass instead: sync such an archive into a
    dataset (:func:`dexkit.sync_logpush`) for bounded memory.

    Parameters
    ----------
    frame
        Device records (``DataFrame`` or ``LazyFrame``).
    every
        Bucket width: a ``timedelta`` or a Polars duration such as ``"15m"``, ``"1h"``, ``"1d"``.
        Buckets start at multiples of ``every`` since the epoch (UTC).
    by
        Optional groups, as in :func:`summarize`.
    metrics
        Metrics to report (default :data:`TIMELINE_METRICS`).
    quantiles
        Quantiles per metric (linear interpolation, nulls ignored).

    Returns
    -------
    DataFrame or LazyFrame
        ``timestamp`` (bucket start), the group columns, ``devices`` (UInt32: distinct devices
        that reported in the bucket), ``connected`` (UInt32: distinct devices that reported
        ``connected`` at least once in the bucket) and ``{metric}_p50``… Buckets without
        records are absent. Sorted by time, then group.

    Examples
    --------
    >>> import polars as pl
    >>> from dexkit import health
    >>> frame = pl.DataFrame({
    ...     "device_id": ["a", "b", "a", "a", "b"],
    ...     "timestamp": ["2026-03-01 09:10", "2026-03-01 09:20", "2026-03-01 09:40",
    ...                   "2026-03-01 10:10", "2026-03-01 10:30"],
    ...     "status": ["connected", "connected", "connected", "connected", "disconnected"],
    ...     "estimated_loss_pct": [0.0, 1.0, 2.0, 4.0, None],
    ... }).with_columns(pl.col("timestamp").str.to_datetime(time_zone="UTC"))
    >>> health.timeline(frame, "1h", metrics=["estimated_loss_pct"], quantiles=[0.5])
    shape: (2, 4)
    ┌─────────────────────────┬─────────┬───────────┬────────────────────────┐
    │ timestamp               ┆ devices ┆ connected ┆ estimated_loss_pct_p50 │
    │ ---                     ┆ ---     ┆ ---       ┆ ---                    │
    │ datetime[μs, UTC]       ┆ u32     ┆ u32       ┆ f64                    │
    ╞═════════════════════════╪═════════╪═══════════╪════════════════════════╡
    │ 2026-03-01 09:00:00 UTC ┆ 2       ┆ 2         ┆ 1.0                    │
    │ 2026-03-01 10:00:00 UTC ┆ 2       ┆ 1         ┆ 4.0                    │
    └─────────────────────────┴─────────┴───────────┴────────────────────────┘
    """
    lf = _checks.lazy(frame, "timeline")
    schema: pl.Schema = lf.collect_schema()
    _require(schema, ["device_id", "timestamp", "status"], "timeline")
    every = polars_every(every, "timeline(): every", calendar=True)
    names: list[str] = _metrics(metrics, "timeline", schema)
    keys: list[pl.Expr] = _keys(by, schema, "timeline")
    aggs = [
        pl.col("device_id").n_unique().alias("devices"),
        pl.col("device_id").filter(connected()).n_unique().alias("connected"),
        *(_sorted_values(schema, name) for name in names),
    ]
    bucket = pl.col("timestamp").dt.truncate(every).alias("timestamp")
    groups = ["timestamp", *_names(keys)]
    lf = _utc(lf, schema).filter(pl.col("timestamp").is_not_null())

    def buckets(part: pl.LazyFrame) -> pl.LazyFrame:
        return part.group_by([bucket, *keys]).agg(aggs)

    if isinstance(frame, pl.DataFrame) or "PYTHON SCAN" in lf.explain(optimized=False):
        parts = buckets(lf)  # in memory already, or a source read whole at every pass
    else:
        parts = pl.concat([buckets(lf.filter(w)) for w in _slices(lf, bucket)])
    result = parts.select(
        *groups, "devices", "connected", *_quantile_columns(names, quantiles)
    ).sort(groups, nulls_last=True)
    return _finish(frame, result)


#: Records per slice of a lazy timeline (see :func:`_slices`).
_SLICE_RECORDS = 4_000_000


def _slices(lf: pl.LazyFrame, bucket: pl.Expr) -> list[pl.Expr]:
    """Filters that cut a lazy frame into runs of whole time buckets of at most
    ``_SLICE_RECORDS`` records each (one bucket may hold more), by one streaming pass over the
    ``timestamp`` column.

    Exact quantiles and distinct counts hold every value of a bucket until it is complete;
    aggregating slice after slice bounds that to one slice instead of the whole frame
    (over 16 GB at 100M records). When there is a ``date`` column (the dataset's partition),
    each filter also names the dates its run's records hold (read in the same pass, so the
    filter drops nothing), so that a slice of a hive-partitioned dataset opens only its days'
    files.
    """
    ts = pl.col("timestamp")
    dated = lf.collect_schema().get("date") == pl.Date
    extra = (
        [
            pl.col("date").min().alias("first"),
            pl.col("date").max().alias("last"),
            pl.col("date").null_count().alias("undated"),
        ]
        if dated
        else []
    )
    sizes = (
        lf.group_by(bucket)
        .agg(pl.len().alias("n"), *extra)
        .sort("timestamp")
        .collect(engine="streaming")
    )
    runs: list[list[dict[str, Any]]] = []
    total = 0
    for row in sizes.iter_rows(named=True):
        if not runs or total + row["n"] > _SLICE_RECORDS:
            runs.append([])
            total = 0
        runs[-1].append(row)
        total += row["n"]
    filters = []
    for i, run in enumerate(runs):
        keep = ts >= run[0]["timestamp"] if i else pl.lit(True)
        if i + 1 < len(runs):
            keep = keep & (ts < runs[i + 1][0]["timestamp"])
        if dated and not any(r["undated"] for r in run):  # the run's own dates: exact
            first = min(r["first"] for r in run)
            last = max(r["last"] for r in run)
            keep = pl.col("date").is_between(first, last) & keep
        filters.append(keep)
    return filters or [pl.lit(True)]


def compare_windows(
    frame: FrameT,
    baseline: tuple[TimeLike, TimeLike],
    incident: tuple[TimeLike, TimeLike],
    by: By = "colo",
    *,
    metrics: Sequence[str] = COMPARE_METRICS,
    statistic: Literal["median", "mean"] = "median",
) -> FrameT:
    """Compare a baseline window with an incident window, per group and metric.

    The postmortem's core table: what moved, where, and by how much. Every record whose
    ``timestamp`` falls in a window (``start <= t < end``, UTC) counts as one observation; the
    windows may overlap or be far apart.

    Parameters
    ----------
    frame
        Device records (``DataFrame`` or ``LazyFrame``), usually ``hourly`` or ``raw``.
    baseline, incident
        ``(start, end)`` pairs of datetimes (naive means UTC), dates or ISO 8601 strings.
    by
        Groups, as in :func:`summarize` (default ``"colo"``); ``None`` compares the whole fleet.
    metrics
        Metrics to compare (default :data:`COMPARE_METRICS`).
    statistic
        ``"median"`` (default, robust to a few extreme devices) or ``"mean"``: the value shown
        for each window.

    Returns
    -------
    DataFrame or LazyFrame
        Long format, one row per group and metric:

        - the group columns, then ``metric`` (String);
        - ``baseline_n``, ``incident_n`` (UInt32): non-missing observations in each window;
        - ``baseline``, ``incident`` (Float64): the statistic in each window;
        - ``change`` = ``incident - baseline``; ``rel_change`` = ``change / |baseline|``
          (null when the baseline is 0 or missing);
        - ``effect``: Cohen's d, ``(mean_incident - mean_baseline) / pooled standard
          deviation`` (sample variances, weights ``n - 1``). Null when a window has no
          observation or there are fewer than three in all; ±inf when both windows are constant
          but differ; 0 when nothing varies. ``|d|`` of 0.2, 0.5 and 0.8 are Cohen's small,
          medium and large.

        Sorted by ``|effect|``, largest first (nulls last), then group and metric.

    Raises
    ------
    ConfigError
        A window that holds no records (its numbers would all be blank), naming the window and
        the span of the records; an unknown metric or group.

    Warns
    -----
    PartialWindowWarning
        A window the records cover only in part (it starts before the first record's hour or
        ends after the last one's), with the covered fraction: its numbers describe that part.
        The check reads the ``timestamp`` column once, also for a ``LazyFrame``.

    See Also
    --------
    dexkit.show : a readable view of the result in a notebook (signed changes, percentages).

    Examples
    --------
    >>> import polars as pl
    >>> from dexkit import health
    >>> frame = pl.DataFrame({
    ...     "device_id": ["a", "b", "c", "a", "b", "c"],
    ...     "timestamp": ["2026-03-01 08:00"] * 3 + ["2026-03-01 10:00"] * 3,
    ...     "colo": ["FRA"] * 6,
    ...     "estimated_loss_pct": [0.5, 1.0, 1.5, 4.0, 5.0, 6.0],
    ...     "cpu_pct": [20.0, 30.0, 40.0, 20.0, 30.0, 40.0],
    ... }).with_columns(pl.col("timestamp").str.to_datetime(time_zone="UTC"))
    >>> health.compare_windows(
    ...     frame,
    ...     baseline=("2026-03-01 08:00", "2026-03-01 09:00"),
    ...     incident=("2026-03-01 10:00", "2026-03-01 11:00"),
    ...     metrics=["estimated_loss_pct", "cpu_pct"],
    ... ).drop("baseline_n", "incident_n")
    shape: (2, 7)
    ┌──────┬────────────────────┬──────────┬──────────┬────────┬────────────┬──────────┐
    │ colo ┆ metric             ┆ baseline ┆ incident ┆ change ┆ rel_change ┆ effect   │
    │ ---  ┆ ---                ┆ ---      ┆ ---      ┆ ---    ┆ ---        ┆ ---      │
    │ str  ┆ str                ┆ f64      ┆ f64      ┆ f64    ┆ f64        ┆ f64      │
    ╞══════╪════════════════════╪══════════╪══════════╪════════╪════════════╪══════════╡
    │ FRA  ┆ estimated_loss_pct ┆ 1.0      ┆ 5.0      ┆ 4.0    ┆ 4.0        ┆ 5.059644 │
    │ FRA  ┆ cpu_pct            ┆ 30.0     ┆ 30.0     ┆ 0.0    ┆ 0.0        ┆ 0.0      │
    └──────┴────────────────────┴──────────┴──────────┴────────┴────────────┴──────────┘
    """
    lf = _checks.lazy(frame, "compare_windows")
    schema: pl.Schema = lf.collect_schema()
    _require(schema, ["timestamp"], "compare_windows")
    windows = {
        "baseline": _window(baseline, "baseline"),
        "incident": _window(incident, "incident"),
    }
    if statistic not in ("median", "mean"):
        raise ConfigError(
            f"compare_windows(): statistic must be 'median' or 'mean', got {statistic!r}"
        )
    names: list[str] = _metrics(metrics, "compare_windows", schema)
    keys: list[pl.Expr] = _keys(by, schema, "compare_windows")
    groups: list[str] = _names(keys) or [_ALL]
    lf = _utc(lf, schema)
    inside, days, lf = _check_windows(lf, windows, "compare_windows")
    lf = lf.with_columns(*keys, pl.lit(0).alias(_ALL))
    # one pass: the records of either window, each window's statistics over its own records
    # (a record in both counts in both)
    aggs: list[pl.Expr] = []
    for window, mask in inside.items():
        for i, name in enumerate(names):
            value = _metric(schema, name, "compare_windows").filter(mask)
            center = value.median() if statistic == "median" else value.mean()
            aggs += [
                value.count().alias(f"{window}_n_{i}"),
                center.alias(f"{window}_{i}"),
                value.mean().alias(f"{window}_mean_{i}"),
                value.var(ddof=1).alias(f"{window}_var_{i}"),
            ]
    keep = pl.any_horizontal(*inside.values())
    wide = lf.filter(keep if days is None else days & keep).group_by(groups).agg(aggs)
    rows: list[pl.LazyFrame] = []
    for i, name in enumerate(names):
        nb = pl.col(f"baseline_n_{i}").fill_null(0).cast(pl.UInt32)
        ni = pl.col(f"incident_n_{i}").fill_null(0).cast(pl.UInt32)
        rows.append(
            wide.select(
                *groups,
                pl.lit(name).alias("metric"),
                nb.alias("baseline_n"),
                ni.alias("incident_n"),
                pl.col(f"baseline_{i}").cast(pl.Float64).alias("baseline"),
                pl.col(f"incident_{i}").cast(pl.Float64).alias("incident"),
                _cohen_d(i).alias("effect"),
            )
        )
    change = pl.col("incident") - pl.col("baseline")
    result = (
        pl.concat(rows, how="vertical")
        .with_columns(change.alias("change"))
        .with_columns(
            pl.when(pl.col("baseline") != 0)
            .then(pl.col("change") / pl.col("baseline").abs())
            .alias("rel_change")
        )
        .select(
            *groups,
            "metric",
            "baseline_n",
            "incident_n",
            "baseline",
            "incident",
            "change",
            "rel_change",
            "effect",
        )
        .sort(
            [pl.col("effect").abs(), *groups, "metric"],
            descending=[True, *([False] * len(groups)), False],
            nulls_last=True,
        )
    )
    if not keys:
        result = result.drop(_ALL)
    return _finish(frame, result)


def _check_windows(
    lf: pl.LazyFrame, windows: dict[str, tuple[datetime, datetime]], func: str
) -> tuple[dict[str, pl.Expr], pl.Expr | None, pl.LazyFrame]:
    """Raise for a window that holds no records; warn for one the records cover only in part.
    Return each window's filter, one on the ``date`` column that keeps their records, and the
    frame to read them from.

    One streaming pass over the ``timestamp`` column. A record stands for the hour it falls in
    (hourly records are stamped at their hour's start), so the records cover the hours from the
    first one's to the last one's, inclusive. When there is a ``date`` column (a dataset's
    partition), the same pass finds the dates of each window's records: filtering by them drops
    nothing, and reading the windows opens only those days' files. On a frame of
    :func:`dexkit.scan_dataset`, the span comes from the partitions' summaries and the pass
    reads only the partitions whose records reach into a window (the frame returned is that
    narrower scan): Polars would otherwise read every file's statistics, about 1 s per 5,000
    files, to skip them.
    """
    ts = pl.col("timestamp")
    inside = {name: (ts >= a) & (ts < b) for name, (a, b) in windows.items()}
    dated = lf.collect_schema().get("date") == pl.Date
    day = pl.col("date")
    first: datetime | None
    last: datetime | None
    narrowed = _dataset.around(lf, list(windows.values()))
    if narrowed is not None:  # a frame of scan_dataset: its span, and the files that matter
        first, last, lf = narrowed
    found = lf.select(
        *(() if narrowed else (ts.min().alias("first"), ts.max().alias("last"))),
        *(mask.sum().alias(name) for name, mask in inside.items()),
        *(
            expr.alias(f"{name}_{what}")
            for name, mask in inside.items()
            for what, expr in (
                ("first_day", day.filter(mask).min()),
                ("last_day", day.filter(mask).max()),
                ("undated", (mask & day.is_null()).sum()),
            )
            if dated
        ),
    ).collect(engine="streaming")
    if narrowed is None:
        first, last = found["first"].item(), found["last"].item()
    if first is None or last is None:
        span = "the frame holds no records"
    else:
        span = f"the records span {_stamp(first)} to {_stamp(last)}"
    for name, (start, end) in windows.items():
        if not found[name].item():
            raise ConfigError(
                f"{func}(): the {name} window, {_stamp(start)} to {_stamp(end)}, holds no "
                f"records; {span}: choose a {name} window inside it"
            )
    assert first is not None  # a window holds records
    assert last is not None
    hour = timedelta(hours=1)
    covered_from = first.replace(minute=0, second=0, microsecond=0)
    covered_to = last.replace(minute=0, second=0, microsecond=0) + hour
    for name, (start, end) in windows.items():
        overlap = min(end, covered_to) - max(start, covered_from)
        fraction = max(overlap, timedelta()) / (end - start)
        if fraction < 1:
            warnings.warn(
                f"{func}(): the records cover only {fraction:.1%} of the {name} window, "
                f"{_stamp(start)} to {_stamp(end)} ({span}); its numbers describe that part",
                PartialWindowWarning,
                stacklevel=3,
            )
    days: set[date] = set()
    for name in inside if dated else ():
        if found[f"{name}_undated"].item():
            return inside, None, lf  # records without a date: nothing to narrow by
        first_day, last_day = found[f"{name}_first_day"].item(), found[f"{name}_last_day"].item()
        days.update(first_day + timedelta(days=i) for i in range((last_day - first_day).days + 1))
    # one filter on the partition column for both windows: Polars prunes files by a
    # conjunction, not by either side of an "or"
    return inside, day.is_in(sorted(days)) if days else None, lf


def _stamp(value: datetime) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC"


def _cohen_d(i: int) -> pl.Expr:
    nb = pl.col(f"baseline_n_{i}").fill_null(0).cast(pl.Float64)
    ni = pl.col(f"incident_n_{i}").fill_null(0).cast(pl.Float64)
    vb = pl.col(f"baseline_var_{i}").fill_null(0.0)
    vi = pl.col(f"incident_var_{i}").fill_null(0.0)
    diff = pl.col(f"incident_mean_{i}") - pl.col(f"baseline_mean_{i}")
    pooled = (((nb - 1) * vb + (ni - 1) * vi) / (nb + ni - 2)).sqrt()
    return (
        pl.when((nb > 0) & (ni > 0) & (nb + ni > 2))
        .then((diff / pooled).fill_nan(0.0))
        .cast(pl.Float64)
    )
