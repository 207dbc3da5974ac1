"""Altair charts of a fleet: status, distributions, adoption, a colo map, timelines and more.

=============================  ================================================================
:func:`status_chart`           devices per status, by colo, platform, version…
:func:`distribution_chart`     a metric's spread (p5, p25, median, p75, p95) by platform…
:func:`adoption_chart`         client versions' share of the reporting devices over time
:func:`colo_map`               colos on a world map, sized by devices and coloured by health
:func:`timeline_chart`         a metric per time bucket, with an incident window shaded
:func:`heatmap_chart`          a metric per colo and time bucket
:func:`top_apps_chart`         the apps that use the most CPU or RAM
:func:`compare_chart`          what moved between two windows, from ``health.compare_windows``
:func:`theme`                  the look every builder applies
:func:`chart_data`             the rows a chart embeds
=============================  ================================================================

Every builder takes device records (a Polars ``DataFrame`` or ``LazyFrame``), aggregates them
with Polars, mostly through :mod:`dexkit.health`, and returns an Altair chart without displaying
it: Jupyter shows it, ``chart.save("fleet.html")`` writes it. A chart embeds its data inline
(never a URL, so that it renders offline) and only the rows it draws: a status chart of 100,000
devices holds one row per colo and status, whatever Altair's data transformer settings are.
Builders raise :class:`dexkit.ConfigError` rather than embed more than :data:`MAX_ROWS` rows.

Text that comes from the records (colo codes, statuses, versions, app names, ISP names) travels
as data values only (rows, and the list of statuses a legend shows): titles, subtitles, field
names and expressions are dexkit's own, so a device or app named ``<script>…`` is shown as
text, never interpreted by Vega. (Where the chart's JSON is pasted into an HTML page, as
``chart.to_html()`` and ``chart.save("x.html")`` do, escaping ``</`` is that page's job.)

Theme and composition
---------------------
Each builder applies :func:`theme` to its own chart (``chart.configure(**theme())``) and
registers no global Altair theme, so the user's other charts are left alone. Vega-Lite only
allows a configuration on the outermost chart: to layer or concatenate dexkit charts, clear
theirs and configure the whole::

    left, right = status_chart(frame), top_apps_chart(frame)
    left.config = right.config = alt.Undefined
    (left | right).configure(**theme())

Times are shown in UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, TypeAlias, TypeVar

import altair as alt
import polars as pl

from dexkit import _checks, _places, health
from dexkit import _presentation as _p
from dexkit._time import TimeLike, polars_every
from dexkit._time import window as _window
from dexkit.errors import ConfigError

__all__ = [
    "MAX_ROWS",
    "METRICS",
    "RENDERINGS",
    "adoption_chart",
    "chart_data",
    "colo_map",
    "compare_chart",
    "distribution_chart",
    "heatmap_chart",
    "render",
    "rendering",
    "status_chart",
    "theme",
    "timeline_chart",
    "top_apps_chart",
    "widget",
]

Frame: TypeAlias = "pl.DataFrame | pl.LazyFrame"
_C = TypeVar("_C", alt.Chart, alt.LayerChart)
#: A point in time: a ``datetime`` (naive means UTC), a ``date`` or an ISO 8601 string.

#: The most rows a chart's data set may hold; a builder that would embed more raises
#: ``ConfigError``.
MAX_ROWS = 10_000

#: Each health metric's label and unit, as axes and legends show them: the metrics of
#: :data:`dexkit.health.METRICS`, in the same order (one vocabulary, in ``dexkit._presentation``).
METRICS: dict[str, tuple[str, str]] = {name: (m.label, m.unit) for name, m in _p.METRICS.items()}
# Counts a timeline can show besides the metrics.
_COUNTS: dict[str, tuple[str, str]] = {name: (m.label, m.unit) for name, m in _p.COUNTS.items()}
_COLORS = _p.PALETTE
_NONE = "(none)"
_TIME = "%Y-%m-%d %H:%M"
# Time axis labels: 24-hour clock, the date at midnight (a fixed expression: no data in it).
_TIME_LABEL = (
    "utcFormat(datum.value, utchours(datum.value) || utcminutes(datum.value) ? '%H:%M' : '%b %d')"
)


def theme() -> dict[str, Any]:
    """Return the Vega-Lite configuration every dexkit chart carries.

    Apply it to a chart of your own, or to a composition of dexkit charts, with
    ``chart.configure(**theme())``. The dict is new on every call.

    Returns
    -------
    dict
        Keyword arguments of :meth:`altair.Chart.configure`.

    Examples
    --------
    >>> from dexkit import charts
    >>> sorted(charts.theme())[:4]
    ['area', 'axis', 'background', 'bar']
    >>> charts.theme()["range"]["category"][0]
    '#f38020'
    """
    return {
        "font": "Inter, 'Segoe UI', Helvetica, Arial, sans-serif",
        "background": "white",
        "padding": 8,
        "view": {"continuousWidth": 560, "continuousHeight": 280, "stroke": None},
        "title": {
            "anchor": "start",
            "color": _COLORS.ink,
            "fontSize": 15,
            "fontWeight": 600,
            "subtitleColor": _COLORS.muted,
            "subtitleFontSize": 12,
            "offset": 10,
        },
        "axis": {
            "labelColor": _COLORS.muted,
            "labelFontSize": 11,
            "titleColor": _COLORS.ink,
            "titleFontSize": 12,
            "titleFontWeight": 500,
            "gridColor": _COLORS.grid,
            "domainColor": _COLORS.axis,
            "tickColor": _COLORS.axis,
        },
        "legend": {
            "labelColor": _COLORS.ink,
            "labelFontSize": 11,
            "titleColor": _COLORS.ink,
            "titleFontSize": 12,
            "titleFontWeight": 500,
        },
        "range": {"category": list(_p.CATEGORY)},
        "area": {"color": _COLORS.accent},
        "bar": {"color": _COLORS.accent},
        "line": {"color": _COLORS.accent, "strokeWidth": 2},
        "point": {"color": _COLORS.accent, "filled": True, "size": 28},
        "rect": {"color": _COLORS.accent},
        "rule": {"color": _COLORS.accent},
        "tick": {"color": _COLORS.accent},
        "circle": {"color": _COLORS.accent},
    }


# --------------------------------------------------------------------------------------------
# Builders


def status_chart(
    frame: Frame, by: str | None = "colo", *, normalize: bool = False, top: int = 25
) -> alt.Chart:
    """Chart devices per status, by colo, platform, client version or another group.

    Each device counts once, by its latest record (:func:`dexkit.health.status_counts`).

    Parameters
    ----------
    frame
        Device records (``DataFrame`` or ``LazyFrame``).
    by
        A column (``"colo"``, ``"platform"``, ``"version"``, ``"mode"``…), ``"isp"``, ``"asn"``,
        ``"country"``, or ``None`` for one bar of the whole fleet.
    normalize
        Show each group's shares (bars of equal length) instead of device counts.
    top
        How many groups to show: those with the most devices (for ``"version"``: the newest).

    Returns
    -------
    altair.Chart
        Horizontal stacked bars, one row of data per group and status.

    Examples
    --------
    >>> import polars as pl
    >>> from dexkit import charts
    >>> frame = pl.DataFrame({
    ...     "device_id": ["a", "b", "c"],
    ...     "timestamp": ["2026-11-18 14:00"] * 3,
    ...     "colo": ["FRA", "FRA", "LHR"],
    ...     "status": ["connected", "disconnected", "connected"],
    ... }).with_columns(pl.col("timestamp").str.to_datetime(time_zone="UTC"))
    >>> spec = charts.status_chart(frame, by="colo").to_dict()
    >>> spec["mark"]["type"], spec["encoding"]["y"]["field"], spec["encoding"]["color"]["field"]
    ('bar', 'group', 'status')
    >>> [(row["group"], row["status"], row["devices"]) for row in charts.chart_data(spec)]
    [('FRA', 'connected', 1), ('FRA', 'disconnected', 1), ('LHR', 'connected', 1)]
    """
    func = "status_chart"
    lf = _checks.lazy(frame, func)
    if _group_name(by, lf, func) == "status":
        by = None  # the statuses are every bar's segments anyway
    what = _group_name(by, lf, func)
    top = _positive(top, "top", func)
    counts = health.status_counts(lf, by=by).collect()
    names = [c for c in counts.columns if c not in ("status", "devices", "share")]
    counts = counts.select(
        _label(names).alias("group"),
        pl.col("status").fill_null(_NONE),
        "devices",
        "share",
    )
    groups = counts.group_by("group").agg(pl.col("devices").sum().alias("group_devices"))
    if by == "version":
        groups = groups.sort(health.version_key("group"), descending=True, nulls_last=True)
    else:
        groups = groups.sort(["group_devices", "group"], descending=[True, False])
    shown = groups.head(top).with_row_index("group_rank").drop("group_devices")
    data = (
        counts.join(shown, on="group", how="inner")
        .with_columns(_status_rank())
        .sort(["group_rank", "status_rank", "status"])
    )
    statuses = _ordered(data, "status", "status_rank")
    subtitle = ["Each device once, by its latest record"]
    if groups.height > shown.height:
        first = "newest first" if by == "version" else "most devices first"
        subtitle.append(f"{shown.height} of {groups.height} {_plural(what)}, {first}")
    share = alt.Tooltip("share:Q", title=f"Share of the {what or 'fleet'}", format=".1%")
    x = (
        alt.X(
            "devices:Q", stack="normalize", title="Share of devices (%)", axis=alt.Axis(format="%")
        )
        if normalize
        else alt.X("devices:Q", stack="zero", title="Devices")
    )
    chart: alt.Chart = (
        alt.Chart(_data(data, func))
        .mark_bar()
        .encode(
            x=x,
            y=alt.Y(
                "group:N",
                sort=alt.EncodingSortField("group_rank", op="min"),
                title=_cap(what) if what else None,
            ),
            color=alt.Color(
                "status:N",
                title="Status",
                scale=alt.Scale(domain=statuses, range=_colors(statuses, _p.STATUS_COLORS)),
                sort=alt.EncodingSortField("status_rank", op="min"),
            ),
            order=alt.Order("status_rank:Q"),
            tooltip=[
                alt.Tooltip("group:N", title=_cap(what) if what else "Group"),
                alt.Tooltip("status:N", title="Status"),
                alt.Tooltip("devices:Q", title="Devices", format=",d"),
                share,
            ],
        )
        .properties(title=_title(f"Device status{_by(what)}", subtitle), width=480)
    )
    chart = _legend_pick(chart, "status")
    return _themed(chart)


def distribution_chart(
    frame: Frame, metric: str = "cpu_pct", by: str | None = "platform", *, top: int = 25
) -> alt.LayerChart:
    """Chart a metric's spread per group as boxes drawn from precomputed quantiles.

    Over each device's latest record (:func:`dexkit.health.summarize`): the box spans p25 to p75,
    the line p5 to p95, the tick marks the median. One row of data per group, whatever the
    number of devices.

    Parameters
    ----------
    frame
        Device records (``DataFrame`` or ``LazyFrame``).
    metric
        One of :data:`METRICS`, for example ``"handshake_latency_ms"``.
    by
        The groups, as in :func:`status_chart`; ``None`` for the whole fleet.
    top
        How many groups to show: those with the most devices.

    Returns
    -------
    altair.LayerChart
        A rule, a bar and a tick layer over one shared data set.

    Examples
    --------
    >>> import polars as pl
    >>> from dexkit import charts
    >>> frame = pl.DataFrame({
    ...     "device_id": ["a", "b", "c"],
    ...     "timestamp": ["2026-11-18 14:00"] * 3,
    ...     "platform": ["mac", "windows", "windows"],
    ...     "status": ["connected"] * 3,
    ...     "cpu_pct": [12.0, 30.0, 50.0],
    ... }).with_columns(pl.col("timestamp").str.to_datetime(time_zone="UTC"))
    >>> spec = charts.distribution_chart(frame, "cpu_pct", by="platform").to_dict()
    >>> [layer["mark"]["type"] for layer in spec["layer"]]
    ['rule', 'bar', 'tick']
    >>> spec["layer"][1]["encoding"]["x"]["title"]
    'CPU (%)'
    >>> [(row["group"], row["p50"]) for row in charts.chart_data(spec)]
    [('windows', 40.0), ('mac', 12.0)]
    """
    func = "distribution_chart"
    lf = _checks.lazy(frame, func)
    what = _group_name(by, lf, func)
    label, unit = _metric(metric, func)
    top = _positive(top, "top", func)
    qs = {_p.quantile_suffix(q): q for q in (0.05, 0.25, 0.5, 0.75, 0.95)}
    summary = health.summarize(lf, by=by, metrics=[metric], quantiles=list(qs.values())).collect()
    names = summary.columns[: summary.columns.index("devices")]
    data = (
        summary.select(
            _label(names).alias("group"),
            "devices",
            *(pl.col(_p.quantile_column(metric, q)).alias(name) for name, q in qs.items()),
        )
        .filter(pl.col("p50").is_not_null())
        .sort(["devices", "group"], descending=[True, False])
    )
    total = data.height
    data = data.head(top)
    title = f"{label} ({unit})"
    tooltip = [
        alt.Tooltip("group:N", title=_cap(what) if what else "Group"),
        alt.Tooltip("devices:Q", title="Devices", format=",d"),
        *(alt.Tooltip(f"{name}:Q", title=f"{name} ({unit})", format=",.1f") for name in qs),
    ]
    y = alt.Y(
        "group:N",
        sort=alt.EncodingSortField("devices", op="max", order="descending"),
        title=_cap(what) if what else None,
    )
    rule = alt.Chart().mark_rule().encode(x=alt.X("p5:Q", title=title), x2="p95:Q")
    box = alt.Chart().mark_bar(size=14).encode(x=alt.X("p25:Q", title=title), x2="p75:Q")
    median = (
        alt.Chart()
        .mark_tick(color=_COLORS.ink, thickness=2, size=14)
        .encode(x=alt.X("p50:Q", title=title))
    )
    subtitle = ["Each device's latest record · box p25–p75, line p5–p95, tick median"]
    if total > data.height:
        subtitle.append(f"{data.height} of {total} {_plural(what)}, most devices first")
    chart = alt.LayerChart(
        layer=[layer.encode(y=y, tooltip=tooltip) for layer in (rule, box, median)],
        data=_data(data, func),
    ).properties(title=_title(f"{label}{_by(what)}", subtitle), width=480)
    return _themed(chart)


def adoption_chart(frame: Frame, every: str | timedelta = "1h", *, top: int = 8) -> alt.Chart:
    """Chart the client versions' share of the reporting devices per time bucket.

    Counts the distinct devices of each version that reported in each bucket
    (:func:`dexkit.health.timeline` by version), so a ``raw`` or ``hourly`` frame shows a
    rollout as it happens. Versions sort numerically (:func:`dexkit.health.version_key`),
    newest on top.

    Parameters
    ----------
    frame
        Device records (``DataFrame`` or ``LazyFrame``).
    every
        Bucket width: a ``timedelta`` or a Polars duration such as ``"15m"``, ``"1h"``, ``"1d"``.
    top
        How many of the newest versions to show apart; older ones share one band,
        ``"older"``.

    Returns
    -------
    altair.Chart
        Stacked rectangles (stacked in Polars), one row of data per bucket and version.

    Examples
    --------
    >>> import polars as pl
    >>> from dexkit import charts
    >>> frame = pl.DataFrame({
    ...     "device_id": ["a", "b", "a", "b"],
    ...     "timestamp": ["2026-11-18 13:10", "2026-11-18 13:20",
    ...                   "2026-11-18 14:10", "2026-11-18 14:20"],
    ...     "status": ["connected"] * 4,
    ...     "version": ["2025.9.558.0", "2025.9.558.0", "2025.10.186.0", "2025.9.558.0"],
    ... }).with_columns(pl.col("timestamp").str.to_datetime(time_zone="UTC"))
    >>> spec = charts.adoption_chart(frame, "1h").to_dict()
    >>> spec["mark"]["type"], spec["encoding"]["y"]["axis"]["format"]
    ('rect', '%')
    >>> [(row["timestamp"], row["version"], row["share"]) for row in charts.chart_data(spec)]
    [('2026-11-18T13:00:00Z', '2025.9.558.0', 1.0),
     ('2026-11-18T14:00:00Z', '2025.10.186.0', 0.5),
     ('2026-11-18T14:00:00Z', '2025.9.558.0', 0.5)]
    """
    func = "adoption_chart"
    lf = _checks.lazy(frame, func)
    top = _positive(top, "top", func)
    timeline = health.timeline(lf, every, by="version", metrics=["cpu_pct"], quantiles=[]).collect()
    versions = (
        timeline.select(pl.col("version").unique())
        .sort(health.version_key("version"), descending=True, nulls_last=True)
        .with_row_index("rank")
    )
    older = versions.height - top
    band = pl.when(pl.col("rank") < top).then(pl.col("version").fill_null(_NONE))
    data = (
        timeline.join(versions, on="version", how="left", nulls_equal=True)
        .with_columns(
            band.otherwise(pl.lit(f"older ({older} version{'' if older == 1 else 's'})")).alias(
                "version"
            ),
            pl.col("rank").clip(upper_bound=top).alias("rank"),
        )
        .group_by("timestamp", "version", "rank")
        .agg(pl.col("devices").sum())
        .sort("timestamp", "rank")
        .with_columns(
            (pl.col("devices") / pl.col("devices").sum().over("timestamp")).alias("share"),
            _end(every),
        )
        .with_columns(pl.col("share").cum_sum().over("timestamp").alias("y1"))
        .with_columns((pl.col("y1") - pl.col("share")).alias("y0"))
        .with_columns(pl.col("y0", "y1").clip(0.0, 1.0))
        .select("timestamp", "end", "version", "rank", "devices", "share", "y0", "y1")
    )
    chart: alt.Chart = (
        alt.Chart(_data(data, func))
        .mark_rect(stroke="white", strokeWidth=0.5)
        .encode(
            x=_time_x(),
            x2="end:T",
            y=alt.Y("y0:Q", title="Share of devices (%)", axis=alt.Axis(format="%")),
            y2="y1:Q",
            color=alt.Color(
                "version:N",
                title="Client version",
                sort=alt.EncodingSortField("rank", op="min"),
            ),
            tooltip=[
                _time_tooltip("timestamp", "Bucket start (UTC)"),
                alt.Tooltip("version:N", title="Client version"),
                alt.Tooltip("devices:Q", title="Devices", format=",d"),
                alt.Tooltip("share:Q", title="Share", format=".1%"),
            ],
        )
        .properties(
            title=_title(
                "Client version adoption",
                f"Distinct devices reporting per {_every(every)} bucket, newest version first",
            ),
            width=560,
        )
    )
    chart = _time_zoom(_legend_pick(chart, "version"))
    return _themed(chart)


def colo_map(frame: Frame, *, colos: pl.DataFrame | None = None) -> alt.LayerChart:
    """Map the colos: a circle per colo, sized by devices and coloured by health grade.

    Per colo over each device's latest record (:func:`dexkit.health.summarize`), placed at the
    colo's coordinates (:func:`dexkit.dataset.colos`) over a world outline shipped with dexkit
    (Natural Earth, public domain), so the map renders offline. Colos without coordinates are
    left out and counted in the subtitle.

    Parameters
    ----------
    frame
        Device records (``DataFrame`` or ``LazyFrame``).
    colos
        The colo table (``iata``, ``latitude``, ``longitude``, optionally ``city`` and
        ``country``); :func:`dexkit.dataset.colos` when ``None``.

    Returns
    -------
    altair.LayerChart
        The countries (TopoJSON, inline) under the colo circles (one row of data per colo), in
        the Equal Earth projection.

    Examples
    --------
    >>> import polars as pl
    >>> from dexkit import charts
    >>> frame = pl.DataFrame({
    ...     "device_id": ["a", "b", "c"],
    ...     "timestamp": ["2026-11-18 14:00"] * 3,
    ...     "colo": ["FRA", "FRA", "SIN"],
    ...     "status": ["connected", "connected", "disconnected"],
    ... }).with_columns(pl.col("timestamp").str.to_datetime(time_zone="UTC"))
    >>> spec = charts.colo_map(frame).to_dict()
    >>> [layer["mark"]["type"] for layer in spec["layer"]], spec["projection"]["type"]
    (['geoshape', 'circle'], 'equalEarth')
    >>> [(r["colo"], r["city"], r["devices"], r["health"]) for r in charts.chart_data(spec, 1)]
    [('FRA', 'Frankfurt', 2, 'ok'), ('SIN', 'Singapore', 1, 'critical')]
    """
    func = "colo_map"
    lf = _checks.lazy(frame, func)
    table = _places.colos() if colos is None else colos
    if not isinstance(table, pl.DataFrame):
        raise ConfigError(
            f"{func}(): colos must be a polars DataFrame, got {_checks.type_name(table)}"
        )
    missing = [c for c in ("iata", "latitude", "longitude") if c not in table.columns]
    if missing:
        raise ConfigError(
            f"{func}(): the colos table lacks the column(s) {', '.join(missing)}; "
            "pass dexkit.dataset.colos() or a frame with iata, latitude and longitude"
        )
    places = table.select(
        pl.col("iata").cast(pl.String).alias("colo"),
        *(
            pl.col(c).cast(pl.String) if c in table.columns else pl.lit(None, pl.String).alias(c)
            for c in ("city", "country")
        ),
        pl.col("latitude", "longitude").cast(pl.Float64),
    ).unique("colo", keep="first", maintain_order=True)
    metrics = ["estimated_loss_pct", "handshake_latency_ms", "cpu_pct"]
    summary = health.summarize(lf, by="colo", metrics=metrics, quantiles=[0.9]).collect()
    joined = summary.join(places, on="colo", how="left")
    data = (
        joined.filter(pl.col("latitude").is_not_null() & pl.col("longitude").is_not_null())
        .select(
            "colo",
            "city",
            "country",
            "latitude",
            "longitude",
            "devices",
            "connected_share",
            *(_p.quantile_column(m, 0.9) for m in metrics),
            "health",
        )
        .sort(["devices", "colo"], descending=[True, False])
    )
    unplaced = joined.height - data.height
    subtitle = ["Circle area: devices · colour: health grade, over each device's latest record"]
    if unplaced:
        subtitle.append(f"{unplaced} colo(s) without coordinates not shown")
    world = (
        alt.Chart(
            alt.InlineData(
                values=_places.world(), format={"type": "topojson", "feature": "countries"}
            )
        )
        .mark_geoshape(fill=_COLORS.land, stroke="white", strokeWidth=0.5)
        .encode(tooltip=[alt.Tooltip("properties.name:N", title="Country")])
    )
    points = (
        alt.Chart(_data(data, func))
        .mark_circle(opacity=0.85, stroke="white", strokeWidth=1)
        .encode(
            longitude="longitude:Q",
            latitude="latitude:Q",
            size=alt.Size("devices:Q", title="Devices", scale=alt.Scale(range=[30, 1200])),
            color=alt.Color(
                "health:N",
                title="Health",
                scale=alt.Scale(
                    domain=list(_p.GRADES),
                    range=[_p.GRADE_COLORS[g] for g in _p.GRADES],
                ),
            ),
            order=alt.Order("devices:Q", sort="descending"),
            tooltip=[
                alt.Tooltip("colo:N", title="Colo"),
                alt.Tooltip("city:N", title="City"),
                alt.Tooltip("country:N", title="Country"),
                alt.Tooltip("devices:Q", title="Devices", format=",d"),
                alt.Tooltip("connected_share:Q", title="Connected", format=".1%"),
                *(
                    alt.Tooltip(
                        f"{_p.quantile_column(m, 0.9)}:Q",
                        title=f"{_p.METRICS[m].label} p90 ({_p.METRICS[m].unit})",
                        format=",.1f",
                    )
                    for m in metrics
                ),
                alt.Tooltip("health:N", title="Health"),
            ],
        )
    )
    points = _legend_pick(points, "health", opacity=0.85)
    chart = (
        alt.LayerChart(layer=[world, points])
        .project(type="equalEarth")
        .properties(title=_title("Devices and health by colo", subtitle), width=760, height=400)
    )
    return _themed(chart)


def timeline_chart(
    frame: Frame,
    metric: str = "handshake_latency_ms",
    *,
    by: str | None = None,
    incident: tuple[TimeLike, TimeLike] | None = None,
    every: str | timedelta = "1h",
    quantile: float = 0.5,
    top: int = 10,
) -> alt.LayerChart:
    """Chart a metric per time bucket, optionally per group, with an incident window shaded.

    Every record counts in its bucket (:func:`dexkit.health.timeline`).

    Parameters
    ----------
    frame
        Device records (``DataFrame`` or ``LazyFrame``), usually ``raw`` or ``hourly``.
    metric
        One of :data:`METRICS`, or a count: ``"devices"`` (distinct devices reporting),
        ``"connected"`` or ``"connected_share"`` (of those reporting, in %).
    by
        A line per group (``"colo"``, ``"platform"``, ``"version"``…); ``None`` for one line.
    incident
        ``(start, end)`` of a window to shade: datetimes (naive means UTC), dates or ISO 8601
        strings.
    every
        Bucket width: a ``timedelta`` or a Polars duration such as ``"10m"``, ``"1h"``.
    quantile
        Which quantile of the metric each bucket shows (0.5: the median). Ignored for counts.
    top
        How many groups to draw: those with the most devices.

    Returns
    -------
    altair.LayerChart
        The incident band (when given, one row of data), then a step line and a rule per
        bucket over one shared data set (one row per bucket and group, with its ``timestamp``
        and ``end``). Each bucket's value is drawn as a rule from the bucket's start to its
        end, so it spans its interval as the incident band does; the step line's risers join
        consecutive buckets and it breaks where buckets are missing (``run``).

    Examples
    --------
    >>> import polars as pl
    >>> from dexkit import charts
    >>> frame = pl.DataFrame({
    ...     "device_id": ["a", "b", "a", "b"],
    ...     "timestamp": ["2026-11-18 12:10", "2026-11-18 12:20",
    ...                   "2026-11-18 13:10", "2026-11-18 13:20"],
    ...     "status": ["connected"] * 4,
    ...     "handshake_latency_ms": [20.0, 30.0, 90.0, 110.0],
    ... }).with_columns(pl.col("timestamp").str.to_datetime(time_zone="UTC"))
    >>> chart = charts.timeline_chart(
    ...     frame, "handshake_latency_ms", incident=("2026-11-18 13:00", "2026-11-18 14:00")
    ... )
    >>> spec = chart.to_dict()
    >>> [layer["mark"]["type"] for layer in spec["layer"]]
    ['rect', 'line', 'rule']
    >>> spec["layer"][2]["encoding"]["y"]["title"]
    'Handshake latency (ms)'
    >>> [(row["timestamp"], row["end"], row["value"]) for row in charts.chart_data(spec, 2)]
    [('2026-11-18T12:00:00Z', '2026-11-18T13:00:00Z', 25.0),
     ('2026-11-18T13:00:00Z', '2026-11-18T14:00:00Z', 100.0)]
    """
    func = "timeline_chart"
    lf = _checks.lazy(frame, func)
    what = _group_name(by, lf, func)
    top = _positive(top, "top", func)
    window = None if incident is None else _window(incident, func)
    if isinstance(metric, str) and metric in _COUNTS:
        label, unit = _COUNTS[metric]
        stat = None
        timeline = health.timeline(lf, every, by, metrics=["cpu_pct"], quantiles=[]).collect()
        value = (
            (100 * pl.col("connected") / pl.col("devices"))
            if metric == "connected_share"
            else pl.col(metric).cast(pl.Float64)
        )
    else:
        label, unit = _metric(metric, func, extra=list(_COUNTS))
        stat = _stat(quantile, func)
        timeline = health.timeline(lf, every, by, metrics=[metric], quantiles=[quantile]).collect()
        value = pl.col(_p.quantile_column(metric, quantile))
    names = timeline.columns[1 : timeline.columns.index("devices")]
    data = timeline.select(
        "timestamp", _end(every), _label(names).alias("group"), value.alias("value"), "devices"
    ).filter(pl.col("value").is_not_null())
    groups = _top_groups(data, top)
    total_groups = data["group"].n_unique()
    # a run: buckets that follow each other without a gap; the step line never bridges a gap
    previous_end = pl.col("end").shift(1).over("group")
    gap = (pl.col("timestamp") != previous_end).fill_null(True).cast(pl.UInt32)
    data = (
        data.join(groups, on="group", how="semi")
        .sort("group", "timestamp")
        .with_columns(gap.cum_sum().over("group").alias("run"))
    )
    axis = f"{label} ({unit})"
    subtitle = [
        (f"{stat} per {_every(every)} bucket" if stat else f"Per {_every(every)} bucket")
        + (f", per {what}" if what else "")
        + ", each drawn across its bucket"
    ]
    if what and total_groups > groups.height:
        subtitle.append(f"{groups.height} of {total_groups} {_plural(what)}, most devices first")
    tooltip = [
        _time_tooltip("timestamp", "Bucket start (UTC)"),
        _time_tooltip("end", "Bucket end (UTC)"),
        *([alt.Tooltip("group:N", title=_cap(what))] if what else []),
        alt.Tooltip("value:Q", title=f"{axis}, {stat.lower()}" if stat else axis, format=",.2f"),
        alt.Tooltip("devices:Q", title="Devices reporting", format=",d"),
    ]
    y = alt.Y("value:Q", title=axis)
    # each bucket's value spans its interval: a horizontal rule from its start to its end,
    # joined to the next bucket of the same run by the risers of a step line
    x = _time_x()
    steps = (
        alt.Chart()
        .mark_line(interpolate="step-after", strokeWidth=1.25)
        .encode(x=x, y=y, detail=alt.Detail("run", type="ordinal"))
    )
    spans = (
        alt.Chart().mark_rule(strokeWidth=2.5).encode(x=x, x2=alt.X2("end"), y=y, tooltip=tooltip)
    )
    if what:
        color = alt.Color(
            "group:N",
            title=_cap(what),
            sort=alt.EncodingSortField("devices", op="sum", order="descending"),
        )
        steps, spans = steps.encode(color=color), spans.encode(color=color)
        steps = _legend_pick(steps, "group")
        spans = spans.encode(
            opacity=alt.OpacityValue(value=0.15, condition={"param": "legend", "value": 1.0})
        )
    steps = _time_zoom(steps)
    layers: list[alt.Chart] = [steps, spans]
    if window is not None:
        start, end = window
        subtitle.append(f"Shaded: incident {start:{_TIME}} to {end:{_TIME}} UTC")
        band = pl.DataFrame(
            {"start": [start], "end": [end]},
            schema={"start": pl.Datetime("us", "UTC"), "end": pl.Datetime("us", "UTC")},
        )
        shade = (
            alt.Chart(_data(band, func))
            .mark_rect(color=_COLORS.bad, opacity=0.12)
            .encode(
                x=_time_x("start"),
                x2="end:T",
                tooltip=[
                    _time_tooltip("start", "Incident start (UTC)"),
                    _time_tooltip("end", "Incident end (UTC)"),
                ],
            )
        )
        layers.insert(0, shade)
    title = f"{label}{_by(what)}" if stat is None else f"{label} over time{_by(what)}"
    chart = alt.LayerChart(layer=layers, data=_data(data, func)).properties(
        title=_title(title, subtitle), width=640
    )
    return _themed(chart)


def heatmap_chart(
    frame: Frame,
    metric: str = "estimated_loss_pct",
    *,
    by: str = "colo",
    every: str | timedelta = "1h",
    quantile: float = 0.5,
    top: int = 30,
) -> alt.Chart:
    """Chart a metric per colo (or other group) and time bucket as a heatmap.

    Every record counts in its bucket (:func:`dexkit.health.timeline`); a cell per group and
    bucket that has data.

    Parameters
    ----------
    frame
        Device records (``DataFrame`` or ``LazyFrame``), usually ``raw`` or ``hourly``.
    metric
        One of :data:`METRICS`. Dark is bad: for ``wifi_strength_dbm`` and ``battery_pct`` the
        colours run the other way.
    by
        The rows: ``"colo"`` or another group, as in :func:`status_chart`.
    every
        Bucket width: a ``timedelta`` or a Polars duration such as ``"1h"``.
    quantile
        Which quantile of the metric each cell shows (0.5: the median).
    top
        How many groups to show: those with the most devices, most first.

    Returns
    -------
    altair.Chart
        Rectangles, one row of data per cell.

    Examples
    --------
    >>> import polars as pl
    >>> from dexkit import charts
    >>> frame = pl.DataFrame({
    ...     "device_id": ["a", "b", "a"],
    ...     "timestamp": ["2026-11-18 13:10", "2026-11-18 13:20", "2026-11-18 14:10"],
    ...     "colo": ["FRA", "LHR", "FRA"],
    ...     "status": ["connected"] * 3,
    ...     "estimated_loss_pct": [0.5, 0.2, 6.0],
    ... }).with_columns(pl.col("timestamp").str.to_datetime(time_zone="UTC"))
    >>> spec = charts.heatmap_chart(frame, "estimated_loss_pct", every="1h").to_dict()
    >>> spec["mark"]["type"], spec["encoding"]["color"]["title"]
    ('rect', 'Estimated loss (%)')
    >>> [(row["group"], row["timestamp"], row["value"]) for row in charts.chart_data(spec)]
    [('FRA', '2026-11-18T13:00:00Z', 0.5),
     ('FRA', '2026-11-18T14:00:00Z', 6.0),
     ('LHR', '2026-11-18T13:00:00Z', 0.2)]
    """
    func = "heatmap_chart"
    lf = _checks.lazy(frame, func)
    what = _group_name(by, lf, func)
    label, unit = _metric(metric, func)
    stat = _stat(quantile, func)
    top = _positive(top, "top", func)
    if not what:
        raise ConfigError(f"{func}(): by must be a column name such as 'colo', got {by!r}")
    timeline = health.timeline(lf, every, by, metrics=[metric], quantiles=[quantile]).collect()
    names = timeline.columns[1 : timeline.columns.index("devices")]
    data = timeline.select(
        "timestamp",
        _end(every),
        _label(names).alias("group"),
        pl.col(_p.quantile_column(metric, quantile)).alias("value"),
        "devices",
    ).filter(pl.col("value").is_not_null())
    groups = _top_groups(data, top)
    total = data.select("group").n_unique()
    data = data.join(groups, on="group", how="inner").sort("group_rank", "timestamp")
    axis = f"{label} ({unit})"
    subtitle = [f"{stat} per {what} and {_every(every)} bucket, every record counted"]
    if total > groups.height:
        subtitle.append(f"{groups.height} of {total} {_plural(what)}, most devices first")
    chart: alt.Chart = (
        alt.Chart(_data(data, func))
        .mark_rect()
        .encode(
            x=_time_x(),
            x2="end:T",
            y=alt.Y(
                "group:N", title=_cap(what), sort=alt.EncodingSortField("group_rank", op="min")
            ),
            color=alt.Color(
                "value:Q",
                title=axis,
                scale=alt.Scale(scheme="orangered", reverse=_p.METRICS[metric].low_is_bad),
            ),
            tooltip=[
                alt.Tooltip("group:N", title=_cap(what)),
                _time_tooltip("timestamp", "Bucket start (UTC)"),
                alt.Tooltip("value:Q", title=f"{axis}, {stat.lower()}", format=",.2f"),
                alt.Tooltip("devices:Q", title="Devices reporting", format=",d"),
            ],
        )
        .properties(title=_title(f"{label} by {what} and time", subtitle), width=640)
    )
    chart = _time_zoom(chart)
    return _themed(chart)


def top_apps_chart(
    frame: Frame,
    metric: health.AppMetric = "cpu_pct",
    n: int = 10,
    *,
    by: health.AppMetric | None = None,
) -> alt.Chart:
    """Chart the apps that use the most CPU or RAM across the fleet.

    From :func:`dexkit.health.top_apps` (each device's latest record). A bar is the app's load
    summed over the fleet divided by the number of devices: what the app costs an average
    device, in percent; the ranking of :func:`~dexkit.health.top_apps`.

    Parameters
    ----------
    frame
        Device records (``DataFrame`` or ``LazyFrame``) with ``cpu_pct_by_app`` or
        ``ram_used_pct_by_app``.
    metric
        ``"cpu_pct"`` (or ``"cpu"``) or ``"ram_used_pct"`` (or ``"ram"``).
    n
        How many apps to show.
    by
        Deprecated spelling of ``metric``; it still works, with a ``DeprecationWarning``.

    Returns
    -------
    altair.Chart
        Horizontal bars, one row of data per app.

    Examples
    --------
    >>> import polars as pl
    >>> from dexkit import charts
    >>> frame = pl.DataFrame({
    ...     "device_id": ["a", "b"],
    ...     "timestamp": ["2026-11-18 14:00"] * 2,
    ...     "cpu_pct_by_app": [
    ...         [{"cpu_pct": 30.0, "name": "zoom"}, {"cpu_pct": 5.0, "name": "slack"}],
    ...         [{"cpu_pct": 10.0, "name": "zoom"}],
    ...     ],
    ... }).with_columns(pl.col("timestamp").str.to_datetime(time_zone="UTC"))
    >>> spec = charts.top_apps_chart(frame, "cpu_pct", n=5).to_dict()
    >>> spec["mark"]["type"], spec["encoding"]["x"]["title"]
    ('bar', 'CPU per device, fleet average (%)')
    >>> [(row["app"], row["fleet_avg"]) for row in charts.chart_data(spec)]
    [('zoom', 20.0), ('slack', 2.5)]
    """
    func = "top_apps_chart"
    lf = _checks.lazy(frame, func)
    chosen = _checks.renamed(func, "by", "metric", by, metric, "cpu_pct")
    if chosen not in health.APP_METRICS:
        raise _checks.unknown(func, "metric", chosen, list(health.APP_METRICS))
    field = health.APP_METRICS[chosen]
    n = _positive(n, "n", func)
    label = "CPU" if field == "cpu_pct" else "RAM"
    apps = health.top_apps(lf, chosen, n=n).collect()
    data = apps.select(
        "app",
        "devices",
        "device_share",
        (pl.col(f"{field}_sum") * pl.col("device_share") / pl.col("devices")).alias("fleet_avg"),
        pl.col(f"{field}_mean").alias("mean"),
        pl.col(_p.quantile_column(field, 0.9)).alias("p90"),
        pl.col(f"{field}_max").alias("max"),
    ).with_row_index("rank")
    chart: alt.Chart = (
        alt.Chart(_data(data, func))
        .mark_bar()
        .encode(
            x=alt.X("fleet_avg:Q", title=f"{label} per device, fleet average (%)"),
            y=alt.Y("app:N", title="App", sort=alt.EncodingSortField("rank", op="min")),
            tooltip=[
                alt.Tooltip("app:N", title="App"),
                alt.Tooltip("fleet_avg:Q", title=f"{label}, fleet average (%)", format=",.2f"),
                alt.Tooltip("devices:Q", title="Devices running it", format=",d"),
                alt.Tooltip("device_share:Q", title="Share of devices", format=".1%"),
                alt.Tooltip("mean:Q", title=f"{label} mean where running (%)", format=",.1f"),
                alt.Tooltip("p90:Q", title=f"{label} p90 where running (%)", format=",.1f"),
                alt.Tooltip("max:Q", title=f"{label} max (%)", format=",.1f"),
            ],
        )
        .properties(
            title=_title(
                f"Top {data.height} apps by {label}",
                "Each device's latest record · the app's load summed over the fleet ÷ devices",
            ),
            width=480,
        )
    )
    return _themed(chart)


def compare_chart(result: Frame, *, n: int = 20) -> alt.Chart:
    """Chart what moved between a baseline and an incident window, largest effect first.

    Takes the result of :func:`dexkit.health.compare_windows` and draws each group and metric's
    effect size (Cohen's d: the change in units of the windows' pooled standard deviation), so
    that metrics in different units compare on one axis; the tooltip gives both windows'
    values in the metric's unit. Rows whose effect is null or infinite are left out.

    Parameters
    ----------
    result
        What :func:`dexkit.health.compare_windows` returned (``DataFrame`` or ``LazyFrame``).
    n
        How many rows to show: the largest ``|effect|``.

    Returns
    -------
    altair.Chart
        Horizontal bars coloured by metric, one row of data per bar.

    Examples
    --------
    >>> import polars as pl
    >>> from dexkit import charts, health
    >>> frame = pl.DataFrame({
    ...     "device_id": ["a", "b", "c", "a", "b", "c"],
    ...     "timestamp": ["2026-11-18 11:00"] * 3 + ["2026-11-18 14:00"] * 3,
    ...     "colo": ["FRA"] * 6,
    ...     "estimated_loss_pct": [0.5, 1.0, 1.5, 4.0, 5.0, 6.0],
    ... }).with_columns(pl.col("timestamp").str.to_datetime(time_zone="UTC"))
    >>> result = health.compare_windows(
    ...     frame,
    ...     baseline=("2026-11-18 11:00", "2026-11-18 12:00"),
    ...     incident=("2026-11-18 14:00", "2026-11-18 15:00"),
    ...     metrics=["estimated_loss_pct"],
    ... )
    >>> spec = charts.compare_chart(result).to_dict()
    >>> spec["mark"]["type"], spec["encoding"]["x"]["title"]
    ('bar', "Effect size (Cohen's d)")
    >>> [(row["label"], row["baseline"], row["incident"]) for row in charts.chart_data(spec)]
    [('FRA · Estimated loss', 1.0, 5.0)]
    """
    func = "compare_chart"
    lf = _checks.lazy(result, func)
    n = _positive(n, "n", func)
    frame = lf.collect()
    needed = ["metric", "baseline_n", "incident_n", "baseline", "incident", "change", "effect"]
    lacking = [c for c in needed if c not in frame.columns]
    if lacking:
        raise ConfigError(
            f"{func}() takes the result of dexkit.health.compare_windows(); this frame lacks "
            f"the column(s) {', '.join(lacking)}"
        )
    names = frame.columns[: frame.columns.index("metric")]
    labels = pl.DataFrame(
        {
            "metric": list(METRICS),
            "metric_label": [label for label, _ in METRICS.values()],
            "unit": [unit for _, unit in METRICS.values()],
        }
    )
    rel = pl.col("rel_change") if "rel_change" in frame.columns else pl.lit(None, pl.Float64)
    data = (
        frame.with_columns(
            pl.col("metric").cast(pl.String),
            pl.col("effect").cast(pl.Float64),
            rel.cast(pl.Float64).alias("rel_change"),
        )
        .filter(pl.col("effect").is_finite())
        .join(labels, on="metric", how="left")
        .with_columns(
            pl.col("metric_label").fill_null(pl.col("metric")).fill_null(_NONE),
            pl.col("unit").fill_null(""),
        )
        .with_columns(
            (
                pl.concat_str(_label(names), pl.lit(" · "), pl.col("metric_label"))
                if names
                else pl.col("metric_label")
            ).alias("label"),
            (_label(names) if names else pl.lit("All devices")).alias("group"),
        )
        .sort(pl.col("effect").abs(), descending=True, maintain_order=True)
        .head(n)
        .with_row_index("rank")
        .select(
            "rank",
            "label",
            "group",
            "metric_label",
            "unit",
            "baseline",
            "incident",
            "change",
            "rel_change",
            "effect",
            "baseline_n",
            "incident_n",
        )
    )
    chart: alt.Chart = (
        alt.Chart(_data(data, func))
        .mark_bar()
        .encode(
            x=alt.X("effect:Q", title="Effect size (Cohen's d)"),
            y=alt.Y("label:N", title=None, sort=alt.EncodingSortField("rank", op="min")),
            color=alt.Color("metric_label:N", title="Metric"),
            tooltip=[
                alt.Tooltip("group:N", title="Group"),
                alt.Tooltip("metric_label:N", title="Metric"),
                alt.Tooltip("unit:N", title="Unit"),
                alt.Tooltip("baseline:Q", title="Baseline", format=",.2f"),
                alt.Tooltip("incident:Q", title="Incident", format=",.2f"),
                alt.Tooltip("change:Q", title="Change", format="+,.2f"),
                alt.Tooltip("rel_change:Q", title="Relative change", format="+.0%"),
                alt.Tooltip("effect:Q", title="Effect size (d)", format="+.2f"),
                alt.Tooltip("baseline_n:Q", title="Baseline observations", format=",d"),
                alt.Tooltip("incident_n:Q", title="Incident observations", format=",d"),
            ],
        )
        .properties(
            title=_title(
                "What moved: baseline vs incident",
                "Cohen's d per group and metric; |d| of 0.2, 0.5 and 0.8 are small, medium, large",
            ),
            width=480,
        )
    )
    chart = _legend_pick(chart, "metric_label")
    return _themed(chart)


def chart_data(
    chart: alt.TopLevelMixin | dict[str, Any], layer: int | None = None
) -> list[dict[str, Any]]:
    """Return the rows a chart embeds: its top-level data, or one layer's own data.

    Parameters
    ----------
    chart
        A chart or its specification (``chart.to_dict()``).
    layer
        The index of a layer: its own data, or the chart's when the layer has none (Altair
        moves data that all layers share to the top). ``None`` for the top-level data.

    Returns
    -------
    list of dict
        The inline rows as Vega-Lite receives them; an empty list when there is no data.

    Examples
    --------
    >>> import polars as pl
    >>> from dexkit import charts
    >>> frame = pl.DataFrame({
    ...     "device_id": ["a"], "timestamp": ["2026-11-18 14:00"], "status": ["connected"],
    ... }).with_columns(pl.col("timestamp").str.to_datetime(time_zone="UTC"))
    >>> charts.chart_data(charts.status_chart(frame, by=None))  # doctest: +NORMALIZE_WHITESPACE
    [{'group': 'All devices', 'status': 'connected', 'devices': 1, 'share': 1.0,
      'group_rank': 0, 'status_rank': 0}]
    """
    spec = chart if isinstance(chart, dict) else chart.to_dict()
    node = spec if layer is None else spec["layer"][layer]
    data = node.get("data", spec.get("data"))
    if data is None:
        return []
    if "values" in data:
        values: list[dict[str, Any]] = data["values"]
        return values
    named: list[dict[str, Any]] = spec.get("datasets", {})[data["name"]]
    return named


# --------------------------------------------------------------------------------------------
# Plumbing


#: The ways :func:`render` can draw charts.
RENDERINGS: tuple[str, ...] = ("auto", "interactive", "static")
_rendering: list[str] = []


def render(mode: str = "auto") -> str:
    """Choose how notebooks draw charts: live and interactive, or static SVG.

    Both work with no internet: nothing is fetched from a CDN.

    - ``"interactive"``: each chart is an Altair ``JupyterChart`` widget whose JavaScript (Vega,
      Vega-Lite, vega-embed) is bundled from the installed ``vl-convert-python`` and sent to the
      page through the kernel. Tooltips, pan/zoom of time axes (drag, wheel, double-click to
      reset) and clickable legends (shift-click adds) work, and the explorer's views are linked
      (:func:`dexkit.explore`). Needs a live kernel and a front end with widgets (JupyterLab,
      Notebook 7, VS Code); the first call takes a few seconds to build the bundle.
    - ``"static"``: each chart is an SVG drawn in the kernel by ``vl-convert``: what a notebook
      executed by papermill, ``nbconvert --execute`` or nbval stores, and what an exported
      notebook shows. Tooltips and zoom are lost.
    - ``"auto"``: interactive in a kernel that a Jupyter server started for a notebook (it sets
      ``JPY_SESSION_NAME``), static otherwise (papermill, nbconvert, nbval, scripts).

    This sets Altair's active renderer for the whole kernel (every Altair chart, not only
    dexkit's), like ``alt.renderers.enable``.

    Parameters
    ----------
    mode
        One of :data:`RENDERINGS`.

    Returns
    -------
    str
        What was chosen: ``"interactive"`` or ``"static"``.

    Raises
    ------
    ConfigError
        An unknown mode, or ``"interactive"`` without ``anywidget`` installed.

    Examples
    --------
    >>> from dexkit import charts
    >>> charts.render("static")
    'static'
    >>> charts.rendering()
    'static'
    """
    import os

    if mode not in RENDERINGS:
        raise ConfigError(f"render(): mode must be one of {', '.join(RENDERINGS)}; got {mode!r}")
    if mode == "auto":
        mode = "interactive" if os.environ.get("JPY_SESSION_NAME") else "static"
    if mode == "interactive":
        try:
            import anywidget  # noqa: F401
        except ImportError as exc:  # pragma: no cover - anywidget is a dependency of dexkit
            raise ConfigError(
                "render('interactive') needs the anywidget package; pip install anywidget"
            ) from exc
        alt.JupyterChart.enable_offline()
        alt.renderers.enable("jupyter", offline=True, embed_options={"renderer": "svg"})
    else:
        alt.renderers.enable("svg")
    _rendering[:] = [mode]
    return mode


def rendering() -> str:
    """Return what :func:`render` chose last: ``"interactive"``, or ``"static"`` (the default).

    Examples
    --------
    >>> from dexkit import charts
    >>> charts.rendering() in ("interactive", "static")
    True
    """
    return _rendering[0] if _rendering else "static"


def widget(chart: alt.TopLevelMixin | None, **options: Any) -> alt.JupyterChart:
    """Return ``chart`` as an interactive widget with offline JavaScript (see :func:`render`).

    Its ``selections`` hold what the user brushed or clicked, and can be observed from Python.
    ``options`` go to ``alt.JupyterChart`` (``debounce_wait``, ``max_wait``…). Drawn as SVG,
    without the actions menu.

    Examples
    --------
    >>> import altair as alt
    >>> from dexkit import charts
    >>> brush = alt.selection_interval(name="brush", encodings=["x"])
    >>> w = charts.widget(alt.Chart().mark_point().add_params(brush))
    >>> w.selections.brush.value
    {}
    """
    alt.JupyterChart.enable_offline()
    options.setdefault("embed_options", {"renderer": "svg", "actions": False})
    return alt.JupyterChart(chart, **options)  # type: ignore[arg-type]


def _themed(chart: _C) -> _C:
    themed: _C = chart.configure(**theme())
    return themed


def _positive(value: int, name: str, func: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{func}(): {name} must be a positive integer, got {value!r}")
    return value


def _metric(name: str, func: str, extra: Sequence[str] = ()) -> tuple[str, str]:
    if name in METRICS:
        return METRICS[name]
    raise _checks.unknown(func, "metric", name, [*METRICS, *extra])


def _stat(quantile: float, func: str) -> str:
    if isinstance(quantile, bool) or not isinstance(quantile, int | float):
        raise ConfigError(f"{func}(): quantile must be a number between 0 and 1, got {quantile!r}")
    if not 0.0 <= quantile <= 1.0:
        raise ConfigError(f"{func}(): quantile must lie between 0 and 1, got {quantile!r}")
    return "Median" if quantile == 0.5 else _p.quantile_suffix(quantile)


def _label(names: Sequence[str]) -> pl.Expr:
    """One text label for a group's columns (``"AS3320 Deutsche Telekom"`` for an ISP)."""
    if not names:
        return pl.lit("All devices")
    if list(names) in (["isp_asn", "isp_name"], ["isp_asn"]):
        asn = pl.concat_str(pl.lit("AS"), pl.col("isp_asn").cast(pl.String))
        parts = [asn, *(pl.col(n) for n in names[1:])]
    else:
        parts = [pl.col(name).cast(pl.String) for name in names]
    label = pl.concat_str(parts, separator=" ", ignore_nulls=True)
    return pl.when(label == "").then(None).otherwise(label).fill_null(_NONE)


def _group_name(by: str | None, lf: pl.LazyFrame | None = None, func: str = "") -> str:
    """How a group is named in titles; with ``lf``, an unknown group is an error naming
    ``func`` and the closest columns."""
    if by is None:
        return ""
    if not isinstance(by, str):
        raise ConfigError(f"by must be a column name such as 'colo', or None; got {by!r}")
    if lf is not None:
        schema = lf.collect_schema()
        if by not in schema and by not in health.DERIVED_GROUPS:
            raise _checks.unknown(
                func,
                "group",
                by,
                [*schema, *health.DERIVED_GROUPS],
                hint=f"the frame has no column {by!r}; group by a column name, 'isp', 'asn' or "
                "'country'",
            )
    return _p.GROUPS.get(by, by.replace("_", " "))


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _plural(what: str) -> str:
    if what.endswith("y") and not what.endswith("ey"):
        return what[:-1] + "ies"
    return what + "s"


def _by(what: str) -> str:
    return f" by {what}" if what else ""


def _every(every: str | timedelta) -> str:
    return polars_every(every, "every", calendar=True)


def _end(every: str | timedelta) -> pl.Expr:
    start = pl.col("timestamp")
    end = start.dt.offset_by(_every(every))
    return end.alias("end")


def _status_rank() -> pl.Expr:
    ranks = {status: i for i, status in enumerate(_p.STATUS_COLORS)}
    return (
        pl.col("status")
        .replace_strict(ranks, default=len(ranks), return_dtype=pl.UInt32)
        .alias("status_rank")
    )


def _ordered(data: pl.DataFrame, column: str, rank: str) -> list[str]:
    return data.select(column, rank).unique().sort(rank, column)[column].to_list()


def _colors(domain: Sequence[str], known: dict[str, str]) -> list[str]:
    others = [c for c in _p.CATEGORY if c not in known.values()]
    out: list[str] = []
    for value in domain:
        if value in known:
            out.append(known[value])
        else:
            out.append(others[len(out) % len(others)])
    return out


def _top_groups(data: pl.DataFrame, top: int) -> pl.DataFrame:
    """The ``top`` groups with the most device-reports over the buckets, with their rank."""
    return (
        data.group_by("group")
        .agg(pl.col("devices").sum().alias("group_devices"))
        .sort(["group_devices", "group"], descending=[True, False])
        .head(top)
        .with_row_index("group_rank")
        .select("group", "group_rank")
    )


def _time_x(field: str = "timestamp") -> alt.X:
    return alt.X(
        f"{field}:T",
        title="Time (UTC)",
        scale=alt.Scale(type="utc"),
        axis=alt.Axis(labelExpr=_TIME_LABEL),
    )


def _time_zoom(chart: alt.Chart) -> alt.Chart:
    """Pan (drag) and zoom (wheel) the time axis; double-click resets. Static SVG ignores it."""
    zoom = alt.selection_interval(name="zoom", bind="scales", encodings=["x"])
    return chart.add_params(zoom)


def _legend_pick(chart: alt.Chart, field: str, *, opacity: float = 1.0) -> alt.Chart:
    """Click a legend entry to bring its marks forward (shift-click adds, double-click clears)."""
    pick = alt.selection_point(name="legend", fields=[field], bind="legend")
    faded = alt.OpacityValue(value=0.15, condition={"param": "legend", "value": opacity})
    return chart.add_params(pick).encode(opacity=faded)


def _time_tooltip(field: str, title: str) -> alt.Tooltip:
    return alt.Tooltip(f"{field}:T", title=title, format=_TIME, formatType="utc")


def _title(text: str, subtitle: str | Sequence[str] | None = None) -> alt.TitleParams:
    if subtitle is None:
        return alt.TitleParams(text)
    return alt.TitleParams(text, subtitle=subtitle if isinstance(subtitle, str) else list(subtitle))


def _values(frame: pl.DataFrame, func: str) -> list[dict[str, Any]]:
    """The rows as JSON-ready dicts: UTC ISO 8601 times, plain strings, no NaN or infinity."""
    if frame.height > MAX_ROWS:
        raise ConfigError(
            f"{func}() would embed {frame.height:,} rows in the chart (at most {MAX_ROWS:,}): "
            "use wider time buckets (every=), fewer groups (top=) or a shorter window"
        )
    exprs: list[pl.Expr] = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        if isinstance(dtype, pl.Datetime):
            column = (
                column.dt.replace_time_zone("UTC")
                if dtype.time_zone is None
                else column.dt.convert_time_zone("UTC")
            ).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        elif isinstance(dtype, pl.Enum | pl.Categorical):
            column = column.cast(pl.String)
        elif dtype.is_float():
            column = pl.when(column.is_finite()).then(column)
        exprs.append(column.alias(name))
    return frame.select(exprs).to_dicts()


def _data(frame: pl.DataFrame, func: str) -> alt.InlineData:
    return alt.InlineData(values=_values(frame, func))
