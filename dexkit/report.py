"""One self-contained HTML report of a fleet: numbers, tables, charts, incident and provenance.

:func:`build_report` returns a :class:`Report` (Jupyter displays it); :func:`write_report`
writes it to a file. The file needs nothing else: Vega, Vega-Lite and vega-embed are inlined
(``vl_convert.javascript_bundle``, pinned to the Vega-Lite version Altair emits), so it opens
offline and makes no network request.

Safety
------
Device names, SSIDs, app names and ISP names are chosen by whoever names a laptop or a Wi-Fi
network. Tables are rendered by Jinja2 with autoescaping; each chart's specification travels as
JSON in a ``<script type="application/json">`` block with ``<``, ``>``, ``&``, U+2028 and
U+2029 written as ``\\uXXXX`` escapes, so no value can close the block; the page's Content
Security Policy only runs the report's own two scripts (by hash) and forbids every request.

Redaction
---------
By default (``redact=True``) the records go through :func:`dexkit.redaction.redact` first: device
names, emails, SSIDs, registration ids, IP addresses and postal codes become keyed pseudonyms,
consistent within the report. The key is random per report unless given; it is never written
into the report.

Windows
-------
``incident`` and ``baseline`` are ``(start, end)`` pairs of datetimes (naive means UTC), dates
or ISO 8601 strings. Given only ``incident``, the baseline is the window of the same length
that ends where the incident starts. A window that holds no records is a
:class:`~dexkit.ConfigError` naming it and the span of the records (before any other work); one
the records cover only in part gives a :class:`~dexkit.PartialWindowWarning` and a line in the
report's incident section, with the covered fraction.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import polars as pl

from dexkit import _checks, _presentation
from dexkit._time import TimeLike
from dexkit._time import window as _window
from dexkit._version import __version__
from dexkit.errors import ConfigError, DexkitError, PartialWindowWarning

if TYPE_CHECKING:
    import jinja2

__all__ = ["Report", "build_report", "write_report"]

#: A window of time: ``(start, end)``, each a ``datetime`` (naive means UTC), a ``date`` or an
#: ISO 8601 string.
Window: TypeAlias = "tuple[TimeLike, TimeLike]"

_TABLE_ROWS = 15
_SECRET_KEY = re.compile(
    r"token|key|secret|passw|email|authori[sz]ation|auth|cookie|credential|bearer", re.I
)
_SECRET_ENV = ("CLOUDFLARE_API_TOKEN", "CLOUDFLARE_API_KEY", "CLOUDFLARE_EMAIL")
_BOOT = """(function () {
  "use strict";
  var blocks = document.querySelectorAll('script[type="application/json"][data-chart]');
  Array.prototype.forEach.call(blocks, function (block) {
    var target = document.getElementById(block.getAttribute("data-chart"));
    var spec = JSON.parse(block.textContent);
    vegaEmbed(target, spec, {actions: false, renderer: "svg", mode: "vega-lite"})
      .then(function () { target.setAttribute("data-rendered", "true"); })
      .catch(function (error) {
        target.textContent = "This chart could not be drawn: " + error;
        console.error(error);
      });
  });
})();"""


@dataclass(frozen=True)
class Report:
    """A rendered report: one self-contained HTML document.

    Attributes
    ----------
    html
        The document.
    title
        Its title.
    generated_at
        When it was rendered (UTC).

    Examples
    --------
    >>> from dexkit.report import Report
    >>> report = Report("<!doctype html><title>x</title>", "x", None)
    >>> report
    Report(title='x', 31 characters)
    >>> report._repr_html_()[:30]
    '<iframe sandbox="allow-scripts'
    """

    html: str = field(repr=False)
    title: str
    generated_at: datetime | None = None

    def __repr__(self) -> str:
        return f"Report(title={self.title!r}, {len(self.html):,} characters)"

    def _repr_html_(self) -> str:
        # An iframe keeps the report's styles and scripts apart from the notebook's page.
        doc = html.escape(self.html, quote=True)
        return (
            '<iframe sandbox="allow-scripts" style="width:100%;height:900px;border:0" '
            f'title="{html.escape(self.title, quote=True)}" srcdoc="{doc}"></iframe>'
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the document to ``path`` (UTF-8) and return the path."""
        target = Path(path)
        target.write_text(self.html, encoding="utf-8")
        return target


# --------------------------------------------------------------------------------------------
# Inputs


def _sampled(data: pl.DataFrame) -> str:
    """``" (sampled at 0.1)"`` for records of a sampled Logpush job, else ``""``."""
    if "sample_rate" not in data.columns:
        return ""
    rates = sorted(float(r) for r in data["sample_rate"].unique().drop_nulls())
    return f" (sampled at {', '.join(f'{r:g}' for r in rates)})" if rates else ""


# --------------------------------------------------------------------------------------------
# Building


def build_report(
    frame: pl.DataFrame | pl.LazyFrame,
    *,
    incident: Window | None = None,
    baseline: Window | None = None,
    title: str = "DEX fleet report",
    redact: bool = True,
    key: bytes | str | None = None,
    provenance: Mapping[str, Any] | None = None,
) -> Report:
    """Build the HTML report of a fleet's device records.

    Parameters
    ----------
    frame
        Device records (``DataFrame`` or ``LazyFrame``) of :func:`dexkit.read_pages` or
        :func:`dexkit.dataset.scan_dataset`; ``device_id``, ``timestamp`` and ``status`` at
        least.
    incident
        ``(start, end)`` of an incident: the report adds what moved between the baseline and
        the incident, and shades the incident on the timeline.
    baseline
        ``(start, end)`` to compare with; default: the same length just before ``incident``.
    title
        The report's title.
    redact
        Replace device names, emails, SSIDs, registration ids, IP addresses and postal codes
        with keyed pseudonyms (:func:`dexkit.redaction.redact`). ``False`` shows them: an
        explicit opt-in.
    key
        The pseudonyms' key; random per report when ``None``. Never written to the report.
    provenance
        Extra facts for the provenance section (for example the query of a page store); keys
        that look secret (token, key, secret, password, email, authorization…) are left out.

    Returns
    -------
    Report

    Examples
    --------
    >>> import polars as pl
    >>> from dexkit.report import build_report
    >>> frame = pl.DataFrame({
    ...     "device_id": ["a", "b", "c"],
    ...     "timestamp": ["2026-11-18 14:00"] * 3,
    ...     "colo": ["FRA", "FRA", "LHR"],
    ...     "status": ["connected", "disconnected", "connected"],
    ...     "device_name": ["alice-laptop", "bob-phone", "carol-mac"],
    ... }).with_columns(pl.col("timestamp").str.to_datetime(time_zone="UTC"))
    >>> report = build_report(frame, title="Fleet")
    >>> report.title, "alice-laptop" in report.html, "vegaEmbed" in report.html
    ('Fleet', False, True)
    """
    from dexkit import charts, health
    from dexkit.redaction import redact as redact_frame

    frame = frame if isinstance(frame, pl.DataFrame) else _checks.lazy(frame, "build_report")
    if not isinstance(title, str):
        raise ConfigError(f"build_report(): title must be a string, got {title!r}")
    data = frame.collect(engine="streaming") if isinstance(frame, pl.LazyFrame) else frame
    lacking = [c for c in ("device_id", "timestamp", "status") if c not in data.columns]
    if lacking:
        raise ConfigError(f"build_report(): the records lack the column(s) {', '.join(lacking)}")
    if data.height == 0:
        raise ConfigError("build_report(): there are no records to report on")
    windows = _windows(incident, baseline)
    compared: tuple[pl.DataFrame, pl.DataFrame] | None = None
    window_notes: list[str] = []
    if windows is not None:
        # before redaction: an empty window is an error before any work is done
        compared, window_notes = _compare(data, windows, default_baseline=baseline is None)
    if redact:
        data = redact_frame(data, key=key)
    generated = datetime.now(UTC).replace(microsecond=0)

    latest = health.latest(data)
    fleet = health.summarize(data).row(0, named=True)
    unhealthy = health.unhealthy(data)
    span = data.select(pl.col("timestamp").min().alias("first"), pl.col("timestamp").max())
    first, last = span.row(0)
    sampled = _sampled(data)
    headline = [
        ("Devices", f"{fleet['devices']:,}{sampled}"),
        ("Connected", _pct(fleet["connected_share"])),
        ("Fleet health", str(fleet["health"])),
        ("Unhealthy devices", f"{unhealthy.height:,}"),
        ("Colos", f"{latest['colo'].n_unique():,}" if "colo" in latest.columns else "n/a"),
        ("Records", f"{data.height:,}{sampled}"),
    ]
    tables: list[dict[str, Any]] = []
    blocks: list[dict[str, Any]] = []
    notes: list[str] = []

    def chart(name: str, build: Any) -> None:
        try:
            spec = build().to_dict()
        except DexkitError as exc:
            notes.append(f"{name}: not drawn ({exc})")
            return
        blocks.append({"id": f"chart-{len(blocks)}", "name": name, "json": _script_json(spec)})

    def table(name: str, build: Any, caption: str = "") -> None:
        try:
            result = build()
        except DexkitError as exc:
            notes.append(f"{name}: not computed ({exc})")
            return
        tables.append(_presentation.table(name, result, caption))

    comparison: list[dict[str, Any]] = []
    if compared is not None:
        by_colo, by_version = compared
        both = _merge_compare(by_colo, by_version)
        chart("What moved", lambda: charts.compare_chart(both, n=15))
        comparison.append(_presentation.table("Biggest changes by colo", by_colo.head(_TABLE_ROWS)))
        comparison.append(
            _presentation.table(
                "Biggest changes by platform and version", by_version.head(_TABLE_ROWS)
            )
        )
    chart(
        "Estimated loss over time",
        lambda: charts.timeline_chart(
            data, "estimated_loss_pct", by="colo", incident=windows[1] if windows else None, top=6
        ),
    )
    chart("Loss per colo and hour", lambda: charts.heatmap_chart(data, "estimated_loss_pct"))
    chart("Device status by colo", lambda: charts.status_chart(data, by="colo", top=20))
    chart("Colos on the map", lambda: charts.colo_map(data))
    chart("Top apps by CPU", lambda: charts.top_apps_chart(data, "cpu_pct"))

    table("Hotspots", lambda: health.hotspots(data).head(_TABLE_ROWS), "worst first")
    table(
        "Unhealthy devices",
        lambda: _unhealthy_view(unhealthy).head(_TABLE_ROWS * 2),
        "each device by its latest record" + (" · names are pseudonyms" if redact else ""),
    )
    table(
        "Client versions",
        lambda: health.version_drift(data).sort("devices", descending=True).head(_TABLE_ROWS),
    )
    table("Top apps by CPU", lambda: health.top_apps(data, "cpu_pct", n=10))

    facts: dict[str, Any] = {
        "dexkit version": __version__,
        "generated at": generated.isoformat(),
        "records from": _presentation.stamp(first),
        "records to": _presentation.stamp(last),
        "records": f"{data.height:,}",
        "devices": f"{fleet['devices']:,}",
    }
    if sampled:
        facts["sampling"] = (
            f"{sampled.strip(' ()')}: counts are of a sample of the records (a sampled Logpush "
            "job), not device counts; percentiles are estimates"
        )
    if "source" in data.columns:
        facts["sources"] = ", ".join(sorted(str(s) for s in data["source"].unique().drop_nulls()))
    if windows is not None:
        facts["baseline window"] = " to ".join(_presentation.stamp(t) for t in windows[0])
        facts["incident window"] = " to ".join(_presentation.stamp(t) for t in windows[1])
    facts["redaction"] = (
        "device names, emails, SSIDs, registration ids, IP addresses and postal codes are "
        "keyed pseudonyms "
        "(HMAC-SHA256; the key is not in this report)"
        if redact
        else "off: names, emails, SSIDs, registrations and addresses are shown as recorded"
    )
    for name, value in _safe_provenance(provenance or {}).items():
        facts.setdefault(name, value)

    page = _template().render(
        title=title,
        generated=generated.isoformat(),
        headline=headline,
        windows=(
            None
            if windows is None
            else {
                "baseline": " to ".join(_presentation.stamp(t) for t in windows[0]),
                "incident": " to ".join(_presentation.stamp(t) for t in windows[1]),
            }
        ),
        comparison=comparison,
        window_notes=window_notes,
        charts=blocks,
        tables=tables,
        notes=notes,
        provenance=facts,
        redacted=redact,
        grade_style=_presentation.GRADE_STYLE,
        palette=_presentation.PALETTE,
        bundle=_markup(_bundle()),
        boot=_markup(_BOOT),
        csp=_csp(_bundle(), _BOOT),
    )
    for name in _SECRET_ENV:
        secret = os.environ.get(name, "")
        if len(secret) >= 8 and secret in page:
            raise ConfigError(f"build_report(): the report would contain the value of {name}")
    return Report(page, title, generated)


def write_report(
    frame: pl.DataFrame | pl.LazyFrame,
    path: str | os.PathLike[str],
    *,
    incident: Window | None = None,
    baseline: Window | None = None,
    title: str = "DEX fleet report",
    redact: bool = True,
    key: bytes | str | None = None,
    provenance: Mapping[str, Any] | None = None,
) -> Path:
    """Build the report (:func:`build_report`) and write it to ``path``; return the path.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import polars as pl
    >>> from dexkit.report import write_report
    >>> frame = pl.DataFrame({
    ...     "device_id": ["a"], "timestamp": ["2026-11-18 14:00"], "status": ["connected"],
    ... }).with_columns(pl.col("timestamp").str.to_datetime(time_zone="UTC"))
    >>> out = write_report(frame, pathlib.Path(tempfile.mkdtemp()) / "fleet.html")
    >>> out.read_text().startswith("<!doctype html>")
    True
    """
    report = build_report(
        frame,
        incident=incident,
        baseline=baseline,
        title=title,
        redact=redact,
        key=key,
        provenance=provenance,
    )
    return report.save(path)


# --------------------------------------------------------------------------------------------
# Plumbing


def _windows(
    incident: object, baseline: object
) -> tuple[tuple[datetime, datetime], tuple[datetime, datetime]] | None:
    if incident is None:
        if baseline is not None:
            raise ConfigError("a baseline window needs an incident window to compare with")
        return None
    inc = _window(incident, "incident")
    if baseline is None:
        length: timedelta = inc[1] - inc[0]
        try:
            return (inc[0] - length, inc[0]), inc
        except OverflowError:
            raise ConfigError(
                "the incident window starts too early for a baseline of the same length before "
                "it: pass baseline=(start, end)"
            ) from None
    return _window(baseline, "baseline"), inc


def _compare(
    data: pl.DataFrame,
    windows: tuple[tuple[datetime, datetime], tuple[datetime, datetime]],
    *,
    default_baseline: bool,
) -> tuple[tuple[pl.DataFrame, pl.DataFrame], list[str]]:
    """The two comparisons of the incident section, and what the records do not cover.

    An empty window raises (with a hint when the baseline was the default); a partly covered
    one is warned about once and noted in the report.
    """
    from dexkit import health

    base, inc = windows
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PartialWindowWarning)
        try:
            by_colo = health.compare_windows(data, base, inc, by="colo")
        except ConfigError as exc:
            if default_baseline and "the baseline window" in str(exc):
                raise ConfigError(
                    f"{exc} (the baseline defaults to the same length just before the incident: "
                    "pass baseline=(start, end), on the command line --baseline START END)"
                ) from exc
            raise
        by_version = health.compare_windows(data, base, inc, by=["platform", "version"])
    notes: list[str] = []
    for record in caught:
        if not issubclass(record.category, PartialWindowWarning):
            warnings.warn_explicit(record.message, record.category, record.filename, record.lineno)
            continue
        text = str(record.message).removeprefix("compare_windows(): ")
        if text not in notes:
            notes.append(text)
            warnings.warn(f"build_report(): {text}", PartialWindowWarning, stacklevel=3)
    return (by_colo, by_version), notes


def _merge_compare(*results: pl.DataFrame) -> pl.DataFrame:
    """Stack compare_windows results of different groupings under one ``where`` column."""
    parts = []
    for result in results:
        names = result.columns[: result.columns.index("metric")]
        where = pl.concat_str([pl.col(n).cast(pl.String) for n in names], separator=" ")
        rest = result.columns[len(names) :]
        parts.append(result.select(where.fill_null("(none)").alias("where"), *rest))
    return pl.concat(parts, how="vertical_relaxed")


def _unhealthy_view(frame: pl.DataFrame) -> pl.DataFrame:
    wanted = ["device_id", "device_name", "colo", "platform", "version", "status", "broken"]
    return frame.select([c for c in wanted if c in frame.columns])


def _pct(value: object) -> str:
    return f"{value:.1%}" if isinstance(value, float) else "n/a"


def _safe_provenance(values: Mapping[str, Any]) -> dict[str, str]:
    """Provenance facts as text, without keys that look like secrets (at any depth)."""

    def clean(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {str(k): clean(v) for k, v in value.items() if not _SECRET_KEY.search(str(k))}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    out: dict[str, str] = {}
    for name, value in clean(dict(values)).items():
        value = clean(value)
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        out[str(name)] = text
    return out


def _script_json(obj: object) -> str:
    """JSON that is safe inside ``<script type="application/json">``: no ``<``, ``>``, ``&``,
    U+2028 or U+2029 appears literally."""
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return _markup(
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _markup(text: str) -> str:
    """Mark our own script text safe for the template, after checking it cannot end early."""
    from markupsafe import Markup

    lowered = text.lower()
    if "</script" in lowered or "<!--" in lowered or "<script" in lowered:
        raise ConfigError("a script for the report contains '</script', '<script' or '<!--'")
    return Markup(text)


def _csp(*scripts: str) -> str:
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in scripts
    )
    # vega compiles its expressions with Function(): 'unsafe-eval' is needed for the charts.
    return (
        f"default-src 'none'; script-src {hashes} 'unsafe-eval'; style-src 'unsafe-inline'; "
        "img-src data:; font-src data:; connect-src 'none'; base-uri 'none'; form-action 'none'"
    )


def _vegalite_version() -> str:
    import altair as alt
    import vl_convert as vlc

    wanted = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    available = vlc.get_vegalite_versions()
    if wanted in available:
        return wanted
    raise ConfigError(
        f"vl-convert-python bundles Vega-Lite {', '.join(available)}, not {wanted} as Altair "
        "emits: upgrade vl-convert-python"
    )


@lru_cache(maxsize=1)
def _bundle() -> str:
    import vl_convert as vlc

    # the snippet: what the page's own script uses, as a global
    bundle: str = vlc.javascript_bundle("window.vegaEmbed = vegaEmbed;", _vegalite_version())
    return bundle


@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    import jinja2

    text = resources.files("dexkit").joinpath("templates", "report.html.j2").read_text("utf-8")
    env = jinja2.Environment(
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    return env.from_string(text)


def __getattr__(name: str) -> Any:
    """``dexkit.report.read_input`` moved to :func:`dexkit.inputs.read_input` (deprecated here)."""
    if name == "read_input":
        warnings.warn(
            "dexkit.report.read_input moved to dexkit.inputs.read_input",
            DeprecationWarning,
            stacklevel=2,
        )
        from dexkit.inputs import read_input

        return read_input
    raise AttributeError(f"module 'dexkit.report' has no attribute {name!r}")
