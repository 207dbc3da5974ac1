"""The explorer driven without a browser: filters → filtered frame, table and chart data."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import polars as pl
import pytest

import dexkit
from dexkit import ConfigError, charts
from dexkit.widgets import Explorer, Filters, Window, explore
from tests.checks import assert_unknown_name

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"


@pytest.fixture(scope="module")
def raw() -> pl.DataFrame:
    return dexkit.read_pages(SAMPLE / "raw")


@pytest.fixture
def small() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "device_id": ["a", "b", "c", "a", "b", "c"],
            "timestamp": ["2026-11-18 13:00"] * 3 + ["2026-11-18 14:00"] * 3,
            "device_name": ["<script>alert(1)</script>", "b-laptop", "c-phone"] * 2,
            "colo": ["FRA", "FRA", "LHR"] * 2,
            "platform": ["windows", "mac", "ios"] * 2,
            "status": ["connected", "connected", "connected", "connected", "paused", "connected"],
            "version": ["2025.10.186.0", "2025.9.558.0", "2025.9.558.0"] * 2,
            "connection_type": ["wifi", "ethernet", "cellular"] * 2,
            "estimated_loss_pct": [1.0, 2.0, 3.0, 5.0, 6.0, 1.0],
            "handshake_latency_ms": [20.0, 30.0, 40.0, 80.0, -1.0, 25.0],
        }
    ).with_columns(pl.col("timestamp").str.to_datetime(time_zone="UTC"))


def test_filters_select_rows(small: pl.DataFrame) -> None:
    ex = explore(small)
    assert ex.filtered().height == 6
    ex.filter(colo=["FRA"])
    assert ex.filtered()["device_id"].to_list() == ["a", "b", "a", "b"]
    ex.filter(platform="mac")
    assert ex.filtered()["device_id"].to_list() == ["b", "b"]
    ex.filter(start="2026-11-18 14:00")
    assert ex.filtered()["status"].to_list() == ["paused"]
    assert ex.filters == Filters(
        start=datetime(2026, 11, 18, 14, tzinfo=UTC), colo=("FRA",), platform=("mac",)
    )
    ex.reset()
    assert ex.filtered().height == 6


def test_table_and_chart_follow_filters(small: pl.DataFrame) -> None:
    ex = Explorer(small).filter(end="2026-11-18 14:00")
    assert ex.table().select("colo", "devices").rows() == [("FRA", 2), ("LHR", 1)]
    rows = charts.chart_data(ex.status_chart())
    assert {(r["group"], r["status"], r["devices"]) for r in rows} == {
        ("FRA", "connected", 2),
        ("LHR", "connected", 1),
    }
    ex.filter(end=None, version=["2025.9.558.0"])
    assert ex.table().select("colo", "devices").rows() == [("FRA", 1), ("LHR", 1)]
    statuses = {(r["group"], r["status"]) for r in charts.chart_data(ex.status_chart())}
    assert statuses == {("FRA", "paused"), ("LHR", "connected")}
    line = charts.chart_data(ex.timeline_chart(), -1)
    assert [(r["timestamp"], r["value"]) for r in line] == [
        ("2026-11-18T13:00:00Z", 35.0),
        ("2026-11-18T14:00:00Z", 25.0),
    ]


def test_group_metric_and_device(small: pl.DataFrame) -> None:
    ex = Explorer(small).show(group="platform", metric="estimated_loss_pct")
    assert ex.table().columns[0] == "platform"
    assert ex.devices()["device_id"].to_list()[0] == "b"  # paused: worst first
    assert ex.device_chart() is None
    ex.show(device="a")
    assert ex.device_records()["estimated_loss_pct"].to_list() == [1.0, 5.0]
    line = charts.chart_data(ex.device_chart(), -1)  # type: ignore[arg-type]
    assert [r["value"] for r in line] == [1.0, 5.0]
    ex.filter(colo="LHR")  # device a is not in LHR: the picker clears
    assert ex.device is None


def test_bad_input_says_what_to_do(small: pl.DataFrame) -> None:
    ex = Explorer(small)
    with pytest.raises(ConfigError, match=r"explore\(\): unknown colo 'XXX' \(known: "):
        ex.filter(colo=["XXX"])
    with pytest.raises(ConfigError, match=r"explore\(\): unknown filter 'region'"):
        ex.filter(region="eu")
    with pytest.raises(ConfigError, match=r"explore\(\): unknown group 'device_name'"):
        ex.show(group="device_name")
    with pytest.raises(ConfigError, match="lacks the column"):
        Explorer(small.drop("status"))


def test_html_escapes_record_text(small: pl.DataFrame) -> None:
    hostile = small.with_columns(pl.lit("<img src=x onerror=alert(1)>").alias("colo"))
    page = Explorer(hostile).table_html()
    assert "<img" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


@pytest.mark.slow
def test_sample_incident_through_filters(raw: pl.DataFrame) -> None:
    ex = Explorer(raw, every="1h").filter(
        start="2026-11-18 13:00", end="2026-11-18 15:00", platform="windows"
    )
    table = ex.table()
    assert table["devices"].sum() == ex.filtered()["device_id"].n_unique()
    assert ex.filtered()["timestamp"].min() >= datetime(2026, 11, 18, 13, tzinfo=UTC)
    assert set(ex.filtered()["platform"].unique()) == {"windows"}
    before = charts.chart_data(ex.status_chart())
    ex.filter(colo=["FRA"])
    after = ex.status_chart().to_dict()
    # the status chart is by colo: it highlights the chosen colo and keeps the others in reach
    assert charts.chart_data(after) == before
    assert {p["name"]: p.get("value") for p in after["params"]}["pick"] == [{"group": "FRA"}]
    assert ex.table()["colo"].to_list() == ["FRA"]
    ex.filter(platform="mac")  # another column's filter does change what it draws
    assert charts.chart_data(ex.status_chart()) != before


@pytest.mark.slow
def test_ui_redraws_on_filter(small: pl.DataFrame) -> None:
    pytest.importorskip("ipywidgets")
    ex = Explorer(small)
    ex.widget()
    ui = ex._ui
    assert ui is not None
    svg_before = ui.status.value
    assert "<svg" in svg_before
    ui.selects["colo"].value = ("LHR",)
    assert ex.filters.colo == ("LHR",)
    assert ui.status.value != svg_before
    assert "LHR" in ui.table.value
    assert "FRA" not in ui.table.value
    ui.device.value = "c"
    assert "<svg" in ui.device_view.value


@pytest.mark.slow
def test_import_dexkit_does_not_import_ipywidgets() -> None:
    code = (
        "import sys, dexkit, dexkit.widgets; "
        "print(','.join(m for m in ('ipywidgets', 'altair', 'IPython') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == ""


# --------------------------------------------------------------------------------------------
# Linked views: what the page sends when the user brushes or clicks, without a browser. The
# payloads go through JupyterChart's own traitlet (``_vl_selections``, what its JavaScript sets).


@pytest.fixture
def interactive() -> Iterator[None]:
    pytest.importorskip("anywidget")
    import altair as alt

    active, options = alt.renderers.active, dict(alt.renderers.options or {})
    assert charts.render("interactive") == "interactive"
    yield
    charts._rendering.clear()
    alt.renderers.enable(active, **options)


def _send(box: object, **selections: object) -> None:
    """Set a JupyterChart's selections as its JavaScript does: ``{name: {value, store}}`` with
    Vega's signal as value (a point selection's points under ``vlPoint.or``)."""
    box._vl_selections = {  # type: ignore[attr-defined]
        name: {
            "value": {"vlPoint": {"or": value}} if isinstance(value, list) else value,
            "store": [],
        }
        for name, value in selections.items()
    }


@pytest.mark.slow
def test_brush_sets_the_time_filter_and_redraws_the_others(
    raw: pl.DataFrame, interactive: None
) -> None:
    ex = Explorer(raw)
    ex.widget()
    ui = ex._ui
    assert ui is not None
    import altair as alt

    assert isinstance(ui.boxes["timeline"], alt.JupyterChart)
    records = ex.filtered().height
    status, timeline, table = ui.boxes["status"].spec, ui.boxes["timeline"].spec, ui.table.value
    start = datetime(2026, 11, 18, 13, tzinfo=UTC)
    _send(
        ui.boxes["timeline"], brush={"timestamp": [start.timestamp() * 1000, "2026-11-18T15:00Z"]}
    )
    assert ex.window == (start, datetime(2026, 11, 18, 15, tzinfo=UTC))
    assert ex.filters.start == start
    assert 0 < ex.filtered().height < records
    assert ui.headline.value.startswith(f"<b>{ex.filtered().height:,} of {records:,} records")
    assert ui.table.value != table
    assert ui.boxes["status"].spec != status  # the other charts follow
    assert ui.boxes["timeline"].spec is timeline  # the brushed chart is left alone
    assert ui.range.label == ("13:00", "14:00")  # the slider shows the brushed hours
    # the timeline drawn next time carries the brush
    brush = {p["name"]: p for p in ex.timeline_chart().to_dict()["params"]}["brush"]
    assert brush["value"] == {"x": [start.timestamp() * 1000, (start.timestamp() + 7200) * 1000]}
    # a hand-drawn brush counts to the minute
    _send(
        ui.boxes["timeline"],
        brush={"timestamp": ["2026-11-18T13:00:29.9Z", "2026-11-18T14:59:31Z"]},
    )
    assert ex.window == (start, datetime(2026, 11, 18, 15, tzinfo=UTC))
    _send(ui.boxes["timeline"], brush={})  # a click beside the brush clears it
    assert ex.window is None
    assert ex.filtered().height == records


def test_clicks_on_bars_and_legend_filter(raw: pl.DataFrame, interactive: None) -> None:
    ex = Explorer(raw)
    ex.widget()
    ui = ex._ui
    assert ui is not None
    _send(ui.boxes["status"], pick=[{"group": "FRA"}], legend=[])
    assert ex.filters.colo == ("FRA",)
    assert ui.selects["colo"].value == ("FRA",)
    assert ex.table()["colo"].to_list() == ["FRA"]
    assert "LHR" not in ui.table.value
    _send(ui.boxes["status"], pick=[{"group": "FRA"}, {"group": "LHR"}], legend=[])  # shift-click
    assert ex.filters.colo == ("FRA", "LHR")
    _send(
        ui.boxes["status"],
        pick=[{"group": "FRA"}, {"group": "LHR"}],
        legend=[{"status": "disconnected"}],
    )
    assert ex.filters.status == ("disconnected",)
    assert set(ex.filtered()["status"].unique()) == {"disconnected"}
    # a value no record holds (a hand-made payload) is ignored, never an empty answer
    _send(ui.boxes["status"], pick=[{"group": "<script>"}], legend=[])
    assert ex.filters.colo == ()
    # the bars are by whatever "Table by" shows: a version's bar filters by version
    ui.group.value = "version"
    assert {r["group"] for r in charts.chart_data(ui.boxes["status"].spec)} >= {"2025.10.186.0"}
    _send(ui.boxes["status"], pick=[{"group": "2025.10.186.0"}], legend=[])
    assert ex.filters.version == ("2025.10.186.0",)
    assert ui.selects["version"].value == ("2025.10.186.0",)
    assert set(ex.filtered()["version"].unique()) == {"2025.10.186.0"}
    with pytest.raises(ConfigError, match="a click selects"):
        ex.select("pick", {"group": "FRA"})
    with pytest.raises(ConfigError, match="unknown selection 'zoom'"):
        ex.select("zoom", {})


def test_device_click_drills_down_with_the_incident_shaded(
    raw: pl.DataFrame, interactive: None
) -> None:
    ex = Explorer(raw)
    ex.widget()
    ui = ex._ui
    assert ui is not None
    ui.incident.click()  # nothing brushed yet: says so, sets nothing
    assert ex.incident is None
    assert "brush the timeline" in ui.incident_note.value
    _send(ui.boxes["timeline"], brush={"timestamp": ["2026-11-18T13:00Z", "2026-11-18T15:00Z"]})
    ui.incident.click()
    assert ex.incident == ex.window
    assert "Incident: 2026-11-18 13:00 to 2026-11-18 15:00 UTC" in ui.incident_note.value
    worst = charts.chart_data(ex.devices_chart())
    assert [r["device_id"] for r in worst] == ex.devices()["device_id"].to_list()[:15]
    assert not ui.boxes["device"].spec
    _send(ui.boxes["devices"], device=[{"device_id": worst[0]["device_id"]}])
    assert ex.device == worst[0]["device_id"]
    assert ui.device.value == ex.device
    spec = ui.boxes["device"].spec
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["rect", "line", "rule"]  # shaded
    assert charts.chart_data(spec, 0) == [
        {"start": "2026-11-18T13:00:00Z", "end": "2026-11-18T15:00:00Z"}
    ]
    hours = [row["timestamp"] for row in charts.chart_data(spec, 1)]
    assert hours[0] < "2026-11-18T13" < "2026-11-18T15" <= hours[-1]  # the hours around too
    _send(ui.boxes["devices"], device=[])
    assert ex.device is None
    assert not ui.boxes["device"].spec
    _send(ui.boxes["devices"], device=[{"device_id": worst[1]["device_id"]}])
    assert ui.boxes["device"].spec == ex.device_chart().to_dict()  # type: ignore[union-attr]


@pytest.mark.slow
def test_incident_goes_to_compare_windows_and_write_report(
    raw: pl.DataFrame, tmp_path: Path
) -> None:
    ex = Explorer(raw).filter(start="2026-11-18 13:00", end="2026-11-18 15:00")
    incident = ex.use_as_incident()
    assert ex.incident == incident
    baseline = Window(datetime(2026, 11, 18, 10, tzinfo=UTC), incident.start)
    by_window = dexkit.compare_windows(raw, baseline, ex.incident, by="colo")
    by_tuple = dexkit.compare_windows(raw, tuple(baseline), tuple(incident), by="colo")
    assert by_window.equals(by_tuple)
    # any object with start and end will do
    span = SimpleNamespace(start=incident.start, end=incident.end)
    assert dexkit.compare_windows(raw, baseline, span, by="colo").equals(by_tuple)  # type: ignore[arg-type]
    page = dexkit.write_report(raw, tmp_path / "r.html", incident=ex.incident).read_text()
    assert "2026-11-18 13:00" in page
    with pytest.raises(ConfigError, match="brush the timeline"):
        Explorer(raw).use_as_incident()


def test_render_chooses(small: pl.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    import altair as alt

    active, options = alt.renderers.active, dict(alt.renderers.options or {})
    try:
        monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
        assert charts.render() == "static"  # papermill, nbconvert, nbval: SVG in the output
        assert alt.renderers.active == "svg"
        monkeypatch.setenv("JPY_SESSION_NAME", "/lab/03-explore.ipynb")  # a JupyterLab kernel
        assert charts.render() == "interactive"
        chart = charts.status_chart(Explorer(small).filtered())
        bundle = chart._repr_mimebundle_()
        bundle = bundle[0] if isinstance(bundle, tuple) else bundle
        assert "application/vnd.jupyter.widget-view+json" in bundle
        assert "https://" not in alt.JupyterChart._esm.split("\n", 1)[0]  # bundled, no CDN import
        with pytest.raises(ConfigError, match="mode must be one of"):
            charts.render("svg")
    finally:
        charts._rendering.clear()
        alt.renderers.enable(active, **options)


@pytest.mark.parametrize(
    ("call", "name", "closest"),
    [
        (lambda f: Explorer(f, metric="latency"), "latency", "handshake_latency_ms"),
        (lambda f: Explorer(f).show(metric="loss"), "loss", "estimated_loss_pct"),
        (lambda f: Explorer(f, group="colos"), "colos", "colo"),
        (lambda f: Explorer(f).filter(platfrom="mac"), "platfrom", "platform"),
        (lambda f: Explorer(f).filter(colo="FRX"), "FRX", "FRA"),
    ],
)
def test_unknown_names_name_the_closest_names(
    small: pl.DataFrame, call: Any, name: str, closest: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        call(small)
    assert_unknown_name(raised.value, "explore", name, closest)


def test_type_errors_name_the_qualified_type(small: pl.DataFrame) -> None:
    with pytest.raises(ConfigError, match=r"explore\(\) takes .* got pandas\.DataFrame"):
        explore(small.to_pandas())
