"""Tests of dexkit.redaction: keyed pseudonyms, consistency, nested IP structs, lazy frames."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import dexkit
from dexkit import synth
from dexkit.errors import ConfigError
from dexkit.redaction import REDACTED, pseudonym, redact


@pytest.fixture(scope="module")
def records() -> pl.DataFrame:
    fleet = synth.Fleet(30, seed=2)
    start = datetime(2026, 11, 18, 12, tzinfo=UTC)
    return dexkit.read_pages(fleet.pages("raw", start, start.replace(hour=14), per_page=500))


def _addresses(frame: pl.DataFrame, column: str) -> list[str]:
    return frame[column].struct.field("address").drop_nulls().to_list()


def test_identifying_values_are_gone(records: pl.DataFrame) -> None:
    out = redact(records, key="k")
    for column in ("person_email", "device_name", "network_ssid"):
        before = set(records[column].drop_nulls())
        after = set(out[column].drop_nulls())
        assert before
        assert not before & after
    prefixes = {"person_email": "user-", "device_name": "device-", "network_ssid": "ssid-"}
    for column, prefix in prefixes.items():
        assert out[column].drop_nulls().str.starts_with(prefix).all()
    for column in ("device_ipv4", "gateway_ipv4", "isp_ipv4", "isp_ipv6", "device_ipv6"):
        before_ips = set(_addresses(records, column))
        after_ips = _addresses(out, column)
        assert not before_ips & set(after_ips)
        assert all(a.startswith("ip-") for a in after_ips)
    # the registration id names a user's registration on a multi-user device
    registrations = set(records["registration_id"].drop_nulls())
    assert registrations
    assert not registrations & set(out["registration_id"].drop_nulls())
    assert out["registration_id"].drop_nulls().str.starts_with("reg-").all()
    zips = out["isp_ipv4"].struct.field("location").struct.field("zip").drop_nulls()
    assert zips.len() > 0
    assert zips.str.starts_with("zip-").all()


def test_everything_else_is_kept(records: pl.DataFrame) -> None:
    out = redact(records, key="k")
    assert out.schema == records.schema
    kept = [c for c in records.columns if c not in REDACTED]
    assert_frame_equal(out.select(kept), records.select(kept))
    isp = [pl.col("isp_ipv4").struct.field(f) for f in ("asn", "aso", "name", "netmask")]
    assert_frame_equal(out.select(isp), records.select(isp))
    city = pl.col("isp_ipv4").struct.field("location").struct.field("city")
    assert_frame_equal(out.select(city), records.select(city))
    # nulls stay null, at every level
    for column in ("device_ipv4", "isp_ipv6"):
        assert out[column].null_count() == records[column].null_count()
        loc = pl.col(column).struct.field("location").is_null().sum()
        assert out.select(loc).item() == records.select(loc).item()
    assert out["person_email"].null_count() == records["person_email"].null_count()


def test_consistent_within_and_across_calls_with_a_key(records: pl.DataFrame) -> None:
    a, b = redact(records, key=b"k"), redact(records, key="k")
    assert_frame_equal(a, b)
    pairs = pl.DataFrame({"name": records["device_name"], "alias": a["device_name"]}).unique()
    assert pairs["name"].n_unique() == pairs.height == pairs["alias"].n_unique()
    # the same address in two IP columns gets the same pseudonym
    assert pseudonym("203.0.113.7", "ip", "k") == pseudonym("203.0.113.7", "ip", b"k")


def test_deprecated_registration_column_gets_the_same_pseudonym() -> None:
    frame = pl.DataFrame(
        {
            "registration_id": ["r-1", "r-2", None],
            "device_registration": ["r-1", None, "r-3"],
        }
    )
    out = redact(frame, key="k")
    assert (
        out["registration_id"][0] == out["device_registration"][0] == pseudonym("r-1", "reg", "k")
    )
    assert out["registration_id"][2] is None
    assert out["device_registration"][1] is None
    assert out["device_registration"][2] == pseudonym("r-3", "reg", "k")


def test_random_key_by_default(records: pl.DataFrame) -> None:
    a, b = redact(records), redact(records)
    assert not set(a["device_name"]) & set(b["device_name"])


def test_lazy_frames_stay_lazy(records: pl.DataFrame) -> None:
    lazy = redact(records.lazy(), key="k")
    assert isinstance(lazy, pl.LazyFrame)
    assert_frame_equal(lazy.collect(), redact(records, key="k"))
    assert_frame_equal(lazy.collect(engine="streaming"), redact(records, key="k"))


def test_flat_columns_and_column_choice(records: pl.DataFrame) -> None:
    flat = dexkit.flatten(records)
    out = redact(flat, key="k")
    assert out["isp_ipv4_address"].drop_nulls().str.starts_with("ip-").all()
    assert out["isp_ipv4_location_zip"].drop_nulls().str.starts_with("zip-").all()
    for sep in (".", "/", "__"):
        dotted = redact(dexkit.flatten(records, separator=sep), key="k")
        for name in ("isp_ipv4", "device_ipv6", "gateway_ipv4"):
            address = f"{name}{sep}address"
            zipcode = f"{name}{sep}location{sep}zip"
            assert dotted[address].equals(out[f"{name}_address"].alias(address))
            assert dotted[zipcode].equals(out[f"{name}_location_zip"].alias(zipcode))
        city = f"isp_ipv4{sep}location{sep}city"
        assert dotted[city].equals(flat["isp_ipv4_location_city"].alias(city))  # kept
    only = redact(records, key="k", columns=["device_name"])
    assert_frame_equal(only.select("person_email"), records.select("person_email"))
    assert_frame_equal(redact(records.select("device_id"), key="k"), records.select("device_id"))


def test_bad_arguments(records: pl.DataFrame) -> None:
    with pytest.raises(ConfigError, match="must not be empty"):
        redact(records, key="")
    with pytest.raises(ConfigError, match="bytes, str or None"):
        redact(records, key=42)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="DataFrame or LazyFrame"):
        redact({"device_name": ["x"]})  # type: ignore[type-var]
