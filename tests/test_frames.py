"""read_pages, flatten and app_usage."""

from __future__ import annotations

import copy
import glob
import gzip
import json
import math
import subprocess
import sys
import tracemalloc
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import dexkit
from dexkit import (
    APIError,
    CoercionWarning,
    ConfigError,
    PageError,
    RecordError,
    UnknownFieldsWarning,
)
from dexkit._files import find
from dexkit.client import Client
from dexkit.schema import SCHEMA, empty_frame
from dexkit.testing import FakeCloudflare


def ip(address: str = "10.0.0.2", version: Any = 1) -> dict[str, Any]:
    return {
        "address": address,
        "asn": 3320,
        "aso": "Deutsche Telekom AG",
        "location": {"city": "Frankfurt", "country_iso": "DE", "state_iso": "HE", "zip": "60311"},
        "name": "dtag",
        "netmask": "255.255.255.0",
        "version": version,
    }


def directional(down: int, up: int) -> dict[str, int]:
    return {"downstream": down, "upstream": up}


def full_record(device: str = "d1", **changes: Any) -> dict[str, Any]:
    """A record with every one of the 43 fields, as the API sends it."""
    record: dict[str, Any] = {
        "colo": "FRA",
        "deviceId": device,
        "mode": "warp",
        "platform": "windows",
        "status": "connected",
        "timestamp": "2026-11-18 13:00:00+00",
        "version": "2025.10.186.0",
        "alwaysOn": True,
        "batteryCharging": False,
        "batteryCycles": 112,
        "batteryPct": 87,
        "connectionType": "wifi",
        "cpuPct": 12.5,
        "cpuPctByApp": [{"cpu_pct": 7.5, "name": "zoom"}, {"cpu_pct": 3, "name": "chrome"}],
        "deviceIpv4": ip(),
        "deviceIpv6": ip("2001:db8::2", 2),
        "deviceName": "LAPTOP-7",
        "deviceRegistration": "reg-old",
        "diskReadBps": 1200,
        "diskUsagePct": 61.2,
        "diskWriteBps": 800,
        "dohSubdomain": "acme",
        "estimatedLossPct": 0.4,
        "firewallEnabled": True,
        "gatewayIpv4": ip("10.0.0.1"),
        "gatewayIpv6": ip("2001:db8::1", 2),
        "handshakeLatencyMs": 38,
        "ispIpv4": ip("84.1.2.3"),
        "ispIpv6": ip("2a00::3", 2),
        "metal": "fra06",
        "networkRcvdBps": 52000,
        "networkSentBps": 13000,
        "networkSsid": "acme-corp",
        "personEmail": "ada.lovelace@example.com",
        "ramAvailableKb": 4_100_000,
        "ramUsedPct": 55,
        "ramUsedPctByApp": [{"name": "zoom", "ram_used_pct": 11.5}],
        "registrationId": "reg-1",
        "rtt": {
            "minRttUs": directional(9000, 9100),
            "rttUs": directional(12000, 12500),
            "rttVarUs": directional(300, 310),
        },
        "switchLocked": False,
        "tunnelStats": {
            "bytesLost": directional(10, 20),
            "bytesReceived": directional(10_000, 20_000),
            "bytesRetransmitted": directional(1, 2),
            "bytesSent": directional(30_000, 40_000),
            "packetsLost": directional(1, 0),
            "packetsReceived": directional(100, 200),
            "packetsRetransmitted": directional(0, 1),
            "packetsSent": directional(300, 400),
            "statsWindowMs": 60000,
        },
        "tunnelType": "masque",
        "wifiStrengthDbm": -61,
    }
    record.update(changes)
    return record


def minimal_record(device: str = "d1", **changes: Any) -> dict[str, Any]:
    record = {
        "colo": "SJC",
        "deviceId": device,
        "mode": "proxy",
        "platform": "mac",
        "status": "disconnected",
        "timestamp": "2026-11-18 13:10:00+00",
        "version": "2025.9.558.0",
    }
    record.update(changes)
    return record


def page(records: list[Any], *, number: int = 1, total: int | None = None, **extra: Any) -> bytes:
    body: dict[str, Any] = {
        "success": True,
        "errors": [],
        "messages": [],
        "result": records,
        "result_info": {
            "count": len(records),
            "page": number,
            "per_page": 50,
            "total_count": total if total is not None else len(records),
            "total_pages": 1,
        },
    }
    body.update(extra)
    return json.dumps(body, separators=(",", ":")).encode()


# --------------------------------------------------------------------------------------------
# the happy path


def test_full_record_loads_with_the_exact_schema() -> None:
    frame = dexkit.read_pages(page([full_record(), minimal_record()]))
    assert frame.schema == SCHEMA
    assert frame.height == 2
    row = frame.row(0, named=True)
    assert row["device_id"] == "d1"
    assert row["timestamp"] == datetime(2026, 11, 18, 13, tzinfo=UTC)
    assert row["battery_pct"] == 87.0  # a Go-style int in a float field
    assert row["cpu_pct_by_app"] == [
        {"cpu_pct": 7.5, "name": "zoom"},
        {"cpu_pct": 3.0, "name": "chrome"},
    ]
    assert row["isp_ipv4"]["location"]["city"] == "Frankfurt"
    assert row["device_ipv6"]["version"] == 2
    assert row["rtt"]["min_rtt_us"] == {"downstream": 9000, "upstream": 9100}
    assert row["tunnel_stats"]["bytes_sent"]["downstream"] == 30_000
    assert row["tunnel_stats"]["stats_window_ms"] == 60000
    assert row["registration_id"] == "reg-1"
    assert row["handshake_latency_ms"] == 38.0
    minimal = frame.row(1, named=True)
    assert minimal["rtt"] is None
    assert minimal["cpu_pct"] is None
    assert minimal["cpu_pct_by_app"] is None


def test_rows_keep_page_order_across_pages() -> None:
    pages = [page([minimal_record(f"d{p}{i}") for i in range(3)], number=p) for p in range(1, 4)]
    frame = dexkit.read_pages(pages)
    assert frame.get_column("device_id").to_list() == [
        f"d{p}{i}" for p in (1, 2, 3) for i in range(3)
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-10-11 00:00:00+00", datetime(2023, 10, 11, tzinfo=UTC)),
        ("2023-10-11T00:00:00Z", datetime(2023, 10, 11, tzinfo=UTC)),
        ("2023-10-11T00:00:00.250Z", datetime(2023, 10, 11, 0, 0, 0, 250_000, tzinfo=UTC)),
        ("2023-10-11T02:30:00+02:00", datetime(2023, 10, 11, 0, 30, tzinfo=UTC)),
        ("2023-10-11T02:30:00+0200", datetime(2023, 10, 11, 0, 30, tzinfo=UTC)),
        ("2023-10-10 19:00:00-05", datetime(2023, 10, 11, tzinfo=UTC)),
        ("2023-10-11T00:00:00", datetime(2023, 10, 11, tzinfo=UTC)),
        (1697000000000, datetime(2023, 10, 11, 4, 53, 20, tzinfo=UTC)),
        ("1697000000000", datetime(2023, 10, 11, 4, 53, 20, tzinfo=UTC)),
    ],
)
def test_timestamp_forms_all_load_as_utc(text: Any, expected: datetime) -> None:
    frame = dexkit.read_pages(page([minimal_record(timestamp=text)]))
    assert frame.get_column("timestamp").to_list() == [expected]
    assert frame.schema["timestamp"] == pl.Datetime("us", "UTC")


def test_mixed_timestamp_forms_in_one_page() -> None:
    records = [
        minimal_record("a", timestamp="2023-10-11 00:00:00+00"),
        minimal_record("b", timestamp="2023-10-11T00:00:00Z"),
        minimal_record("c", timestamp=1697000000000),
    ]
    stamps = dexkit.read_pages(page(records)).get_column("timestamp").to_list()
    assert stamps[0] == stamps[1] == datetime(2023, 10, 11, tzinfo=UTC)
    assert stamps[2] == datetime(2023, 10, 11, 4, 53, 20, tzinfo=UTC)


def test_negative_handshake_latency_is_null() -> None:
    records = [full_record("a", handshakeLatencyMs=-1), full_record("b", handshakeLatencyMs=12.5)]
    latency = dexkit.read_pages(page(records)).get_column("handshake_latency_ms").to_list()
    assert latency == [None, 12.5]


def test_deprecated_device_registration_fills_registration_id() -> None:
    old = minimal_record("a", deviceRegistration="reg-old")
    both = minimal_record("b", deviceRegistration="reg-old", registrationId="reg-new")
    frame = dexkit.read_pages(page([old, both]))
    assert frame.get_column("registration_id").to_list() == ["reg-old", "reg-new"]
    assert frame.get_column("device_registration").to_list() == ["reg-old", "reg-old"]


def test_null_and_missing_optional_fields_are_null() -> None:
    record = full_record(cpuPct=None, rtt=None, deviceIpv6=None, cpuPctByApp=None)
    del record["batteryPct"], record["tunnelStats"]
    record["ispIpv4"]["location"] = None
    row = dexkit.read_pages(page([record])).row(0, named=True)
    for column in (
        "cpu_pct",
        "rtt",
        "device_ipv6",
        "cpu_pct_by_app",
        "battery_pct",
        "tunnel_stats",
    ):
        assert row[column] is None, column
    assert row["isp_ipv4"]["location"] is None
    assert row["isp_ipv4"]["asn"] == 3320


# --------------------------------------------------------------------------------------------
# older and newer shapes


def test_older_shapes_load() -> None:
    older = full_record(
        cpuPctByApp=[[{"cpu_pct": 7.5, "name": "zoom"}], [{"cpu_pct": 1, "name": "slack"}]],
        ramUsedPctByApp=[[{"name": "zoom", "ram_used_pct": 11.5}]],
        deviceIpv4=ip(version="1"),
        ispIpv6=ip("2a00::3", version="ipv6"),
    )
    row = dexkit.read_pages(page([older])).row(0, named=True)
    assert row["cpu_pct_by_app"] == [
        {"cpu_pct": 7.5, "name": "zoom"},
        {"cpu_pct": 1.0, "name": "slack"},
    ]
    assert row["ram_used_pct_by_app"] == [{"name": "zoom", "ram_used_pct": 11.5}]
    assert row["device_ipv4"]["version"] == 1
    assert row["isp_ipv6"]["version"] == 2


def test_unknown_fields_are_kept_and_named_once() -> None:
    records = [
        full_record("a", newMetric=3, rtt={"rttUs": {"upstream": 5, "jitterUs": 7}}),
        full_record("b", newMetric=4),
    ]
    with pytest.warns(UnknownFieldsWarning) as caught:
        frame = dexkit.read_pages([page(records), page([full_record("c", newMetric=5)])])
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "newMetric (→ new_metric)" in message
    assert "rtt.rttUs.jitterUs (→ rtt.rtt_us.jitter_us)" in message
    assert frame.columns[:43] == SCHEMA.names()
    assert frame.get_column("new_metric").to_list() == [3, 4, 5]
    assert frame.row(0, named=True)["rtt"]["rtt_us"] == {
        "downstream": None,
        "upstream": 5,
        "jitter_us": 7,
    }


def test_unknown_fields_that_change_type_are_kept_as_json_text() -> None:
    records = [full_record("a", surprise=1), full_record("b", surprise="x"), full_record("c")]
    with pytest.warns(UnknownFieldsWarning, match="as JSON text"):
        frame = dexkit.read_pages(page(records))
    assert frame.get_column("surprise").to_list() == ["1", '"x"', None]


def test_unknown_envelope_fields_are_ignored() -> None:
    frame = dexkit.read_pages(page([minimal_record()], cursor="abc"))
    assert frame.height == 1


# --------------------------------------------------------------------------------------------
# errors


def _raises(exc: type[Exception], pages: Any, **kwargs: Any) -> Any:
    with pytest.raises(exc) as info:
        dexkit.read_pages(pages, **kwargs)
    return info.value


def test_success_false_raises_with_cloudflare_codes() -> None:
    failure = json.dumps(
        {
            "success": False,
            "errors": [{"code": 1004, "message": "DEX: invalid time range"}],
            "messages": [],
            "result": None,
        }
    ).encode()
    error = _raises(APIError, [page([minimal_record()]), failure])
    assert error.codes == [1004]
    assert error.messages == ["DEX: invalid time range"]
    assert error.page == 2
    assert "[1004] DEX: invalid time range" in str(error)
    assert "page 2" in str(error)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>", "HTML"),
        (b'{"success":true,"errors":[],"result":[{"deviceId":"a"', "truncated JSON"),
        (b'{"success":true,"errors":[]}', "no 'result'"),
        (b'{"success":true,"result":null}', "no 'result'"),
        (b'{"success":true,"result":{"deviceId":"a"}}', "should be a list"),
        (b"[1, 2]", "JSON list"),
        (b"", "empty"),
        (b"   \n", "empty"),
    ],
)
def test_bad_pages_raise_page_error_naming_the_page(body: bytes, words: str) -> None:
    error = _raises(PageError, [page([minimal_record()]), body])
    assert error.page == 2
    assert words in str(error)
    assert not isinstance(error, RecordError)


def test_bad_gzip_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "page-00001.json.gz"
    bad.write_bytes(gzip.compress(page([minimal_record()]))[:30])
    error = _raises(PageError, bad)
    assert error.page == str(bad)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("cpuPct", "12", "expected a number"),
        ("cpuPct", True, "expected a number"),
        ("cpuPctByApp", {"name": "zoom"}, "expected a list"),
        ("rtt", [1, 2], "expected an object"),
        ("alwaysOn", "yes", "expected true or false"),
        ("batteryCycles", 1.5, "expected an integer"),
        ("deviceName", 7, "expected a string"),
        ("timestamp", {"t": 1}, "timestamp"),
        ("timestamp", "yesterday", "cannot read this timestamp"),
    ],
)
def test_wrong_typed_values_raise_record_error_naming_everything(
    field: str, value: Any, reason: str
) -> None:
    records = [full_record("a"), full_record("b", **{field: value})]
    error = _raises(RecordError, [page([full_record("z")]), page(records)])
    assert (error.page, error.record, error.field, error.value) == (2, 1, field, value)
    assert reason in str(error)
    assert f"page 2: record 1, field '{field}'" in str(error)


def test_nested_wrong_type_names_the_dotted_field() -> None:
    record = full_record()
    record["tunnelStats"]["bytesSent"]["upstream"] = "lots"
    error = _raises(RecordError, page([record]))
    assert error.field == "tunnelStats.bytesSent.upstream"
    assert error.record == 0


def test_missing_required_field_raises() -> None:
    record = minimal_record()
    del record["deviceId"]
    error = _raises(RecordError, page([minimal_record("ok"), record]))
    assert (error.record, error.field) == (1, "deviceId")
    assert "required" in str(error)


def test_lenient_mode_nulls_wrong_values_and_counts_them() -> None:
    records = [
        full_record("a", cpuPct="12"),
        full_record("b", cpuPct="high", alwaysOn="yes"),
        full_record("c", timestamp="not a time"),
        full_record("d"),
    ]
    with pytest.warns(CoercionWarning) as caught:
        frame = dexkit.read_pages(page(records), on_error="null")
    assert frame.height == 4
    assert frame.get_column("cpu_pct").to_list() == [None, None, 12.5, 12.5]
    assert frame.get_column("always_on").to_list() == [True, None, True, True]
    assert frame.get_column("timestamp").null_count() == 1
    message = str(caught[0].message)
    assert "4 wrong-typed or missing value(s)" in message
    assert "cpuPct (2)" in message
    assert "alwaysOn (1)" in message
    assert "timestamp (1)" in message


def test_lenient_mode_keeps_a_row_for_a_record_that_is_not_an_object() -> None:
    with pytest.warns(CoercionWarning, match="<record>"):
        frame = dexkit.read_pages(page([minimal_record(), "junk"]), on_error="null")
    assert frame.height == 2
    assert frame.row(1, named=True)["device_id"] is None


def test_on_error_is_validated() -> None:
    with pytest.raises(ConfigError, match="on_error"):
        dexkit.read_pages(page([]), on_error="ignore")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# sources


def test_empty_inputs_give_the_full_schema() -> None:
    assert_frame_equal(dexkit.read_pages([]), empty_frame())
    assert_frame_equal(dexkit.read_pages(page([])), empty_frame())
    assert_frame_equal(dexkit.read_pages([page([]), page([])]), empty_frame())


def test_files_directories_globs_and_gzip(tmp_path: Path) -> None:
    pages = [page([minimal_record(f"d{i}")], number=i) for i in range(1, 5)]
    store = tmp_path / "store"
    (store / "raw" / "2026-11-18T13").mkdir(parents=True)
    (store / "manifest.json").write_text('{"not": "a page"}')
    (store / "notes.txt").write_text("ignored")
    for i, body in enumerate(pages, start=1):
        target = store / "raw" / "2026-11-18T13" / f"page-{i:05d}.json"
        if i % 2:
            target.with_suffix(".json.gz").write_bytes(gzip.compress(body))
        else:
            target.write_bytes(body + b"\n")
    expected = ["d1", "d2", "d3", "d4"]
    assert dexkit.read_pages(store).get_column("device_id").to_list() == expected
    assert dexkit.read_pages(str(store / "**" / "*.json*")).height == 4
    one = store / "raw" / "2026-11-18T13" / "page-00001.json.gz"
    assert dexkit.read_pages(one).get_column("device_id").to_list() == ["d1"]
    assert dexkit.read_pages([one, one]).height == 2
    gz_bytes = gzip.compress(pages[0])
    assert dexkit.read_pages(gz_bytes).height == 1


def test_missing_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        dexkit.read_pages(tmp_path / "nope")
    with pytest.raises(ConfigError, match="read_pages"):
        dexkit.read_pages(42)  # type: ignore[arg-type]


def test_pretty_printed_pages_with_newlines_load() -> None:
    body = json.dumps(json.loads(page([full_record("a"), full_record("b")])), indent=2)
    assert dexkit.read_pages(body.encode()).height == 2


# --------------------------------------------------------------------------------------------
# flatten and app_usage


def test_flatten_gives_one_column_per_leaf_and_keeps_lists() -> None:
    frame = dexkit.read_pages(page([full_record(), minimal_record("m")]))
    flat = dexkit.flatten(frame)
    for column in (
        "device_ipv4_location_city",
        "tunnel_stats_bytes_sent_downstream",
        "rtt_min_rtt_us_upstream",
        "tunnel_stats_stats_window_ms",
        "cpu_pct_by_app",
    ):
        assert column in flat.columns
    assert not any(isinstance(d, pl.Struct) for d in flat.schema.values())
    assert flat.get_column("rtt_min_rtt_us_upstream").to_list() == [9100, None]
    assert flat.get_column("device_ipv4_location_city").to_list() == ["Frankfurt", None]
    # 120 leaves in the record; the two per-app lists stay lists
    assert flat.width == 120 - 4 + 2
    lazy = dexkit.flatten(frame.lazy(), separator=".")
    assert isinstance(lazy, pl.LazyFrame)
    assert "isp_ipv4.location.city" in lazy.collect_schema().names()


def test_app_usage_merges_both_lists() -> None:
    records = [
        full_record("a"),
        full_record(
            "b",
            cpuPctByApp=[{"cpu_pct": 4, "name": "zoom"}, {"cpu_pct": 1.5, "name": "zoom"}],
            ramUsedPctByApp=[{"name": "slack", "ram_used_pct": 2.5}],
        ),
        minimal_record("c"),
    ]
    frame = dexkit.read_pages(page(records))
    t = datetime(2026, 11, 18, 13, tzinfo=UTC)
    expected = pl.DataFrame(
        {
            "device_id": ["a", "a", "b", "b"],
            "timestamp": [t] * 4,
            "app": ["chrome", "zoom", "slack", "zoom"],
            "cpu_pct": [3.0, 7.5, None, 5.5],
            "ram_used_pct": [None, 11.5, 2.5, None],
        },
        schema_overrides={"timestamp": pl.Datetime("us", "UTC")},
    )
    assert_frame_equal(dexkit.app_usage(frame), expected)
    assert_frame_equal(dexkit.app_usage(frame.lazy()).collect(), expected)


def test_app_usage_of_an_empty_frame() -> None:
    out = dexkit.app_usage(empty_frame())
    assert out.columns == ["device_id", "timestamp", "app", "cpu_pct", "ram_used_pct"]
    assert out.height == 0


def test_read_pages_does_not_mutate_nor_depend_on_input_identity() -> None:
    records = [full_record()]
    before = copy.deepcopy(records)
    dexkit.read_pages(page(records))
    assert records == before


@pytest.mark.parametrize("value", ["99999999999999999999", 1e300, 32503680000001])
def test_epoch_milliseconds_out_of_range_are_errors_not_silent_nulls(value: Any) -> None:
    error = _raises(RecordError, page([minimal_record(timestamp=value)]))
    assert error.field == "timestamp"
    with pytest.warns(CoercionWarning, match="timestamp"):
        frame = dexkit.read_pages(page([minimal_record(timestamp=value)]), on_error="null")
    assert frame["timestamp"].to_list() == [None]


def test_absurdly_deep_unknown_nesting_is_a_page_error() -> None:
    deep = b'{"x":' * 1200 + b"1" + b"}" * 1200
    body = page([minimal_record(deep="DEEP")]).replace(b'"DEEP"', deep)
    error = _raises(PageError, body)
    assert "deeper" in str(error) or "JSON" in str(error)


@pytest.mark.parametrize("levels", [10_000, 100_000])
@pytest.mark.parametrize(
    "shape",
    ["arrays", "objects", "behind strings of closing brackets"],
)
@pytest.mark.slow
def test_nesting_deep_enough_to_crash_arrow_is_a_page_error(
    tmp_path: Path, levels: int, shape: str
) -> None:
    """Arrow's JSON parser recurses per level and overflows the stack near 10,000 levels (a
    20 KB page): such pages must reach the checked path. A subprocess, so that a crash fails
    the test instead of ending the run."""
    if shape == "arrays":
        deep = b"[" * levels + b"]" * levels
    elif shape == "objects":
        deep = b'{"x":' * levels + b"1" + b"}" * levels
    else:  # strings full of "]" that a string-unaware depth count would subtract
        deep = b'["' + b"]" * levels + b'", ' + b"[" * levels + b"]" * levels + b"]"
    body = page([minimal_record(deep="DEEP")]).replace(b'"DEEP"', deep)
    (tmp_path / "page-1.json").write_bytes(body)
    code = (
        "import sys, dexkit\n"
        "try:\n"
        "    dexkit.read_pages(sys.argv[1])\n"
        "except dexkit.PageError as exc:\n"
        "    print('PageError:', exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "page-1.json")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.startswith("PageError:")
    assert "page-1.json" in done.stdout


def _lenient(*pages: bytes) -> tuple[pl.DataFrame, str]:
    with pytest.warns(CoercionWarning) as caught:
        frame = dexkit.read_pages(list(pages), on_error="null")
    assert len(caught) == 1
    return frame, str(caught[0].message)


# a page that forces the checked path (a wrong type), to load beside pages the fast path takes
_ODD = page([minimal_record("d9", cpuPct="x")])


@pytest.mark.parametrize("beside", [(), (_ODD,)], ids=["alone", "beside a checked page"])
@pytest.mark.parametrize(
    ("record", "counted"),
    [
        (minimal_record(deviceId=None), "deviceId (1)"),
        ({k: v for k, v in minimal_record().items() if k != "colo"}, "colo (1)"),
        (minimal_record(timestamp=True), "timestamp (1)"),  # counted once, not twice
        (None, "<record> (1)"),
    ],
)
def test_lenient_mode_counts_each_missing_value_once_whichever_path(
    record: Any, counted: str, beside: tuple[bytes, ...]
) -> None:
    frame, message = _lenient(page([minimal_record("d0"), record]), *beside)
    assert counted in message
    assert frame.height == 2 + len(beside)  # nothing is dropped
    assert "d0" in frame["device_id"].to_list()


@pytest.mark.parametrize("beside", [(), (_ODD,)], ids=["alone", "beside a checked page"])
def test_nan_and_infinity_literals_load_the_same_whichever_path(beside: tuple[bytes, ...]) -> None:
    body = page([minimal_record(cpuPct=1.0, ramUsedPct=2.0)])
    body = body.replace(b'"cpuPct":1.0', b'"cpuPct":NaN').replace(
        b'"ramUsedPct":2.0', b'"ramUsedPct":-Infinity'
    )
    if beside:
        frame, _ = _lenient(body, *beside)
    else:
        frame = dexkit.read_pages(body)
    row = frame.filter(pl.col("device_id") == "d1").row(0, named=True)
    assert math.isnan(row["cpu_pct"])
    assert row["ram_used_pct"] == -math.inf


@pytest.mark.parametrize(
    ("source", "match"),
    [
        ('{"success": true, "result": []}', "looks like JSON, not a path"),
        ("x" * 5000, "as a path \\(File name too long\\)"),
    ],
)
def test_strings_that_are_not_paths(source: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        dexkit.read_pages(source)


def test_an_unreadable_file_is_a_page_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "page-1.json"
    target.write_bytes(page([minimal_record()]))

    def denied(self: Path, *args: object, **kwargs: object) -> object:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", denied)
    with pytest.raises(PageError, match="cannot read the file \\(Permission denied\\)") as info:
        dexkit.read_pages(tmp_path)
    assert info.value.page == str(target)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"PAR1\x00\x01\x02", "a Parquet file, not an API page"),
        ('{"result": ["caf\u00e9"]}'.encode("latin-1"), "not UTF-8 text"),
    ],
)
def test_non_json_bodies_say_what_they_are(body: bytes, words: str) -> None:
    error = _raises(PageError, body)
    assert words in str(error)


@pytest.mark.parametrize("beside", [(), (_ODD,)], ids=["alone", "beside a checked page"])
@pytest.mark.parametrize("literal", [b"Inf", b"-Inf", b"-NaN", b"1e400", b"NaNx"])
def test_other_non_json_numbers_fail_the_same_whichever_path(
    literal: bytes, beside: tuple[bytes, ...]
) -> None:
    body = page([minimal_record(cpuPct=1.0)]).replace(b'"cpuPct":1.0', b'"cpuPct":' + literal)
    with pytest.raises(PageError, match="invalid or truncated JSON") as info:
        dexkit.read_pages([body, *beside], on_error="null")
    assert info.value.page == 1


@pytest.mark.parametrize(
    "swap",
    [
        (b'"deviceName":"X"', b'"deviceName":"\\ud800x"'),  # a lone surrogate
        (b'"batteryCycles":1', b'"batteryCycles":' + b"9" * 400),  # beyond 64 bits
    ],
)
def test_nan_pages_are_as_strict_as_json_otherwise(swap: tuple[bytes, bytes]) -> None:
    body = page([minimal_record(cpuPct=1.0, deviceName="X", batteryCycles=1)])
    body = body.replace(*swap).replace(b'"cpuPct":1.0', b'"cpuPct":NaN')
    assert swap[1] in body
    error = _raises(PageError, body)
    assert "invalid or truncated JSON" in str(error)


def test_globs_may_start_with_a_bracket(tmp_path: Path) -> None:
    for n in (1, 2, 3):
        (tmp_path / f"page-{n}.json").write_bytes(page([minimal_record(f"d{n}")], number=n))
    frame = dexkit.read_pages(str(tmp_path / "[p]age-[12].json"))
    assert frame["device_id"].to_list() == ["d1", "d2"]
    folder = tmp_path / "[2026] pages"
    folder.mkdir()
    (folder / "page-1.json").write_bytes(page([minimal_record("d7")]))
    assert dexkit.read_pages(str(folder))["device_id"].to_list() == ["d7"]


def test_a_body_cut_inside_a_character_is_truncated_json() -> None:
    error = _raises(PageError, '{"result": ["caf\u00e9'.encode()[:-1])
    assert "invalid or truncated JSON" in str(error)


# --------------------------------------------------------------------------------------------
# Hostile files: bombs, loops, depth, wrong-typed keys, escape sequences, empty selections


def _gzip_bomb(path: Path, megabytes: int) -> None:
    """Write ``megabytes`` MB of zeros gzipped (about 1/1000 of that on disk), 1 MB at a time."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(2**20)
    with path.open("wb") as handle:
        for _ in range(megabytes):
            handle.write(packer.compress(zeros))
        handle.write(packer.flush())


@pytest.mark.parametrize("as_bytes", [False, True], ids=["file", "bytes"])
@pytest.mark.slow
def test_a_gzip_bomb_stops_at_max_page_bytes_without_filling_memory(
    tmp_path: Path, as_bytes: bool
) -> None:
    bomb = tmp_path / "page-00001.json.gz"
    _gzip_bomb(bomb, 100)
    assert bomb.stat().st_size < 200_000
    source: Any = bomb.read_bytes() if as_bytes else bomb
    tracemalloc.start()
    try:
        with pytest.raises(
            PageError, match=r"more than max_page_bytes=10485760 \(10 MiB\)"
        ) as info:
            dexkit.read_pages(source, max_page_bytes=10 * 2**20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert info.value.page == (1 if as_bytes else str(bomb))
    assert peak < 40 * 2**20  # the 100 MB were never decoded whole
    assert "pass a larger max_page_bytes=" in str(info.value)


def test_a_page_file_over_the_cap_is_refused_before_it_is_read(tmp_path: Path) -> None:
    huge = tmp_path / "page-00001.json"
    with huge.open("wb") as handle:  # sparse: 1 GiB + 1 byte that take no disk space
        handle.truncate(2**30 + 1)
    tracemalloc.start()
    try:
        with pytest.raises(PageError, match="holds more than max_page_bytes=268435456") as info:
            dexkit.read_pages(huge)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert info.value.page == str(huge)
    assert peak < 2**20
    with pytest.raises(PageError, match="holds more than max_page_bytes=100"):
        dexkit.read_pages(page([minimal_record()]), max_page_bytes=100)
    with pytest.raises(ConfigError, match="max_page_bytes must be a positive integer"):
        dexkit.read_pages(huge, max_page_bytes=0)


def _pages_with_link_loops(root: Path) -> None:
    for n, folder in enumerate(["a", "a/b", "c"], start=1):
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / f"page-{n}.json").write_bytes(page([minimal_record(f"d{n}")]))
    # loops: each link points back up, two per directory so that following them branches
    for folder in ["a", "a/b", "c"]:
        (root / folder / "up").symlink_to(root, target_is_directory=True)
        (root / folder / "here").symlink_to(root / folder, target_is_directory=True)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("pattern", ["**/*.json", "**/page-*", "*/**/*.json", "**"])
def test_globs_over_symlink_loops_end_and_read_each_page_once(tmp_path: Path, pattern: str) -> None:
    _pages_with_link_loops(tmp_path)
    frame = dexkit.read_pages(str(tmp_path / pattern))
    assert sorted(frame["device_id"].to_list()) == ["d1", "d2", "d3"]
    assert sorted(dexkit.read_pages(tmp_path)["device_id"].to_list()) == ["d1", "d2", "d3"]


@pytest.fixture
def deep_tree(tmp_path: Path) -> Iterator[Path]:
    """A directory for a very deep tree, removed level by level afterwards: shutil.rmtree (and
    pytest's clean-up of old temporary directories) would recurse once per level."""
    root = tmp_path / "deep"
    root.mkdir()
    yield root
    levels = [root]
    while (levels[-1] / "d").is_dir():
        levels.append(levels[-1] / "d")
    for level in reversed(levels):
        for entry in level.iterdir():
            if not entry.is_dir():
                entry.unlink()
        level.rmdir()


@pytest.mark.timeout(120)
@pytest.mark.slow
def test_a_directory_nested_1500_levels_deep_is_read(deep_tree: Path) -> None:
    deepest = deep_tree
    for _ in range(1500):  # os.makedirs would recurse 1500 times: one level at a time
        deepest = deepest / "d"
        deepest.mkdir()
    (deepest / "page-1.json").write_bytes(page([minimal_record("deep")]))
    assert dexkit.read_pages(deep_tree)["device_id"].to_list() == ["deep"]
    assert dexkit.read_pages(str(deep_tree / "**" / "*.json"))["device_id"].to_list() == ["deep"]


def test_max_files_bounds_a_directory_or_glob(tmp_path: Path) -> None:
    for n in range(1, 6):
        (tmp_path / f"page-{n}.json").write_bytes(page([minimal_record(f"d{n}")]))
    assert dexkit.read_pages(tmp_path, max_files=5).height == 5
    with pytest.raises(ConfigError, match="more than max_files=4 page files"):
        dexkit.read_pages(tmp_path, max_files=4)
    with pytest.raises(ConfigError, match="selects more than max_files=3 files"):
        dexkit.read_pages(str(tmp_path / "*.json"), max_files=3)


def test_the_glob_matcher_agrees_with_glob_on_a_tree_without_links(tmp_path: Path) -> None:
    for name in ["a.json", ".hidden.json", "x/b.json", "x/y/c.json", "x/.h/d.json", "z/e.txt"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}")
    patterns = ["*.json", "**/*.json", "*/*.json", "x/**", "**/[bc].json", "?/?.*", "**/.h/*"]
    for pattern in patterns:
        full = str(tmp_path / pattern)
        expected = sorted(p for p in glob.glob(full, recursive=True) if Path(p).is_file())
        assert [str(p) for p in find(full)] == expected, pattern


KEY_FIELDS = ["deviceId", "timestamp", "registrationId"]


@pytest.mark.parametrize("beside", [(), (_ODD,)], ids=["fast path first", "checked path"])
@pytest.mark.parametrize("value", [["d1", "d2"], {"id": "d1"}], ids=["array", "object"])
@pytest.mark.parametrize("field", KEY_FIELDS)
def test_a_key_field_holding_an_array_or_object_is_a_record_error(
    field: str, value: Any, beside: tuple[bytes, ...]
) -> None:
    bad = page([minimal_record("d1"), minimal_record("d2", **{field: value})])
    with pytest.raises(RecordError) as info:
        dexkit.read_pages([bad, *beside])
    error = info.value
    assert (error.page, error.record, error.field, error.value) == (1, 1, field, value)
    frame, message = _lenient(bad, *beside)
    assert f"{field} (1)" in message
    assert frame.height == 2 + len(beside)


class _HostileKeys:
    """A fleet whose records carry a device id or registration id of the wrong type."""

    def __init__(self, field: str, value: Any) -> None:
        self.field, self.value = field, value

    def records(self, source: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        stamp = (end - timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S+00")
        records = [minimal_record(f"d{n:03d}", timestamp=stamp) for n in range(120)]
        records[70][self.field] = self.value  # page 2 of 50, record 20
        return records


@pytest.mark.parametrize("value", [["x", "y"], {"id": "x"}], ids=["array", "object"])
@pytest.mark.parametrize("field", ["deviceId", "registrationId"])
def test_a_server_sending_wrong_typed_keys_gives_a_record_error(field: str, value: Any) -> None:
    with FakeCloudflare(fleet=_HostileKeys(field, value)) as api:
        client = Client(api.account_id, api.api_token, base_url=api.base_url, progress=False)
        with pytest.raises(RecordError) as info:
            client.devices("-30m")
    assert (info.value.field, info.value.value) == (field, value)
    assert info.value.record is not None


ESCAPES = "\x1b]0;pwned\x07\x1b[2J\x9b31m"


def test_unknown_field_names_are_escaped_in_warnings() -> None:
    record = minimal_record(**{f"x{ESCAPES}": 1})
    with pytest.warns(UnknownFieldsWarning) as caught:
        dexkit.read_pages(page([record]))
    message = str(caught[0].message)
    for control in "\x1b\x07\x9b":
        assert control not in message
    assert "x\\x1b]0;pwned\\x07\\x1b[2J\\x9b31m" in message


def test_file_names_and_values_are_escaped_in_errors(tmp_path: Path) -> None:
    bad = tmp_path / f"page{ESCAPES}.json"
    bad.write_bytes(b"<html><title>\x1b[2J</title></html>")
    with pytest.raises(PageError) as info:
        dexkit.read_pages(bad)
    assert info.value.page == str(bad)  # the attribute keeps the real name
    assert "\x1b" not in str(info.value)
    assert "page\\x1b]0;pwned" in str(info.value)
    record = minimal_record(cpuPct=ESCAPES)
    with pytest.raises(RecordError) as record_info:
        dexkit.read_pages(page([record]))
    assert "\x1b" not in str(record_info.value)


def test_empty_selections_are_errors(tmp_path: Path) -> None:
    (tmp_path / "page-1.json").write_bytes(page([minimal_record()]))
    with pytest.raises(ConfigError, match="no file matches this glob"):
        dexkit.read_pages(str(tmp_path / "*.xyz"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match=r"no page files \(\.json or \.json\.gz\)"):
        dexkit.read_pages(empty)
    assert dexkit.read_pages([]).height == 0  # an explicit empty list of pages is not a selection


def test_a_gz_file_that_is_not_gzip_says_so(tmp_path: Path) -> None:
    fake = tmp_path / "page-1.json.gz"
    fake.write_bytes(b"BZh91AY&SY not gzip")
    with pytest.raises(PageError, match=r"named \.gz but is not gzip data") as info:
        dexkit.read_pages(fake)
    assert info.value.page == str(fake)


def test_a_bare_list_of_records_says_how_to_load_it() -> None:
    records = json.dumps([minimal_record()]).encode()
    with pytest.raises(PageError, match="a bare list of records") as info:
        dexkit.read_pages(records)
    assert "'result': records" in str(info.value)
    wrapped = b'{"success": true, "result": ' + records + b"}"
    assert dexkit.read_pages(wrapped).height == 1


def test_max_page_bytes_stops_below_what_arrow_can_read() -> None:
    with pytest.raises(ConfigError, match="at most 1073741823"):
        dexkit.read_pages(page([minimal_record()]), max_page_bytes=2**30)
    assert dexkit.read_pages(page([minimal_record()]), max_page_bytes=2**30 - 1).height == 1
