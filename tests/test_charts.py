"""Tests of dexkit.charts: valid Vega-Lite, expected encodings, small inline data, safe text."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import altair as alt
import polars as pl
import pytest

from dexkit import charts, health
from dexkit.errors import ConfigError, PartialWindowWarning
from dexkit.schema import SCHEMA, empty_frame
from tests.checks import assert_unknown_name

T0 = datetime(2026, 11, 18, 10, tzinfo=UTC)
INCIDENT = (datetime(2026, 11, 18, 13, tzinfo=UTC), datetime(2026, 11, 18, 15, tzinfo=UTC))
BASELINE = (T0, INCIDENT[0])
EVIL = "<script>alert(1)</script>"
COLOS = [
    "FRA", "LHR", "AMS", "CDG", "IAD", "EWR", "ORD", "DFW", "LAX", "SJC", "SEA", "ATL", "MIA",
    "YYZ", "GRU", "NRT", "HKG", "SIN", "SYD", "BOM", "DEL", "MAD", "MXP", "WAW", "ARN", "DUB",
    "ZRH", "JNB", "ICN", "DXB",
]  # fmt: skip
PLATFORMS = ["windows", "mac", "linux", "ios", "android", "chromeos"]
VERSIONS = ["2025.5.893.0", "2025.7.106.1", "2025.8.779.0", "2025.9.558.0", "2025.10.186.0"]


# --------------------------------------------------------------------------------------------
# Frames


def records(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """A frame with the full schema; ``timestamp`` given in minutes after T0."""
    rows = [{**r, "timestamp": T0 + timedelta(minutes=r["timestamp"])} for r in rows]
    return pl.DataFrame(rows, schema=SCHEMA)


@pytest.fixture
def small() -> pl.DataFrame:
    """Six devices in three colos over seven hours; FRA's loss jumps during the incident."""
    rows: list[dict[str, Any]] = []
    devices = [
        ("a", "FRA", "windows", "2025.10.186.0"),
        ("b", "FRA", "windows", "2025.9.558.0"),
        ("c", "FRA", "mac", "2025.9.558.0"),
        ("d", "LHR", "mac", "2025.9.558.0"),
        ("e", "LHR", "linux", "2025.8.779.0"),
        ("f", "SIN", "ios", "2025.8.779.0"),
    ]
    for hour in range(7):
        for k, (device, colo, platform, version) in enumerate(devices):
            incident = colo == "FRA" and 3 <= hour < 5
            rows.append(
                {
                    "device_id": device,
                    "timestamp": hour * 60 + 10,
                    "colo": colo,
                    "platform": platform,
                    "version": version,
                    "status": "disconnected" if device == "e" and hour == 6 else "connected",
                    "cpu_pct": 10.0 + 5 * k + hour,
                    "handshake_latency_ms": 30.0 + k + (90.0 if incident else 0.0),
                    "estimated_loss_pct": 0.2 + 0.1 * k + (6.0 if incident else 0.0),
                    "wifi_strength_dbm": -50 - k,
                    "cpu_pct_by_app": [
                        {"name": "zoom", "cpu_pct": 5.0 + k},
                        {"name": "chrome", "cpu_pct": 2.0},
                    ],
                }
            )
    return records(rows)


def big_frame(devices: int = 100_000, hours: int = 4) -> pl.DataFrame:
    """A synthetic fleet built with Polars expressions only: ``devices`` × ``hours`` records."""
    i = pl.col("i")

    def pick(values: list[str], key: pl.Expr) -> pl.Expr:
        return key.replace_strict(list(range(len(values))), values, return_dtype=pl.String)

    fleet = pl.select(pl.int_range(0, devices, dtype=pl.Int64).alias("i"))
    hours_frame = pl.select(pl.int_range(0, hours, dtype=pl.Int64).alias("h"))
    return (
        fleet.join(hours_frame, how="cross")
        .with_columns(
            pl.format("device-{}", i).alias("device_id"),
            (pl.lit(T0) + pl.duration(hours=pl.col("h"), minutes=10)).alias("timestamp"),
            pick(COLOS, i % len(COLOS)).alias("colo"),
            pick(PLATFORMS, i % len(PLATFORMS)).alias("platform"),
            pick(VERSIONS, (i // 7) % len(VERSIONS)).alias("version"),
            pl.when(i % 20 == 0)
            .then(pl.lit("disconnected"))
            .when(i % 33 == 0)
            .then(pl.lit("paused"))
            .otherwise(pl.lit("connected"))
            .alias("status"),
            ((i * 37 + pl.col("h")) % 100).cast(pl.Float64).alias("cpu_pct"),
            (20 + i % 50 + pl.col("h") * 10).cast(pl.Float64).alias("handshake_latency_ms"),
            ((i % 7) / 10).alias("estimated_loss_pct"),
            (-40 - i % 50).alias("wifi_strength_dbm"),
            pl.concat_list(
                pl.struct(pl.lit(3.0).alias("cpu_pct"), pl.lit("chrome").alias("name")),
                pl.struct(
                    (i % 9).cast(pl.Float64).alias("cpu_pct"),
                    pl.format("app-{}", i % 40).alias("name"),
                ),
            ).alias("cpu_pct_by_app"),
        )
        .drop("i", "h")
    )


@pytest.fixture(scope="module")
def big() -> pl.DataFrame:
    return big_frame()


# --------------------------------------------------------------------------------------------
# Spec helpers


def walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every dict in a spec, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def marks(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The unit specs (those with a mark), skipping the inline data."""
    found = []
    for node in [spec, *spec.get("layer", [])]:
        if "mark" in node:
            found.append(node)
    return found


def mark_type(unit: dict[str, Any]) -> str:
    mark = unit["mark"]
    return str(mark["type"] if isinstance(mark, dict) else mark)


def all_rows(spec: dict[str, Any]) -> int:
    """Rows of every row-shaped data set in the spec (the TopoJSON outline is not rows)."""
    total = 0
    for values in spec.get("datasets", {}).values():
        if isinstance(values, list):
            total += len(values)
    for node in walk({k: v for k, v in spec.items() if k != "datasets"}):
        if isinstance(node.get("values"), list):
            total += len(node["values"])
    return total


def check(chart: alt.TopLevelMixin, mark_types: list[str]) -> dict[str, Any]:
    """Validate (to_dict does) and check the marks, tooltips, theme and that no URL is used."""
    spec: dict[str, Any] = chart.to_dict()
    units = marks(spec)
    assert [mark_type(u) for u in units] == mark_types
    for unit in units:
        if isinstance(unit["mark"], dict) and unit["mark"].get("interpolate") == "step-after":
            continue  # a step line's risers: the rules of its buckets carry the tooltips
        assert "tooltip" in unit.get("encoding", {}), mark_type(unit)
    assert spec["config"]["range"] == charts.theme()["range"]
    assert spec["config"]["font"] == charts.theme()["font"]
    assert not [n for n in walk(spec) if "url" in n], "a chart must embed its data inline"
    return spec


def enc(spec: dict[str, Any], channel: str, layer: int | None = None) -> dict[str, Any]:
    unit = spec if layer is None else spec["layer"][layer]
    encoding: dict[str, Any] = unit["encoding"][channel]
    return encoding


# --------------------------------------------------------------------------------------------
# Builders


def test_status_chart(small: pl.DataFrame) -> None:
    spec = check(charts.status_chart(small, by="colo"), mark_types=["bar"])
    assert enc(spec, "x") == {"field": "devices", "type": "quantitative", "stack": "zero",
                              "title": "Devices"}  # fmt: skip
    assert enc(spec, "y")["field"] == "group"
    assert enc(spec, "y")["title"] == "Colo"
    assert enc(spec, "color")["field"] == "status"
    rows = charts.chart_data(spec)
    expected = health.status_counts(small, by="colo")
    assert len(rows) == expected.height == 4
    assert [(r["group"], r["status"], r["devices"]) for r in rows] == [
        ("FRA", "connected", 3),
        ("LHR", "connected", 1),
        ("LHR", "disconnected", 1),
        ("SIN", "connected", 1),
    ]
    assert enc(spec, "color")["scale"]["domain"] == ["connected", "disconnected"]


def test_status_chart_normalized_versions_and_top(small: pl.DataFrame) -> None:
    spec = check(charts.status_chart(small, by="version", normalize=True, top=2), ["bar"])
    assert enc(spec, "x")["stack"] == "normalize"
    assert enc(spec, "x")["axis"]["format"] == "%"
    assert "(%)" in enc(spec, "x")["title"]
    rows = charts.chart_data(spec)
    # the two newest versions, newest first (numeric order: 2025.10 after 2025.9)
    assert [r["group"] for r in rows] == ["2025.10.186.0", "2025.9.558.0"]
    assert spec["title"]["subtitle"][1] == "2 of 3 client versions, newest first"


def test_status_chart_fleet_and_isp(small: pl.DataFrame) -> None:
    spec = check(charts.status_chart(small, by=None), ["bar"])
    assert {r["group"] for r in charts.chart_data(spec)} == {"All devices"}
    isp = small.with_columns(
        pl.struct(
            pl.lit(3320).alias("asn"), pl.lit("Telekom").alias("name"), pl.lit("x").alias("aso")
        ).alias("isp_ipv4")
    )
    rows = charts.chart_data(charts.status_chart(isp.drop("isp_ipv6"), by="isp"))
    assert {r["group"] for r in rows} == {"AS3320 Telekom"}


def test_distribution_chart(small: pl.DataFrame) -> None:
    chart = charts.distribution_chart(small, "handshake_latency_ms", by="colo")
    spec = check(chart, mark_types=["rule", "bar", "tick"])
    assert enc(spec, "x", 0) == {"field": "p5", "type": "quantitative",
                                 "title": "Handshake latency (ms)"}  # fmt: skip
    assert enc(spec, "x2", 0) == {"field": "p95"}
    assert enc(spec, "x", 1)["field"] == "p25"
    assert enc(spec, "x2", 1) == {"field": "p75"}
    assert enc(spec, "x", 2)["field"] == "p50"
    # one shared data set at the top, one row per group
    assert all("data" not in layer for layer in spec["layer"])
    rows = charts.chart_data(spec)
    summary = health.summarize(
        small, by="colo", metrics=["handshake_latency_ms"], quantiles=[0.05, 0.5, 0.95]
    )
    assert len(rows) == summary.height == all_rows(spec) == 3
    by_colo = {r["group"]: r for r in rows}
    for colo, p5, p50, p95 in summary.select(
        "colo", "handshake_latency_ms_p5", "handshake_latency_ms_p50", "handshake_latency_ms_p95"
    ).iter_rows():
        assert (by_colo[colo]["p5"], by_colo[colo]["p50"], by_colo[colo]["p95"]) == (p5, p50, p95)


@pytest.mark.parametrize(
    ("metric", "title"),
    [("cpu_pct", "CPU (%)"), ("wifi_strength_dbm", "Wi-Fi signal (dBm)")],
)
def test_distribution_units(small: pl.DataFrame, metric: str, title: str) -> None:
    spec = charts.distribution_chart(small, metric, by=None).to_dict()
    assert enc(spec, "x", 1)["title"] == title
    assert [r["group"] for r in charts.chart_data(spec)] == ["All devices"]


def test_adoption_chart(small: pl.DataFrame) -> None:
    spec = check(charts.adoption_chart(small, "1h", top=2), mark_types=["rect"])
    assert enc(spec, "x")["field"] == "timestamp"
    assert enc(spec, "x")["scale"] == {"type": "utc"}
    assert enc(spec, "x2") == {"field": "end"}
    assert enc(spec, "y")["field"] == "y0"
    assert enc(spec, "y2") == {"field": "y1"}
    assert enc(spec, "color")["field"] == "version"
    rows = charts.chart_data(spec)
    assert len(rows) == 7 * 3  # seven buckets × (two newest versions + "older")
    frame = pl.DataFrame(rows)
    shares = frame.group_by("timestamp").agg(pl.col("share").sum(), pl.col("y1").max())
    assert shares["share"].to_list() == pytest.approx([1.0] * 7)
    assert shares["y1"].to_list() == pytest.approx([1.0] * 7)
    first = frame.filter(pl.col("timestamp") == "2026-11-18T10:00:00Z")
    assert first.select("version", "devices", "end").rows() == [
        ("2025.10.186.0", 1, "2026-11-18T11:00:00Z"),
        ("2025.9.558.0", 3, "2026-11-18T11:00:00Z"),
        ("older (1 version)", 2, "2026-11-18T11:00:00Z"),
    ]


@pytest.mark.slow
def test_colo_map(small: pl.DataFrame) -> None:
    frame = pl.concat(
        [small, records([{"device_id": "z", "timestamp": 0, "colo": "ZZZ", "status": "connected"}])]
    )
    spec = check(charts.colo_map(frame), mark_types=["geoshape", "circle"])
    assert spec["projection"] == {"type": "equalEarth"}
    points = spec["layer"][1]
    assert points["encoding"]["longitude"] == {"field": "longitude", "type": "quantitative"}
    assert points["encoding"]["latitude"] == {"field": "latitude", "type": "quantitative"}
    assert points["encoding"]["size"]["field"] == "devices"
    assert points["encoding"]["color"]["field"] == "health"
    assert points["encoding"]["color"]["scale"]["domain"] == list(health.GRADES)
    rows = charts.chart_data(spec, 1)
    assert [(r["colo"], r["devices"]) for r in rows] == [("FRA", 3), ("LHR", 2), ("SIN", 1)]
    assert rows[0]["city"] == "Frankfurt"
    assert rows[0]["latitude"] == pytest.approx(50.03, abs=0.1)
    assert "1 colo(s) without coordinates not shown" in spec["title"]["subtitle"]
    # the world outline: inline TopoJSON of the shipped file, not a URL
    world = spec["layer"][0]["data"]
    assert world["format"] == {"type": "topojson", "feature": "countries"}
    topo = spec["datasets"][world["name"]]
    assert topo["type"] == "Topology"
    assert len(topo["objects"]["countries"]["geometries"]) == 177
    assert len(json.dumps(topo)) < 200_000


@pytest.mark.slow
def test_colo_map_custom_table(small: pl.DataFrame) -> None:
    table = pl.DataFrame({"iata": ["FRA"], "latitude": [50.0], "longitude": [8.5]})
    rows = charts.chart_data(charts.colo_map(small, colos=table), 1)
    assert [(r["colo"], r["city"], r["longitude"]) for r in rows] == [("FRA", None, 8.5)]
    with pytest.raises(ConfigError, match="latitude"):
        charts.colo_map(small, colos=pl.DataFrame({"iata": ["FRA"]}))


def test_timeline_chart_with_incident(small: pl.DataFrame) -> None:
    chart = charts.timeline_chart(small, "estimated_loss_pct", incident=INCIDENT, quantile=0.9)
    spec = check(chart, mark_types=["rect", "line", "rule"])
    shade, line, spans = spec["layer"]
    assert enc(spec, "x", 0)["field"] == "start"
    assert enc(spec, "x2", 0) == {"field": "end"}
    assert charts.chart_data(spec, 0) == [
        {"start": "2026-11-18T13:00:00Z", "end": "2026-11-18T15:00:00Z"}
    ]
    assert shade["mark"]["opacity"] < 0.5
    assert enc(spec, "y", 1)["title"] == "Estimated loss (%)"
    assert enc(spec, "x", 1)["title"] == "Time (UTC)"
    assert "color" not in line["encoding"]
    assert "color" not in spans["encoding"]
    rows = charts.chart_data(spec, 1)
    expected = health.timeline(small, "1h", metrics=["estimated_loss_pct"], quantiles=[0.9])
    assert len(rows) == expected.height == 7
    assert [r["value"] for r in rows] == expected["estimated_loss_pct_p90"].to_list()
    assert all_rows(spec) == 7 + 1
    assert "Shaded: incident 2026-11-18 13:00 to 2026-11-18 15:00 UTC" in spec["title"]["subtitle"]


def test_timeline_chart_without_incident_by_group(small: pl.DataFrame) -> None:
    chart = charts.timeline_chart(small, "handshake_latency_ms", by="colo", top=2, every="2h")
    spec = check(chart, mark_types=["line", "rule"])
    assert enc(spec, "color", 0)["field"] == enc(spec, "color", 1)["field"] == "group"
    rows = charts.chart_data(spec, 0)
    assert {r["group"] for r in rows} == {"FRA", "LHR"}  # the two colos with most devices
    assert len(rows) == 2 * 4  # buckets 10:00, 12:00, 14:00, 16:00
    assert "2 of 3 colos, most devices first" in spec["title"]["subtitle"]


def steps(rows: list[dict[str, Any]]) -> list[tuple[str, str, float]]:
    """What a step-after line of these rows draws: (from, to, value) per horizontal segment,
    a segment ending where the next row of its run starts (the last one at its bucket's end)."""
    drawn = []
    for i, row in enumerate(rows):
        following = rows[i + 1] if i + 1 < len(rows) else None
        same_run = following is not None and (following["group"], following["run"]) == (
            row["group"],
            row["run"],
        )
        drawn.append((row["timestamp"], following["timestamp"] if same_run else row["end"],
                      row["value"]))  # fmt: skip
    return drawn


def test_timeline_buckets_span_their_interval_like_the_incident_band(
    small: pl.DataFrame,
) -> None:
    # FRA's loss is elevated in the 13:00 and 14:00 buckets only: the incident, 13:00 to 15:00
    fra = small.filter(colo="FRA")
    spec = charts.timeline_chart(fra, "estimated_loss_pct", incident=INCIDENT).to_dict()
    _shade, line, spans = spec["layer"]
    band = charts.chart_data(spec, 0)[0]
    assert line["mark"]["interpolate"] == "step-after"
    assert enc(spec, "x2", 2) == {"field": "end"}  # each rule runs from its start to its end
    rows = charts.chart_data(spec, 2)
    baseline = min(r["value"] for r in rows)
    elevated = [(r["timestamp"], r["end"]) for r in rows if r["value"] > baseline + 2]
    assert elevated == [
        ("2026-11-18T13:00:00Z", "2026-11-18T14:00:00Z"),
        ("2026-11-18T14:00:00Z", "2026-11-18T15:00:00Z"),
    ]
    assert (elevated[0][0], elevated[-1][1]) == (band["start"], band["end"])
    # the step line draws the same: the elevated stretch is exactly the band
    drawn = [(a, b) for a, b, value in steps(rows) if value > baseline + 2]
    assert (drawn[0][0], drawn[-1][1]) == (band["start"], band["end"])
    assert spans["encoding"]["tooltip"][1]["title"] == "Bucket end (UTC)"


def test_timeline_steps_break_at_missing_buckets(small: pl.DataFrame) -> None:
    gappy = small.filter(pl.col("timestamp").dt.hour() != 12)  # no 12:00 bucket
    spec = charts.timeline_chart(gappy, "cpu_pct", by="colo", every="1h").to_dict()
    assert spec["layer"][0]["encoding"]["detail"]["field"] == "run"
    rows = [r for r in charts.chart_data(spec, 0) if r["group"] == "FRA"]
    runs = {r["timestamp"][11:16]: r["run"] for r in rows}
    assert runs["11:00"] == runs["10:00"] != runs["13:00"] == runs["16:00"]
    drawn = steps(rows)
    # nothing is drawn over 12:00: the 11:00 bucket ends at 12:00, the next starts at 13:00
    assert ("2026-11-18T11:00:00Z", "2026-11-18T12:00:00Z") in [(a, b) for a, b, _ in drawn]
    assert not [a for a, b, _ in drawn if a < "2026-11-18T13:00:00Z" < b]
    # every = 2h: a bucket spans two hours
    two = charts.chart_data(charts.timeline_chart(small, "cpu_pct", every="2h"), 1)
    assert [(r["timestamp"][11:16], r["end"][11:16]) for r in two][:2] == [
        ("10:00", "12:00"),
        ("12:00", "14:00"),
    ]


@pytest.mark.parametrize(
    ("metric", "title", "first"),
    [
        ("devices", "Devices reporting (devices)", 6.0),
        ("connected", "Connected devices (devices)", 6.0),
        ("connected_share", "Connected devices (%)", 100.0),
    ],
)
def test_timeline_counts(small: pl.DataFrame, metric: str, title: str, first: float) -> None:
    spec = charts.timeline_chart(small, metric, incident=("2026-11-18 13:00", "2026-11-18T15:00"))
    assert enc(spec.to_dict(), "y", 1)["title"] == title
    rows = charts.chart_data(spec, 1)
    assert rows[0]["value"] == first
    if metric == "connected_share":
        assert rows[-1]["value"] == pytest.approx(100 * 5 / 6)


def test_heatmap_chart(small: pl.DataFrame) -> None:
    spec = check(charts.heatmap_chart(small, "estimated_loss_pct"), mark_types=["rect"])
    assert enc(spec, "x")["field"] == "timestamp"
    assert enc(spec, "x2") == {"field": "end"}
    assert enc(spec, "y")["field"] == "group"
    assert enc(spec, "y")["title"] == "Colo"
    assert enc(spec, "color")["field"] == "value"
    assert enc(spec, "color")["title"] == "Estimated loss (%)"
    assert enc(spec, "color")["scale"]["reverse"] is False
    rows = charts.chart_data(spec)
    assert len(rows) == 3 * 7  # colos × hours
    fra = [r["value"] for r in rows if r["group"] == "FRA"]
    assert max(fra) > 6 > fra[0]
    wifi = charts.heatmap_chart(small, "wifi_strength_dbm", by="platform").to_dict()
    assert enc(wifi, "color")["scale"]["reverse"] is True
    assert enc(wifi, "color")["title"] == "Wi-Fi signal (dBm)"


def test_top_apps_chart(small: pl.DataFrame) -> None:
    spec = check(charts.top_apps_chart(small, "cpu_pct", n=5), mark_types=["bar"])
    assert enc(spec, "x")["title"] == "CPU per device, fleet average (%)"
    assert enc(spec, "y")["field"] == "app"
    rows = charts.chart_data(spec)
    apps = health.top_apps(small, "cpu_pct", n=5)
    assert [r["app"] for r in rows] == apps["app"].to_list() == ["zoom", "chrome"]
    # zoom: 5..10 % on each of the six devices → 7.5 % on the average device
    assert rows[0]["fleet_avg"] == pytest.approx(7.5)
    assert rows[1]["fleet_avg"] == pytest.approx(2.0)


def test_compare_chart(small: pl.DataFrame) -> None:
    result = health.compare_windows(small, BASELINE, INCIDENT, by="colo")
    spec = check(charts.compare_chart(result, n=4), mark_types=["bar"])
    assert enc(spec, "x")["field"] == "effect"
    assert enc(spec, "x")["title"] == "Effect size (Cohen's d)"
    assert enc(spec, "color")["field"] == "metric_label"
    rows = charts.chart_data(spec)
    assert len(rows) == 4
    assert rows[0]["label"].startswith("FRA · ")
    effects = [abs(r["effect"]) for r in rows]
    assert effects == sorted(effects, reverse=True)
    loss = next(r for r in rows if r["label"] == "FRA · Estimated loss")
    assert loss["unit"] == "%"
    assert loss["incident"] - loss["baseline"] == pytest.approx(6.0)


def test_compare_chart_lazy_fleet_and_infinite_effects(small: pl.DataFrame) -> None:
    result = health.compare_windows(small.lazy(), BASELINE, INCIDENT, by=None)
    rows = charts.chart_data(charts.compare_chart(result))
    assert all(" · " not in r["label"] for r in rows)
    assert {r["group"] for r in rows} == {"All devices"}
    odd = pl.DataFrame(
        {
            "colo": ["FRA", "LHR"],
            "metric": ["cpu_pct", "cpu_pct"],
            "baseline_n": [3, 3],
            "incident_n": [3, 3],
            "baseline": [1.0, 1.0],
            "incident": [2.0, 1.5],
            "change": [1.0, 0.5],
            "rel_change": [1.0, 0.5],
            "effect": [float("inf"), 0.7],
        }
    )
    assert [r["label"] for r in charts.chart_data(charts.compare_chart(odd))] == ["LHR · CPU"]
    with pytest.raises(ConfigError, match="compare_windows"):
        charts.compare_chart(small)


# --------------------------------------------------------------------------------------------
# Across builders

BUILDERS: dict[str, Callable[[pl.DataFrame | pl.LazyFrame], alt.TopLevelMixin]] = {
    "status": lambda f: charts.status_chart(f, by="colo"),
    "status_version": lambda f: charts.status_chart(f, by="version"),
    "distribution": lambda f: charts.distribution_chart(f, "cpu_pct", by="platform"),
    "adoption": lambda f: charts.adoption_chart(f, "1h"),
    "map": lambda f: charts.colo_map(f),
    "timeline": lambda f: charts.timeline_chart(f, "handshake_latency_ms", incident=INCIDENT),
    "timeline_by": lambda f: charts.timeline_chart(f, "cpu_pct", by="colo", every="30m"),
    "heatmap": lambda f: charts.heatmap_chart(f, "estimated_loss_pct", every="1h"),
    "top_apps": lambda f: charts.top_apps_chart(f, "cpu", n=10),
    "compare": lambda f: charts.compare_chart(health.compare_windows(f.lazy(), BASELINE, INCIDENT)),
}


@pytest.mark.parametrize("name", list(BUILDERS))
@pytest.mark.slow
def test_lazy_and_eager_frames_give_the_same_chart(small: pl.DataFrame, name: str) -> None:
    build = BUILDERS[name]
    assert build(small.lazy()).to_dict() == build(small).to_dict()


@pytest.mark.parametrize("name", list(BUILDERS))
@pytest.mark.slow
def test_empty_frames_give_empty_valid_charts(name: str) -> None:
    if name == "compare":  # empty windows are an error, not an empty chart
        with pytest.raises(ConfigError, match="holds no records"):
            BUILDERS[name](empty_frame())
        return
    spec = BUILDERS[name](empty_frame()).to_dict()
    assert all_rows(spec) == (1 if name == "timeline" else 0)  # the incident band remains


@pytest.mark.parametrize(
    ("name", "most"),
    [
        ("status", 25 * 3),
        ("status_version", 5 * 3),
        ("distribution", 6),
        ("adoption", 4 * 5),
        ("map", 30),
        ("timeline", 4 + 1),
        ("timeline_by", 10 * 4),
        ("heatmap", 30 * 4),
        ("top_apps", 10),
        ("compare", 20),
    ],
)
@pytest.mark.slow
def test_a_100k_device_fleet_embeds_only_what_is_drawn(
    big: pl.DataFrame, name: str, most: int
) -> None:
    assert big["device_id"].n_unique() == 100_000
    if name == "compare":  # the records (10:10 to 13:10) cover half of the incident window
        with pytest.warns(PartialWindowWarning, match="cover only 50.0% of the incident"):
            chart = BUILDERS[name](big)
    else:
        chart = BUILDERS[name](big)
    started = time.perf_counter()
    spec = chart.to_dict()
    elapsed = time.perf_counter() - started
    assert 0 < all_rows(spec) <= most
    assert elapsed < 5, f"to_dict took {elapsed:.2f}s"
    size = len(json.dumps({k: v for k, v in spec.items() if k != "datasets"}))
    assert size < 20_000, "the spec outside its data stays small"


def test_too_many_rows_is_an_error_not_a_huge_chart(
    small: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(charts, "MAX_ROWS", 20)
    with pytest.raises(ConfigError, match=r"would embed 21 rows.*every="):
        charts.heatmap_chart(small, every="1h")  # 3 colos × 7 hours
    assert len(charts.chart_data(charts.heatmap_chart(small, every="2h"))) == 3 * 4


@pytest.mark.slow
def test_attacker_strings_travel_as_data_only(small: pl.DataFrame) -> None:
    evil = small.with_columns(
        pl.when(pl.col("colo") == "SIN").then(pl.lit(EVIL)).otherwise("colo").alias("colo"),
        pl.when(pl.col("device_id") == "f").then(pl.lit(EVIL)).otherwise("status").alias("status"),
        pl.when(pl.col("device_id") == "f")
        .then(pl.lit(EVIL))
        .otherwise("version")
        .alias("version"),
        pl.when(pl.col("device_id") == "f")
        .then(pl.lit(EVIL))
        .otherwise("platform")
        .alias("platform"),
        pl.lit([{"name": EVIL, "cpu_pct": 50.0}]).alias("cpu_pct_by_app"),
        pl.lit(EVIL).alias("device_name"),
    )
    built = {name: build(evil) for name, build in BUILDERS.items()}
    built["status_platform"] = charts.status_chart(evil, by="platform")
    built["status_status"] = charts.status_chart(evil, by="status")
    built["heatmap_platform"] = charts.heatmap_chart(evil, by="platform")
    built["compare_platform"] = charts.compare_chart(
        health.compare_windows(evil, BASELINE, INCIDENT, by="platform")
    )
    # keys whose strings Vega reads as text or code: none may hold a record's text
    unsafe = {"title", "subtitle", "text", "expr", "labelExpr", "calculate", "filter", "field",
              "format", "name", "url", "description", "test", "signal"}  # fmt: skip
    shown = 0
    for name, chart in built.items():
        spec = chart.to_dict()
        datasets = spec.pop("datasets", {})
        for node in walk(spec):
            for key, value in node.items():
                if key in unsafe:
                    assert EVIL not in json.dumps(value), (name, key)
        inline = [n["values"] for n in walk(spec) if isinstance(n.get("values"), list)]
        rows = [row for values in [*datasets.values(), *inline] if isinstance(values, list)
                for row in values]  # fmt: skip
        found = [v for row in rows for v in row.values() if isinstance(v, str) and EVIL in v]
        shown += bool(found)
        # only whole values or labels built from them, never escaped or altered
        assert all(EVIL in v for v in found)
    assert shown >= 8


def test_theme_is_applied_per_chart_not_globally(small: pl.DataFrame) -> None:
    before = (alt.theme.active, alt.data_transformers.active, alt.renderers.active)
    spec = charts.status_chart(small).to_dict()
    assert (alt.theme.active, alt.data_transformers.active, alt.renderers.active) == before
    theme = charts.theme()
    for key in ("font", "background", "range", "axis", "title"):
        assert spec["config"][key] == theme[key]
    # the user's own chart keeps Altair's defaults
    mine = alt.Chart(alt.InlineData(values=[{"a": 1}])).mark_point().encode(x="a:Q").to_dict()
    assert "font" not in mine.get("config", {})
    assert charts.theme() is not charts.theme()


def test_charts_compose_once_their_config_is_cleared(small: pl.DataFrame) -> None:
    left, right = charts.status_chart(small), charts.top_apps_chart(small)
    with pytest.raises(TypeError, match="config"):
        (left | right).to_dict()
    left.config = right.config = alt.Undefined
    spec = (left | right).configure(**charts.theme()).to_dict()
    assert len(spec["hconcat"]) == 2


def test_data_stays_inline_whatever_the_data_transformer(
    small: pl.DataFrame, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with alt.data_transformers.enable("json"):
        spec = charts.timeline_chart(small, incident=INCIDENT).to_dict()
    assert not [n for n in walk(spec) if "url" in n]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_import_dexkit_does_not_import_altair() -> None:
    code = (
        "import sys, dexkit, dexkit.health, dexkit.dataset; "
        "assert 'altair' not in sys.modules, 'altair imported'; "
        "import dexkit.charts; assert 'altair' in sys.modules; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda f: charts.status_chart(f.to_pandas()), "polars DataFrame or LazyFrame"),
        (lambda f: charts.status_chart(f, top=0), "top must be a positive integer"),
        (lambda f: charts.status_chart(f, by=pl.col("colo")), "column name"),  # type: ignore[arg-type]
        (lambda f: charts.distribution_chart(f, "cpu"), "unknown metric 'cpu'"),
        (lambda f: charts.timeline_chart(f, "bogus"), "unknown metric 'bogus'"),
        (lambda f: charts.timeline_chart(f, quantile=1.5), "between 0 and 1"),
        (lambda f: charts.timeline_chart(f, incident=("2026-11-18",)), "pair"),  # type: ignore[arg-type]
        (lambda f: charts.timeline_chart(f, incident=("b", "c")), "ISO 8601"),
        (lambda f: charts.timeline_chart(f, incident=INCIDENT[::-1]), "start before"),
        (lambda f: charts.timeline_chart(f, every="hourly"), "every"),
        (lambda f: charts.heatmap_chart(f, by=None), "column name"),  # type: ignore[arg-type]
        (lambda f: charts.top_apps_chart(f, "disk"), "unknown metric 'disk'"),  # type: ignore[arg-type]
        (lambda f: charts.top_apps_chart(f, n=0), "n must be a positive integer"),
        (lambda f: charts.colo_map(f, colos="colos.csv"), "DataFrame"),  # type: ignore[arg-type]
    ],
)
def test_mistakes_raise_config_errors(
    small: pl.DataFrame, call: Callable[[pl.DataFrame], Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        call(small)


def _params(chart: alt.TopLevelMixin) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in chart.to_dict().get("params", [])}


def test_time_axes_pan_and_zoom(small: pl.DataFrame) -> None:
    for chart in (
        charts.timeline_chart(small, "estimated_loss_pct", by="colo"),
        charts.timeline_chart(small, incident=("2026-11-18 13:00", "2026-11-18 15:00")),
        charts.adoption_chart(small),
        charts.heatmap_chart(small, "estimated_loss_pct"),
    ):
        zoom = _params(chart)["zoom"]
        assert zoom["bind"] == "scales"
        assert zoom["select"] == {"type": "interval", "encodings": ["x"]}


@pytest.mark.slow
def test_legends_are_clickable(small: pl.DataFrame) -> None:
    compared = health.compare_windows(
        small,
        ("2026-11-18 10:00", "2026-11-18 13:00"),
        ("2026-11-18 13:00", "2026-11-18 15:00"),
        by="colo",
    )
    for chart, field in (
        (charts.status_chart(small), "status"),
        (charts.timeline_chart(small, "estimated_loss_pct", by="colo"), "group"),
        (charts.adoption_chart(small), "version"),
        (charts.colo_map(small), "health"),
        (charts.compare_chart(compared), "metric_label"),
    ):
        legend = _params(chart)["legend"]
        assert legend["bind"] == "legend"
        assert legend["select"] == {"type": "point", "fields": [field]}
        spec = chart.to_dict()
        layers = spec.get("layer", [spec])
        faded = [
            layer["encoding"]["opacity"]
            for layer in layers
            if "opacity" in layer.get("encoding", {})
        ]
        assert faded
        assert faded[0]["condition"]["param"] == "legend"
        assert faded[0]["value"] == 0.15


@pytest.mark.parametrize(
    ("func", "call", "name", "closest"),
    [
        ("distribution_chart", lambda f: charts.distribution_chart(f, "latency_ms"), "latency_ms",
         "handshake_latency_ms"),
        ("timeline_chart", lambda f: charts.timeline_chart(f, "loss"), "loss",
         "estimated_loss_pct"),
        ("timeline_chart", lambda f: charts.timeline_chart(f, "connected_shares"),
         "connected_shares", "connected_share"),
        ("heatmap_chart", lambda f: charts.heatmap_chart(f, "handshake_latency"),
         "handshake_latency", "handshake_latency_ms"),
        ("top_apps_chart", lambda f: charts.top_apps_chart(f, "ram_pct"), "ram_pct",
         "ram_used_pct"),
        ("status_chart", lambda f: charts.status_chart(f, by="colos"), "colos", "colo"),
        ("distribution_chart", lambda f: charts.distribution_chart(f, by="platfrom"),
         "platfrom", "platform"),
        ("timeline_chart", lambda f: charts.timeline_chart(f, by="versions"), "versions",
         "version"),
        ("heatmap_chart", lambda f: charts.heatmap_chart(f, by="colos"), "colos", "colo"),
    ],
)  # fmt: skip
def test_unknown_names_name_the_chart_and_the_closest_names(
    small: pl.DataFrame, func: str, call: Callable[[pl.DataFrame], Any], name: str, closest: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        call(small)
    assert_unknown_name(raised.value, func, name, closest)


def test_top_apps_chart_by_is_deprecated(small: pl.DataFrame) -> None:
    expected = charts.chart_data(charts.top_apps_chart(small, "ram_used_pct"))
    with pytest.warns(DeprecationWarning, match=r"top_apps_chart\(\): by= is deprecated"):
        assert charts.chart_data(charts.top_apps_chart(small, by="ram")) == expected


def test_type_errors_name_the_qualified_type(small: pl.DataFrame) -> None:
    with pytest.raises(ConfigError, match=r"status_chart\(\) takes .* got pandas\.DataFrame"):
        charts.status_chart(small.to_pandas())


def test_charts_and_health_share_one_notion_of_metrics() -> None:
    from dexkit import _presentation, display

    assert tuple(charts.METRICS) == health.METRICS == tuple(_presentation.METRICS)
    for name, (label, unit) in charts.METRICS.items():
        assert display.METRIC_LABELS[name] == f"{label} ({unit})"
    assert health.GRADES == _presentation.GRADES
