"""Tests of dexkit.health: hand-computed expectations, independent checks and invariants."""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import dexkit
from dexkit import health
from dexkit.errors import ConfigError, PartialWindowWarning
from dexkit.schema import SCHEMA, empty_frame
from tests.checks import assert_unknown_name

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """A frame with the full schema; keys a row leaves out are null. Minutes → timestamps."""
    rows = [{**r, "timestamp": at(r["timestamp"])} if "timestamp" in r else r for r in rows]
    return pl.DataFrame(rows, schema=SCHEMA)


def isp(asn: int, name: str, country: str) -> dict[str, Any]:
    return {"asn": asn, "name": name, "location": {"country_iso": country}}


@pytest.fixture
def fleet() -> pl.DataFrame:
    """Six devices over two hours; `a` reports three times, `b` twice."""
    dt = isp(3320, "Telekom", "DE")
    bt = isp(2856, "BT", "GB")
    return frame(
        [
            {"device_id": "a", "timestamp": 0, "colo": "FRA", "status": "disconnected",
             "cpu_pct": 99.0, "estimated_loss_pct": 9.0, "isp_ipv4": dt, "platform": "windows",
             "version": "2024.9.1"},
            {"device_id": "a", "timestamp": 60, "colo": "FRA", "status": "connected",
             "cpu_pct": 10.0, "estimated_loss_pct": 0.0, "handshake_latency_ms": 20.0,
             "isp_ipv4": dt, "platform": "windows", "version": "2024.10.0"},
            {"device_id": "b", "timestamp": 30, "colo": "FRA", "status": "connected",
             "cpu_pct": 30.0, "estimated_loss_pct": 0.5, "handshake_latency_ms": 40.0,
             "isp_ipv4": dt, "platform": "windows", "version": "2024.10.0",
             "cpu_pct_by_app": [{"name": "zoom", "cpu_pct": 25.0}]},
            {"device_id": "c", "timestamp": 60, "colo": "LHR", "status": "connected",
             "cpu_pct": 50.0, "estimated_loss_pct": 0.2, "handshake_latency_ms": 30.0,
             "isp_ipv4": bt, "platform": "mac", "version": "2024.9.1",
             "cpu_pct_by_app": [{"name": "edr", "cpu_pct": 12.0}]},
            {"device_id": "d", "timestamp": 60, "colo": "LHR", "status": "disconnected",
             "cpu_pct": None, "estimated_loss_pct": 7.5, "handshake_latency_ms": -1.0,
             "isp_ipv4": bt, "platform": "windows", "version": "2024.8.5"},
            {"device_id": "b", "timestamp": 90, "colo": "FRA", "status": "connected",
             "cpu_pct": 40.0, "estimated_loss_pct": 1.5, "handshake_latency_ms": 60.0,
             "isp_ipv4": dt, "platform": "windows", "version": "2024.10.0",
             "cpu_pct_by_app": [{"name": "zoom", "cpu_pct": 30.0},
                                {"name": "edr", "cpu_pct": 8.0}]},
            {"device_id": "e", "timestamp": 100, "colo": "FRA", "status": "paused",
             "cpu_pct": float("nan"), "estimated_loss_pct": 3.0, "isp_ipv4": dt,
             "platform": "linux", "version": "2024.10.0"},
        ]
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# latest


def test_latest_takes_the_newest_record_per_device(fleet: pl.DataFrame) -> None:
    result = health.latest(fleet)
    assert result.columns == fleet.columns
    assert result["device_id"].to_list() == ["a", "b", "c", "d", "e"]
    assert result["timestamp"].to_list() == [at(60), at(90), at(60), at(60), at(100)]
    assert result["status"].to_list() == [
        "connected",
        "connected",
        "connected",
        "disconnected",
        "paused",
    ]


def test_latest_breaks_ties_by_last_appearance_and_keeps_extra_columns() -> None:
    rows = pl.DataFrame(
        {
            "device_id": ["x", "x", "x", "y"],
            "timestamp": [at(5), at(5), at(1), None],
            "extra": [1, 2, 3, 4],
        }
    )
    expected = pl.DataFrame(
        {"device_id": ["x", "y"], "timestamp": [at(5), None], "extra": [2, 4]},
        schema=rows.schema,
    )
    assert_frame_equal(health.latest(rows), expected)


def test_latest_prefers_a_timestamp_over_null() -> None:
    rows = pl.DataFrame({"device_id": ["x", "x"], "timestamp": [at(3), None], "v": [1, 2]})
    assert health.latest(rows)["v"].to_list() == [1]


def test_latest_returns_the_kind_it_gets(fleet: pl.DataFrame) -> None:
    lazy = health.latest(fleet.lazy())
    assert isinstance(lazy, pl.LazyFrame)
    assert_frame_equal(lazy.collect(engine="streaming"), health.latest(fleet))


def test_latest_needs_identity_columns() -> None:
    with pytest.raises(ConfigError, match="device_id"):
        health.latest(pl.DataFrame({"timestamp": [at(0)]}))
    with pytest.raises(ConfigError, match="DataFrame or LazyFrame"):
        health.latest({"device_id": ["a"]})  # type: ignore[type-var]


# --------------------------------------------------------------------------------------------
# metric builders


def test_metric_cleans_nan_and_negative_latency() -> None:
    values = pl.DataFrame({"handshake_latency_ms": [1.0, -1.0, float("nan"), None, 0.0]})
    assert values.select(health.metric("handshake_latency_ms")).to_series().to_list() == [
        1.0,
        None,
        None,
        None,
        0.0,
    ]
    ints = pl.DataFrame({"wifi_strength_dbm": [-60, None]})
    cleaned = ints.select(health.metric("wifi_strength_dbm")).to_series()
    assert cleaned.dtype == pl.Float64
    assert cleaned.to_list() == [-60.0, None]


@pytest.mark.parametrize(
    ("qs", "names"),
    [((0.5, 0.9, 0.99), ["x_p50", "x_p90", "x_p99"]), ((0.999, 0.25), ["x_p99.9", "x_p25"])],
)
def test_quantiles_are_named_and_match_numpy(qs: tuple[float, ...], names: list[str]) -> None:
    data = [3.0, 1.0, None, 7.0, 2.5, 11.0]
    result = pl.DataFrame({"x": data}).select(health.quantiles("x", qs))
    assert result.columns == names
    clean = [v for v in data if v is not None]
    for q, name in zip(qs, names, strict=True):
        assert result[name][0] == pytest.approx(np.percentile(clean, q * 100))


def test_quantiles_reject_out_of_range() -> None:
    with pytest.raises(ConfigError, match="between 0 and 1"):
        health.quantiles("x", [1.5])


def test_version_key_orders_numerically() -> None:
    versions = pl.DataFrame({"v": ["2024.9.12", "2024.10.0", "2024.1.5", "2025.1", "2024.10"]})
    ordered = versions.sort(health.version_key("v"))["v"].to_list()
    assert ordered == ["2024.1.5", "2024.9.12", "2024.10", "2024.10.0", "2025.1"]


def test_dimension_builders_fall_back_to_ipv6_and_flat_columns() -> None:
    nested = pl.DataFrame(
        {
            "isp_ipv4": [isp(1, "One", "DE"), None],
            "isp_ipv6": [None, {"asn": 2, "aso": "Two AS", "name": None}],
        }
    )
    result = nested.select(
        health.isp_asn(nested.schema), health.isp_name(nested.schema), health.country(nested.schema)
    )
    expected = pl.DataFrame(
        {"isp_asn": [1, 2], "isp_name": ["One", "Two AS"], "country": ["DE", None]}
    )
    assert_frame_equal(result, expected)
    flat = pl.DataFrame({"isp_ipv4_asn": [7], "isp_ipv4_name": ["Seven"], "isp_ipv4_aso": ["S"]})
    assert flat.select(health.isp_asn(flat.schema), health.isp_name(flat.schema)).row(0) == (
        7,
        "Seven",
    )
    with pytest.raises(ConfigError, match="isp_ipv4"):
        health.isp_asn(pl.Schema({"colo": pl.String}))


def test_robust_z_matches_a_numpy_computation() -> None:
    rng = np.random.default_rng(7)
    values = rng.normal(50, 10, 101)
    values[3] = 400.0
    med = np.median(values)
    mad = np.median(np.abs(values - med))
    expected = 0.6745 * (values - med) / mad
    got = pl.DataFrame({"cpu_pct": values}).select(health.robust_z("cpu_pct"))["z"].to_numpy()
    np.testing.assert_allclose(got, expected)


def test_robust_z_falls_back_to_mean_absolute_deviation() -> None:
    values = [0.0] * 8 + [1.0, 30.0]  # MAD is 0
    mean_ad = np.mean(np.abs(np.array(values) - 0.0))
    got = pl.DataFrame({"x": values}).select(health.robust_z("x"))["z"].to_list()
    assert got[-1] == pytest.approx(30.0 / (1.253314 * mean_ad))
    flat = pl.DataFrame({"x": [2.0, 2.0, None]}).select(health.robust_z("x"))["z"].to_list()
    assert flat == [0.0, 0.0, None]


# --------------------------------------------------------------------------------------------
# summarize


def test_summarize_by_colo_hand_computed(fleet: pl.DataFrame) -> None:
    result = health.summarize(fleet, by="colo", metrics=["cpu_pct", "handshake_latency_ms"])
    # latest: a (FRA, connected, cpu 10, hs 20), b (FRA, connected, 40, 60), e (FRA, paused,
    # NaN, None); c (LHR, connected, 50, 30), d (LHR, disconnected, None, -1 → missing)
    expected = pl.DataFrame(
        {
            "colo": ["FRA", "LHR"],
            "devices": pl.Series([3, 2], dtype=pl.UInt32),
            "connected": pl.Series([2, 1], dtype=pl.UInt32),
            "connected_share": [2 / 3, 0.5],
            "cpu_pct_p50": [25.0, 50.0],
            "cpu_pct_p90": [10 + 0.9 * 30, 50.0],
            "cpu_pct_p99": [10 + 0.99 * 30, 50.0],
            "handshake_latency_ms_p50": [40.0, 30.0],
            "handshake_latency_ms_p90": [20 + 0.9 * 40, 30.0],
            "handshake_latency_ms_p99": [20 + 0.99 * 40, 30.0],
            "health": pl.Series(["critical", "critical"], dtype=pl.Enum(health.GRADES)),
        }
    )
    assert_frame_equal(result, expected)


def test_summarize_whole_fleet_and_default_columns(fleet: pl.DataFrame) -> None:
    result = health.summarize(fleet)
    assert result.height == 1
    assert result.columns[:3] == ["devices", "connected", "connected_share"]
    assert result.columns[-1] == "health"
    assert len(result.columns) == 3 + 3 * len(health.METRICS) + 1
    assert result.select("devices", "connected").row(0) == (5, 3)
    # estimated_loss_pct over latest records: 0.0, 1.5, 0.2, 7.5, 3.0
    assert result["estimated_loss_pct_p50"][0] == pytest.approx(1.5)
    assert result["estimated_loss_pct_p90"][0] == pytest.approx(
        np.percentile([0.0, 1.5, 0.2, 7.5, 3.0], 90)
    )
    # no device reports RAM: quantiles are null
    assert result["ram_used_pct_p50"][0] is None


def test_summarize_by_isp_country_and_expressions(fleet: pl.DataFrame) -> None:
    by_isp = health.summarize(fleet, by="isp", metrics=["cpu_pct"]).select(
        "isp_asn", "isp_name", "devices", "connected"
    )
    expected = pl.DataFrame(
        {
            "isp_asn": [2856, 3320],
            "isp_name": ["BT", "Telekom"],
            "devices": pl.Series([2, 3], dtype=pl.UInt32),
            "connected": pl.Series([1, 2], dtype=pl.UInt32),
        }
    )
    assert_frame_equal(by_isp, expected)
    by_country = health.summarize(fleet, by=["country", "platform"], metrics=["cpu_pct"])
    assert by_country.select("country", "platform", "devices").rows() == [
        ("DE", "linux", 1),
        ("DE", "windows", 2),
        ("GB", "mac", 1),
        ("GB", "windows", 1),
    ]
    by_expr = health.summarize(
        fleet, by=pl.col("colo").str.to_lowercase().alias("site"), metrics=["cpu_pct"]
    )
    assert by_expr["site"].to_list() == ["fra", "lhr"]


def test_summarize_uses_each_devices_latest_group(fleet: pl.DataFrame) -> None:
    moved = pl.concat(
        [fleet, frame([{"device_id": "c", "timestamp": 120, "colo": "AMS", "status": "paused"}])]
    )
    result = health.summarize(moved, by="colo", metrics=["cpu_pct"])
    assert result.select("colo", "devices", "connected").rows() == [
        ("AMS", 1, 0),
        ("FRA", 3, 2),
        ("LHR", 1, 0),
    ]


def test_summarize_grading_is_configurable(fleet: pl.DataFrame) -> None:
    lenient = health.Grading(connected_share=None, loss_p90=(10.0, 20.0))
    result = health.summarize(fleet, by="colo", metrics=["cpu_pct"], grading=lenient)
    # FRA cpu p90 = 37 (fine), loss p90 < 10, LHR likewise: ok everywhere
    assert result["health"].to_list() == ["ok", "ok"]
    strict = dataclasses.replace(lenient, cpu_p90=(20.0, 30.0))
    result = health.summarize(fleet, by="colo", metrics=["cpu_pct"], grading=strict)
    assert result["health"].to_list() == ["critical", "critical"]
    degraded = dataclasses.replace(lenient, cpu_p90=(30.0, 60.0))
    result = health.summarize(fleet, by="colo", metrics=["cpu_pct"], grading=degraded)
    assert result["health"].to_list() == ["degraded", "degraded"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"connected_share": (0.5, 0.9)},
        {"cpu_p90": (90.0, 80.0)},
        {"loss_p90": (1.0,)},
    ],
)
def test_grading_rejects_inconsistent_thresholds(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="Grading"):
        health.Grading(**kwargs)


def test_summarize_rejects_unknown_groups_and_metrics(fleet: pl.DataFrame) -> None:
    with pytest.raises(ConfigError, match=r"summarize\(\): unknown group 'nope'"):
        health.summarize(fleet, by="nope")
    with pytest.raises(ConfigError, match="at least one metric"):
        health.summarize(fleet, metrics=[])
    with pytest.raises(ConfigError, match="repeat"):
        health.summarize(fleet, by=["colo", "colo"])


def test_summarize_works_with_a_minimal_frame() -> None:
    minimal = pl.DataFrame(
        {"device_id": ["a", "b"], "timestamp": [at(0), at(0)], "status": ["connected", None]}
    )
    result = health.summarize(minimal)
    assert result.select("devices", "connected", "cpu_pct_p50", "health").row(0) == (
        2,
        1,
        None,
        "critical",
    )


def _pandas_summary(frame: pl.DataFrame, by: str, metrics: list[str]) -> pd.DataFrame:
    """summarize() computed independently with pandas and numpy."""
    df = frame.select("device_id", "timestamp", "status", by, *metrics).to_pandas()
    df["_row"] = np.arange(len(df))
    last = df.sort_values(["timestamp", "_row"]).drop_duplicates("device_id", keep="last")
    if "handshake_latency_ms" in metrics:
        latency = last["handshake_latency_ms"]
        last = last.assign(handshake_latency_ms=latency.where(latency >= 0))
    rows = []
    for key, group in last.groupby(by, dropna=False):
        row: dict[str, Any] = {
            by: key,
            "devices": group["device_id"].nunique(),
            "connected": int((group["status"] == "connected").sum()),
        }
        for m in metrics:
            values = group[m].to_numpy(dtype=float)
            values = values[~np.isnan(values)]
            for q in (50, 90, 99):
                row[f"{m}_p{q}"] = np.percentile(values, q) if len(values) else np.nan
        rows.append(row)
    return pd.DataFrame(rows).sort_values(by).reset_index(drop=True)


def _check_against_pandas(frame: pl.DataFrame, by: str) -> None:
    metrics = list(health.METRICS)
    expected = _pandas_summary(frame, by, metrics)
    got = health.summarize(frame, by=by).to_pandas()
    got = got[got[by].notna()].reset_index(drop=True)
    expected = expected[expected[by].notna()].reset_index(drop=True)
    assert got[by].tolist() == expected[by].tolist()
    assert got["devices"].tolist() == expected["devices"].tolist()
    assert got["connected"].tolist() == expected["connected"].tolist()
    for column in expected.columns[3:]:
        np.testing.assert_allclose(
            got[column].to_numpy(dtype=float), expected[column].to_numpy(dtype=float), rtol=1e-9
        )


def synthetic(n: int, devices: int, seed: int) -> pl.DataFrame:
    """Raw-like records with nulls in every metric."""
    rng = np.random.default_rng(seed)
    device = rng.integers(0, devices, n)
    colos = np.array(["FRA", "LHR", "AMS", "IAD", "NRT"])

    def metric(low: float, high: float) -> pl.Series:
        values = rng.uniform(low, high, n)
        return pl.Series(values).set(pl.Series(rng.random(n) < 0.1), None)

    return pl.DataFrame(
        {
            "device_id": [f"dev-{d:05d}" for d in device],
            "timestamp": pl.Series(
                np.datetime64("2026-03-01T00:00", "us")
                + rng.integers(0, 48 * 3600, n).astype("timedelta64[s]").astype("timedelta64[us]")
            ).dt.replace_time_zone("UTC"),
            "colo": colos[device % len(colos)],
            "status": rng.choice(["connected", "connected", "connected", "disconnected"], n),
            "cpu_pct": metric(0, 100),
            "ram_used_pct": metric(10, 95),
            "disk_usage_pct": metric(20, 99),
            "handshake_latency_ms": metric(-5, 400),
            "estimated_loss_pct": metric(0, 10),
            "wifi_strength_dbm": metric(-90, -30).round(0).cast(pl.Int64),
            "battery_pct": metric(0, 100),
        }
    )


def test_summarize_matches_pandas_on_synthetic_records() -> None:
    _check_against_pandas(synthetic(20_000, 1_500, seed=3), "colo")


@pytest.mark.skipif(not SAMPLE.exists(), reason="data/sample has not been generated yet")
def test_summarize_matches_pandas_on_the_sample_data() -> None:
    from dexkit.frames import read_pages

    sample = read_pages(SAMPLE / "last_seen")
    assert sample.height > 0
    _check_against_pandas(sample, "colo")


# --------------------------------------------------------------------------------------------
# status_counts, version_drift, stale, unhealthy, top_apps, outliers, hotspots


def test_status_counts_hand_computed(fleet: pl.DataFrame) -> None:
    expected = pl.DataFrame(
        {
            "colo": ["FRA", "FRA", "LHR", "LHR"],
            "status": ["connected", "paused", "connected", "disconnected"],
            "devices": pl.Series([2, 1, 1, 1], dtype=pl.UInt32),
            "share": [2 / 3, 1 / 3, 0.5, 0.5],
        }
    )
    assert_frame_equal(health.status_counts(fleet, by="colo"), expected)
    overall = pl.DataFrame(
        {
            "status": ["connected", "disconnected", "paused"],
            "devices": pl.Series([3, 1, 1], dtype=pl.UInt32),
            "share": [0.6, 0.2, 0.2],
        }
    )
    assert_frame_equal(health.status_counts(fleet), overall)


def test_version_drift_orders_versions_numerically(fleet: pl.DataFrame) -> None:
    expected = pl.DataFrame(
        {
            "platform": ["linux", "mac", "windows", "windows"],
            "version": ["2024.10.0", "2024.9.1", "2024.10.0", "2024.8.5"],
            "devices": pl.Series([1, 1, 2, 1], dtype=pl.UInt32),
            "share": [1.0, 1.0, 2 / 3, 1 / 3],
            "newest": ["2024.10.0", "2024.9.1", "2024.10.0", "2024.10.0"],
            "behind": pl.Series([0, 0, 0, 1], dtype=pl.UInt32),
        }
    )
    assert_frame_equal(health.version_drift(fleet), expected)


def test_version_drift_counts_releases_seen_on_the_platform() -> None:
    versions = ["2025.1.0", "2024.10.2", "2024.10.2", "2024.9.0", "2024.10.10", None]
    rows = frame(
        [
            {"device_id": str(i), "timestamp": 0, "platform": "windows", "version": v}
            for i, v in enumerate(versions)
        ]
    )
    result = health.version_drift(rows)
    assert result.select("version", "devices", "behind").rows() == [
        ("2025.1.0", 1, 0),
        ("2024.10.10", 1, 1),
        ("2024.10.2", 2, 2),
        ("2024.9.0", 1, 3),
        (None, 1, None),
    ]
    assert result["newest"].unique().to_list() == ["2025.1.0"]


def test_stale_hand_computed(fleet: pl.DataFrame) -> None:
    # newest timestamp: e at +100 min; latest of a, c, d: +60; b: +90
    result = health.stale(fleet, "30m")
    expected = pl.DataFrame(
        {
            "device_id": ["a", "c", "d"],
            "timestamp": [at(60)] * 3,
            "age": [timedelta(minutes=40)] * 3,
        },
        schema={"device_id": pl.String, "timestamp": SCHEMA["timestamp"], "age": pl.Duration("us")},
    )
    assert_frame_equal(result.select("device_id", "timestamp", "age"), expected)
    assert result.columns[:3] == ["device_id", "timestamp", "age"]
    assert set(result.columns) == {*fleet.columns, "age"}
    now = T0 + timedelta(hours=3)
    assert health.stale(fleet, timedelta(minutes=89), now=now)["device_id"].to_list() == [
        "a",
        "c",
        "d",
        "b",
    ]
    naive = now.replace(tzinfo=None).isoformat()
    assert health.stale(fleet, "1h30m", now=naive)["device_id"].to_list() == ["a", "c", "d"]


@pytest.mark.parametrize("bad", ["1 month", "10", "-1h", "1mo", 5])
def test_stale_rejects_bad_durations(fleet: pl.DataFrame, bad: Any) -> None:
    with pytest.raises(ConfigError, match="older_than"):
        health.stale(fleet, bad)


def test_unhealthy_lists_the_rules_each_device_broke() -> None:
    rows = frame(
        [
            {"device_id": "ok", "timestamp": 0, "status": "connected", "cpu_pct": 20.0},
            {"device_id": "hot", "timestamp": 0, "status": "connected", "cpu_pct": 95.0,
             "ram_used_pct": 91.0, "disk_usage_pct": 99.0},
            {"device_id": "net", "timestamp": 0, "status": "disconnected",
             "handshake_latency_ms": 350.0, "estimated_loss_pct": 6.0, "wifi_strength_dbm": -80},
            {"device_id": "bat", "timestamp": 0, "status": "connected", "battery_pct": 5.0,
             "battery_charging": False},
            {"device_id": "chg", "timestamp": 0, "status": "connected", "battery_pct": 5.0,
             "battery_charging": True},
            {"device_id": "nan", "timestamp": 0, "status": "connected", "cpu_pct": float("nan"),
             "handshake_latency_ms": -1.0},
        ]
    )  # fmt: skip
    result = health.unhealthy(rows)
    assert result.columns[:3] == ["device_id", "timestamp", "broken"]
    assert result.select("device_id", "broken").rows() == [
        (
            "net",
            ["handshake_latency_ms", "estimated_loss_pct", "wifi_strength_dbm", "status"],
        ),
        ("hot", ["cpu_pct", "ram_used_pct", "disk_usage_pct"]),
        ("bat", ["battery_pct"]),
    ]
    relaxed = health.Rules(cpu_pct=None, ram_used_pct=95.0, status=("disconnected", "paused"))
    broken = dict(health.unhealthy(rows, relaxed).select("device_id", "broken").rows())
    assert broken["hot"] == ["disk_usage_pct"]
    assert list(broken) == ["net", "bat", "hot"]
    nothing = health.Rules(**{f.name: None for f in dataclasses.fields(health.Rules)})
    empty = health.unhealthy(rows, nothing)
    assert empty.height == 0
    assert empty.schema["broken"] == pl.List(pl.String)


def test_rules_describe_and_validate() -> None:
    assert health.Rules().describe() == {
        "cpu_pct": "cpu_pct > 90",
        "ram_used_pct": "ram_used_pct > 90",
        "disk_usage_pct": "disk_usage_pct > 90",
        "handshake_latency_ms": "handshake_latency_ms > 300",
        "estimated_loss_pct": "estimated_loss_pct > 5",
        "wifi_strength_dbm": "wifi_strength_dbm < -75",
        "battery_pct": "battery_pct < 10 (not charging)",
        "status": "status in disconnected",
    }
    with pytest.raises(ConfigError, match=r"Rules\.status"):
        health.Rules(status="disconnected")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"dexkit\.Rules"):
        health.unhealthy(empty_frame(), rules={"cpu_pct": 1})  # type: ignore[arg-type]


def test_top_apps_hand_computed() -> None:
    rows = frame(
        [
            {"device_id": "a", "timestamp": 0, "cpu_pct_by_app": [
                {"name": "zoom", "cpu_pct": 30.0}, {"name": "slack", "cpu_pct": 5.0},
                {"name": "zoom", "cpu_pct": 10.0}]},
            {"device_id": "a", "timestamp": -10, "cpu_pct_by_app": [
                {"name": "old", "cpu_pct": 99.0}]},
            {"device_id": "b", "timestamp": 0, "cpu_pct_by_app": [
                {"name": "zoom", "cpu_pct": 20.0}, {"name": None, "cpu_pct": 50.0}],
             "ram_used_pct_by_app": [{"name": "chrome", "ram_used_pct": 12.5}]},
            {"device_id": "c", "timestamp": 0, "cpu_pct_by_app": []},
            {"device_id": "d", "timestamp": 0},
        ]
    )  # fmt: skip
    expected = pl.DataFrame(
        {
            "app": ["zoom", "slack"],
            "devices": pl.Series([2, 1], dtype=pl.UInt32),
            "device_share": [0.5, 0.25],
            "cpu_pct_sum": [60.0, 5.0],
            "cpu_pct_mean": [30.0, 5.0],
            "cpu_pct_p90": [20 + 0.9 * 20, 5.0],
            "cpu_pct_max": [40.0, 5.0],
        }
    )
    assert_frame_equal(health.top_apps(rows), expected)
    assert health.top_apps(rows, n=1)["app"].to_list() == ["zoom"]
    ram = health.top_apps(rows, metric="ram_used_pct")
    assert_frame_equal(health.top_apps(rows, "ram"), ram)
    assert ram.columns[3:] == [
        "ram_used_pct_sum",
        "ram_used_pct_mean",
        "ram_used_pct_p90",
        "ram_used_pct_max",
    ]
    assert ram.rows() == [("chrome", 1, 0.25, 12.5, 12.5, 12.5, 12.5)]
    with pytest.raises(ConfigError, match=r"top_apps\(\): unknown metric 'disk'"):
        health.top_apps(rows, "disk")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="positive"):
        health.top_apps(rows, n=0)


def test_top_apps_without_the_app_columns_is_empty() -> None:
    minimal = pl.DataFrame({"device_id": ["a"], "timestamp": [at(0)]})
    result = health.top_apps(minimal)
    assert result.height == 0
    assert result.columns[:3] == ["app", "devices", "device_share"]


def test_outliers_within_groups() -> None:
    latency = [20.0, 22.0, 21.0, 23.0, 180.0, 100.0, 101.0, 99.0, 100.0, 5.0]
    rows = frame(
        [
            {"device_id": f"d{i}", "timestamp": 0, "colo": "FRA" if i < 5 else "NRT",
             "handshake_latency_ms": v}
            for i, v in enumerate(latency)
        ]
    )  # fmt: skip
    result = health.outliers(rows, "handshake_latency_ms", by="colo")
    # FRA: median 22, MAD 1 → z(180) = 0.6745 * 158; NRT: median 100, MAD 1 → z(5) = -0.6745 * 95
    expected = pl.DataFrame(
        {
            "device_id": ["d4", "d9"],
            "timestamp": [at(0), at(0)],
            "colo": ["FRA", "NRT"],
            "handshake_latency_ms": [180.0, 5.0],
            "median": [22.0, 100.0],
            "mad": [1.0, 1.0],
            "z": [0.6745 * 158, -0.6745 * 95],
        },
        schema_overrides={"timestamp": SCHEMA["timestamp"]},
    )
    assert_frame_equal(result, expected)
    # against the whole fleet (median 61, MAD 39.5) nothing passes 3.5; d4 passes 2
    assert health.outliers(rows, "handshake_latency_ms").height == 0
    fleetwide = health.outliers(rows, "handshake_latency_ms", threshold=2.0)
    assert fleetwide["device_id"].to_list() == ["d4"]
    assert fleetwide["z"][0] == pytest.approx(0.6745 * 119 / 39.5)
    assert health.outliers(rows, "handshake_latency_ms", by="colo", threshold=1e6).height == 0
    missing = health.outliers(rows, "battery_pct")
    assert missing.height == 0
    assert missing.columns == ["device_id", "timestamp", "battery_pct", "median", "mad", "z"]


def test_hotspots_rank_the_worst_groups_first(fleet: pl.DataFrame) -> None:
    assert health.hotspots(fleet).height == 0  # no group has 5 devices
    result = health.hotspots(fleet, min_devices=1)
    assert result.columns == [
        "dimension",
        "key",
        "devices",
        "connected",
        "connected_share",
        "estimated_loss_pct_p90",
        "handshake_latency_ms_p90",
        "cpu_pct_p90",
        "health",
    ]
    assert result.select("dimension", "key", "devices", "connected").rows() == [
        ("colo", "LHR", 2, 1),
        ("country", "GB", 2, 1),
        ("isp", "AS2856 BT", 2, 1),
        ("colo", "FRA", 3, 2),
        ("country", "DE", 3, 2),
        ("isp", "AS3320 Telekom", 3, 2),
    ]
    assert health.hotspots(fleet, ["colo"], min_devices=3)["key"].to_list() == ["FRA"]
    unknown = frame(
        [
            {"device_id": "x", "timestamp": 0, "status": "connected"},
            {"device_id": "y", "timestamp": 0, "status": "connected",
             "isp_ipv4": {"asn": None, "name": "NoASN"}},
        ]
    )  # fmt: skip
    assert health.hotspots(unknown, ["isp"], min_devices=1)["key"].to_list() == ["NoASN", None]
    with pytest.raises(ConfigError, match="dimension"):
        health.hotspots(fleet, [])


# --------------------------------------------------------------------------------------------
# timeline and compare_windows


def test_timeline_hand_computed(fleet: pl.DataFrame) -> None:
    result = health.timeline(fleet, "1h", by="colo", metrics=["estimated_loss_pct"])
    # 09:00 bucket: a@0 FRA disc 9.0, b@30 FRA conn 0.5
    # 10:00 bucket: a@60 FRA conn 0.0, c@60 LHR conn 0.2, d@60 LHR disc 7.5, b@90 FRA conn 1.5
    # 10:00 bucket also holds e@100 (10:40) FRA paused 3.0
    expected = pl.DataFrame(
        {
            "timestamp": [at(0), at(60), at(60)],
            "colo": ["FRA", "FRA", "LHR"],
            "devices": pl.Series([2, 3, 2], dtype=pl.UInt32),
            "connected": pl.Series([1, 2, 1], dtype=pl.UInt32),
            "estimated_loss_pct_p50": [4.75, 1.5, 3.85],
            "estimated_loss_pct_p90": [0.5 + 0.9 * 8.5, 1.5 + 0.8 * 1.5, 0.2 + 0.9 * 7.3],
            "estimated_loss_pct_p99": [0.5 + 0.99 * 8.5, 1.5 + 0.98 * 1.5, 0.2 + 0.99 * 7.3],
        },
        schema_overrides={"timestamp": SCHEMA["timestamp"]},
    )
    assert_frame_equal(result, expected)
    # one bucket for the day: a, b, c reported "connected" at least once; cpu over all records
    whole = health.timeline(fleet, timedelta(days=1), metrics=["cpu_pct"], quantiles=[0.5])
    assert whole.rows() == [(at(-9 * 60), 5, 3, 40.0)]


@pytest.mark.parametrize(
    ("every", "date"),
    [("15m", None), ("1h", "utc"), ("1h", "other"), ("1h", "some null"), ("1d", "utc")],
)
def test_lazy_timeline_aggregates_slice_by_slice_with_the_same_numbers(
    monkeypatch: pytest.MonkeyPatch, every: str, date: str | None
) -> None:
    """A LazyFrame is aggregated in runs of whole buckets (bounded memory): same result, also
    when a ``date`` column (a dataset's partition) narrows each run, or is not the UTC date
    and must not."""
    sample = dexkit.load("sample", source="raw")
    if date is not None:
        offset = "0h" if date == "utc" else "-11h"
        day = pl.col("timestamp").dt.offset_by(offset).dt.date()
        if date == "some null":
            day = pl.when(pl.col("cpu_pct") > 20).then(day)
        sample = sample.with_columns(day.alias("date"))
    monkeypatch.setattr(health, "_SLICE_RECORDS", 300)
    lazy = sample.lazy()
    bucket = pl.col("timestamp").dt.truncate(every).alias("timestamp")
    if every != "1d":
        assert len(health._slices(lazy, bucket)) > 3
    sliced = health.timeline(lazy, every, by="colo").collect(engine="streaming")
    assert_frame_equal(sliced, health.timeline(sample, every, by="colo"))


def test_lazy_timeline_reads_a_logpush_scan_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """scan_logpush parses every object at every pass: no slicing pass over it."""
    monkeypatch.setattr(health, "_SLICE_RECORDS", 300)
    passes: list[int] = []
    monkeypatch.setattr(health, "_slices", lambda *a: passes.append(1) or [pl.lit(True)])
    archive = dexkit.sample_dir("logpush")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dexkit.UnknownFieldsWarning)
        result = health.timeline(dexkit.scan_logpush(archive), "1h", by="colo").collect()
        expected = health.timeline(dexkit.read_logpush(archive), "1h", by="colo")
    assert passes == []
    assert_frame_equal(result, expected)


@pytest.mark.parametrize("every", ["hourly", "1 hour", "", timedelta(0), "1mo2d"])
def test_timeline_rejects_bad_buckets(fleet: pl.DataFrame, every: Any) -> None:
    with pytest.raises(ConfigError, match="every"):
        health.timeline(fleet, every)


@pytest.mark.parametrize("date", ["utc", "other", "some null"])
def test_compare_windows_with_a_date_column_gives_the_same_numbers(date: str) -> None:
    """A ``date`` column (a dataset's partition) narrows each window's reading to the dates of
    its records, found in the check's pass: same result when it is the UTC date, and when it
    is not and must not narrow anything."""
    sample = dexkit.load("sample", source="raw")
    first = sample["timestamp"].min()
    assert isinstance(first, datetime)
    baseline = (first, first + timedelta(hours=3))
    incident = (first + timedelta(hours=4), first + timedelta(hours=6))
    offset = "0h" if date == "utc" else "-11h"
    day = pl.col("timestamp").dt.offset_by(offset).dt.date()
    if date == "some null":
        day = pl.when(pl.col("cpu_pct") > 20).then(day)
    dated = sample.with_columns(day.alias("date"))
    expected = health.compare_windows(sample, baseline, incident, by="colo")
    result = health.compare_windows(dated.lazy(), baseline, incident, by="colo")
    assert_frame_equal(result.collect(engine="streaming"), expected)
    assert_frame_equal(health.compare_windows(dated, baseline, incident, by="colo"), expected)


def test_compare_windows_on_a_dataset_opens_only_the_windows_days(tmp_path: Path) -> None:
    sample = dexkit.load("sample", source="raw")
    days = [sample.with_columns(pl.col("timestamp") + timedelta(days=k)) for k in range(4)]
    dexkit.write_dataset(pl.concat(days), tmp_path, source="raw")
    first = sample["timestamp"].min()
    assert isinstance(first, datetime)
    baseline = (first, first + timedelta(hours=3))
    incident = (first + timedelta(hours=4), first + timedelta(hours=6))
    query = health.compare_windows(dexkit.scan_dataset(tmp_path), baseline, incident)
    plan = query.explain(engine="streaming")
    assert "date=" + first.date().isoformat() in plan
    assert "other sources" not in plan  # one file of four
    assert_frame_equal(
        query.collect(engine="streaming"), health.compare_windows(sample, baseline, incident)
    )


def test_latest_on_a_dataset_reads_the_chosen_rows_in_a_second_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a Parquet scan, the latest records come from a row-number pass and a read of those
    rows (from their days only): the same rows, ties included, as the one-pass aggregation."""
    sample = dexkit.load("sample", source="raw")
    later = sample.with_columns(pl.col("timestamp") + timedelta(days=1))
    dexkit.write_dataset(pl.concat([sample, later]), tmp_path, source="raw")
    # the same device and timestamp in another source: a tie, won by the later file
    tie = later.filter(pl.col("timestamp") == later["timestamp"].max()).with_columns(
        pl.lit(99.5).alias("cpu_pct")
    )
    dexkit.write_dataset(tie, tmp_path, source="zz-copy")
    scan = dexkit.scan_dataset(tmp_path)
    assert health._rescannable(scan)
    assert health._rescannable(scan.filter(pl.col("colo") == "FRA").with_columns(x=pl.lit(1)))
    assert not health._rescannable(pl.concat([scan, scan]))
    assert not health._rescannable(scan.join(scan.select("device_id").unique(), on="device_id"))
    assert not health._rescannable(sample.lazy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dexkit.UnknownFieldsWarning)
        assert not health._rescannable(dexkit.scan_logpush(dexkit.sample_dir("logpush")))
    query = health.latest(scan)
    assert 'col("timestamp").is_in(' in query.explain(engine="streaming")
    two_pass = query.collect(engine="streaming")
    assert two_pass.filter(pl.col("cpu_pct") == 99.5).height == tie.height
    monkeypatch.setattr(health, "_rescannable", lambda lf: False)
    one_pass = health.latest(dexkit.scan_dataset(tmp_path)).collect(engine="streaming")
    assert_frame_equal(two_pass, one_pass)
    assert_frame_equal(
        health.summarize(scan, by="colo").collect(engine="streaming"),
        health.summarize(one_pass, by="colo"),
    )


def test_latest_on_a_parquet_file_with_nulls_and_ties(tmp_path: Path) -> None:
    """Any Parquet scan takes the two passes: null device ids and timestamps, and ties, pick
    the same rows as the one-pass aggregation over the same frame in memory."""
    t = datetime(2026, 3, 1, tzinfo=UTC)
    frame = pl.DataFrame(
        {
            "device_id": ["a", "a", "a", None, None, "b", "b", "c", "c"],
            "timestamp": [t, t + timedelta(hours=1), t + timedelta(hours=1), t, t, None, None,
                          None, t],
            "value": [1, 2, 3, 4, 5, 6, 7, 8, 9],
        }
    )  # fmt: skip
    frame.write_parquet(tmp_path / "f.parquet")
    scan = pl.scan_parquet(tmp_path / "f.parquet")
    assert health._rescannable(scan)
    result = health.latest(scan).collect(engine="streaming")
    assert_frame_equal(result, health.latest(frame))
    assert result["value"].to_list() == [3, 7, 9, 5]


def cohen_d(before: list[float], after: list[float]) -> float:
    b, a = np.array(before), np.array(after)
    pooled = ((len(b) - 1) * b.var(ddof=1) + (len(a) - 1) * a.var(ddof=1)) / (len(a) + len(b) - 2)
    return float((a.mean() - b.mean()) / math.sqrt(pooled))


def test_compare_windows_hand_computed() -> None:
    loss_fra_before, loss_fra_during = [0.5, 1.0, 1.5, 0.2], [4.0, 5.0, 6.0]
    loss_lhr_before, loss_lhr_during = [1.0, 2.0], [1.0, 3.0, 2.0]
    rows = []
    for i, v in enumerate(loss_fra_before):
        rows.append({"device_id": f"f{i}", "timestamp": 10 * i, "colo": "FRA",
                     "estimated_loss_pct": v, "cpu_pct": 20.0})  # fmt: skip
    for i, v in enumerate(loss_fra_during):
        rows.append({"device_id": f"f{i}", "timestamp": 120 + 10 * i, "colo": "FRA",
                     "estimated_loss_pct": v, "cpu_pct": 20.0})  # fmt: skip
    for i, v in enumerate(loss_lhr_before):
        rows.append({"device_id": f"l{i}", "timestamp": 10 * i, "colo": "LHR",
                     "estimated_loss_pct": v, "cpu_pct": 10.0 * (i + 1)})  # fmt: skip
    for i, v in enumerate(loss_lhr_during):
        rows.append({"device_id": f"l{i}", "timestamp": 120 + 10 * i, "colo": "LHR",
                     "estimated_loss_pct": v, "cpu_pct": None})  # fmt: skip
    rows.append({"device_id": "x", "timestamp": 300, "colo": "FRA", "estimated_loss_pct": 99.0})
    records = frame(rows)
    result = health.compare_windows(
        records,
        baseline=(T0, T0 + timedelta(hours=1)),
        incident=(T0 + timedelta(hours=2), T0 + timedelta(hours=3)),
        metrics=["estimated_loss_pct", "cpu_pct"],
    )
    expected = pl.DataFrame(
        {
            "colo": ["FRA", "LHR", "FRA", "LHR"],
            "metric": ["estimated_loss_pct", "estimated_loss_pct", "cpu_pct", "cpu_pct"],
            "baseline_n": pl.Series([4, 2, 4, 2], dtype=pl.UInt32),
            "incident_n": pl.Series([3, 3, 3, 0], dtype=pl.UInt32),
            "baseline": [0.75, 1.5, 20.0, 15.0],
            "incident": [5.0, 2.0, 20.0, None],
            "change": [4.25, 0.5, 0.0, None],
            "rel_change": [4.25 / 0.75, 0.5 / 1.5, 0.0, None],
            "effect": [
                cohen_d(loss_fra_before, loss_fra_during),
                cohen_d(loss_lhr_before, loss_lhr_during),
                0.0,
                None,
            ],
        }
    )
    assert_frame_equal(result, expected)


def test_compare_windows_options() -> None:
    rows = frame(
        [
            {"device_id": "a", "timestamp": 0, "colo": "FRA", "cpu_pct": 0.0},
            {"device_id": "b", "timestamp": 0, "colo": "FRA", "cpu_pct": 0.0},
            {"device_id": "a", "timestamp": 90, "colo": "FRA", "cpu_pct": 10.0},
            {"device_id": "b", "timestamp": 90, "colo": "FRA", "cpu_pct": 30.0},
            {"device_id": "c", "timestamp": 90, "colo": "NRT", "cpu_pct": 50.0},
        ]
    )
    kwargs: dict[str, Any] = {
        "baseline": ("2026-03-01T09:00", "2026-03-01T10:00"),
        "incident": ("2026-03-01T10:00", "2026-03-01T11:00"),
        "metrics": ["cpu_pct"],
    }
    fleetwide = health.compare_windows(rows, by=None, statistic="mean", **kwargs)
    assert fleetwide.columns[0] == "metric"
    assert fleetwide.row(0)[:7] == ("cpu_pct", 2, 3, 0.0, 30.0, 30.0, None)
    assert fleetwide["effect"][0] == pytest.approx(30.0 / math.sqrt(2 * 400 / 3))
    by_colo = health.compare_windows(rows, **kwargs)
    # NRT has no baseline: no effect; FRA: both windows... baseline constant, incident varies
    assert by_colo.select("colo", "baseline_n", "incident_n").rows() == [
        ("FRA", 2, 2),
        ("NRT", 0, 1),
    ]
    assert by_colo["effect"][1] is None
    constant = frame(
        [
            {"device_id": "a", "timestamp": 0, "cpu_pct": 5.0},
            {"device_id": "b", "timestamp": 0, "cpu_pct": 5.0},
            {"device_id": "a", "timestamp": 90, "cpu_pct": 9.0},
        ]
    )
    assert health.compare_windows(constant, by=None, **kwargs)["effect"][0] == math.inf


@pytest.mark.parametrize(
    ("baseline", "match"),
    [
        ((T0, T0), "start before it ends"),
        ((T0,), "pair"),
        (("yesterday", "today"), "ISO 8601"),
    ],
)
def test_compare_windows_rejects_bad_windows(
    fleet: pl.DataFrame, baseline: Any, match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        health.compare_windows(fleet, baseline, (T0, T0 + timedelta(hours=1)))
    with pytest.raises(ConfigError, match="statistic"):
        health.compare_windows(
            fleet,
            (T0, at(1)),
            (at(1), at(2)),
            statistic="mode",  # type: ignore[arg-type]
        )


# --------------------------------------------------------------------------------------------
# every function: lazy in, lazy out; empty in, empty out


CALLS: dict[str, Callable[[Any], Any]] = {
    "latest": health.latest,
    "summarize": lambda f: health.summarize(f, by="colo"),
    "summarize_isp": lambda f: health.summarize(f, by=["isp", "country"]),
    "status_counts": lambda f: health.status_counts(f, by="colo"),
    "version_drift": health.version_drift,
    "stale": lambda f: health.stale(f, "10m"),
    "unhealthy": health.unhealthy,
    "top_apps": health.top_apps,
    "outliers": lambda f: health.outliers(f, "cpu_pct", by="colo", threshold=0.5),
    "hotspots": lambda f: health.hotspots(f, min_devices=1),
    "timeline": lambda f: health.timeline(f, "30m", by="colo"),
    "compare_windows": lambda f: health.compare_windows(
        f, (T0, at(60)), (at(60), at(120)), by="isp"
    ),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_lazy_streaming_and_eager_agree(fleet: pl.DataFrame, name: str) -> None:
    call = CALLS[name]
    eager = call(fleet)
    lazy = call(fleet.lazy())
    assert isinstance(eager, pl.DataFrame)
    assert isinstance(lazy, pl.LazyFrame)
    assert eager.height > 0
    assert_frame_equal(lazy.collect(engine="streaming"), eager)
    assert_frame_equal(lazy.collect(engine="in-memory"), eager)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_empty_frames_give_empty_results_with_the_same_columns(
    fleet: pl.DataFrame, name: str
) -> None:
    call = CALLS[name]
    if name == "compare_windows":  # an empty window is an error, not an empty table
        with pytest.raises(ConfigError, match="holds no records; the frame holds no records"):
            call(empty_frame())
        return
    empty = call(empty_frame())
    assert empty.height == 0
    assert empty.schema == call(fleet).schema


def test_unknown_extra_columns_survive(fleet: pl.DataFrame) -> None:
    extra = fleet.with_columns(pl.lit("x").alias("new_field"))
    assert "new_field" in health.latest(extra).columns
    assert "new_field" in health.unhealthy(extra).columns
    assert_frame_equal(health.summarize(extra), health.summarize(fleet))


# --------------------------------------------------------------------------------------------
# invariants (hypothesis)


STATUSES = st.sampled_from(["connected", "disconnected", "paused", None])
VALUES = st.one_of(st.none(), st.floats(0, 100), st.just(-1.0), st.just(math.nan))


@st.composite
def records(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(0, 40))
    rows = [
        {
            "device_id": draw(st.sampled_from(["a", "b", "c", "d", "e", "f"])),
            "timestamp": at(draw(st.integers(0, 300))),
            "colo": draw(st.sampled_from(["FRA", "LHR", "NRT", None])),
            "status": draw(STATUSES),
            "cpu_pct": draw(VALUES),
            "handshake_latency_ms": draw(VALUES),
            "estimated_loss_pct": draw(VALUES),
        }
        for _ in range(n)
    ]
    return pl.DataFrame(rows, schema=SCHEMA)


PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(records())
@pytest.mark.slow
def test_summary_invariants(records: pl.DataFrame) -> None:
    fleet_size = records["device_id"].n_unique()
    for by in (None, "colo", ["colo", "status"]):
        summary = health.summarize(records, by=by)
        assert (summary["devices"] >= summary["connected"]).all()
        assert summary["devices"].sum() == fleet_size
        for m in health.METRICS:
            p50, p90, p99 = (summary[f"{m}_{p}"] for p in ("p50", "p90", "p99"))
            assert ((p50 <= p90) & (p90 <= p99)).fill_null(True).all()
    counts = health.status_counts(records, by="colo")
    assert counts["devices"].sum() == fleet_size
    if counts.height:
        shares = counts.group_by("colo").agg(pl.col("share").sum())["share"]
        assert np.allclose(shares.to_numpy(), 1.0)
    latest = health.latest(records)
    assert latest.height == fleet_size
    assert latest["device_id"].is_unique().all()


@PROPERTY
@given(records())
@pytest.mark.slow
def test_timeline_and_compare_invariants(records: pl.DataFrame) -> None:
    timeline = health.timeline(records, "1h", by="colo")
    assert (timeline["devices"] >= timeline["connected"]).all()
    for m in health.TIMELINE_METRICS:
        p50, p90, p99 = (timeline[f"{m}_{p}"] for p in ("p50", "p90", "p99"))
        assert ((p50 <= p90) & (p90 <= p99)).fill_null(True).all()
    per_bucket = timeline.group_by("timestamp").agg(pl.col("devices").sum())
    true_counts = (
        records.group_by(pl.col("timestamp").dt.truncate("1h"))
        .agg(pl.col("device_id").n_unique())
        .join(per_bucket, on="timestamp")
    )
    # devices move between colos within an hour, so per-colo counts add up to at least the fleet
    assert (true_counts["devices"] >= true_counts["device_id"]).all()
    ts = pl.col("timestamp")
    window = records.filter((ts >= T0) & (ts < at(150)))
    incident = records.filter((ts >= at(150)) & (ts < at(301)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PartialWindowWarning)
        if window.height == 0 or incident.height == 0:
            with pytest.raises(ConfigError, match=r"window, .* holds no records"):
                health.compare_windows(records, (T0, at(150)), (at(150), at(301)), by="colo")
            return
        compared = health.compare_windows(records, (T0, at(150)), (at(150), at(301)), by="colo")
    assert compared.filter(metric="cpu_pct")["baseline_n"].sum() == (
        window.select(health.metric("cpu_pct")).to_series().count()
    )
    effects = compared["effect"].drop_nulls().abs().to_list()
    assert effects == sorted(effects, reverse=True)


@PROPERTY
@given(records())
@pytest.mark.slow
def test_summarize_matches_numpy_on_random_frames(records: pl.DataFrame) -> None:
    if records.height:
        _check_against_pandas(records.with_columns(pl.col("colo").fill_null("?")), "colo")


def test_status_counts_by_status_is_a_clear_error() -> None:
    frame = pl.DataFrame(
        {
            "device_id": ["a"],
            "timestamp": [datetime(2026, 11, 18, tzinfo=UTC)],
            "status": ["connected"],
        }
    )
    with pytest.raises(ConfigError, match="per status already"):
        health.status_counts(frame, by="status")


# -- wrong inputs are ConfigErrors that say what is wrong -------------------------------------

_WINDOWS = (("2026-03-01", "2026-03-02"), ("2026-03-02", "2026-03-03"))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            lambda f: health.summarize(f.with_columns(pl.col("timestamp").cast(pl.String))),
            r"summarize\(\): the timestamp column must be a Datetime",
        ),
        (
            lambda f: health.latest(f.with_columns(pl.col("timestamp").cast(pl.String))),
            r"latest\(\): the timestamp column must be a Datetime",
        ),
        (
            lambda f: health.unhealthy(f.with_columns(pl.lit(1).alias("status"))),
            r"unhealthy\(\): the status column must hold strings \(as read_pages gives it\), "
            r"got Int32",
        ),
        (
            lambda f: health.compare_windows(f, *_WINDOWS, metrics=["colo"]),
            r"'colo' is not a numeric column \(String\)",
        ),
        (
            lambda f: health.timeline(f, metrics=["cpu_pct_by_app"]),
            r"'cpu_pct_by_app' is not a numeric column",
        ),
        (lambda f: health.outliers(f, "colo"), r"'colo' is not a numeric column"),
        (lambda f: health.outliers(f, 5), r"metric must be a column name"),
        (lambda f: health.outliers(f, "cpu_pct", threshold="3"), r"threshold must be a number"),
        (lambda f: health.summarize(f, by=5), r"by takes a column name"),
        (lambda f: health.summarize(f, metrics=[1]), r"metrics must be column names"),
        (lambda f: health.summarize(f, grading=5), r"grading must be a dexkit.Grading"),
        (lambda f: health.timeline(f, every=3600), r"every must be a duration string .* got int"),
        (lambda f: health.timeline(f, every="0s"), r"every must be longer than zero, got '0s'"),
        (
            lambda f: health.top_apps(f.with_columns(pl.lit("zoom").alias("cpu_pct_by_app"))),
            r"cpu_pct_by_app must be a list of \{name, cpu_pct\} structs",
        ),
        (lambda f: health.Rules(cpu_pct="x"), r"Rules.cpu_pct must be a number or None"),
        (lambda f: health.Rules(battery_pct=math.nan), r"Rules.battery_pct must be a number"),
        (lambda f: health.Grading(cpu_p90=("a", 1)), r"pair of numbers or None"),
    ],
)
def test_wrong_inputs_are_config_errors(
    fleet: pl.DataFrame, call: Callable[[pl.DataFrame], Any], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        call(fleet)


def test_all_null_app_lists_give_no_apps(fleet: pl.DataFrame) -> None:
    nulls = fleet.with_columns(pl.lit(None).alias("cpu_pct_by_app"))
    assert health.top_apps(nulls).height == 0


def test_metric_errors_name_the_function(fleet: pl.DataFrame) -> None:
    text = fleet.with_columns(pl.col("cpu_pct").cast(pl.String))
    for func, call in (
        ("summarize", lambda: health.summarize(text)),
        ("timeline", lambda: health.timeline(text, metrics=["cpu_pct"])),
        ("unhealthy", lambda: health.unhealthy(text)),
        ("outliers", lambda: health.outliers(text, "cpu_pct")),
    ):
        with pytest.raises(ConfigError, match=rf"^{func}\(\): 'cpu_pct' is not a numeric column"):
            call()
    with pytest.raises(ConfigError, match=r"^hotspots\(\): grading must be"):
        health.hotspots(fleet, grading={})


def test_numpy_numbers_infinity_and_any_iterable_are_accepted(fleet: pl.DataFrame) -> None:
    busy = pl.DataFrame(
        {
            "device_id": ["a", "b"],
            "timestamp": [datetime(2026, 3, 1, tzinfo=UTC)] * 2,
            "status": ["connected"] * 2,
            "cpu_pct": [99.0, 99.5],
        }
    )
    never = health.Grading(cpu_p90=(20, math.inf))  # "never critical on CPU"
    assert health.summarize(busy)["health"].to_list() == ["critical"]
    assert health.summarize(busy, grading=never)["health"].to_list() == ["degraded"]
    rules = health.Rules(cpu_pct=np.int64(90), battery_pct=np.float32(10.0))
    assert_frame_equal(health.unhealthy(fleet, rules), health.unhealthy(fleet, health.Rules()))
    assert_frame_equal(
        health.outliers(fleet, "cpu_pct", threshold=np.float32(3.5)),
        health.outliers(fleet, "cpu_pct"),
    )
    expected = health.summarize(fleet, by="colo", metrics=["cpu_pct"])
    for metrics in (np.array(["cpu_pct"]), pl.Series(["cpu_pct"]), ("cpu_pct",)):
        assert_frame_equal(health.summarize(fleet, by="colo", metrics=metrics), expected)
    assert_frame_equal(
        health.summarize(fleet, by=pl.Series(["colo"])), health.summarize(fleet, by="colo")
    )


def test_device_ids_need_not_be_strings(fleet: pl.DataFrame) -> None:
    hashed = fleet.with_columns(pl.col("device_id").hash())
    assert health.summarize(hashed)["devices"].item() == health.summarize(fleet)["devices"].item()


@pytest.mark.parametrize("dtype", [pl.Categorical, pl.Enum(["2025.9.1", "2025.10.0"])])
def test_version_drift_takes_categorical_versions(dtype: Any) -> None:
    frame = pl.DataFrame(
        {
            "device_id": ["a", "b", "c"],
            "timestamp": [datetime(2026, 3, 1, tzinfo=UTC)] * 3,
            "platform": ["mac"] * 3,
            "version": ["2025.9.1", "2025.10.0", "2025.10.0"],
        }
    )
    expected = health.version_drift(frame)
    got = health.version_drift(frame.with_columns(pl.col("version").cast(dtype)))
    assert (
        got.select("version", "devices")
        .cast({"version": pl.String})
        .equals(expected.select("version", "devices"))
    )


# --------------------------------------------------------------------------------------------
# Unknown names are errors, never empty results or columns of nulls

WINDOWS = ((at(0), at(60)), (at(60), at(120)))


@pytest.mark.parametrize(
    ("func", "call", "name", "closest"),
    [
        ("outliers", lambda f: health.outliers(f, "handshake_latency"), "handshake_latency",
         "handshake_latency_ms"),
        ("summarize", lambda f: health.summarize(f, metrics=["latency_ms"]), "latency_ms",
         "handshake_latency_ms"),
        ("compare_windows", lambda f: health.compare_windows(f, *WINDOWS, metrics=["loss"]),
         "loss", "estimated_loss_pct"),
        ("timeline", lambda f: health.timeline(f, metrics=["loss"]), "loss",
         "estimated_loss_pct"),
        ("timeline", lambda f: health.timeline(f, metrics=["cpu_pct", "cpu"]), "cpu", "cpu_pct"),
        ("top_apps", lambda f: health.top_apps(f, "cpu_percent"), "cpu_percent", "cpu_pct"),
        ("hotspots", lambda f: health.hotspots(f, ["colos"]), "colos", "colo"),
        ("summarize", lambda f: health.summarize(f, by="platfrom"), "platfrom", "platform"),
        ("Rules", lambda f: health.unhealthy(f, health.Rules(latency_ms=200.0)),  # type: ignore[call-arg]
         "latency_ms", "handshake_latency_ms"),
        ("Grading", lambda f: health.hotspots(f, grading=health.Grading(cpu=(1.0, 2.0))),  # type: ignore[call-arg]
         "cpu", "cpu_p90"),
    ],
)  # fmt: skip
def test_unknown_names_are_errors_with_the_closest_names(
    fleet: pl.DataFrame, func: str, call: Any, name: str, closest: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        call(fleet)
    assert_unknown_name(raised.value, func, name, closest)


def test_a_known_metric_the_frame_lacks_still_counts_as_missing(fleet: pl.DataFrame) -> None:
    # a metric of METRICS absent from the frame is data, not a typo: all missing, as documented
    result = health.summarize(fleet.drop("battery_pct"), metrics=["battery_pct"])
    assert result["battery_pct_p50"].to_list() == [None]
    # and a numeric column of the user's own is a metric too
    own = fleet.with_columns((pl.col("cpu_pct") * 2).alias("cpu_x2"))
    assert health.summarize(own, metrics=["cpu_x2"])["cpu_x2_p50"].item() is not None


def test_top_apps_by_is_a_deprecated_spelling_of_metric(fleet: pl.DataFrame) -> None:
    expected = health.top_apps(fleet, metric="ram_used_pct")
    with pytest.warns(DeprecationWarning, match=r"top_apps\(\): by= is deprecated"):
        assert_frame_equal(health.top_apps(fleet, by="ram"), expected)
    with pytest.raises(ConfigError, match="give metric= only"):
        health.top_apps(fleet, metric="ram", by="cpu")


def test_type_errors_name_the_qualified_type(fleet: pl.DataFrame) -> None:
    with pytest.raises(
        ConfigError,
        match=r"summarize\(\) takes a polars DataFrame or LazyFrame, got pandas\.DataFrame",
    ):
        health.summarize(fleet.to_pandas())
    with pytest.raises(ConfigError, match=r"got pyarrow\.Table"):
        health.timeline(fleet.to_arrow())


# --------------------------------------------------------------------------------------------
# Empty windows are errors, partial ones warnings


def hourly(hours: range) -> pl.DataFrame:
    """Two devices reporting at the start of each hour (as the hourly source does)."""
    return frame(
        [
            {"device_id": d, "timestamp": 60 * h, "colo": "FRA", "status": "connected",
             "estimated_loss_pct": 1.0 + h}
            for h in hours
            for d in ("a", "b")
        ]
    )  # fmt: skip


@pytest.mark.parametrize("lazy", [False, True])
def test_compare_windows_with_an_empty_window_raises_naming_it_and_the_span(lazy: bool) -> None:
    records = hourly(range(4))  # 09:00 to 12:00 (the 12:00 hour included)
    data = records.lazy() if lazy else records
    late = ("2026-03-02T09:00", "2026-03-02T10:00")
    with pytest.raises(ConfigError) as raised:
        health.compare_windows(data, (T0, at(60)), late)
    message = str(raised.value)
    assert message.startswith("compare_windows(): the incident window, 2026-03-02 09:00 UTC to ")
    assert "holds no records; the records span 2026-03-01 09:00 UTC to 2026-03-01 12:00 UTC" in (
        message
    )
    early = ("2026-02-28T09:00", "2026-02-28T10:00")
    with pytest.raises(ConfigError, match="the baseline window, 2026-02-28 09:00 UTC"):
        health.compare_windows(data, early, (T0, at(60)))
    # a window inside the span but in a gap of the records holds nothing either
    gap = hourly(range(0, 6, 4))  # 09:00 and 13:00 only
    with pytest.raises(ConfigError, match="incident window, 2026-03-01 11:00 UTC"):
        health.compare_windows(gap, (T0, at(60)), (at(120), at(180)))


def test_compare_windows_warns_with_the_covered_fraction() -> None:
    records = hourly(range(4))  # covers 09:00 to 13:00
    with pytest.warns(PartialWindowWarning) as caught:
        result = health.compare_windows(
            records, (T0, at(120)), (at(180), at(360)), by=None, metrics=["estimated_loss_pct"]
        )
    assert len(caught) == 1
    message = str(caught[0].message)
    assert message.startswith("compare_windows(): the records cover only 33.3% of the incident")
    assert "2026-03-01 12:00 UTC to 2026-03-01 15:00 UTC" in message
    assert result["incident_n"].to_list() == [2]
    # whole hours of hourly records cover their windows: no warning (pytest turns one into an
    # error)
    health.compare_windows(records, (T0, at(120)), (at(120), at(240)))
    # a baseline that starts before the records
    with pytest.warns(PartialWindowWarning, match="cover only 50.0% of the baseline window"):
        health.compare_windows(records, (at(-120), at(120)), (at(120), at(240)))
