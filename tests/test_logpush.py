"""Logpush archives: the mapping to read_pages' schema, damaged objects, bounds, the object
store (a real S3-compatible server on localhost), the incremental sync and the committed archive."""

from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal, assert_series_equal

import dexkit
from dexkit import health, synth
from dexkit.errors import (
    BudgetError,
    CoercionWarning,
    ConfigError,
    CredentialsError,
    PageError,
    RecordError,
    UnknownFieldsWarning,
)
from dexkit.logpush import read_logpush, scan_logpush, sync_logpush

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "data" / "logpush"
RAW_PAGES = ROOT / "data" / "sample" / "raw"
T0 = datetime(2026, 11, 18, 10, tzinfo=UTC)
EXTRAS = ["account_id", "device_registration_profile_id", "app_firewall_enabled",
          "experimental_extra"]  # fmt: skip
pytestmark = pytest.mark.filterwarnings("ignore::dexkit.UnknownFieldsWarning")


def _record(**fields: Any) -> dict[str, Any]:
    base = {
        "DeviceID": "d1",
        "Timestamp": 1794996000000000000,  # 2026-11-18 10:00 UTC
        "WarpColoCode": "FRA",
        "ClientPlatform": "windows",
        "Status": "connected",
        "Mode": "warp",
        "ClientVersion": "2025.9.1",
    }
    return {**base, **fields}


def _object(path: Path, records: list[dict[str, Any]] | bytes) -> Path:
    body = (
        records
        if isinstance(records, bytes)
        else b"".join(json.dumps(r).encode() + b"\n" for r in records)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(body, mtime=0))
    return path


@pytest.fixture(scope="module")
def archive() -> pl.DataFrame:
    """The committed archive, read."""
    with pytest.warns(UnknownFieldsWarning, match="AccountID"):
        return read_logpush(COMMITTED)


@pytest.fixture(scope="module")
def pages() -> pl.DataFrame:
    """The same fleet's raw records, as API pages."""
    return dexkit.read_pages(RAW_PAGES)


# ---------------------------------------------------------------------------------------------
# The schema and the units


@pytest.mark.slow
def test_schema_is_read_pages_schema_then_extras(archive: pl.DataFrame) -> None:
    assert list(archive.schema.items())[:43] == list(dexkit.SCHEMA.items())
    assert archive.columns[43:] == EXTRAS
    assert archive["experimental_extra"].drop_nulls()[0] == '{"masqueVersion":"h3","pmtu":1350}'


@pytest.mark.slow
def test_archive_equals_api_pages_field_by_field(
    archive: pl.DataFrame, pages: pl.DataFrame
) -> None:
    a = archive.sort("device_id", "timestamp")
    p = pages.sort("device_id", "timestamp")
    assert a.height == p.height == 19706
    same = [
        "device_id", "timestamp", "platform", "status", "mode", "version", "always_on",
        "switch_locked", "firewall_enabled", "cpu_pct", "ram_used_pct", "ram_available_kb",
        "disk_usage_pct", "disk_read_bps", "disk_write_bps", "battery_pct", "battery_charging",
        "battery_cycles", "connection_type", "wifi_strength_dbm", "network_rcvd_bps",
        "network_sent_bps", "handshake_latency_ms", "tunnel_type", "doh_subdomain",
        "cpu_pct_by_app", "ram_used_pct_by_app", "rtt",
    ]  # fmt: skip
    assert_frame_equal(a.select(same), p.select(same))
    # Logpush has no device name, email, loss estimate or metal
    for column in ("device_name", "person_email", "estimated_loss_pct", "metal"):
        assert a[column].null_count() == a.height
    # "none" colos are disconnected records that reported -1; every other colo is the API's
    none = a["colo"].is_null()
    assert 0 < none.sum() == (p["handshake_latency_ms"].is_null() & none).sum()
    assert_series_equal(a["colo"].filter(~none), p["colo"].filter(~none))
    # personal fields: only the privacy job (from 14:00) leaves them out
    full = a["timestamp"] < T0 + timedelta(hours=4)
    assert_series_equal(a["network_ssid"].filter(full), p["network_ssid"].filter(full))
    assert a["network_ssid"].filter(~full).null_count() == (~full).sum()
    assert_series_equal(a["registration_id"].filter(full), p["registration_id"].filter(full))
    for column in ("device_ipv4", "gateway_ipv6", "isp_ipv4", "isp_ipv6"):
        left = a.filter(full).select(pl.col(column).struct.unnest()).drop("name")
        right = p.filter(full).select(pl.col(column).struct.unnest()).drop("name")
        assert_frame_equal(left, right)
    # the subset job keeps ASN and country: grouping by ISP and country still works
    late = a.filter(~full)["isp_ipv4"].struct.field("asn")
    assert late.null_count() == 0
    stats = ["bytes_lost", "bytes_sent", "packets_lost", "packets_retransmitted", "packets_sent"]
    assert_frame_equal(
        a.select(pl.col("tunnel_stats").struct.field(*stats)),
        p.select(pl.col("tunnel_stats").struct.field(*stats)),
    )


def test_incident_from_the_archive_matches_the_api_pages(
    archive: pl.DataFrame, pages: pl.DataFrame
) -> None:
    incident = synth.SAMPLE["incident"]
    window = (incident.start, incident.end)
    baseline = (incident.start - incident.duration, incident.start)
    metrics = ["handshake_latency_ms", "cpu_pct", "ram_used_pct"]
    for by in ("colo", ["platform", "version"]):
        # records the archive has no colo for ("none") are left out of both sides
        no_colo = archive.filter(pl.col("colo").is_null()).select("device_id", "timestamp")
        found = [
            health.compare_windows(frame, baseline, window, by=by, metrics=metrics)
            .filter(pl.col("effect").abs() > 2)
            .drop("baseline_n", "incident_n")
            for frame in (
                archive.filter(pl.col("colo").is_not_null()),
                pages.join(no_colo, on=["device_id", "timestamp"], how="anti"),
            )
        ]
        assert found[0].height >= 1
        assert_frame_equal(found[0], found[1], check_exact=False)
    top = health.compare_windows(archive, baseline, window, by="colo", metrics=metrics).row(
        0, named=True
    )
    assert (top["colo"], top["metric"]) == (incident.colo, "handshake_latency_ms")
    by_version = health.compare_windows(
        archive, baseline, window, by=["platform", "version"], metrics=metrics
    ).row(0, named=True)
    assert (by_version["platform"], by_version["version"], by_version["metric"]) == (
        incident.platform,
        incident.version,
        "cpu_pct",
    )


def test_units_ips_tunnels_and_sentinels(tmp_path: Path) -> None:
    record = _record(
        CPUPercentage=0.125,
        RAMUsedPercentage=1,
        BatteryPercentage=0,
        HandshakeLatencyMs=-1,
        CPUPercentageByApp=[{"name": "zoom", "percentage": 0.075}],
        DeviceIPv4Address="192.168.1.20",
        DeviceIPv4Netmask="255.255.255.0",
        ISPIPv6Address="2001:db8::1",
        ISPIPv6ASN=3320,
        ISPIPv6CountryISO="DE",
        TunnelStatsUpstream={"rttUs": 1100, "minRttUs": 700, "packetsLost": 3},
        TunnelStatsDownstream={"rttUs": 900, "bytesSent": 4000},
    )
    _object(tmp_path / "a.log.gz", [record, _record(WarpColoCode="none", HandshakeLatencyMs=41)])
    frame = read_logpush(tmp_path)
    row, second = frame.row(0, named=True), frame.row(1, named=True)
    assert (row["cpu_pct"], row["ram_used_pct"], row["battery_pct"]) == (12.5, 100.0, 0.0)
    assert row["cpu_pct_by_app"] == [{"cpu_pct": 7.5, "name": "zoom"}]
    assert row["handshake_latency_ms"] is None
    assert second["handshake_latency_ms"] == 41.0
    assert row["colo"] == "FRA"
    assert second["colo"] is None
    assert row["device_ipv4"] == {
        "address": "192.168.1.20", "asn": None, "aso": None, "location": None, "name": None,
        "netmask": "255.255.255.0", "version": 1,
    }  # fmt: skip
    assert row["isp_ipv6"]["asn"] == 3320
    assert row["isp_ipv6"]["version"] == 2
    assert row["isp_ipv6"]["location"] == {
        "city": None,
        "country_iso": "DE",
        "state_iso": None,
        "zip": None,
    }
    assert row["gateway_ipv4"] is None
    assert second["device_ipv4"] is None
    assert row["rtt"]["rtt_us"] == {"downstream": 900, "upstream": 1100}
    assert row["rtt"]["min_rtt_us"] == {"downstream": None, "upstream": 700}
    assert row["tunnel_stats"]["packets_lost"] == {"downstream": None, "upstream": 3}
    assert row["tunnel_stats"]["bytes_sent"] == {"downstream": 4000, "upstream": None}
    assert second["rtt"] is None
    assert second["tunnel_stats"] is None


def test_three_timestamp_formats_across_jobs(tmp_path: Path) -> None:
    when = datetime(2026, 11, 18, 10, 0, 30, tzinfo=UTC)
    seconds = int(when.timestamp())
    _object(tmp_path / "api/20261118/a.log.gz", [_record(Timestamp=seconds * 10**9 + 5000)])
    _object(tmp_path / "cli/20261118/b.log.gz", [_record(Timestamp=seconds)])
    _object(tmp_path / "dash/20261118/c.log.gz", [_record(Timestamp="2026-11-18T10:00:30Z")])
    _object(tmp_path / "odd/20261118/d.log.gz", [_record(Timestamp="2026-11-18T11:00:30+01:00")])
    stamps = read_logpush(tmp_path)["timestamp"].to_list()
    assert stamps == [when + timedelta(microseconds=5), when, when, when]


def test_unknown_fields_kept_and_named_once(tmp_path: Path) -> None:
    _object(tmp_path / "a.log.gz", [_record(NewField=1, ExperimentalExtra={"x": [1, 2]})])
    _object(tmp_path / "b.log.gz", [_record(NewField=2)])
    with pytest.warns(UnknownFieldsWarning) as caught:
        frame = read_logpush(tmp_path)
    assert len(caught) == 1
    assert "NewField (→ new_field)" in str(caught[0].message)
    assert frame["new_field"].to_list() == [1, 2]
    assert frame["experimental_extra"].to_list() == ['{"x":[1,2]}', None]


def test_field_subset_gives_null_columns(tmp_path: Path) -> None:
    _object(
        tmp_path / "a.log.gz", [{"DeviceID": "d1", "Timestamp": 1794996000, "Status": "paused"}]
    )
    frame = read_logpush(tmp_path)
    assert frame.schema == dexkit.SCHEMA
    assert frame.row(0, named=True)["status"] == "paused"
    assert frame["cpu_pct"].null_count() == 1


def test_csv_with_header_and_with_field_names(tmp_path: Path) -> None:
    header = b"DeviceID,Timestamp,WarpColoCode,Status,CPUPercentage,AlwaysOn,TunnelStatsUpstream\n"
    rows = (
        b'd1,1794996000,FRA,connected,0.25,true,"{""rttUs"":1100}"\n'
        b"d2,1794996000,none,paused,,false,\n"
    )
    _object(tmp_path / "h" / "a.log.gz", header + rows)
    frame = read_logpush(tmp_path / "h")
    assert frame["cpu_pct"].to_list() == [25.0, None]
    assert frame["always_on"].to_list() == [True, False]
    assert frame["colo"].to_list() == ["FRA", None]
    assert frame["rtt"][0]["rtt_us"]["upstream"] == 1100
    names = header.decode().strip().split(",")
    _object(tmp_path / "n" / "a.log.gz", rows)
    with pytest.raises(PageError, match="field_names"):
        read_logpush(tmp_path / "n")
    assert_frame_equal(read_logpush(tmp_path / "n", field_names=names), frame)
    _object(tmp_path / "bad" / "a.log.gz", header + b"d1,1794996000,FRA,connected,lots,true,\n")
    with pytest.raises(RecordError, match=r"line 2: field 'CPUPercentage'") as info:
        read_logpush(tmp_path / "bad")
    assert info.value.line == 2


# ---------------------------------------------------------------------------------------------
# Damaged objects and bounds


def test_truncated_gzip_names_object_and_line(tmp_path: Path) -> None:
    body = b"".join(json.dumps(_record(DeviceID=f"d{i}")).encode() + b"\n" for i in range(200))
    data = gzip.compress(body, mtime=0)
    (tmp_path / "20261118").mkdir()
    path = tmp_path / "20261118" / "cut.log.gz"
    path.write_bytes(data[: len(data) // 2])
    _object(tmp_path / "20261118" / "ok.log.gz", [_record(DeviceID="whole")])
    with pytest.raises(PageError, match=r"object .*cut\.log\.gz, line \d+: truncated gzip") as info:
        read_logpush(tmp_path)
    assert info.value.page == path.as_posix()
    assert info.value.line is not None
    with pytest.warns(CoercionWarning, match=r"<truncated object> \(1\)"):
        frame = read_logpush(tmp_path, on_error="null")
    assert frame.height == info.value.line - 1 + 1  # the complete lines, and the other object
    assert "whole" in frame["device_id"].to_list()


def test_broken_line_and_wrong_type(tmp_path: Path) -> None:
    good = json.dumps(_record()).encode()
    _object(tmp_path / "a.log.gz", good + b"\n" + b'{"DeviceID": "d2", "Timest\n' + good + b"\n")
    with pytest.raises(PageError, match=r"a\.log\.gz, line 2: not a JSON record") as info:
        read_logpush(tmp_path)
    assert info.value.line == 2
    with pytest.warns(CoercionWarning, match=r"<broken line> \(1\)"):
        assert read_logpush(tmp_path, on_error="null").height == 2
    other = tmp_path / "typed"
    _object(other / "b.log.gz", [_record(), _record(CPUPercentage="high")])
    with pytest.raises(RecordError, match=r"b\.log\.gz, line 2: field 'CPUPercentage'"):
        read_logpush(other)
    with pytest.warns(CoercionWarning, match=r"CPUPercentage \(1\)"):
        assert read_logpush(other, on_error="null")["cpu_pct"].to_list() == [None, None]
    _object(tmp_path / "ts" / "c.log.gz", [_record(Timestamp="yesterday")])
    with pytest.raises(RecordError, match=r"line 1: field 'Timestamp'"):
        read_logpush(tmp_path / "ts")


def test_bounds_name_their_keyword(tmp_path: Path) -> None:
    for i in range(3):
        _object(tmp_path / f"{i}.log.gz", [_record(DeviceID=f"d{j}") for j in range(50)])
    with pytest.raises(BudgetError, match="max_objects=2"):
        read_logpush(tmp_path, max_objects=2)
    with pytest.raises(PageError, match="max_lines=10"):
        read_logpush(tmp_path, max_lines=10)
    with pytest.raises(PageError, match="max_object_bytes=1,000"):
        read_logpush(tmp_path, max_object_bytes=1000)
    assert read_logpush(tmp_path, max_objects=3, max_lines=50).height == 150
    for i in range(3, 25):  # listing is bounded too, before any date pruning
        _object(tmp_path / "20261117" / f"{i}.log.gz", [_record()])
    with pytest.raises(BudgetError, match="more than 20 keys, ten times max_objects=2"):
        read_logpush(tmp_path, max_objects=2, start="2026-11-18")


def test_bad_arguments_and_empty_sources(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        read_logpush(tmp_path / "missing")
    with pytest.raises(ConfigError, match="no Logpush objects"):
        read_logpush(tmp_path)
    _object(tmp_path / "20261118" / "a.log.gz", [_record()])
    with pytest.raises(ConfigError, match="from 2026-11-19 to 2026-11-19"):
        read_logpush(tmp_path, start="2026-11-19", end="2026-11-20")
    with pytest.raises(ConfigError, match="sample_rate"):
        read_logpush(tmp_path, sample_rate=10)
    with pytest.raises(ConfigError, match="'DeviceId'"):
        read_logpush(tmp_path, field_names=["DeviceId"])
    with pytest.raises(ConfigError, match="on_error"):
        read_logpush(tmp_path, on_error="skip")  # type: ignore[arg-type]


def test_date_folders_prune_objects_before_reading(tmp_path: Path) -> None:
    _object(tmp_path / "20261117" / "a.log.gz", b"not gzip-compressed JSON at all\n")
    _object(tmp_path / "20261118" / "b.log.gz", [_record(), _record(Timestamp=1795003200)])
    with pytest.raises(PageError, match="20261117"):
        read_logpush(tmp_path)
    frame = read_logpush(tmp_path, start="2026-11-18T10:00Z", end="2026-11-18T11:00Z")
    assert frame.height == 1  # the 12:00 record is filtered by timestamp


# ---------------------------------------------------------------------------------------------
# Sampling


@pytest.mark.slow
def test_sampled_job_is_reported_as_sampled(tmp_path: Path) -> None:
    fleet = synth.Fleet(200, seed=3)
    synth.write_logpush(tmp_path, fleet, T0, T0 + timedelta(hours=1), sample_rate=0.1)
    frame = read_logpush(tmp_path, sample_rate=0.1)
    assert 0 < frame.height < 0.2 * 6 * 200
    assert frame["sample_rate"].unique().to_list() == [0.1]
    summary = health.summarize(frame)
    assert summary["sample_rate"].to_list() == [0.1]
    assert "sample_rate" not in health.summarize(read_logpush(tmp_path)).columns
    report = dexkit.build_report(frame)
    assert "sampled at 0.1" in report.html


# ---------------------------------------------------------------------------------------------
# scan_logpush


@pytest.mark.slow
def test_objects_read_together_equal_objects_read_one_by_one(archive: pl.DataFrame) -> None:
    """read_logpush converts runs of objects with one schema at once: same rows, same order."""
    files = sorted(COMMITTED.rglob("*.log.gz"))
    assert len({f.relative_to(COMMITTED).parts[0] for f in files}) == 3  # jobs: three formats
    one_by_one = pl.concat([read_logpush(f) for f in files], how="diagonal_relaxed")
    assert_frame_equal(one_by_one.select(archive.columns), archive)


def test_bad_timestamp_in_a_batch_names_its_own_object_and_line(tmp_path: Path) -> None:
    for name in "abc":  # one schema: read and converted together
        _object(tmp_path / f"{name}.log.gz", [_record(), _record(), _record()])
    _object(tmp_path / "c.log.gz", [_record(), _record(Timestamp="soon"), _record(Timestamp="x")])
    with pytest.raises(RecordError, match=r"c\.log\.gz, line 2: field 'Timestamp'") as info:
        read_logpush(tmp_path, concurrency=1)
    assert info.value.line == 2
    assert info.value.problems == 2
    with pytest.warns(CoercionWarning, match=r"Timestamp \(2\)"):
        assert read_logpush(tmp_path, on_error="null").height == 9


def test_scan_names_fields_first_seen_after_the_first_object(tmp_path: Path) -> None:
    _object(tmp_path / "a.log.gz", [_record()])
    _object(tmp_path / "b.log.gz", [_record(**{"NewField": "x", "Other\x1b[31m": 1})])
    lazy = scan_logpush(tmp_path)
    assert "new_field" not in lazy.collect_schema()
    with pytest.warns(UnknownFieldsWarning, match=r"2 Logpush field\(s\) first seen after") as got:
        assert lazy.collect().height == 2
    text = str(got[-1].message)
    assert "NewField" in text
    assert "\x1b" not in text
    kept = read_logpush(tmp_path)
    assert kept["new_field"].to_list() == [None, "x"]
    synced = dexkit.sync_logpush(tmp_path, tmp_path / "dataset")
    assert synced.records == 2
    assert "new_field" in dexkit.scan_dataset(tmp_path / "dataset").collect_schema()


def test_scan_is_lazy_and_equals_read(archive: pl.DataFrame) -> None:
    with pytest.warns(UnknownFieldsWarning):
        lazy = scan_logpush(COMMITTED)
    assert lazy.collect_schema() == archive.schema
    assert_frame_equal(lazy.collect(), archive)
    picked = lazy.filter(pl.col("colo") == "FRA").select("device_id", "cpu_pct").collect()
    expected = archive.filter(pl.col("colo") == "FRA").select("device_id", "cpu_pct")
    assert_frame_equal(picked, expected)
    assert lazy.head(5).collect().height == 5
    assert_frame_equal(
        health.summarize(lazy, by="colo").collect(engine="streaming"),
        health.summarize(archive, by="colo"),
    )


# ---------------------------------------------------------------------------------------------
# A real S3-compatible server (moto's server mode) on localhost


@pytest.fixture(scope="module")
def s3() -> Iterator[dict[str, Any]]:
    boto3 = pytest.importorskip("boto3")
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.server import ThreadedMotoServer

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    setup = {"endpoint_url": url, "region_name": "us-east-1", "aws_access_key_id": "setup",
             "aws_secret_access_key": "setup"}  # fmt: skip
    try:
        iam = boto3.client("iam", **setup)
        iam.create_user(UserName="dex-reader")
        allow = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
        policy = {"Version": "2012-10-17", "Statement": [allow]}
        iam.put_user_policy(
            UserName="dex-reader", PolicyName="read", PolicyDocument=json.dumps(policy)
        )
        key = iam.create_access_key(UserName="dex-reader")["AccessKey"]
        client = boto3.client("s3", **setup)
        client.create_bucket(Bucket="dex-logs")
        for path in sorted(COMMITTED.rglob("*.log.gz")):
            relative = path.relative_to(COMMITTED).as_posix()
            client.put_object(Bucket="dex-logs", Key=f"logpush/{relative}", Body=path.read_bytes())
        day = gzip.compress(json.dumps(_record()).encode() + b"\n", mtime=0)
        before = gzip.compress(json.dumps(_record(Timestamp=1794909600)).encode() + b"\n")
        client.put_object(Bucket="dex-logs", Key="other/20261117/x.log.gz", Body=before)
        client.put_object(Bucket="dex-logs", Key="other/20261118/cut.log.gz", Body=day[:-12])
        # from here on, the server checks signatures and permissions
        settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
        ActionAuthenticatorMixin.request_count = 0
        yield {
            "url": url,
            "client": client,
            "options": {
                "endpoint": url,
                "region": "auto",
                "access_key_id": key["AccessKeyId"],
                "secret_access_key": key["SecretAccessKey"],
                "allow_http": "true",
            },
        }
    finally:
        settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")
        server.stop()


@pytest.mark.slow
def test_s3_listing_reads_the_archive(s3: dict[str, Any], archive: pl.DataFrame) -> None:
    frame = read_logpush("s3://dex-logs/logpush/", storage_options=s3["options"])
    assert_frame_equal(frame, archive)


@pytest.mark.slow
def test_s3_partial_reads_by_prefix_and_date(s3: dict[str, Any], archive: pl.DataFrame) -> None:
    one_job = read_logpush("s3://dex-logs/logpush/dashboard-job", storage_options=s3["options"])
    assert one_job["timestamp"].min() == T0 + timedelta(hours=2)
    assert one_job["timestamp"].max() < T0 + timedelta(hours=4)
    window = (T0 + timedelta(hours=2, minutes=30), T0 + timedelta(hours=3))
    part = read_logpush(
        "s3://dex-logs/logpush/", start=window[0], end=window[1], storage_options=s3["options"]
    )
    expected = archive.filter(pl.col("timestamp").is_between(*window, closed="left"))
    assert_frame_equal(part, expected)
    # the damaged object is in the 20261118 folder: a window on the 17th never reads it
    day = read_logpush("s3://dex-logs/other/", end="2026-11-18", storage_options=s3["options"])
    assert day.height == 1


def test_s3_listing_is_bounded(s3: dict[str, Any]) -> None:
    with pytest.raises(BudgetError, match="more than 10 keys"):
        read_logpush("s3://dex-logs/logpush/", max_objects=1, storage_options=s3["options"])


def test_s3_damaged_object_is_named(s3: dict[str, Any]) -> None:
    with pytest.raises(PageError, match=r"s3://dex-logs/other/20261118/cut\.log\.gz, line 1"):
        read_logpush("s3://dex-logs/other/", storage_options=s3["options"])
    with pytest.warns(CoercionWarning, match="truncated"):
        assert read_logpush("s3://dex-logs/other/", on_error="null",
                            storage_options=s3["options"]).height == 1  # fmt: skip


def test_s3_wrong_credentials(s3: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "wrong-secret-0123456789abcdef"
    options = {**s3["options"], "secret_access_key": secret}
    with pytest.raises(CredentialsError, match="refused the credentials") as info:
        read_logpush("s3://dex-logs/logpush/", storage_options=options)
    assert secret not in str(info.value)
    assert s3["options"]["access_key_id"] not in str(info.value)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SKIP_SIGNATURE"):
        monkeypatch.delenv(name, raising=False)
    anonymous = {"endpoint": s3["url"], "region": "auto", "allow_http": "true"}
    with pytest.raises(CredentialsError, match="AWS_ACCESS_KEY_ID"):
        read_logpush("s3://dex-logs/logpush/", storage_options=anonymous)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3["options"]["access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3["options"]["secret_access_key"])
    assert read_logpush("s3://dex-logs/other/", end="2026-11-18", storage_options=anonymous).height


@pytest.mark.slow
def test_s3_report_from_the_environment(
    s3: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from dexkit.cli import main

    monkeypatch.setenv("AWS_ENDPOINT_URL", s3["url"])
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")
    monkeypatch.setenv("AWS_REGION", "auto")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3["options"]["access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3["options"]["secret_access_key"])
    out = tmp_path / "r.html"
    assert main(["report", "s3://dex-logs/logpush/privacy-job", "-o", str(out)]) == 0
    # the archive's extra fields are named, in one line of the command's own
    assert "dexkit: warning: " in capsys.readouterr().err
    page = out.read_text()
    assert "Logpush archive" in page
    assert s3["options"]["secret_access_key"] not in page


def test_s3_sync_then_only_new_objects(s3: dict[str, Any], tmp_path: Path) -> None:
    into = tmp_path / "dataset"
    first = sync_logpush("s3://dex-logs/logpush/privacy-job", into, storage_options=s3["options"])
    assert (first.converted, first.skipped) == (first.listed, 0)
    again = sync_logpush("s3://dex-logs/logpush/privacy-job", into, storage_options=s3["options"])
    assert (again.converted, again.skipped, again.records) == (0, first.listed, 0)
    provenance = (into / "_logpush" / "provenance.json").read_text()
    assert s3["options"]["secret_access_key"] not in provenance
    assert s3["options"]["access_key_id"] not in provenance


# ---------------------------------------------------------------------------------------------
# Archive → dataset


@pytest.mark.slow
def test_sync_converts_once_and_matches_read(tmp_path: Path, archive: pl.DataFrame) -> None:
    into = tmp_path / "dataset"
    done = sync_logpush(COMMITTED, into)
    assert (done.listed, done.converted, done.records) == (14, 14, archive.height)
    again = sync_logpush(COMMITTED, into)
    assert (again.converted, again.skipped) == (0, 14)
    spelled = sync_logpush(os.path.relpath(COMMITTED) + "/./", into)  # the same files
    assert (spelled.converted, spelled.skipped) == (0, 14)
    frame = dexkit.scan_dataset(into, source="logpush").collect()
    assert frame.columns[-2:] == ["date", "source"]
    assert_frame_equal(
        frame.drop("date", "source").sort("device_id", "timestamp"),
        archive.sort("device_id", "timestamp"),
    )
    # a new object (the next day's batch) is the only one converted
    _object(tmp_path / "next" / "20261119" / "n.log.gz", [_record(Timestamp=1795046400)])
    archive_copy = tmp_path / "next"
    for path in COMMITTED.rglob("*.log.gz"):
        target = archive_copy / path.relative_to(COMMITTED)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
        os.utime(target, ns=(path.stat().st_mtime_ns, path.stat().st_mtime_ns))
    into2 = tmp_path / "dataset2"
    sync_logpush(archive_copy, into2, end="2026-11-19")
    daily = sync_logpush(archive_copy, into2)
    assert (daily.converted, daily.records) == (1, 1)
    assert daily.files == ("date=2026-11-19/source=logpush/" + Path(daily.files[0]).name,)


def test_sync_records_sample_rate(tmp_path: Path) -> None:
    fleet = synth.Fleet(50, seed=3)
    synth.write_logpush(tmp_path / "a", fleet, T0, T0 + timedelta(hours=1), sample_rate=0.5)
    into = tmp_path / "d"
    assert sync_logpush(tmp_path / "a", into, sample_rate=0.5).sample_rate == 0.5
    assert json.loads((into / "_logpush" / "provenance.json").read_text())["sample_rate"] == 0.5
    assert sync_logpush(tmp_path / "a", into).sample_rate == 0.5  # from the provenance
    with pytest.raises(ConfigError, match=r"sampled at 0\.5, not 0\.1"):
        sync_logpush(tmp_path / "a", into, sample_rate=0.1)
    summary = health.summarize(dexkit.scan_dataset(into)).collect()
    assert summary["sample_rate"].to_list() == [0.5]


@pytest.mark.slow
def test_sync_killed_midway_resumes_without_duplicates_or_gaps(tmp_path: Path) -> None:
    source = tmp_path / "archive"
    synth.write_logpush(
        source, synth.Fleet(300, seed=5), T0, T0 + timedelta(hours=6), batch=timedelta(minutes=10)
    )
    objects = len(list(source.rglob("*.log.gz")))
    into = tmp_path / "dataset"
    ledger = into / "_logpush" / "ledger.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, "-m", "dexkit", "logpush", "sync", str(source), "--into",
               str(into), "--concurrency", "1"]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if ledger.is_file() and ledger.read_bytes().count(b"\n") >= 3:
                break
            time.sleep(0.005)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(30)
        if process.stderr is not None:
            process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    before = ledger.read_bytes().count(b"\n")
    assert 3 <= before < objects, "the run was not interrupted midway"
    with pytest.warns(UnknownFieldsWarning):
        resumed = sync_logpush(source, into)
    assert resumed.skipped == before
    assert resumed.converted == objects - before
    dataset = dexkit.scan_dataset(into).collect()
    with pytest.warns(UnknownFieldsWarning):
        expected = read_logpush(source)
    assert dataset.select("device_id", "timestamp").is_duplicated().sum() == 0
    assert_frame_equal(
        dataset.drop("date", "source").sort("device_id", "timestamp"),
        expected.sort("device_id", "timestamp"),
    )


@pytest.mark.slow
def test_synced_dataset_is_plain_hive_parquet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    duckdb = pytest.importorskip("duckdb")
    monkeypatch.setattr(dexkit.dataset._Summaries, "MIN_BYTES", 0)  # summaries for a small one
    import pyarrow.dataset as ds

    into = tmp_path / "d"
    sync_logpush(COMMITTED, into, end="2026-11-18T12:00Z")
    files = [str(p) for p in into.rglob("*.parquet")]
    assert not [p for p in files if "_logpush" in p]
    # the sync leaves each partition's newest timestamps for the first query (not Parquet, in
    # a "_" folder: other engines skip them, as the counts below show)
    partitions = {p.parent.relative_to(into).as_posix() for p in into.glob("date=*/*/*.parquet")}
    summaries = sorted((into / "_dexkit" / "newest").iterdir())
    assert {",".join(p.name.split(",")[:2]).replace(",", "/") for p in summaries} == partitions
    table = ds.dataset(str(into), format="parquet", partitioning="hive", exclude_invalid_files=True)
    assert "date" in table.schema.names
    assert "source" in table.schema.names
    assert not [f for f in table.schema if "extension" in str(f.type)]
    query = (
        f"SELECT colo, count(*) AS n FROM read_parquet('{into}/*/*/*.parquet', "
        "hive_partitioning = true) GROUP BY colo ORDER BY colo NULLS LAST"
    )
    counts = duckdb.sql(query).pl()
    expected = (
        dexkit.scan_dataset(into)
        .group_by("colo")
        .agg(pl.len().alias("n"))
        .sort("colo", nulls_last=True)
        .collect()
    )
    assert_frame_equal(counts, expected, check_dtypes=False)


# ---------------------------------------------------------------------------------------------
# The committed archive, the CLI and the report


@pytest.mark.slow
def test_committed_archive_regenerates_byte_for_byte(tmp_path: Path) -> None:
    written = synth.write_logpush_sample(tmp_path)
    committed = sorted(COMMITTED.rglob("*.log.gz"))
    assert [p.relative_to(tmp_path) for p in written] == [
        p.relative_to(COMMITTED) for p in committed
    ]
    for fresh, old in zip(written, committed, strict=True):
        assert gzip.decompress(fresh.read_bytes()) == gzip.decompress(old.read_bytes()), old
    assert sum(p.stat().st_size for p in COMMITTED.rglob("*") if p.is_file()) <= 5_000_000


def test_committed_archive_has_the_dataset_shape() -> None:
    formats: dict[str, type] = {}
    for path in sorted(COMMITTED.rglob("*.log.gz")):
        job, day = path.parts[-3], path.parts[-2]
        assert day == "20261118"
        assert path.name.endswith(".log.gz")
        first = json.loads(gzip.decompress(path.read_bytes()).split(b"\n")[0])
        formats[job] = type(first["Timestamp"])
        assert set(first) <= set(synth.LOGPUSH_FIELDS)
        assert 0 <= first.get("CPUPercentage", 0) <= 1
        if job == "privacy-job":
            assert not {"NetworkSSID", "DeviceIPv4Address", "DeviceRegistrationID"} & set(first)
    assert formats == {"api-job": int, "dashboard-job": str, "privacy-job": int}


@pytest.mark.slow
def test_cli_logpush_sync_and_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dexkit.cli import main

    into = tmp_path / "d"
    assert main(["logpush", "sync", str(COMMITTED), "--into", str(into),
                 "--end", "2026-11-18T11:00Z", "--sample-rate", "0.5"]) == 0  # fmt: skip
    said = capsys.readouterr()
    assert "dexkit: warning: 4 Logpush field(s) not in the API's record" in said.err
    out = said.out
    assert "14 object(s) converted" in out
    assert "sampled at 0.5" in out
    assert main(["logpush", "sync", str(tmp_path / "nothing"), "--into", str(into)]) == 1
    assert "no Logpush archive" in capsys.readouterr().err
    assert main(["logpush", "sync", str(COMMITTED), "--into", str(into), "--max-objects", "1"]) == 1
    assert "max_objects=1" in capsys.readouterr().err
    html = tmp_path / "r.html"
    assert main(["report", str(COMMITTED), "-o", str(html),
                 "--incident", "2026-11-18T13:00Z", "2026-11-18T15:00Z"]) == 0  # fmt: skip
    page = html.read_text()
    assert "Logpush archive" in page
    assert "FRA" in page
    assert main(["report", str(into), "-o", str(html)]) == 0
    assert "sampled at 0.5" in html.read_text()


def test_unknown_field_names_reach_the_warning_escaped(tmp_path: Path) -> None:
    import gzip

    from dexkit import read_logpush

    line = {"DeviceID": "d1", "Timestamp": "2026-11-18T13:00:00Z", "\x1b]0;pwned\x07X": 1}
    (tmp_path / "batch.log.gz").write_bytes(gzip.compress(json.dumps(line).encode() + b"\n"))
    with pytest.warns(UnknownFieldsWarning) as caught:
        read_logpush(tmp_path)
    message = str(caught[0].message)
    assert "\x1b" not in message
    assert "\x07" not in message
