"""Readable tables of result frames for notebooks: :func:`show` and :class:`Table`.

Every function of :mod:`dexkit.health` returns a plain Polars frame (the frame is the contract:
filter it, join it, save it). ``dexkit.show(frame)`` wraps one for reading. Metric columns get
their names and units (``Estimated loss (%) p90``), shares become percentages, numbers are
right-aligned with thousands separators, the ``health`` grade is coloured, timestamps read as
``2026-11-18 13:00 UTC``, and only the first ``max_rows`` rows are drawn (the footer says how
many there are).

The HTML uses inline styles only: no script, no stylesheet, nothing fetched. It therefore
renders in JupyterLab, in a notebook exported with nbconvert and offline, and in a notebook
opened untrusted (whose sanitizer keeps the layout and colours; only tabular digits are lost).
Strings from the data (device, ISP, SSID and app names are chosen by whoever names a laptop or a
network) are escaped by Jinja2's autoescaping.

Examples
--------
>>> import polars as pl
>>> import dexkit
>>> summary = pl.DataFrame({
...     "colo": ["FRA", "LHR"], "devices": [1200, 800], "connected_share": [0.62, 0.97],
...     "estimated_loss_pct_p90": [6.4, 0.3],
... }).with_columns(health=pl.Series(["critical", "ok"], dtype=pl.Enum(dexkit.health.GRADES)))
>>> table = dexkit.show(summary, "Health by colo")
>>> table.frame is summary
True
>>> html = table._repr_html_()
>>> "Estimated loss (%) p90" in html and "62.0%" in html and "1,200" in html
True
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import polars as pl

from dexkit import _checks
from dexkit._presentation import GRADE_STYLE, METRICS, axis_title, table
from dexkit.errors import ConfigError

if TYPE_CHECKING:
    import jinja2

__all__ = ["Table", "show"]

#: Column labels of the metrics, with units (from the one vocabulary of dexkit's presentation).
METRIC_LABELS: dict[str, str] = {name: axis_title(name) for name in METRICS}

_TEMPLATE = """\
<div class="dexkit-table" style="overflow-x:auto;max-width:100%;margin:4px 0 8px">
<table style="border-collapse:collapse;font-size:12px;line-height:1.4;\
font-variant-numeric:tabular-nums">
{% if title %}<caption style="caption-side:top;text-align:left;font-weight:600;font-size:14px;\
padding:2px 0 6px">{{ title }}</caption>{% endif %}
<thead><tr>
{% for col in t.columns %}<th style="padding:4px 8px;border-bottom:2px solid #9ca3af;\
background:#f3f4f6;vertical-align:bottom;text-align:{{ 'right' if t.numeric[loop.index0] \
else 'left' }}">{{ col }}</th>{% endfor %}
</tr></thead>
<tbody>
{% for row in t.rows %}<tr>
{% for cell in row %}{% set i = loop.index0 %}<td style="padding:3px 8px;\
border-bottom:1px solid #e5e7eb;vertical-align:top;text-align:{{ 'right' if t.numeric[i] \
else 'left' }}">{% if t.grade[i] and cell in grade_style %}<span style="{{ grade_style[cell] }};\
border-radius:3px;padding:1px 6px;font-weight:600">{{ cell }}</span>{% else %}{{ cell }}\
{% endif %}</td>{% endfor %}
</tr>
{% else %}<tr><td colspan="{{ t.columns|length or 1 }}" style="padding:3px 8px">no rows</td></tr>
{% endfor %}
</tbody>
</table>
<div style="color:#4b5563;font-size:11px;padding-top:4px">{{ footer }}</div>
{% if caption %}<div style="color:#4b5563;font-size:12px;padding-top:2px">{{ caption }}</div>\
{% endif %}
</div>"""


@dataclass(frozen=True, repr=False, eq=False)
class Table:
    """A result frame with a readable HTML view (what Jupyter shows for it).

    Build one with :func:`show`. The frame itself is untouched and stays available as
    :attr:`frame`.

    Attributes
    ----------
    frame
        The data.
    title
        Shown above the table, or ``None``.
    caption
        A note shown below the table, or ``None``.
    max_rows
        How many rows the HTML view draws (the footer tells how many there are).

    Examples
    --------
    >>> import polars as pl
    >>> from dexkit.display import Table
    >>> table = Table(pl.DataFrame({"colo": ["FRA"], "devices": [3]}), "Devices")
    >>> table
    Devices
    shape: (1, 2)
    ┌──────┬─────────┐
    │ colo ┆ devices │
    │ ---  ┆ ---     │
    │ str  ┆ i64     │
    ╞══════╪═════════╡
    │ FRA  ┆ 3       │
    └──────┴─────────┘
    """

    frame: pl.DataFrame
    title: str | None = None
    caption: str | None = None
    max_rows: int = 40

    def __post_init__(self) -> None:
        if not isinstance(self.frame, pl.DataFrame):
            raise ConfigError(
                f"Table takes a polars DataFrame, got {_checks.type_name(self.frame)} "
                "(dexkit.show() collects a LazyFrame for you)"
            )
        if isinstance(self.max_rows, bool) or not isinstance(self.max_rows, int):
            raise ConfigError(f"max_rows must be a positive integer, got {self.max_rows!r}")
        if self.max_rows < 1:
            raise ConfigError(f"max_rows must be a positive integer, got {self.max_rows!r}")

    def __repr__(self) -> str:
        text = repr(self.frame)
        return f"{self.title}\n{text}" if self.title else text

    def to_html(self) -> str:
        """The HTML fragment (a ``<div>`` around a ``<table>``; inline styles only)."""
        height, width = self.frame.shape
        shown = min(height, self.max_rows)
        rows = f"{height:,} row{'s' if height != 1 else ''}"
        if shown < height:
            rows = f"first {shown:,} of {rows}"
        footer = f"{rows} · {width} column{'s' if width != 1 else ''}"
        return _template().render(
            t=table("", self.frame.head(shown)),
            title=None if self.title is None else str.__str__(self.title),
            caption=None if self.caption is None else str.__str__(self.caption),
            footer=footer,
            grade_style=GRADE_STYLE,
        )

    def _repr_html_(self) -> str:
        return self.to_html()


def show(
    frame: pl.DataFrame | pl.LazyFrame,
    title: str | None = None,
    *,
    caption: str | None = None,
    max_rows: int = 40,
) -> Table:
    """Wrap a result frame for reading in a notebook.

    Parameters
    ----------
    frame
        Any frame, usually one of :mod:`dexkit.health` (``summarize``, ``compare_windows``,
        ``unhealthy``…). A ``LazyFrame`` is collected.
    title
        Shown above the table.
    caption
        A note shown below the table.
    max_rows
        Rows drawn in HTML (default 40).

    Returns
    -------
    Table
        Jupyter displays it as a styled table; ``.frame`` is the data.

    Examples
    --------
    >>> import polars as pl
    >>> import dexkit
    >>> frame = pl.DataFrame({
    ...     "device_id": ["a", "b", "c"],
    ...     "timestamp": ["2026-03-01 10:00"] * 3,
    ...     "platform": ["windows", "mac", "mac"],
    ...     "status": ["connected", "connected", "disconnected"],
    ... }).with_columns(pl.col("timestamp").str.to_datetime(time_zone="UTC"))
    >>> table = dexkit.show(dexkit.summarize(frame.lazy(), by="platform"), "Health by platform")
    >>> table.frame.select("platform", "devices", "connected", "health").rows()
    [('mac', 2, 1, 'critical'), ('windows', 1, 1, 'ok')]
    >>> "Health by platform" in table.to_html()
    True
    """
    frame = _checks.lazy(frame, "show").collect() if not isinstance(frame, pl.DataFrame) else frame
    if title is not None and not isinstance(title, str):
        raise ConfigError(f"show(): title must be a string, got {_checks.type_name(title)}")
    if caption is not None and not isinstance(caption, str):
        raise ConfigError(f"show(): caption must be a string, got {_checks.type_name(caption)}")
    return Table(frame, title, caption, max_rows)


@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    import jinja2

    env = jinja2.Environment(
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    return env.from_string(_TEMPLATE)
