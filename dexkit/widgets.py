"""Explore a fleet in a notebook: filters driving a summary table, charts and a device picker.

:func:`explore` returns an :class:`Explorer`. The explorer is plain Python: its state is a
:class:`Filters` value plus the chosen group, metric and device, and its methods return Polars
frames and Altair charts (from :mod:`dexkit.charts`), so that tests drive it without a browser.
Jupyter displays it as an ipywidgets UI (:meth:`Explorer.widget`) whose controls only call
:meth:`Explorer.filter` and friends and redraw. This is dexkit's only ipywidgets importer, and it
imports ipywidgets only when the UI is built.

Charts are drawn in the kernel as SVG with ``vl-convert`` (bundled Vega, no network), because
JupyterLab 4's built-in Vega renderer knows Vega-Lite 5 only and Altair 6's default HTML
renderer loads Vega from a CDN. Without ``vl-convert`` the UI falls back to Altair's active
renderer. Text from the records (device names, colos, versions…) reaches the page escaped.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

from dexkit import _checks, health
from dexkit import _presentation as _p
from dexkit.errors import ConfigError

if TYPE_CHECKING:
    import altair as alt

__all__ = ["FILTERS", "Explorer", "Filters", "explore"]

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
        self.every = every
        self._every = _duration(every)
        self.group = _check(group, GROUPS, "group")
        self.metric = _check(metric, tuple(health.METRICS), "metric")
        self.filters = Filters()
        self.device: str | None = None
        self.options: dict[str, list[str]] = {}
        for name in FILTERS:
            values = self.frame.get_column(name).drop_nulls().unique()
            key = health.version_key("v") if name == "version" else pl.col("v")
            self.options[name] = (
                values.to_frame("v").sort(key, "v", nulls_last=True).get_column("v").to_list()
            )
        #: The starts of the time buckets, the steps of the time range.
        self.buckets: list[datetime] = (
            self.frame.select(pl.col("timestamp").dt.truncate(every).unique().sort().drop_nulls())
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

    def filtered(self) -> pl.DataFrame:
        """Return the records that pass the filters (the explorer's columns only)."""
        result: pl.DataFrame = self._cached(
            ("filtered", self.filters), lambda: self.frame.filter(self.filters.expr())
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
        """Return devices per status by the chosen group, over the filtered records."""
        from dexkit import charts

        chart: alt.Chart = self._cached(
            ("status", self.filters, self.group),
            lambda: charts.status_chart(self.filtered(), by=self.group, top=15),
        )
        return chart

    def timeline_chart(self) -> alt.LayerChart:
        """Return the chosen metric's median per time bucket over the filtered records."""
        from dexkit import charts

        chart: alt.LayerChart = self._cached(
            ("timeline", self.filters, self.metric),
            lambda: charts.timeline_chart(self.filtered(), self.metric, every=self.every),
        )
        return chart

    def device_records(self) -> pl.DataFrame:
        """Return the picked device's records in the time range (empty when none is picked)."""
        if self.device is None:
            return self.frame.clear()
        time_only = Filters(start=self.filters.start, end=self.filters.end)
        return self.frame.filter(time_only.expr() & (pl.col("device_id") == self.device))

    def device_chart(self) -> alt.LayerChart | None:
        """Return the picked device's timeline of the chosen metric, or ``None``."""
        from dexkit import charts

        if self.device is None:
            return None
        chart: alt.LayerChart = self._cached(
            ("device", self.filters.start, self.filters.end, self.device, self.metric),
            lambda: charts.timeline_chart(self.device_records(), self.metric, every=self.every),
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
    units = {"m": 60, "h": 3600, "d": 86400}
    if not isinstance(every, str) or len(every) < 2 or every[-1] not in units:
        raise ConfigError(f"explore(): every must be minutes, hours or days, got {every!r}")
    try:
        count = int(every[:-1])
    except ValueError as exc:
        raise ConfigError(f"explore(): every must look like '10m' or '1h', got {every!r}") from exc
    if count < 1:
        raise ConfigError(f"explore(): every must be positive, got {every!r}")
    return timedelta(seconds=count * units[every[-1]])


def _svg(chart: alt.TopLevelMixin) -> str | None:
    """The chart as SVG drawn in the kernel (no network), or None without vl-convert."""
    try:
        import vl_convert
    except ImportError:  # pragma: no cover - vl-convert is installed with dexkit
        return None
    svg: str = vl_convert.vegalite_to_svg(chart.to_dict())
    return svg


class _UI:
    """The ipywidgets view of an :class:`Explorer`; every control calls the explorer."""

    def __init__(self, explorer: Explorer) -> None:
        import ipywidgets as w

        self.explorer = ex = explorer
        self.w = w
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
        self.device = w.Dropdown(options=[("(pick a device)", "")], description="Device")
        self.device.add_class("dexkit-device")
        self.device.layout.width = "520px"
        self.device.observe(self._on_device, names="value")
        self.headline = w.HTML()
        self.headline.add_class("dexkit-headline")
        self.table = w.HTML()
        self.table.add_class("dexkit-summary")
        self.status = self._chart_box("dexkit-status-chart")
        self.timeline = self._chart_box("dexkit-timeline-chart")
        self.device_view = self._chart_box("dexkit-device-chart")
        top = [c for c in (self.range, self.group, self.metric, self.reset) if c is not None]
        self.root = w.VBox(
            [
                w.HBox(top, layout=w.Layout(flex_flow="row wrap")),
                w.HBox(list(self.selects.values()), layout=w.Layout(flex_flow="row wrap")),
                self.headline,
                self.table,
                w.HBox([self.status, self.timeline], layout=w.Layout(flex_flow="row wrap")),
                self.device,
                self.device_view,
            ]
        )
        self.root.add_class("dexkit-explorer")
        self._busy = False
        self.redraw()

    def _chart_box(self, css: str) -> Any:
        box = self.w.HTML() if _svg_available() else self.w.Output()
        box.add_class(css)
        return box

    def _draw(self, box: Any, chart: alt.TopLevelMixin | None) -> None:
        if isinstance(box, self.w.HTML):
            box.value = "" if chart is None else (_svg(chart) or "")
            return
        box.clear_output(wait=True)
        if chart is not None:
            box.append_display_data(chart)

    def redraw(self, *, charts: Iterable[str] = ("table", "status", "timeline", "device")) -> None:
        ex = self.explorer
        todo = set(charts)
        self.headline.value = f"<b>{html.escape(ex.headline())}</b>"
        if "table" in todo:
            self.table.value = ex.table_html()
        if "status" in todo:
            self._draw(self.status, ex.status_chart())
        if "timeline" in todo:
            self._draw(self.timeline, ex.timeline_chart())
        if "device" in todo:
            self._busy = True
            try:
                picks = ex.devices()
                options = [
                    ("(pick a device)", ""),
                    *zip(picks["label"], picks["device_id"], strict=True),
                ]
                self.device.options = options
                self.device.value = ex.device or ""
            finally:
                self._busy = False
            self._draw(self.device_view, ex.device_chart())

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
        self.redraw(charts=("timeline", "device"))

    def _on_device(self, change: Any) -> None:
        if self._busy:
            return
        self.explorer.show(device=change["new"] or "")
        self._draw(self.device_view, self.explorer.device_chart())

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
