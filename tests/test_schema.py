"""The schema against the official spec excerpt in ../shared/ref."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from dexkit import schema

SPEC = Path(__file__).resolve().parents[2] / "shared" / "ref" / "cloudflare-dex-openapi.json"
DEVICE = "digital-experience-monitoring_device"


def _load() -> dict[str, Any]:
    if not SPEC.exists():
        pytest.fail(f"the API spec is missing: {SPEC}")
    doc: dict[str, Any] = json.loads(SPEC.read_text())
    return doc


def _resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = doc["components"]["schemas"][name]
    return node


def _spec_leaves(doc: dict[str, Any], node: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Dotted API path → JSON Schema type, for every leaf of the spec's device record."""
    out: dict[str, str] = {}
    for key, sub in node.get("properties", {}).items():
        sub = _resolve(doc, sub)
        path = f"{prefix}{key}"
        if sub.get("type") == "object" or "properties" in sub:
            out.update(_spec_leaves(doc, sub, path + "."))
        elif sub.get("type") == "array":
            out.update(_spec_leaves(doc, _resolve(doc, sub["items"]), path + "[]."))
        else:
            out[path] = sub["type"]
    return out


COMPATIBLE: dict[str, tuple[type[pl.DataType], ...]] = {
    "string": (pl.String, pl.Datetime),
    "integer": (pl.Int64,),
    "number": (pl.Float64, pl.Int64),
    "boolean": (pl.Boolean,),
}


def test_every_spec_leaf_is_in_the_schema_with_a_compatible_type() -> None:
    doc = _load()
    spec = _spec_leaves(doc, doc["components"]["schemas"][DEVICE])
    ours = {
        path: (spec_() if isinstance(spec_, type) else spec_) for path, spec_ in schema.leaves()
    }
    assert len(spec) > 100
    missing = sorted(set(spec) - set(ours))
    assert not missing, f"spec leaves missing from dexkit.schema.RECORD: {missing}"
    extra = sorted(set(ours) - set(spec))
    assert not extra, f"dexkit.schema.RECORD has leaves the spec lacks: {extra}"
    wrong = {
        path: (kind, ours[path])
        for path, kind in spec.items()
        if not isinstance(ours[path], COMPATIBLE[kind])
    }
    assert not wrong, f"incompatible types: {wrong}"
    # Datetime is only right for the timestamp
    assert [p for p, d in ours.items() if isinstance(d, pl.Datetime)] == ["timestamp"]


def test_top_level_fields_match_the_spec_and_count_43() -> None:
    doc = _load()
    props = doc["components"]["schemas"][DEVICE]["properties"]
    assert set(props) == set(schema.RECORD)
    assert len(schema.SCHEMA) == 43
    assert set(doc["components"]["schemas"][DEVICE]["required"]) == set(schema.REQUIRED)


@pytest.mark.parametrize(
    ("api", "column"),
    [
        ("deviceId", "device_id"),
        ("cpuPctByApp", "cpu_pct_by_app"),
        ("tunnelStats", "tunnel_stats"),
        ("deviceIpv4", "device_ipv4"),
        ("minRttUs", "min_rtt_us"),
        ("country_iso", "country_iso"),
        ("statsWindowMs", "stats_window_ms"),
    ],
)
def test_snake_case(api: str, column: str) -> None:
    assert schema.snake_case(api) == column


def test_schema_dtypes() -> None:
    s = schema.SCHEMA
    assert s["timestamp"] == pl.Datetime("us", "UTC")
    assert s["cpu_pct"] == pl.Float64
    assert s["network_rcvd_bps"] == pl.Int64
    assert s["always_on"] == pl.Boolean
    assert s["cpu_pct_by_app"] == pl.List(pl.Struct({"cpu_pct": pl.Float64, "name": pl.String}))
    tunnel = s["tunnel_stats"]
    assert isinstance(tunnel, pl.Struct)
    fields = {f.name: f.dtype for f in tunnel.fields}
    assert fields["bytes_sent"] == pl.Struct({"downstream": pl.Int64, "upstream": pl.Int64})
    assert fields["stats_window_ms"] == pl.Int64
    ip = s["isp_ipv4"]
    assert isinstance(ip, pl.Struct)
    location = {f.name: f.dtype for f in ip.fields}["location"]
    assert isinstance(location, pl.Struct)
    assert [f.name for f in location.fields] == ["city", "country_iso", "state_iso", "zip"]
