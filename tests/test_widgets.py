"""The explorer driven without a browser: filters → filtered frame, table and chart data."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import dexkit
from dexkit import ConfigError, charts
from dexkit.widgets import Explorer, Filters, explore

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
    after = charts.chart_data(ex.status_chart())
    assert before != after
    assert {r["group"] for r in after} == {"FRA"}


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


def test_import_dexkit_does_not_import_ipywidgets() -> None:
    code = (
        "import sys, dexkit, dexkit.widgets; "
        "print(','.join(m for m in ('ipywidgets', 'altair', 'IPython') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == ""


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
    message = str(raised.value)
    assert message.startswith("explore(): unknown ")
    assert f"{name!r}; did you mean " in message
    assert repr(closest) in message.split("did you mean", 1)[1]


def test_type_errors_name_the_qualified_type(small: pl.DataFrame) -> None:
    with pytest.raises(ConfigError, match=r"explore\(\) takes .* got pandas\.DataFrame"):
        explore(small.to_pandas())
