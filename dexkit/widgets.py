"""Explore a fleet in a notebook: filters driving a summary table, charts and a device picker.

:func:`explore` returns an :class:`Explorer`. The explorer is plain Python: its state is a
:class:`Filters` value plus the chosen group, metric and device, and its methods return Polars
frames and Altair charts (from :mod:`dexkit.charts`), so that tests drive it without a browser.
Jupyter displays it as an ipywidgets UI (:meth:`Explorer.widget`) whose controls only call
:meth:`Explorer.filter` and friends and redraw. This is dexkit's only ipywidgets importer, and it
imports ipywidgets only when the UI is built.

How the charts are drawn follows :func:`dexkit.charts.render`. Interactive: each chart is an
Altair ``JupyterChart`` widget (Vega bundled from ``vl-convert``, no network) and the views are
linked: brushing the timeline sets the time range, clicking a bar picks its colo (platform,
version…; shift-click adds), clicking a status in the legend picks that status, clicking a device
draws its own timeline; each selection comes back to Python through :meth:`Explorer.select`,
which the table, headline and the other charts follow. A chart does not filter itself by its own
selection, it highlights it, so that a second pick stays in reach. Static: the charts are SVG
drawn in the kernel by ``vl-convert`` and the controls above them filter. Text from the records
(device names, colos, versions…) reaches the page escaped (as Vega data values, or escaped HTML).
"""

from __future__ import annotations

import bisect
import html
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

import polars as pl

from dexkit import _checks, health
from dexkit import _presentation as _p
from dexkit._time import duration, polars_every
from dexkit.errors import ConfigError

if TYPE_CHECKING:
    import altair as alt

__all__ = ["FILTERS", "Explorer", "Filters", "Window", "explore"]

#: The columns the explorer filters on, in the order the UI shows them.
FILTERS: tuple[str, ...] = ("colo", "platform", "status", "version", "connection_type")
_LABELS = {
    "colo": "Colo",
    "platform": "Platform",
    "status": "Status",
    "version": "Version",
    "connection_type": "Connection",
}
#: The groups the summary table and status chart can break the fleet down by.
GROUPS: tuple[str, ...] = ("colo", "platform", "version", "connection_type", "mode")
_TABLE_METRICS = ("estimated_loss_pct", "handshake_latency_ms", "cpu_pct")
_KEEP = (
    "device_id",
    "timestamp",
    "device_name",
    "mode",
    *FILTERS,
    *health.METRICS,
)
_MAX_DEVICES = 200
_DEVICE_BARS = 15


class Window(NamedTuple):
    """A time window, ``start <= t < end`` in UTC: what the explorer's brush selects.

    A ``(start, end)`` pair, so that :func:`dexkit.compare_windows` and
    :func:`dexkit.write_report` take it as their ``incident`` or ``baseline`` directly.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> from dexkit.widgets import Window
    >>> w = Window(datetime(2026, 11, 18, 13, tzinfo=UTC), datetime(2026, 11, 18, 15, tzinfo=UTC))
    >>> w.end - w.start
    datetime.timedelta(seconds=7200)
    """

    start: datetime
    end: datetime


@dataclass(frozen=True)
class Filters:
    """What the explorer shows: a time range and allowed values per column.

    An empty tuple allows every value (nulls included); ``start``/``end`` of ``None`` leave the
    range open. ``start <= timestamp < end``, in UTC.

    Examples
    --------
    >>> from dexkit.widgets import Filters
    >>> Filters(colo=("FRA",)).active()
    {'colo': ('FRA',)}
    """

    start: datetime | None = None
    end: datetime | None = None
    colo: tuple[str, ...] = ()
    platform: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    version: tuple[str, ...] = ()
    connection_type: tuple[str, ...] = ()

    def active(self) -> dict[str, Any]:
        """Return the filters that restrict something, by name."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value not in (None, ()):
                out[f.name] = value
        return out

    def expr(self) -> pl.Expr:
        """Return the Polars predicate of these filters."""
        predicate = pl.lit(True)
        if self.start is not None:
            predicate &= pl.col("timestamp") >= self.start
        if self.end is not None:
            predicate &= pl.col("timestamp") < self.end
        for name in FILTERS:
            values: tuple[str, ...] = getattr(self, name)
            if values:
                predicate &= pl.col(name).is_in(list(values))
        return predicate


def _utc(value: datetime | str | None, what: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ConfigError(f"explore(): {what} {value!r} is not an ISO 8601 time") from exc
    if not isinstance(value, datetime):
        raise ConfigError(f"explore(): {what} must be a datetime or ISO string, got {value!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Explorer:
    """Filters over device records, with the table and charts they drive.

    Parameters
    ----------
    frame
        Device records (``DataFrame`` or ``LazyFrame``) as :func:`dexkit.read_pages` returns.
    every
        Time bucket of the timelines and step of the time range (a Polars duration).
    group
        What the summary table and the status chart break the fleet down by (:data:`GROUPS`).
    metric
        The metric of the timelines (one of :data:`dexkit.health.METRICS`).

    Examples
    --------
    >>> import polars as pl
    >>> from dexkit.widgets import Explorer
    >>> frame = pl.DataFrame({
    ...     "device_id": ["a", "b", "c"],
    ...     "timestamp": ["2026-11-18 14:00"] * 3,
    ...     "colo": ["FRA", "FRA", "LHR"],
    ...     "status": ["connected", "disconnected", "connected"],
    ... }).with_columns(pl.col("timestamp").str.to_datetime(time_zone="UTC"))
    >>> ex = Explorer(frame).filter(colo=["FRA"])
    >>> ex.filtered()["device_id"].to_list()
    ['a', 'b']
    >>> ex.table()["devices"].to_list()
    [2]
    """

    def __init__(
        self,
        frame: pl.DataFrame | pl.LazyFrame,
        *,
        every: str = "1h",
        group: str = "colo",
        metric: str = "handshake_latency_ms",
    ) -> None:
        if not isinstance(frame, pl.DataFrame):
            frame = _checks.lazy(frame, "explore").collect()
        lacking = [c for c in ("device_id", "timestamp", "status") if c not in frame.columns]
        if lacking:
            raise ConfigError(f"explore(): the frame lacks the column(s) {', '.join(lacking)}")
        ts = frame.schema["timestamp"]
        if not isinstance(ts, pl.Datetime):
            raise ConfigError("explore(): timestamp must be a Datetime column")
        stamp = pl.col("timestamp")
        stamp = (
            stamp.dt.replace_time_zone("UTC")
            if ts.time_zone is None
            else stamp.dt.convert_time_zone("UTC")
        )
        # Only the columns the explorer uses: filtering 100,000 rows copies less.
        present = [c for c in _KEEP if c in frame.columns]
        extra = [pl.lit(None, pl.String).alias(c) for c in (*FILTERS, "mode") if c not in present]
        self.frame: pl.DataFrame = frame.select(present).with_columns(stamp, *extra)
        self._every = _duration(every)
        self.every = polars_every(self._every, "explore(): every")
        self.group = _check(group, GROUPS, "group")
        self.metric = _check(metric, tuple(health.METRICS), "metric")
        self.filters = Filters()
        self.device: str | None = None
        #: The incident window, set by :meth:`use_as_incident` (the "use as incident" button).
        self.incident: Window | None = None
        self.options: dict[str, list[str]] = {}
        for name in FILTERS:
            values = self.frame.get_column(name).drop_nulls().unique()
            key = health.version_key("v") if name == "version" else pl.col("v")
            self.options[name] = (
                values.to_frame("v").sort(key, "v", nulls_last=True).get_column("v").to_list()
            )
        #: The starts of the time buckets, the steps of the time range.
        self.buckets: list[datetime] = (
            self.frame.select(
                pl.col("timestamp").dt.truncate(self.every).unique().sort().drop_nulls()
            )
            .get_column("timestamp")
            .to_list()
        )
        self._cache: dict[tuple[Any, ...], Any] = {}
        self._ui: _UI | None = None

    # ---------------------------------------------------------------------------------------
    # State

    def filter(self, **changes: Any) -> Explorer:
        """Change some filters (the others stay); return the explorer, for chaining.

        Parameters
        ----------
        **changes
            ``start``, ``end`` (datetimes or ISO strings, ``None`` for open) and, for each of
            :data:`FILTERS`, the allowed values (a string, a list, or ``None``/``[]`` for all).

        Raises
        ------
        ConfigError
            An unknown filter, or a value the records never hold.
        """
        values: dict[str, Any] = {}
        for name, value in changes.items():
            if name in ("start", "end"):
                values[name] = _utc(value, name)
            elif name in FILTERS:
                chosen = (value,) if isinstance(value, str) else tuple(value or ())
                for v in chosen:
                    if v not in self.options[name]:
                        raise _checks.unknown("explore", name, v, self.options[name])
                values[name] = chosen
            else:
                raise _checks.unknown("explore", "filter", name, ["start", "end", *FILTERS])
        self.filters = replace(self.filters, **values)
        if self.device is not None and self.device not in self.filtered()["device_id"]:
            self.device = None
        return self

    def reset(self) -> Explorer:
        """Clear every filter and the picked device."""
        self.filters = Filters()
        self.device = None
        return self

    @property
    def window(self) -> Window | None:
        """The time range of the filters (brushed on the timeline, or set by the slider), or
        ``None`` when it is open at both ends; an open end is the records' first or last time."""
        start, end = self.filters.start, self.filters.end
        if start is None and end is None:
            return None
        first = self.buckets[0] if self.buckets else None
        last = self.buckets[-1] + self._every if self.buckets else None
        start = start or first or end
        end = end or last or start
        if start is None or end is None:  # pragma: no cover - one of them is set
            return None
        return Window(start, end)

    def use_as_incident(self) -> Window:
        """Make the current time range the incident window (:attr:`incident`) and return it.

        The device timelines shade it; pass it on as ``incident=`` to
        :func:`dexkit.compare_windows` or :func:`dexkit.write_report`.

        Raises
        ------
        ConfigError
            When no time range is chosen (brush the timeline first).
        """
        window = self.window
        if window is None or not window.start < window.end:
            raise ConfigError(
                "explore(): no time range to use as the incident; brush the timeline "
                "(or filter(start=..., end=...)) first"
            )
        self.incident = window
        return window

    def select(self, selection: str, value: Any) -> bool:
        """Apply a selection made on a chart: what the linked views send from the page.

        Parameters
        ----------
        selection
            ``"brush"`` (the timeline's time range: ``{"timestamp": [start, end]}`` with epoch
            milliseconds or ISO strings, ``{}`` for none), ``"pick"`` (bars of the status chart:
            ``[{"group": value}, …]`` of the current group), ``"legend"`` (statuses:
            ``[{"status": value}, …]``) or ``"device"`` (``[{"device_id": id}]``).
        value
            The selection's value as Vega-Lite gives it; empty clears.

        Returns
        -------
        bool
            Whether anything changed.

        Raises
        ------
        ConfigError
            An unknown selection, or a value the records never hold.

        Examples
        --------
        >>> import polars as pl
        >>> from dexkit.widgets import Explorer
        >>> frame = pl.DataFrame({
        ...     "device_id": ["a", "b", "c"],
        ...     "timestamp": ["2026-11-18 13:00", "2026-11-18 14:00", "2026-11-18 15:00"],
        ...     "colo": ["FRA", "FRA", "LHR"],
        ...     "status": ["connected", "disconnected", "connected"],
        ... }).with_columns(pl.col("timestamp").str.to_datetime(time_zone="UTC"))
        >>> ex = Explorer(frame)
        >>> ex.select("brush", {"timestamp": ["2026-11-18T13:30:00Z", "2026-11-18T15:30:00Z"]})
        True
        >>> ex.select("pick", [{"group": "FRA"}])
        True
        >>> ex.filtered()["device_id"].to_list()
        ['b']
        >>> ex.window.start.hour, ex.use_as_incident().end.hour
        (13, 15)
        """
        before = (self.filters, self.device)
        if selection == "brush":
            span = _span(value)
            self.filter(start=span[0], end=span[1]) if span else self.filter(start=None, end=None)
        elif selection == "pick":
            if self.group in FILTERS:
                self.filter(**{self.group: _picked(value, "group", self.options[self.group])})
        elif selection == "legend":
            self.filter(status=_picked(value, "status", self.options["status"]))
        elif selection == "device":
            ids = _picked(value, "device_id", None)
            self.show(device=ids[-1] if ids else "")
        else:
            raise ConfigError(
                f"explore(): unknown selection {selection!r}; use brush, pick, legend or device"
            )
        return (self.filters, self.device) != before

    def show(
        self, *, group: str | None = None, metric: str | None = None, device: str | None = None
    ) -> Explorer:
        """Choose the table's group, the timelines' metric or the device whose timeline to show.

        ``device`` is a ``device_id`` (``""`` clears it).
        """
        if group is not None:
            self.group = _check(group, GROUPS, "group")
        if metric is not None:
            self.metric = _check(metric, tuple(health.METRICS), "metric")
        if device is not None:
            if device and device not in self.frame.get_column("device_id"):
                raise ConfigError(f"explore(): no device has the id {device!r}")
            self.device = device or None
        return self

    # ---------------------------------------------------------------------------------------
    # Results

    def _cached(self, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
        if key not in self._cache:
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = make()
        return self._cache[key]

    def _chart(self, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
        """A cached chart, built without Altair checking each piece against the Vega-Lite
        schema as it is made (most of the time of a redraw): dexkit's builders make valid
        charts (tests check their whole specs), and the first draw of each view checks it."""

        def unchecked() -> Any:
            from altair.utils.schemapi import debug_mode

            with debug_mode(False):
                return make()

        return self._cached(key, unchecked)

    def filtered(self) -> pl.DataFrame:
        """Return the records that pass the filters (the explorer's columns only)."""
        result: pl.DataFrame = self._cached(
            ("filtered", self.filters), lambda: self.frame.filter(self.filters.expr())
        )
        return result

    def _filtered_except(self, *names: str) -> pl.DataFrame:
        """The records that pass every filter but ``names``: what a chart that selects those
        draws (it shows its own selection highlighted, not filtered away)."""
        cleared: dict[str, Any] = {n: (None if n in ("start", "end") else ()) for n in names}
        rest = replace(self.filters, **cleared)
        result: pl.DataFrame = self._cached(
            ("filtered", rest), lambda: self.frame.filter(rest.expr())
        )
        return result

    def table(self) -> pl.DataFrame:
        """Return the summary table: per group, devices, connected share, p90s and health.

        Each device counts once, by its latest record in the filtered records; worst first.
        """

        def make() -> pl.DataFrame:
            summary = health.summarize(
                self.filtered(), by=self.group, metrics=_TABLE_METRICS, quantiles=[0.9]
            )
            return summary.select(
                pl.col(self.group).cast(pl.String),
                "devices",
                "connected_share",
                *(_p.quantile_column(m, 0.9) for m in _TABLE_METRICS),
                "health",
            ).sort(
                ["health", "devices", self.group],
                descending=[True, True, False],
                nulls_last=True,
            )

        result: pl.DataFrame = self._cached(("table", self.filters, self.group), make)
        return result

    def devices(self) -> pl.DataFrame:
        """Return the devices in the filtered records, worst first (at most 200).

        Columns ``device_id``, ``device_name`` and ``label`` (what the picker shows), by each
        device's latest record: disconnected before connected, then highest loss and latency.
        """

        def make() -> pl.DataFrame:
            latest = health.latest(self.filtered())
            short = pl.col("device_id").str.slice(0, 8)
            return (
                latest.with_columns(
                    (pl.col("status") != "connected").fill_null(True).alias("_down"),
                    health.metric("estimated_loss_pct").alias("_loss"),
                    health.metric("handshake_latency_ms").alias("_lat"),
                )
                .sort(
                    ["_down", "_loss", "_lat", "device_id"],
                    descending=[True, True, True, False],
                    nulls_last=True,
                )
                .head(_MAX_DEVICES)
                .select(
                    "device_id",
                    "device_name",
                    pl.concat_str(
                        pl.col("device_name").fill_null("(unnamed)"),
                        pl.lit(" · "),
                        short,
                        pl.lit(" · "),
                        pl.col("colo").fill_null("?"),
                        pl.lit(" · "),
                        pl.col("status").fill_null("?"),
                    ).alias("label"),
                )
            )

        result: pl.DataFrame = self._cached(("devices", self.filters), make)
        return result

    def status_chart(self) -> alt.Chart:
        """Return devices per status by the chosen group, over the filtered records.

        The filters on the group's own column and on status do not apply here: the chosen
        values are highlighted (selection ``pick`` on the bars, ``legend`` on the statuses).
        """
        from dexkit import charts

        def make() -> alt.Chart:
            import altair as alt

            own = ("status", self.group) if self.group in FILTERS else ("status",)
            chart = charts.status_chart(self._filtered_except(*own), by=self.group, top=15)
            picked: tuple[str, ...] = getattr(self.filters, self.group, ())
            statuses = self.filters.status
            pick = alt.selection_point(
                name="pick",
                fields=["group"],
                value=[{"group": v} for v in picked] or alt.Undefined,
            )
            legend = alt.selection_point(
                name="legend",
                fields=["status"],
                bind="legend",
                value=[{"status": v} for v in statuses] or alt.Undefined,
            )
            chart.params = alt.Undefined
            both = {"and": [{"param": "pick"}, {"param": "legend"}]}
            faded = alt.OpacityValue(value=0.2, condition={"test": both, "value": 1.0})
            return chart.add_params(pick, legend).encode(opacity=faded)

        chart: alt.Chart = self._chart(("status", self.filters, self.group), make)
        return chart

    def timeline_chart(self) -> alt.LayerChart:
        """Return the chosen metric's median per time bucket over the filtered records.

        The time range does not apply here: it is drawn as the brush (selection ``brush``)
        over the whole time axis; the incident, once set, is shaded.
        """
        from dexkit import charts

        def make() -> alt.LayerChart:
            import altair as alt

            chart = charts.timeline_chart(
                self._filtered_except("start", "end"),
                self.metric,
                every=self.every,
                incident=self.incident,
            )
            window = self.window
            value: Any = alt.Undefined
            if window is not None:
                value = {"x": [_epoch_ms(window.start), _epoch_ms(window.end)]}
            lines: Any = chart.layer[-1]  # the brush replaces the lines' pan/zoom
            if not isinstance(lines.name, str):
                lines.name = "lines"
            brush = alt.TopLevelSelectionParameter(
                name="brush",
                select=alt.IntervalSelectionConfig(type="interval", encodings=["x"]),
                value=value,
                views=[lines.name],
            )
            chart.params = [brush]
            return chart

        chart: alt.LayerChart = self._chart(
            ("timeline", self.filters, self.metric, self.incident), make
        )
        return chart

    def devices_chart(self) -> alt.Chart:
        """Return the worst devices (by :meth:`devices`) as bars of their median of the chosen
        metric in the filtered records; clicking one (selection ``device``) draws its own
        timeline."""
        from dexkit import charts

        def make() -> alt.Chart:
            import altair as alt

            worst = self.devices().head(_DEVICE_BARS).with_row_index("rank")
            medians = (
                self.filtered()
                .join(worst.select("device_id"), on="device_id", how="semi")
                .group_by("device_id")
                .agg(health.metric(self.metric).median().alias("value"))
            )
            data = worst.join(medians, on="device_id", how="left").sort("rank")
            label = _metric_label(self.metric)
            device = alt.selection_point(
                name="device",
                fields=["device_id"],
                value=[{"device_id": self.device}] if self.device else alt.Undefined,
                empty=False,
            )
            chart = (
                alt.Chart(alt.InlineData(values=data.to_dicts()))
                .mark_bar()
                .encode(
                    x=alt.X("value:Q", title=f"{label}, median in the range"),
                    y=alt.Y("label:N", title=None, sort=alt.EncodingSortField("rank", op="min")),
                    color=alt.ColorValue(
                        value="#9ca3af",
                        condition={"param": "device", "empty": False, "value": "#f38020"},
                    ),
                    tooltip=[
                        alt.Tooltip("device_name:N", title="Device"),
                        alt.Tooltip("device_id:N", title="Device ID"),
                        alt.Tooltip("value:Q", title=label, format=",.2f"),
                    ],
                )
                .add_params(device)
                .properties(
                    title=alt.TitleParams(
                        "Worst devices", subtitle="Click one to draw its own timeline"
                    ),
                    width=480,
                )
                .configure(**charts.theme())
            )
            result: alt.Chart = chart
            return result

        chart: alt.Chart = self._chart(
            ("devices_chart", self.filters, self.metric, self.device), make
        )
        return chart

    def device_records(self) -> pl.DataFrame:
        """Return the picked device's records in the time range (empty when none is picked)."""
        if self.device is None:
            return self.frame.clear()
        time_only = Filters(start=self.filters.start, end=self.filters.end)
        return self.frame.filter(time_only.expr() & (pl.col("device_id") == self.device))

    def device_chart(self) -> alt.LayerChart | None:
        """Return the picked device's timeline of the chosen metric, or ``None``.

        Over the time range; once an incident is set (:meth:`use_as_incident`), over all the
        device's records with the incident shaded, so that it stands against the hours around.
        """
        from dexkit import charts

        if self.device is None:
            return None
        incident = self.incident
        span = (None, None) if incident else (self.filters.start, self.filters.end)

        def make() -> alt.LayerChart:
            records = self.frame.filter(
                Filters(start=span[0], end=span[1]).expr() & (pl.col("device_id") == self.device)
            )
            return charts.timeline_chart(records, self.metric, every=self.every, incident=incident)

        chart: alt.LayerChart = self._chart(
            ("device", *span, self.device, self.metric, incident), make
        )
        return chart

    def headline(self) -> str:
        """Return one line on what passes the filters (plain text)."""
        frame = self.filtered()
        devices = frame.get_column("device_id").n_unique()
        text = f"{frame.height:,} of {self.frame.height:,} records, {devices:,} devices"
        first, last = frame.get_column("timestamp").min(), frame.get_column("timestamp").max()
        if isinstance(first, datetime) and isinstance(last, datetime):
            text += f", {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC"
        return text

    def table_html(self) -> str:
        """Return the summary table as HTML (:class:`dexkit.display.Table`), every value
        escaped."""
        from dexkit.display import Table

        return Table(self.table(), max_rows=500).to_html()

    # ---------------------------------------------------------------------------------------
    # Display

    def widget(self) -> Any:
        """Return the ipywidgets UI (built once; imports ipywidgets)."""
        if self._ui is None:
            self._ui = _UI(self)
        return self._ui.root

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget()._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        return f"<Explorer: {self.headline()}>"


def explore(frame: pl.DataFrame | pl.LazyFrame, **options: Any) -> Explorer:
    """Explore device records: filters, a summary table, charts and a device picker.

    In a notebook, end a cell with ``dexkit.explore(frame)`` to get the UI; in code, drive the
    returned :class:`Explorer` with :meth:`~Explorer.filter` and read its results.

    Parameters
    ----------
    frame
        Device records (``DataFrame`` or ``LazyFrame``).
    **options
        ``every``, ``group``, ``metric``: see :class:`Explorer`.

    Returns
    -------
    Explorer

    Examples
    --------
    >>> import polars as pl
    >>> import dexkit.widgets
    >>> frame = pl.DataFrame({
    ...     "device_id": ["a", "b"],
    ...     "timestamp": ["2026-11-18 14:00", "2026-11-18 15:00"],
    ...     "platform": ["mac", "windows"],
    ...     "status": ["connected", "paused"],
    ... }).with_columns(pl.col("timestamp").str.to_datetime(time_zone="UTC"))
    >>> ex = dexkit.widgets.explore(frame).filter(platform="windows")
    >>> ex.headline()
    '1 of 2 records, 1 devices, 2026-11-18 15:00 to 2026-11-18 15:00 UTC'
    """
    return Explorer(frame, **options)


# --------------------------------------------------------------------------------------------
# Plumbing


def _check(value: str, allowed: Sequence[str], what: str) -> str:
    if value not in allowed:
        raise _checks.unknown("explore", what, value, allowed)
    return value


def _duration(every: str) -> timedelta:
    return duration(every, "explore(): every")


def _epoch_ms(value: datetime) -> float:
    return value.timestamp() * 1000


def _instant(value: Any) -> datetime:
    """A time from the page: epoch milliseconds (Vega's numbers) or an ISO string (its Dates)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)
    stamp = _utc(value, "the brushed time") if isinstance(value, str | datetime) else None
    if stamp is None:
        raise ConfigError(f"explore(): the brushed time {value!r} is not a time")
    return stamp


def _span(value: Any) -> tuple[datetime, datetime] | None:
    """The (start, end) of an interval selection's value, ``None`` when it is empty."""
    if not value:
        return None
    if not isinstance(value, dict) or len(value) != 1:
        raise ConfigError(f"explore(): a brush selects one time range, got {value!r}")
    (pair,) = value.values()
    if not isinstance(pair, list | tuple) or len(pair) != 2:
        raise ConfigError(f"explore(): a brush selects a (start, end) pair, got {pair!r}")
    # to the nearest minute: a brush drawn by hand is no finer than that
    first, last = sorted(_minute(_instant(v)) for v in pair)
    return (first, last) if first < last else None


def _minute(value: datetime) -> datetime:
    return (value + timedelta(seconds=30)).replace(second=0, microsecond=0)


def _picked(value: Any, field: str, known: Sequence[str] | None) -> list[str]:
    """The values of ``field`` in a point selection's value (``[{field: v}, …]``), keeping only
    those the records hold (``None``: any), in order and once each."""
    if not value:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError(f"explore(): a click selects [{{{field!r}: value}}, …], got {value!r}")
    out: list[str] = []
    for entry in value:
        v = entry.get(field)
        if isinstance(v, str) and v not in out and (known is None or v in known):
            out.append(v)
    return out


def _metric_label(metric: str) -> str:
    from dexkit import charts

    label, unit = charts.METRICS[metric]
    return f"{label} ({unit})"


def _svg(chart: alt.TopLevelMixin, *, validate: bool = True) -> str | None:
    """The chart as SVG drawn in the kernel (no network), or None without vl-convert."""
    try:
        import vl_convert
    except ImportError:  # pragma: no cover - vl-convert is installed with dexkit
        return None
    svg: str = vl_convert.vegalite_to_svg(chart.to_dict(validate=validate))
    return svg


class _UI:
    """The ipywidgets view of an :class:`Explorer`; every control calls the explorer.

    Interactive (:func:`dexkit.charts.render`): the charts are ``JupyterChart`` widgets whose
    selections call :meth:`Explorer.select`; static: SVG drawn in the kernel.
    """

    _CHARTS = ("table", "status", "timeline", "devices", "device")

    def __init__(self, explorer: Explorer) -> None:
        import ipywidgets as w

        from dexkit import charts

        self.explorer = ex = explorer
        self.w = w
        self.interactive = charts.rendering() == "interactive"
        self.selects: dict[str, Any] = {}
        for name in FILTERS:
            select = w.SelectMultiple(
                options=ex.options[name],
                rows=min(6, max(2, len(ex.options[name]))),
                description=_LABELS[name],
                layout=w.Layout(width="240px"),
                style={"description_width": "88px"},  # room for "Connection"
            )
            select.add_class(f"dexkit-filter-{name}")
            select.observe(self._on_filter, names="value")
            self.selects[name] = select
        one_day = len({f"{b:%Y-%m-%d}" for b in ex.buckets}) <= 1
        labels = [f"{b:%H:%M}" if one_day else f"{b:%m-%d %H:%M}" for b in ex.buckets]
        labels = labels or ["(no time)"]
        self.range: Any = None
        if len(ex.buckets) > 1:
            self.range = w.SelectionRangeSlider(
                options=list(zip(labels, range(len(labels)), strict=True)),
                index=(0, len(labels) - 1),
                description="Time (UTC)",
                continuous_update=False,
                readout=True,
                style={"description_width": "initial"},
                layout=w.Layout(width="760px"),
            )
            self.range.add_class("dexkit-filter-time")
            self.range.observe(self._on_filter, names="value")
        self.group = w.Dropdown(options=list(GROUPS), value=ex.group, description="Table by")
        self.group.add_class("dexkit-group")
        self.group.observe(self._on_group, names="value")
        self.metric = w.Dropdown(
            options=list(health.METRICS), value=ex.metric, description="Metric"
        )
        self.metric.add_class("dexkit-metric")
        self.metric.observe(self._on_metric, names="value")
        self.reset = w.Button(description="Reset filters")
        self.reset.on_click(self._on_reset)
        self.incident = w.Button(
            description="Use as incident",
            tooltip="Make the brushed time range the incident window (explorer.incident)",
        )
        self.incident.add_class("dexkit-use-incident")
        self.incident.on_click(self._on_incident)
        self.incident_note = w.HTML()
        self.incident_note.add_class("dexkit-incident")
        self.device = w.Dropdown(options=[("(pick a device)", "")], description="Device")
        self.device.add_class("dexkit-device")
        self.device.layout.width = "520px"
        self.device.observe(self._on_device, names="value")
        self.headline = w.HTML()
        self.headline.add_class("dexkit-headline")
        self.table = w.HTML()
        self.table.add_class("dexkit-summary")
        self._shown: dict[int, Any] = {}  # id(box) → the chart it shows (interactive)
        self._checked: set[int] = set()  # id(box) of the views whose first SVG was checked
        self.boxes: dict[str, Any] = {
            "status": self._chart_box("dexkit-status-chart"),
            "timeline": self._chart_box("dexkit-timeline-chart"),
            "device": self._chart_box("dexkit-device-chart"),
        }
        if self.interactive:
            self.boxes["devices"] = self._chart_box("dexkit-devices-chart")
        self.status, self.timeline = self.boxes["status"], self.boxes["timeline"]
        self.device_view = self.boxes["device"]
        top = [c for c in (self.range, self.group, self.metric, self.reset) if c is not None]
        self.root = w.VBox(
            [
                w.HBox(top, layout=w.Layout(flex_flow="row wrap")),
                w.HBox(list(self.selects.values()), layout=w.Layout(flex_flow="row wrap")),
                self.headline,
                w.HBox([self.incident, self.incident_note]),
                self.table,
                w.HBox([self.status, self.timeline], layout=w.Layout(flex_flow="row wrap")),
                *([self.boxes["devices"]] if "devices" in self.boxes else []),
                self.device,
                self.device_view,
            ]
        )
        self.root.add_class("dexkit-explorer")
        self._busy = False
        self.redraw()

    def _chart_box(self, css: str) -> Any:
        if self.interactive:
            from dexkit import charts

            # Selections reach the kernel once the pointer rests (not on every mouse move).
            box = charts.widget(None, debounce_wait=120, max_wait=False)
            box.layout = self.w.Layout(min_height="60px")
        else:
            box = self.w.HTML() if _svg_available() else self.w.Output()
        box.add_class(css)
        return box

    def _draw(self, box: Any, chart: alt.TopLevelMixin | None) -> None:
        if self.interactive:
            if self._shown.get(id(box)) is chart:
                return
            self._shown[id(box)] = chart
            if box.chart is None or chart is None:
                box.chart = chart  # sets up its selections: a new Selections object to observe
                box.selections.observe(self._on_selection)
            else:
                # The same selections on new data: hand over the spec, skipping Altair's schema
                # validation of it (the builders' charts are valid; it costs more than the rest).
                box.spec = chart.to_dict(validate=False)
            return
        if isinstance(box, self.w.HTML):
            # the first chart of each view is checked against the schema, later ones are not
            first = chart is not None and id(box) not in self._checked
            if first:
                self._checked.add(id(box))
            box.value = "" if chart is None else (_svg(chart, validate=first) or "")
            return
        box.clear_output(wait=True)
        if chart is not None:
            box.append_display_data(chart)

    def redraw(self, *, charts: Iterable[str] = _CHARTS, skip: Iterable[str] = ()) -> None:
        ex = self.explorer
        todo = set(charts) - set(skip)
        self.headline.value = f"<b>{html.escape(ex.headline())}</b>"
        if "table" in todo:
            self.table.value = ex.table_html()
        if "status" in todo:
            self._draw(self.boxes["status"], ex.status_chart())
        if "timeline" in todo:
            self._draw(self.boxes["timeline"], ex.timeline_chart())
        if "devices" in todo and "devices" in self.boxes:
            self._draw(self.boxes["devices"], ex.devices_chart())
        if "device" in todo:
            self._sync_picker()
            self._draw(self.boxes["device"], ex.device_chart())

    def _sync_picker(self) -> None:
        ex = self.explorer
        self._busy = True
        try:
            picks = ex.devices()
            options = [
                ("(pick a device)", ""),
                *zip(picks["label"], picks["device_id"], strict=True),
            ]
            if ex.device is not None and ex.device not in picks["device_id"]:
                options.append((ex.device, ex.device))
            self.device.options = options
            self.device.value = ex.device or ""
        finally:
            self._busy = False

    def _sync_controls(self) -> None:
        """Show the explorer's filters in the controls (after a selection on a chart)."""
        ex = self.explorer
        self._busy = True
        try:
            for name, select in self.selects.items():
                select.value = tuple(getattr(ex.filters, name))
            if self.range is not None:
                last = len(ex.buckets) - 1
                window = ex.window
                if window is None:
                    self.range.index = (0, last)
                else:
                    first = max(0, bisect.bisect_right(ex.buckets, window.start) - 1)
                    end = max(first, bisect.bisect_left(ex.buckets, window.end) - 1)
                    self.range.index = (first, min(end, last))
        finally:
            self._busy = False

    def _on_selection(self, change: Any) -> None:
        if self._busy:
            return
        name, value = change["name"], getattr(change["new"], "value", None)
        source = {"brush": "timeline", "pick": "status", "legend": "status"}.get(name, "devices")
        try:
            changed = self.explorer.select(name, value)
        except ConfigError as exc:
            self.incident_note.value = f"<i>{html.escape(str(exc))}</i>"
            return
        if not changed:
            return
        self._sync_controls()
        if name == "device":
            self._sync_picker()
            self._draw(self.boxes["device"], self.explorer.device_chart())
        else:
            self.redraw(skip=(source,))

    def _on_filter(self, change: Any) -> None:
        if self._busy:
            return
        ex = self.explorer
        values: dict[str, Any] = {n: list(s.value) for n, s in self.selects.items()}
        if self.range is not None:
            first, last = self.range.value
            values["start"] = ex.buckets[first]
            values["end"] = ex.buckets[last] + ex._every
        ex.filter(**values)
        self.redraw()

    def _on_group(self, change: Any) -> None:
        self.explorer.show(group=change["new"])
        self.redraw(charts=("table", "status"))

    def _on_metric(self, change: Any) -> None:
        self.explorer.show(metric=change["new"])
        self.redraw(charts=("timeline", "devices", "device"))

    def _on_device(self, change: Any) -> None:
        if self._busy:
            return
        self.explorer.show(device=change["new"] or "")
        self.redraw(charts=("devices", "device"))

    def _on_incident(self, button: Any) -> None:
        ex = self.explorer
        try:
            start, end = ex.use_as_incident()
        except ConfigError as exc:
            self.incident_note.value = f"<i>{html.escape(str(exc))}</i>"
            return
        self.incident_note.value = html.escape(
            f"Incident: {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC (explorer.incident)"
        )
        self.redraw(charts=("timeline", "device"))

    def _on_reset(self, button: Any) -> None:
        self._busy = True
        try:
            for select in self.selects.values():
                select.value = ()
            if self.range is not None:
                self.range.index = (0, len(self.explorer.buckets) - 1)
        finally:
            self._busy = False
        self.explorer.reset()
        self.redraw()


def _svg_available() -> bool:
    try:
        import vl_convert  # noqa: F401
    except ImportError:  # pragma: no cover
        return False
    return True
