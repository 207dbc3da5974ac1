"""How dexkit shows results: metric labels and units, group names, palette, health grades,
quantile column names, and the text of table cells.

Every module that draws or writes something asks this one: :mod:`dexkit.charts` (axes, legends,
colours), :mod:`dexkit.display` (notebook tables), :mod:`dexkit.report` (the HTML report and its
tables) and :mod:`dexkit.health` (the names of metrics, grades and quantile columns).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import polars as pl

from dexkit.errors import ConfigError

__all__ = [
    "CATEGORY",
    "COUNTS",
    "GRADES",
    "GRADE_COLORS",
    "GRADE_STYLE",
    "GROUPS",
    "METRICS",
    "PALETTE",
    "STATUS_COLORS",
    "Colors",
    "Metric",
    "axis_title",
    "cell",
    "header",
    "is_grade",
    "quantile_column",
    "quantile_suffix",
    "span",
    "stamp",
    "table",
]


# --------------------------------------------------------------------------------------------
# Metrics


@dataclass(frozen=True)
class Metric:
    """A health metric as dexkit shows it: its label, its unit, and whether low is bad."""

    label: str
    unit: str
    low_is_bad: bool = False


#: The numeric health metrics of a device record, in the order tables list them.
METRICS: dict[str, Metric] = {
    "cpu_pct": Metric("CPU", "%"),
    "ram_used_pct": Metric("RAM used", "%"),
    "disk_usage_pct": Metric("Disk used", "%"),
    "handshake_latency_ms": Metric("Handshake latency", "ms"),
    "estimated_loss_pct": Metric("Estimated loss", "%"),
    "wifi_strength_dbm": Metric("Wi-Fi signal", "dBm", low_is_bad=True),
    "battery_pct": Metric("Battery", "%", low_is_bad=True),
}

#: Counts a timeline can show besides the metrics: label and unit.
COUNTS: dict[str, Metric] = {
    "devices": Metric("Devices reporting", "devices"),
    "connected": Metric("Connected devices", "devices"),
    "connected_share": Metric("Connected devices", "%"),
}

#: How a group is named in titles and legends (``"version"`` reads "client version").
GROUPS: dict[str, str] = {
    "colo": "colo",
    "platform": "platform",
    "version": "client version",
    "status": "status",
    "mode": "mode",
    "isp": "ISP",
    "asn": "ISP network",
    "country": "country",
    "connection_type": "connection type",
    "tunnel_type": "tunnel type",
}


def axis_title(name: str) -> str:
    """A metric's (or count's) label with its unit, as axes and headings show it.

    >>> axis_title("handshake_latency_ms")
    'Handshake latency (ms)'
    """
    metric = METRICS.get(name) or COUNTS[name]
    return f"{metric.label} ({metric.unit})"


def quantile_suffix(q: float) -> str:
    """The name of a quantile: 0.5 is ``p50``, 0.999 ``p99.9``.

    >>> quantile_suffix(0.5), quantile_suffix(0.999)
    ('p50', 'p99.9')
    """
    if isinstance(q, bool) or not isinstance(q, int | float) or not 0.0 <= q <= 1.0:
        raise ConfigError(f"quantiles must lie between 0 and 1, got {q!r}")
    return f"p{q * 100:g}"


def quantile_column(metric: str, q: float) -> str:
    """The column that holds a metric's quantile in health's results.

    >>> quantile_column("cpu_pct", 0.9)
    'cpu_pct_p90'
    """
    return f"{metric}_{quantile_suffix(q)}"


# --------------------------------------------------------------------------------------------
# Palette and grades


@dataclass(frozen=True)
class Colors:
    """The colours of every chart, table and report."""

    ink: str = "#1f2937"
    muted: str = "#4b5563"
    grid: str = "#e5e7eb"
    axis: str = "#9ca3af"
    accent: str = "#f38020"
    land: str = "#e9ecef"
    line: str = "#e5e7eb"
    good: str = "#2e7d43"
    warn: str = "#e0a800"
    bad: str = "#d1432f"
    idle: str = "#9ca3af"


PALETTE = Colors()

#: Colours for categories (groups, versions, metrics), in order.
CATEGORY: tuple[str, ...] = (
    PALETTE.accent,
    "#2c7be5",
    PALETTE.good,
    "#8e59c5",
    PALETTE.bad,
    "#1fa6a6",
    PALETTE.warn,
    "#6b7280",
    "#c2185b",
    "#5c6bc0",
)

#: Health grades, best first.
GRADES: tuple[str, ...] = ("ok", "degraded", "critical")
#: Each grade's colour: the same in charts, notebook tables and reports.
GRADE_COLORS: dict[str, str] = {
    "ok": PALETTE.good,
    "degraded": PALETTE.warn,
    "critical": PALETTE.bad,
}
# Text on each grade's colour: contrast of at least 4.5:1 (WCAG AA) on every one.
_GRADE_TEXT: dict[str, str] = {"ok": "#ffffff", "degraded": PALETTE.ink, "critical": "#ffffff"}
#: Inline CSS of a grade badge in tables.
GRADE_STYLE: dict[str, str] = {
    grade: f"background:{GRADE_COLORS[grade]};color:{_GRADE_TEXT[grade]}" for grade in GRADES
}
#: Each device status's colour, in the order statuses are stacked.
STATUS_COLORS: dict[str, str] = {
    "connected": PALETTE.good,
    "connecting": PALETTE.warn,
    "paused": PALETTE.idle,
    "disconnected": PALETTE.bad,
}


# --------------------------------------------------------------------------------------------
# Table cells (notebook tables and the report's)


def stamp(value: object) -> str:
    if isinstance(value, datetime):
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return "n/a" if value is None else str(value)


def span(value: timedelta) -> str:
    """``2d 1h 59m 46s``; under a second, milliseconds (``750ms``)."""
    sign = "-" if value < timedelta() else ""
    rest = abs(value)
    if rest < timedelta(seconds=1):
        return f"{sign}{rest // timedelta(milliseconds=1)}ms"
    seconds = int(rest.total_seconds())
    parts = [(seconds // 86400, "d"), (seconds // 3600 % 24, "h"), (seconds // 60 % 60, "m")]
    text = " ".join(f"{n}{unit}" for n, unit in [*parts, (seconds % 60, "s")] if n)
    return sign + text


def number(value: float, name: str) -> str:
    if value != value:  # NaN
        return ""
    signed = name in ("change", "effect") or name.endswith("_change")
    if value in (float("inf"), float("-inf")):
        return ("-" if value < 0 else "+" if signed else "") + "\u221e"
    if name == "rel_change" or name.endswith("_rel_change"):
        return f"{value:+z,.1%}"
    if name.endswith("_share_change"):
        return f"{value * 100:+z,.1f} pp"
    if name == "share" or name.endswith("_share"):
        return f"{value:z,.1%}"
    if abs(value) >= 1e15:
        return f"{value:{'+' if signed else ''}.3e}"
    return f"{value:{'+' if signed else ''}z,.2f}"


def cell(value: object, name: str) -> str:
    """A value as text for a table cell (a plain ``str``: escaped later by the template)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return number(float(value), name) if value.is_finite() else str(value)
    if isinstance(value, float):
        return number(value, name)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, datetime):
        return stamp(value)
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return span(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, list):
        return ", ".join(
            f"[{cell(v, name)}]" if isinstance(v, list) else (cell(v, name) or "\u2013")
            for v in value
        )
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, default=_json_default)
    # str.__str__ makes a plain str of any subclass, so a value that claims to be markup
    # (``__html__``) is escaped like any other
    return str.__str__(str(value))


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return stamp(value)
    if isinstance(value, timedelta):
        return span(value)
    return str(value)


def header(name: str) -> str:
    """A column's heading: a metric's label and unit, then the rest (``Estimated loss (%) p90``)."""
    for metric in METRICS:
        if name.startswith(metric + "_"):
            return f"{axis_title(metric)} {name.removeprefix(metric + '_').replace('_', ' ')}"
    if name in METRICS:
        return axis_title(name)
    return name.replace("_", " ")


def is_grade(name: str, dtype: pl.DataType) -> bool:
    if isinstance(dtype, pl.Enum):
        return tuple(dtype.categories.to_list()) == tuple(GRADES)
    return name == "health" and (dtype == pl.String or isinstance(dtype, pl.Categorical))


def table(name: str, frame: pl.DataFrame, caption: str = "") -> dict[str, Any]:
    """A small result frame as header and row strings (escaped later by the template)."""
    columns = frame.columns
    dtypes = [frame.schema[c] for c in columns]
    rows = [
        [cell(value, column) for value, column in zip(row, columns, strict=True)]
        for row in frame.rows()
    ]
    return {
        "name": name,
        "caption": caption,
        "columns": [header(c) for c in columns],
        "numeric": [d.is_numeric() or isinstance(d, pl.Duration) for d in dtypes],
        "grade": [is_grade(c, d) for c, d in zip(columns, dtypes, strict=True)],
        "rows": rows,
    }
