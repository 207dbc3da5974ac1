"""The synthetic fleet: determinism, API shape, realism, the incident and the committed sample."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
import re
import statistics
import subprocess
import sys
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dexkit import schema, synth
from dexkit.errors import ConfigError
from dexkit.synth import SAMPLE, SOURCES, Fleet, Incident, envelope, sample_fleet, write_sample

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "data" / "sample"
T0 = datetime(2026, 11, 18, 10, tzinfo=UTC)
STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:00\+00$")
# fmt: off
COLOS = (
    "FRA", "LHR", "AMS", "CDG", "IAD", "EWR", "ORD", "DFW", "LAX", "SJC", "SEA", "ATL", "MIA",
    "YYZ", "GRU", "NRT", "HKG", "SIN", "SYD", "BOM", "DEL", "MAD", "MXP", "WAW", "ARN", "DUB",
    "ZRH", "JNB", "ICN", "DXB",
)
# fmt: on
TUNNEL_FIELDS = ("rtt", "tunnelStats", "estimatedLossPct")


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return sample_fleet()


@pytest.fixture(scope="module")
def raw(fleet: Fleet) -> list[dict[str, Any]]:
    """The sample's raw records (10:00-17:00, the incident is 13:00-15:00)."""
    return fleet.records("raw", *SAMPLE["windows"]["raw"])


@pytest.fixture(scope="module")
def forms(fleet: Fleet) -> dict[str, str]:
    return {fleet.device(i).device_id: fleet.device(i).form for i in range(fleet.devices)}


def _in_incident(record: dict[str, Any]) -> bool:
    incident: Incident = SAMPLE["incident"]
    when = datetime.strptime(record["timestamp"], "%Y-%m-%d %H:%M:%S+00").replace(tzinfo=UTC)
    return incident.active(when)


def _present(record: dict[str, Any], key: str) -> bool:
    return record.get(key) is not None


# ---------------------------------------------------------------------------------------------
# The committed sample
# ---------------------------------------------------------------------------------------------


def _tree(root: Path) -> dict[str, bytes]:
    """Relative path → content (decompressed for .gz) of every file under root."""
    out = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        out[path.relative_to(root).as_posix()] = (
            gzip.decompress(data) if path.suffix == ".gz" else data
        )
    return out


@pytest.mark.slow
def test_sample_regenerates_byte_for_byte(tmp_path: Path) -> None:
    if not COMMITTED.is_dir():
        pytest.fail(
            f"the committed sample is missing: run python -m dexkit.synth --out {COMMITTED}"
        )
    stale = tmp_path / "raw" / "page-99999.json.gz"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"left over from an earlier run")
    written = write_sample(tmp_path)
    assert not stale.exists()
    assert written == sorted(p for p in tmp_path.rglob("*") if p.is_file())
    fresh, committed = _tree(tmp_path), _tree(COMMITTED)
    assert sorted(fresh) == sorted(committed)
    different = [name for name in fresh if fresh[name] != committed[name]]
    assert not different, f"{len(different)} files differ, first {different[:3]}"


def test_sample_layout_and_size() -> None:
    files = sorted(p for p in COMMITTED.rglob("*") if p.is_file())
    assert sum(p.stat().st_size for p in files) <= 12_000_000
    assert not [p for p in files if p.name == "manifest.json"]
    for source in SOURCES:
        pages = sorted((COMMITTED / source).glob("page-*.json.gz"))
        assert pages[0].name == "page-00001.json.gz"
        assert [p.name for p in pages] == [
            f"page-{n:05d}.json.gz" for n in range(1, len(pages) + 1)
        ]
        head = pages[0].read_bytes()[:10]
        assert head[:3] == b"\x1f\x8b\x08"
        assert head[3] == 0, "no file name (or other optional header) in the gzip header"
        assert head[4:8] == b"\0\0\0\0", "gzip mtime must be 0"
        last = json.loads(gzip.decompress(pages[-1].read_bytes()))
        info = last["result_info"]
        assert info["page"] == info["total_pages"] == len(pages)
        assert info["per_page"] == SAMPLE["per_page"]
    readme = (COMMITTED / "README.md").read_text(encoding="utf-8")
    assert "python -m dexkit.synth --out data/sample" in readme
    assert f"seed {SAMPLE['seed']}" in readme


def test_sample_parameters() -> None:
    incident: Incident = SAMPLE["incident"]
    assert (incident.colo, incident.platform, incident.version) == (
        "FRA",
        "windows",
        "2025.10.186.0",
    )
    assert incident.start == datetime(2026, 11, 18, 13, tzinfo=UTC)
    assert incident.end == datetime(2026, 11, 18, 15, tzinfo=UTC)
    windows = SAMPLE["windows"]
    assert windows["last_seen"][1] - windows["last_seen"][0] == timedelta(minutes=60)
    assert incident.start <= windows["last_seen"][0] < windows["last_seen"][1] <= incident.end
    assert windows["hourly"] == (
        datetime(2026, 11, 17, 18, tzinfo=UTC),
        datetime(2026, 11, 18, 18, tzinfo=UTC),
    )
    assert windows["raw"] == (
        datetime(2026, 11, 18, 10, tzinfo=UTC),
        datetime(2026, 11, 18, 17, tzinfo=UTC),
    )


def test_cli_help_and_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SystemExit) as exit_:
        synth.main(["--help"])
    assert exit_.value.code == 0
    assert "--out" in capsys.readouterr().out
    calls: list[str] = []

    def fake(directory: str | Path) -> list[Path]:
        calls.append(str(directory))
        page = Path(directory) / "raw" / "page-00001.json.gz"
        page.parent.mkdir(parents=True)
        page.write_bytes(b"x")
        return [page]

    monkeypatch.setattr(synth, "write_sample", fake)
    assert synth.main(["--out", str(tmp_path)]) == 0
    assert calls == [str(tmp_path)]
    assert "raw: 1 pages" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# Determinism
# ---------------------------------------------------------------------------------------------


def test_overlapping_windows_agree() -> None:
    fleet = Fleet(80, seed=11, incident=Incident(T0 + timedelta(hours=1)))
    a = fleet.records("raw", T0, T0 + timedelta(hours=2))
    b = Fleet(80, seed=11, incident=Incident(T0 + timedelta(hours=1))).records(
        "raw", T0 + timedelta(hours=1), T0 + timedelta(hours=3)
    )
    cut = "2026-11-18 11:00:00+00"
    overlap_a = [r for r in a if r["timestamp"] >= cut]
    overlap_b = [r for r in b if r["timestamp"] < "2026-11-18 12:00:00+00"]
    assert overlap_a
    assert overlap_a == overlap_b


def test_hourly_and_last_seen_are_raw_records() -> None:
    fleet = Fleet(60, seed=5)
    raw = fleet.records("raw", T0, T0 + timedelta(hours=3))
    hourly = fleet.records("hourly", T0, T0 + timedelta(hours=3))
    assert hourly == [r for r in raw if r["timestamp"][14:16] == "00"]
    last_seen = fleet.records("last_seen", T0, T0 + timedelta(hours=1))
    latest: dict[str, dict[str, Any]] = {}
    for record in fleet.records("raw", T0, T0 + timedelta(hours=1)):
        latest[record["deviceId"]] = record
    assert sorted(last_seen, key=lambda r: r["deviceId"]) == sorted(
        latest.values(), key=lambda r: r["deviceId"]
    )
    assert last_seen == sorted(last_seen, key=lambda r: (r["timestamp"], r["deviceId"]))
    assert len({r["deviceId"] for r in last_seen}) == len(last_seen)


def test_devices_derive_from_seed_and_index_only() -> None:
    small, large = Fleet(10, seed=3), Fleet(300, seed=3, epoch=synth.DEFAULT_EPOCH)
    assert [small.device(i) for i in range(10)] == [large.device(i) for i in range(10)]
    assert Fleet(10, seed=4).device(0).device_id != small.device(0).device_id
    ids = [large.device(i).device_id for i in range(300)]
    assert len(set(ids)) == 300
    for text in ids:
        assert uuid.UUID(text).version == 4
        assert str(uuid.UUID(text)) == text


def test_uuid4_matches_the_uuid_module() -> None:
    rng, twin = random.Random(1), random.Random(1)
    for _ in range(200):
        assert synth._uuid4(rng) == str(uuid.UUID(int=twin.getrandbits(128), version=4))


_HASH_PAGES = """
import hashlib, sys
from datetime import UTC, datetime
from dexkit.synth import Fleet, Incident
start = datetime(2026, 11, 18, 13, tzinfo=UTC)
fleet = Fleet(40, seed=9, incident=Incident(start))
pages = fleet.pages("raw", start, start.replace(hour=14), per_page=17)
sys.stdout.write(hashlib.sha256(b"".join(pages)).hexdigest())
"""


@pytest.mark.slow
def test_bytes_identical_across_processes() -> None:
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run(
            [sys.executable, "-c", _HASH_PAGES], env=env, capture_output=True, check=True, text=True
        )
        digests.add(done.stdout)
    start = datetime(2026, 11, 18, 13, tzinfo=UTC)
    pages = Fleet(40, seed=9, incident=Incident(start)).pages(
        "raw", start, start.replace(hour=14), per_page=17
    )
    digests.add(hashlib.sha256(b"".join(pages)).hexdigest())
    assert len(digests) == 1


# ---------------------------------------------------------------------------------------------
# Envelope and paging
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("per_page", [1, 7, 50])
def test_pages_envelope(per_page: int) -> None:
    fleet = Fleet(45, seed=2)
    start, end = T0, T0 + timedelta(minutes=30)
    records = fleet.records("raw", start, end)
    pages = fleet.pages("raw", start, end, per_page=per_page)
    total = len(records)
    assert len(pages) == -(-total // per_page)
    rows: list[dict[str, Any]] = []
    for number, body in enumerate(pages, 1):
        doc = json.loads(body)
        assert list(doc) == ["success", "errors", "messages", "result", "result_info"]
        assert doc["success"] is True
        assert doc["errors"] == doc["messages"] == []
        assert doc["result_info"] == {
            "count": len(doc["result"]),
            "page": number,
            "per_page": per_page,
            "total_count": total,
            "total_pages": len(pages),
        }
        assert body == synth.dumps(doc), "compact JSON, stable key order"
        rows.extend(doc["result"])
    assert rows == records
    last = json.loads(pages[-1])["result"]
    assert len(last) == total - per_page * (len(pages) - 1)
    assert all(len(json.loads(body)["result"]) == per_page for body in pages[:-1])


def test_empty_listing_is_one_empty_page() -> None:
    pages = Fleet(5, seed=1).pages("last_seen", T0, T0)
    assert len(pages) == 1
    doc = json.loads(pages[0])
    assert doc["result"] == []
    assert doc["result_info"] == {
        "count": 0,
        "page": 1,
        "per_page": 50,
        "total_count": 0,
        "total_pages": 0,
    }
    assert envelope([], page=1, per_page=50, total_count=0) == pages[0]


def test_pages_are_cached_but_returned_fresh() -> None:
    fleet = Fleet(20, seed=1)
    first = fleet.pages("raw", T0, T0 + timedelta(minutes=20))
    first.clear()
    assert fleet.pages("raw", T0, T0 + timedelta(minutes=20))


def test_bad_arguments() -> None:
    fleet = Fleet(5)
    with pytest.raises(ConfigError, match="source"):
        fleet.records("daily", T0, T0 + timedelta(hours=1))
    with pytest.raises(ConfigError, match="timezone-aware"):
        fleet.records("raw", datetime(2026, 11, 18), datetime(2026, 11, 19))
    with pytest.raises(ConfigError, match="per_page"):
        fleet.pages("raw", T0, T0 + timedelta(hours=1), per_page=0)
    with pytest.raises(ConfigError, match="devices"):
        Fleet(-1)
    with pytest.raises(ConfigError, match="timezone-aware"):
        Incident(datetime(2026, 11, 18, 13))
    with pytest.raises(ConfigError, match="duration"):
        Incident(T0, duration=timedelta(0))
    with pytest.raises(ConfigError, match="index"):
        fleet.device(5)


# ---------------------------------------------------------------------------------------------
# Record shape
# ---------------------------------------------------------------------------------------------


def _check_names(value: Any, spec: Any, path: str) -> Iterator[str]:
    """Yield the paths of names (or JSON types) that the schema does not allow."""
    if value is None:
        return
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            yield f"{path}: object expected"
            return
        for key, item in value.items():
            if key not in spec:
                yield f"{path}.{key}: unknown field"
            else:
                yield from _check_names(item, spec[key], f"{path}.{key}")
    elif isinstance(spec, list):
        if not isinstance(value, list):
            yield f"{path}: array expected"
            return
        for item in value:
            yield from _check_names(item, spec[0], f"{path}[]")
    else:
        name = str(spec)
        if name.startswith(("String", "Datetime")):
            ok = isinstance(value, str)
        elif name.startswith("Boolean"):
            ok = isinstance(value, bool)
        elif name.startswith("Int"):
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:  # Float64: Go writes whole floats as integers
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if isinstance(value, float) and value.is_integer():
                yield f"{path}: whole float {value!r} should be written as an integer"
        if not ok:
            yield f"{path}: {value!r} does not fit {name}"


@pytest.mark.slow
def test_records_have_the_api_shape(raw: list[dict[str, Any]]) -> None:
    problems: Counter[str] = Counter()
    for record in raw:
        for field in schema.REQUIRED:
            assert isinstance(record.get(field), str), field
            assert record[field], field
        assert STAMP.match(record["timestamp"])
        problems.update(_check_names(record, schema.RECORD, ""))
    assert not problems, problems.most_common(10)


@pytest.mark.slow
def test_every_source_has_the_api_shape(fleet: Fleet) -> None:
    for source in ("last_seen", "hourly"):
        for record in fleet.records(source, *SAMPLE["windows"][source]):
            assert not list(_check_names(record, schema.RECORD, source))


def test_battery_only_on_laptops_and_mobiles(
    raw: list[dict[str, Any]], forms: dict[str, str]
) -> None:
    seen: Counter[str] = Counter()
    for record in raw:
        form = forms[record["deviceId"]]
        has = [_present(record, k) for k in ("batteryPct", "batteryCharging", "batteryCycles")]
        if form == "desktop":
            assert not any(has), record["deviceId"]
        else:
            assert all(has)
            assert 0 <= record["batteryPct"] <= 100
        seen[form] += 1
    assert set(seen) == {"desktop", "laptop", "mobile"}


def test_wifi_fields_only_on_wifi(raw: list[dict[str, Any]], forms: dict[str, str]) -> None:
    kinds: Counter[str] = Counter()
    for record in raw:
        kind = record["connectionType"]
        kinds[kind] += 1
        if kind != "wifi":
            assert not _present(record, "networkSsid")
            assert not _present(record, "wifiStrengthDbm")
        else:
            assert _present(record, "networkSsid")
            dbm = record.get("wifiStrengthDbm")
            assert dbm is None or -95 <= dbm <= -20
        if kind == "cellular":
            assert forms[record["deviceId"]] == "mobile"
    assert set(kinds) == {"wifi", "ethernet", "cellular"}


def test_tunnel_figures_only_when_connected(raw: list[dict[str, Any]]) -> None:
    minus_one = 0
    for record in raw:
        connected = record["status"] == "connected"
        for key in TUNNEL_FIELDS:
            assert connected or not _present(record, key), (key, record["status"])
        latency = record.get("handshakeLatencyMs")
        if latency is not None and latency >= 0:
            assert connected
        if latency == -1:
            assert record["status"] == "disconnected"
            minus_one += 1
        if connected and record["mode"] in ("warp", "tunnel_only", "proxy"):
            assert all(_present(record, key) for key in TUNNEL_FIELDS)
            assert isinstance(latency, int)
            assert latency > 0
    assert minus_one > 0


def test_go_style_numbers_and_messiness(raw: list[dict[str, Any]]) -> None:
    ints: Counter[str] = Counter()
    for record in raw:
        for key in ("cpuPct", "batteryPct", "estimatedLossPct", "ramUsedPct"):
            if isinstance(record.get(key), int):
                ints[key] += 1
    assert ints["cpuPct"] > 0
    assert ints["batteryPct"] > 0
    assert ints["estimatedLossPct"] > 0
    floats = [r["cpuPct"] for r in raw if isinstance(r["cpuPct"], float)]
    assert all(round(v, 2) == v for v in floats)

    nulls = [r for r in raw if any(v is None for v in r.values())]
    omitted = [r for r in raw if len(r) < len(schema.RECORD) and None not in r.values()]
    assert 0.05 * len(raw) < len(nulls) < 0.5 * len(raw)
    assert len(omitted) > 0.4 * len(raw)
    legacy = [r for r in raw if _present(r, "deviceRegistration")]
    assert 0 < len(legacy) < 0.1 * len(raw)
    assert not [r for r in legacy if _present(r, "registrationId")]
    assert all(_present(r, "registrationId") for r in raw if not _present(r, "deviceRegistration"))


def test_realistic_mix(raw: list[dict[str, Any]]) -> None:
    fleet = Fleet(3000, seed=1)
    devices = [fleet.device(i) for i in range(fleet.devices)]
    colos = Counter(d.colo for d in devices)
    assert set(colos) == set(COLOS)
    assert 0.06 <= colos["FRA"] / len(devices) <= 0.10
    assert colos.most_common(1)[0][1] > 5 * min(colos.values()), "colo sizes are skewed"
    platforms = Counter(d.platform for d in devices)
    assert set(platforms) == {"windows", "mac", "linux", "ios", "android", "chromeos"}
    assert platforms.most_common(1)[0][0] == "windows"
    modes = Counter(d.mode for d in devices)
    assert set(modes) == {"warp", "tunnel_only", "doh", "proxy", "posture_only"}
    assert modes.most_common(1)[0][0] == "warp"
    versions = Counter(d.version for d in devices)
    assert {"2025.7.106.1", "2025.8.779.0", "2025.9.558.0", "2025.10.186.0"} <= set(versions)
    emails = [d.person_email for d in devices]
    assert all(re.fullmatch(r"[a-z]+\.[a-z]+@example\.com", e) for e in emails)

    statuses = Counter(r["status"] for r in raw)
    assert set(statuses) == {"connected", "disconnected", "paused", "connecting"}
    assert statuses["connected"] > 0.8 * len(raw)
    per_bucket = Counter(r["timestamp"] for r in raw)
    online = statistics.mean(per_bucket.values()) / SAMPLE["devices"]
    assert 0.85 < online < 0.99, "a few per cent of the devices are offline at any time"
    assert 0.05 < sum(_present(r, "deviceIpv6") for r in raw) / len(raw) < 0.5
    for record in raw:
        apps = record.get("cpuPctByApp")
        if apps is not None:
            assert 3 <= len(apps) <= 6
            assert 3 <= len(record["ramUsedPctByApp"]) <= 6
        if record.get("tunnelType") is not None:
            assert record["tunnelType"] in ("wireguard", "masque")
        for key in ("alwaysOn", "switchLocked"):
            assert isinstance(record[key], bool)
        assert record["deviceName"]
        assert record["personEmail"].endswith("@example.com")


def test_isps_and_cities_fit_the_country(raw: list[dict[str, Any]], fleet: Fleet) -> None:
    home = {fleet.device(i).device_id: fleet.device(i).colo for i in range(fleet.devices)}
    isps_by_country: defaultdict[str, set[str]] = defaultdict(set)
    for record in raw:
        colo = synth._COLOS[home[record["deviceId"]]]
        isp = record["ispIpv4"]
        assert isp["location"]["country_iso"] == colo.country
        assert isp["location"]["city"] in {city.name for city in colo.cities}
        assert isp["name"] in {entry.name for entry in synth._ISPS[colo.country]}
        isps_by_country[colo.country].add(isp["name"])
        v6 = record.get("ispIpv6")
        if v6 is not None:
            assert v6["version"] == 2
            assert v6["asn"] == isp["asn"]
    assert max(len(names) for names in isps_by_country.values()) >= 3


def test_stale_devices_stop_reporting() -> None:
    fleet = Fleet(1000, seed=2)
    stale = [fleet.device(i) for i in range(1000) if fleet.device(i).stale_since is not None]
    assert 10 <= len(stale) <= 60
    epoch = int(fleet.epoch.timestamp())
    assert all(epoch - 15 * 86400 < (d.stale_since or 0) < epoch for d in stale)
    after = {
        r["deviceId"]
        for r in fleet.records("last_seen", fleet.epoch, fleet.epoch + timedelta(hours=1))
    }
    assert not after & {d.device_id for d in stale}
    moved = Fleet(1000, seed=2, epoch=fleet.epoch + timedelta(days=30))
    assert [moved.device(d.index).device_id for d in stale] == [d.device_id for d in stale]


# ---------------------------------------------------------------------------------------------
# The incident
# ---------------------------------------------------------------------------------------------


def _medians(
    records: list[dict[str, Any]], key: Callable[[dict[str, Any]], Any], value: str
) -> list[tuple[float, Any]]:
    groups: defaultdict[Any, list[float]] = defaultdict(list)
    for record in records:
        number = record.get(value)
        if number is not None and number >= 0:
            groups[key(record)].append(number)
    return sorted(
        ((statistics.median(v), k) for k, v in groups.items() if len(v) >= 20), reverse=True
    )


def test_incident_is_visible_in_the_window(raw: list[dict[str, Any]]) -> None:
    inside = [r for r in raw if _in_incident(r)]
    assert inside

    def by_colo(r: dict[str, Any]) -> str:
        return str(r["colo"])

    for value, margin in (("estimatedLossPct", 3.0), ("handshakeLatencyMs", 1.5)):
        (top, colo), (second, _) = _medians(inside, by_colo, value)[:2]
        assert colo == "FRA", value
        assert top > margin * second, (value, top, second)
    loss = _medians(inside, by_colo, "estimatedLossPct")
    assert loss[0][0] - loss[1][0] > 3.0

    def by_release(r: dict[str, Any]) -> tuple[str, str]:
        return (r["platform"], r["version"])

    (top, group), (second, _) = _medians(inside, by_release, "cpuPct")[:2]
    assert group == ("windows", "2025.10.186.0")
    assert top > second + 20, (top, second)
    hot = [r for r in inside if by_release(r) == ("windows", "2025.10.186.0")]
    assert sum(r["cpuPctByApp"][0]["name"] == "warp-svc" for r in hot) > 0.9 * len(hot)


def test_incident_is_absent_outside_the_window(raw: list[dict[str, Any]]) -> None:
    outside = [r for r in raw if not _in_incident(r)]

    def median(value: str, keep: Callable[[dict[str, Any]], bool]) -> float:
        numbers: list[float] = [
            r[value] for r in outside if keep(r) and r.get(value) is not None and r[value] >= 0
        ]
        return statistics.median(numbers)

    def fra(r: dict[str, Any]) -> bool:
        return bool(r["colo"] == "FRA")

    def anyone(r: dict[str, Any]) -> bool:
        return True

    assert median("estimatedLossPct", fra) < 1.0
    assert median("estimatedLossPct", fra) < 2 * median("estimatedLossPct", anyone)
    assert median("handshakeLatencyMs", fra) < 1.5 * median("handshakeLatencyMs", anyone)

    def release(version: str) -> Callable[[dict[str, Any]], bool]:
        return lambda r: bool((r["platform"], r["version"]) == ("windows", version))

    new, old = median("cpuPct", release("2025.10.186.0")), median("cpuPct", release("2025.9.558.0"))
    assert abs(new - old) < 5


@pytest.mark.slow
def test_no_incident_changes_only_the_window() -> None:
    incident = Incident(T0 + timedelta(hours=1))
    start, end = T0, T0 + timedelta(hours=4)
    calm = Fleet(300, seed=4).records("raw", start, end)
    hit = Fleet(300, seed=4, incident=incident).records("raw", start, end)
    assert len(calm) == len(hit)
    changed = [b for a, b in zip(calm, hit, strict=True) if a != b]
    assert changed
    for after in changed:
        assert _in_incident_of(incident, after)
        assert after["colo"] == incident.colo or (after["platform"], after["version"]) == (
            incident.platform,
            incident.version,
        )


def _in_incident_of(incident: Incident, record: dict[str, Any]) -> bool:
    when = datetime.strptime(record["timestamp"], "%Y-%m-%d %H:%M:%S+00").replace(tzinfo=UTC)
    return incident.active(when)


def test_a_countable_fleet_differs_only_in_status_flickers() -> None:
    """``countable=True`` hashes the status flicker; records of the same status are the same."""
    from dexkit._fleetindex import FleetIndex

    incident = Incident(T0 + timedelta(hours=1))
    plain = Fleet(120, seed=5, incident=incident).records("raw", T0, T0 + timedelta(hours=3))
    hashed = Fleet(120, seed=5, incident=incident, countable=True).records(
        "raw", T0, T0 + timedelta(hours=3)
    )
    assert len(plain) == len(hashed)
    differ = 0
    for a, b in zip(plain, hashed, strict=True):
        if a["status"] == b["status"]:
            assert a == b
        else:
            differ += 1
            assert (a["deviceId"], a["timestamp"], a["colo"]) == (
                b["deviceId"],
                b["timestamp"],
                b["colo"],
            )
    assert 0 < differ < len(plain) * 0.1
    with pytest.raises(ConfigError, match="countable=True"):
        FleetIndex(Fleet(10, seed=1))


@pytest.mark.parametrize("seed", [0, -3, 2**40 + 5])
def test_the_index_hashes_a_page_as_each_record_does(seed: int) -> None:
    """FleetIndex computes a page's stable hashes at once (numpy); they are each record's own."""
    import numpy as np

    from dexkit._fleetindex import FleetIndex

    fleet = Fleet(400, seed=seed, countable=True)
    index = FleetIndex(fleet).build()
    positions = np.array([0, 1, 57, 399, 200, 3], dtype=np.int64)
    first = int(T0.timestamp()) // 600
    for bucket in (first, first + 5, first + 11, first + 12, first + 1000):
        want = [fleet._hashes(fleet.device(i), bucket) for i in index.index[positions].tolist()]
        assert index.hashes(positions, bucket) == want
        assert all(0 <= value < 2**64 for h in want for value in h)
