"""Tests of dexkit.dataset: the hive-partitioned Parquet dataset and the colo table."""

from __future__ import annotations

import gc
import io
import json
import os
import subprocess
import sys
import threading
import warnings
import zlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.dataset as pads
import pytest
from polars.testing import assert_frame_equal

from dexkit import dataset, health
from dexkit.errors import ConfigError
from dexkit.schema import SCHEMA

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 3, 1, 22, 0, tzinfo=UTC)
# fmt: off
SYNTHETIC_COLOS = [
    "FRA", "LHR", "AMS", "CDG", "IAD", "EWR", "ORD", "DFW", "LAX", "SJC",
    "SEA", "ATL", "MIA", "YYZ", "GRU", "NRT", "HKG", "SIN", "SYD", "BOM",
    "DEL", "MAD", "MXP", "WAW", "ARN", "DUB", "ZRH", "JNB", "ICN", "DXB",
]
# fmt: on


def records(n: int = 6, start: datetime = T0, step: timedelta = timedelta(hours=1)) -> pl.DataFrame:
    """Full-schema records of three devices, crossing midnight UTC."""
    rows: list[dict[str, Any]] = [
        {
            "device_id": f"dev-{i % 3}",
            "timestamp": start + i * step,
            "colo": ["FRA", "LHR", "NRT"][i % 3],
            "platform": "windows",
            "status": "connected" if i % 4 else "disconnected",
            "mode": "warp",
            "version": "2024.10.0",
            "cpu_pct": 10.0 * i,
            "cpu_pct_by_app": [{"cpu_pct": 1.5 * i, "name": "zoom"}],
            "isp_ipv4": {"asn": 3320, "name": "Telekom", "location": {"country_iso": "DE"}},
            "rtt": {"rtt_us": {"downstream": i, "upstream": None}},
        }
        for i in range(n)
    ]
    return pl.DataFrame(rows, schema=SCHEMA)


def read_back(root: Path, **kwargs: Any) -> pl.DataFrame:
    return dataset.scan_dataset(root, **kwargs).collect().sort("timestamp", "device_id")


def test_round_trip_keeps_every_column_and_type(tmp_path: Path) -> None:
    frame = records()
    written = dataset.write_dataset(frame, tmp_path, source="raw")
    assert written.partitions == ("date=2026-03-01/source=raw", "date=2026-03-02/source=raw")
    assert (written.rows, written.added) == (6, 6)
    assert (tmp_path / "date=2026-03-01" / "source=raw" / "data.parquet").is_file()
    back = read_back(tmp_path)
    assert back.columns == [*SCHEMA, "date", "source"]
    assert_frame_equal(back.drop("date", "source"), frame.sort("timestamp", "device_id"))
    assert back["date"].to_list() == [date(2026, 3, 1)] * 2 + [date(2026, 3, 2)] * 4
    assert back["source"].unique().to_list() == ["raw"]


def test_writing_the_same_records_again_adds_nothing(tmp_path: Path) -> None:
    frame = records()
    dataset.write_dataset(frame, tmp_path, source="raw")
    again = dataset.write_dataset(frame, tmp_path, source="raw")
    assert (again.rows, again.added) == (6, 0)
    assert read_back(tmp_path).height == 6
    assert not list(tmp_path.rglob("*.tmp"))


def test_overlapping_writes_merge_and_new_rows_win(tmp_path: Path) -> None:
    dataset.write_dataset(records(4), tmp_path, source="hourly")
    later = records(6).slice(2).with_columns(pl.col("cpu_pct") + 1000)
    result = dataset.write_dataset(later, tmp_path, source="hourly")
    assert result.added == 2
    back = read_back(tmp_path)
    assert back.height == 6
    assert back["cpu_pct"].to_list() == [0.0, 10.0, 1020.0, 1030.0, 1040.0, 1050.0]


def test_overwrite_replaces_only_the_partitions_it_touches(tmp_path: Path) -> None:
    dataset.write_dataset(records(6), tmp_path, source="raw")
    dataset.write_dataset(records(6), tmp_path, source="hourly")
    replacement = records(1, start=T0 + timedelta(hours=5))
    result = dataset.write_dataset(replacement, tmp_path, source="raw", mode="overwrite")
    assert result.partitions == ("date=2026-03-02/source=raw",)
    assert result.added == 1 - 4
    assert read_back(tmp_path, source="raw").height == 2 + 1
    assert read_back(tmp_path, source="hourly").height == 6


def test_sources_and_days_are_selectable(tmp_path: Path) -> None:
    dataset.write_dataset(records(6), tmp_path, source="raw")
    dataset.write_dataset(records(3), tmp_path, source="last_seen")
    assert read_back(tmp_path).height == 9
    assert read_back(tmp_path, source="last_seen").height == 3
    assert read_back(tmp_path, source=["raw", "last_seen"]).height == 9
    assert read_back(tmp_path, start="2026-03-02").height == 4 + 1
    assert read_back(tmp_path, end=date(2026, 3, 1)).height == 2 + 2
    within = read_back(tmp_path, start=T0, end=datetime(2026, 3, 2, 5, tzinfo=UTC), source="raw")
    assert within.height == 6
    nothing = dataset.scan_dataset(tmp_path, source="hourly").collect()
    assert nothing.height == 0
    assert nothing.schema == pl.Schema({**SCHEMA, **dataset.PARTITIONS})


def test_lazy_input_and_source_column(tmp_path: Path) -> None:
    first = tmp_path / "first"
    dataset.write_dataset(records().lazy(), first, source="raw")
    copy = tmp_path / "copy"
    result = dataset.write_dataset(dataset.scan_dataset(first), copy)  # source from the column
    assert result.partitions == ("date=2026-03-01/source=raw", "date=2026-03-02/source=raw")
    assert_frame_equal(read_back(copy), read_back(first))


def test_naive_timestamps_are_taken_as_utc(tmp_path: Path) -> None:
    naive = pl.DataFrame(
        {"device_id": ["a"], "timestamp": [datetime(2026, 3, 1, 23, 30)], "cpu_pct": [1.0]}
    )
    dataset.write_dataset(naive, tmp_path, source="raw")
    back = read_back(tmp_path)
    assert back["timestamp"].dtype == pl.Datetime("us", "UTC")
    assert back["date"].to_list() == [date(2026, 3, 1)]
    berlin = naive.with_columns(pl.col("timestamp").dt.replace_time_zone("Europe/Berlin"))
    dataset.write_dataset(berlin, tmp_path, source="hourly")
    assert read_back(tmp_path, source="hourly")["date"].to_list() == [date(2026, 3, 1)]


def test_files_with_different_columns_scan_together(tmp_path: Path) -> None:
    dataset.write_dataset(records(2), tmp_path, source="raw")
    extra = records(2, start=T0 + timedelta(days=2)).with_columns(pl.lit("new").alias("new_field"))
    dataset.write_dataset(extra, tmp_path, source="raw")
    back = read_back(tmp_path)
    assert back["new_field"].to_list() == [None, None, "new", "new"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"source": "../escape"}, "source must be"),
        ({"source": ""}, "source must be"),
        ({}, "needs source="),
        ({"source": "raw", "mode": "append"}, "mode"),
        ({"source": "raw", "key": ["nope"]}, "key must name"),
    ],
)
def test_write_rejects_bad_arguments(tmp_path: Path, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        dataset.write_dataset(records(), tmp_path, **kwargs)


def test_write_rejects_rows_it_cannot_place(tmp_path: Path) -> None:
    holes = records().with_columns(pl.when(pl.col("cpu_pct") > 20).then(pl.col("timestamp")))
    with pytest.raises(ConfigError, match="no timestamp"):
        dataset.write_dataset(holes, tmp_path, source="raw")
    with pytest.raises(ConfigError, match="timestamp column"):
        dataset.write_dataset(pl.DataFrame({"device_id": ["a"]}), tmp_path, source="raw")
    with pytest.raises(ConfigError, match="DataFrame or LazyFrame"):
        dataset.write_dataset([1, 2], tmp_path, source="raw")  # type: ignore[arg-type]


def test_empty_frames_write_nothing(tmp_path: Path) -> None:
    result = dataset.write_dataset(records(0), tmp_path / "ds", source="raw")
    assert (result.partitions, result.rows, result.added) == ((), 0, 0)


def test_scan_needs_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a directory"):
        dataset.scan_dataset(tmp_path / "missing")
    assert dataset.scan_dataset(tmp_path).collect().height == 0
    with pytest.raises(ConfigError, match="ISO 8601"):
        dataset.scan_dataset(tmp_path, start="March")


def test_other_engines_read_the_dataset(tmp_path: Path) -> None:
    dataset.write_dataset(records(), tmp_path, source="raw")
    dataset.write_dataset(records(3), tmp_path, source="hourly")
    dataset.scan_dataset(tmp_path)  # leaves its schema cache, which other engines skip
    assert (tmp_path / "_dexkit" / "schemas.json").is_file()
    table = pads.dataset(tmp_path, format="parquet", partitioning="hive").to_table()
    assert table.num_rows == 9
    assert {"date", "source", "device_id", "isp_ipv4"} <= set(table.column_names)
    duckdb = pytest.importorskip("duckdb")
    query = (
        "SELECT source, count(*) AS n, count(DISTINCT device_id) AS devices, "
        "max(isp_ipv4.asn) AS asn FROM read_parquet(?, hive_partitioning = true) "
        "GROUP BY source ORDER BY source"
    )
    rows = duckdb.sql(query, params=[str(tmp_path / "**" / "*.parquet")]).fetchall()
    assert rows == [("hourly", 3, 3, 3320), ("raw", 6, 3, 3320)]


def test_streaming_summary_over_the_dataset_matches_eager(tmp_path: Path) -> None:
    frame = records(40, step=timedelta(minutes=20))
    dataset.write_dataset(frame, tmp_path, source="raw")
    lazy = health.summarize(dataset.scan_dataset(tmp_path), by="colo")
    assert_frame_equal(lazy.collect(engine="streaming"), health.summarize(frame, by="colo"))
    timeline = health.timeline(dataset.scan_dataset(tmp_path, source="raw"), "1h")
    assert_frame_equal(timeline.collect(engine="streaming"), health.timeline(frame, "1h"))


# --------------------------------------------------------------------------------------------
# colos


def test_colos_cover_the_synthetic_fleet() -> None:
    table = dataset.colos()
    assert table.columns == ["iata", "city", "country", "latitude", "longitude", "icao"]
    assert table["iata"].is_unique().all()
    assert table.height > 300
    assert set(SYNTHETIC_COLOS) <= set(table["iata"])
    placed = table.filter(pl.col("iata").is_in(SYNTHETIC_COLOS))
    assert placed["latitude"].null_count() == 0
    assert placed["country"].null_count() == 0
    assert table["latitude"].drop_nulls().is_between(-90, 90).all()
    assert table["longitude"].drop_nulls().is_between(-180, 180).all()
    assert table["country"].str.len_chars().eq(2).all()
    fra = table.filter(iata="FRA").row(0, named=True)
    assert (fra["city"], fra["country"]) == ("Frankfurt", "DE")
    assert fra["latitude"] == pytest.approx(50.03, abs=0.05)
    assert fra["longitude"] == pytest.approx(8.56, abs=0.05)


def test_colos_csv_names_its_sources_and_the_copies_agree() -> None:
    shipped = (ROOT / "dexkit" / "data" / "colos.csv").read_bytes()
    header = [line for line in shipped.decode().splitlines() if line.startswith("#")]
    assert any("cloudflarestatus.com" in line for line in header)
    assert any("airportsdata" in line for line in header)
    top_level = ROOT / "data" / "colos.csv"
    if top_level.exists():
        assert top_level.read_bytes() == shipped


@pytest.mark.parametrize("damage", ["garbage", "directory"])
def test_a_damaged_partition_is_named_when_scanning(tmp_path: Path, damage: str) -> None:
    dataset.write_dataset(records(), tmp_path, source="raw")
    target = next(tmp_path.rglob("*.parquet"))
    target.unlink()
    if damage == "garbage":
        target.write_bytes(b"PAR1 not parquet at all")
    else:
        target.mkdir()
        (target / "x").write_bytes(b"")
    with pytest.raises(ConfigError, match="is not readable Parquet") as info:
        dataset.scan_dataset(tmp_path)
    assert str(target) in str(info.value)


def _counting_footer_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    reads: list[str] = []
    real = pl.read_parquet_schema

    def counted(source: Any) -> Any:
        reads.append(Path(source).name)
        return real(source)

    monkeypatch.setattr(pl, "read_parquet_schema", counted)
    return reads


def test_schemas_are_read_once_and_again_when_a_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset.write_dataset(records(), tmp_path, source="raw")  # two days: two files
    reads = _counting_footer_reads(monkeypatch)
    first = read_back(tmp_path)
    assert len(reads) == 2
    again = read_back(tmp_path)
    assert len(reads) == 2  # from the cache
    assert_frame_equal(again, first)
    # a partition rewritten with a new column: only its file is read again, and the column shows
    later = records(2).with_columns(pl.lit("x").alias("new_field"))  # the first day
    dataset.write_dataset(later, tmp_path, source="raw")
    back = read_back(tmp_path)
    assert len(reads) == 3
    assert back["new_field"].to_list() == ["x", "x", None, None, None, None]
    # a scan of one day keeps the other day's entry; a deleted file's entry goes
    dataset.scan_dataset(tmp_path, start="2026-03-02")
    cached = json.loads((tmp_path / "_dexkit" / "schemas.json").read_text())
    assert sorted(cached["files"]) == [
        "date=2026-03-01/source=raw/data.parquet",
        "date=2026-03-02/source=raw/data.parquet",
    ]
    assert len(cached["schemas"]) == 2
    (tmp_path / "date=2026-03-02" / "source=raw" / "data.parquet").unlink()
    dataset.write_dataset(records(1), tmp_path, source="hourly")
    assert read_back(tmp_path).height == 3
    cached = json.loads((tmp_path / "_dexkit" / "schemas.json").read_text())
    assert sorted(cached["files"]) == [
        "date=2026-03-01/source=hourly/data.parquet",
        "date=2026-03-01/source=raw/data.parquet",
    ]


@pytest.mark.parametrize(
    "damage",
    [
        b"not json",
        b"[1, 2]",
        b'{"format": 3, "files": {}, "schemas": {}}',
        b'{"format": 2, "files": [], "schemas": {}}',
        b'{"format": 2, "files": {"date=2026-03-01/source=raw/data.parquet": [1, 2, [3]]},'
        b' "schemas": {}}',
        b'{"format": 1, "files": {"date=2026-03-01/source=raw/data.parquet": [1, 2, "d"]},'
        b' "schemas": {"d": "x"}}',  # the form of an earlier release's cache
        b"SCHEMA",  # replaced below by a cache whose schema texts are not schemas
        b"OTHER SCHEMA",  # replaced below by another schema's text under the same key
    ],
)
def test_a_damaged_schema_cache_costs_only_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: bytes
) -> None:
    dataset.write_dataset(records(), tmp_path, source="raw")
    expected = read_back(tmp_path)
    cache = tmp_path / "_dexkit" / "schemas.json"
    if damage == b"SCHEMA":
        data = json.loads(cache.read_text())
        data["schemas"] = dict.fromkeys(data["schemas"], "bm90IGFycm93")  # base64 of "not arrow"
        damage = json.dumps(data).encode()
    elif damage == b"OTHER SCHEMA":  # a timestamp without its time zone: a plausible wrong type
        data = json.loads(cache.read_text())
        other = dataset._encode(pl.Schema({**SCHEMA, "timestamp": pl.Datetime("us")}))
        data["schemas"] = dict.fromkeys(data["schemas"], other)
        damage = json.dumps(data).encode()
    cache.write_bytes(damage)
    reads = _counting_footer_reads(monkeypatch)
    assert_frame_equal(read_back(tmp_path), expected)
    read = len(reads)
    assert read >= 1  # read from the files (one read may heal both entries), then remembered
    assert_frame_equal(read_back(tmp_path), expected)
    assert len(reads) == read


def test_an_unwritable_schema_cache_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset.write_dataset(records(), tmp_path, source="raw")
    (tmp_path / "_dexkit").write_bytes(b"")  # a file where the cache's directory would be
    reads = _counting_footer_reads(monkeypatch)
    assert read_back(tmp_path).height == 6
    assert read_back(tmp_path).height == 6
    assert len(reads) == 4  # no cache: every scan reads the footers
    assert (tmp_path / "_dexkit").read_bytes() == b""


# --------------------------------------------------------------------------------------------
# each device's newest timestamp, kept per partition


@pytest.fixture(autouse=True)
def summaries_of_any_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """The datasets here are small: let them have summaries (see the test below)."""
    monkeypatch.setattr(dataset._Summaries, "MIN_BYTES", 0)


def test_a_small_dataset_has_no_summaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under MIN_BYTES of Parquet, reading device_id and timestamp is cheaper than summaries."""
    monkeypatch.setattr(dataset._Summaries, "MIN_BYTES", 256 << 20)
    dataset.write_dataset(_history(), tmp_path, source="raw")
    scan = dataset.scan_dataset(tmp_path)
    assert dataset.newest(scan) is None
    assert_frame_equal(health.latest(scan).collect(), health.latest(scan.collect()))
    assert not (tmp_path / "_dexkit" / "newest").exists()


def _history(gone: bool = True) -> pl.DataFrame:
    """Three devices over two days in two sources, and one seen only on the first day."""
    frame = records(60, step=timedelta(minutes=25))
    extra = records(1, start=T0 - timedelta(hours=3)).with_columns(device_id=pl.lit("gone"))
    return pl.concat([frame, extra]) if gone else frame


def _summaries(root: Path) -> list[Path]:
    return sorted((root / "_dexkit" / "newest").glob("*.arrow"))


def _counting_scans(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The files each scan of the dataset's Parquet reads (scan_dataset's, the summaries'
    and the narrowed one)."""
    calls: list[list[str]] = []
    frame = dataset._Scan.frame

    def counting(self: dataset._Scan, files: Any) -> pl.LazyFrame:
        calls.append([path.relative_to(self.base).parent.as_posix() for path in files])
        return frame(self, files)

    monkeypatch.setattr(dataset._Scan, "frame", counting)
    return calls


def test_latest_on_a_dataset_reads_stored_newest_timestamps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = _history()
    dataset.write_dataset(frame, tmp_path, source="raw")
    dataset.write_dataset(frame.head(5), tmp_path, source="hourly")
    expected = health.latest(dataset.scan_dataset(tmp_path).collect())
    calls = _counting_scans(monkeypatch)
    assert_frame_equal(health.latest(dataset.scan_dataset(tmp_path)).collect(), expected)
    # one summary per partition, made by this first call from that partition's files alone
    partitions = ["date=2026-03-01/source=hourly", "date=2026-03-01/source=raw",
                  "date=2026-03-02/source=raw"]  # fmt: skip
    assert [p.name.split(",")[:2] for p in _summaries(tmp_path)] == [
        p.split("/") for p in partitions
    ]
    assert calls[1:4] == [[p] for p in partitions]
    # the rows are read from the partitions that hold a device's newest timestamp only:
    # the last day, and the first day's raw records for the device not seen since
    narrowed = ["date=2026-03-01/source=raw", "date=2026-03-02/source=raw"]
    assert sorted(set(calls[4])) == narrowed
    calls.clear()
    summary = health.summarize(dataset.scan_dataset(tmp_path), by="colo")
    assert_frame_equal(summary.collect(engine="streaming"), health.summarize(expected, by="colo"))
    assert [sorted(set(files)) for files in calls] == [partitions, narrowed]  # no summary made


def test_a_changed_partition_gets_a_new_summary(tmp_path: Path) -> None:
    dataset.write_dataset(_history(gone=False), tmp_path, source="raw")
    health.latest(dataset.scan_dataset(tmp_path)).collect()
    before = _summaries(tmp_path)
    late = records(1, start=T0 - timedelta(hours=1)).with_columns(device_id=pl.lit("late"))
    dataset.write_dataset(late, tmp_path, source="raw")  # merged into the first day's file
    scan = dataset.scan_dataset(tmp_path)
    result = health.latest(scan).collect()
    assert "late" in result["device_id"].to_list()
    assert_frame_equal(result, health.latest(scan.collect()))
    after = _summaries(tmp_path)
    assert len(after) == len(before) == 2
    assert after[1] == before[1]  # the second day's is kept
    assert after[0] != before[0]
    assert not before[0].exists()


@pytest.mark.parametrize(
    "damage", ["garbage", "truncated", "empty", "one bit", "other columns, named right"]
)
def test_a_damaged_summary_is_made_again(tmp_path: Path, damage: str) -> None:
    """A summary is checked against the CRC-32 in its name, then its columns, when read: a
    damaged one is made again from its partition in the same call (one bit flipped in a
    valid file could otherwise give a wrong answer, or make Polars panic)."""
    dataset.write_dataset(_history(), tmp_path, source="raw")
    expected = health.latest(dataset.scan_dataset(tmp_path).collect())
    health.latest(dataset.scan_dataset(tmp_path)).collect()
    before = _summaries(tmp_path)
    for path in before:
        good = bytearray(path.read_bytes())
        if damage == "garbage":
            path.write_bytes(b"not an arrow file" * 10)
        elif damage == "truncated":
            path.write_bytes(good[: len(good) // 2])
        elif damage == "empty":
            path.write_bytes(b"")
        elif damage == "one bit":
            good[len(good) // 2] ^= 0x01
            path.write_bytes(good)
        else:
            buffer = io.BytesIO()
            pl.DataFrame({"device_id": [1], "timestamp": ["x"]}).write_ipc(buffer)
            path.unlink()
            digest = path.name.rsplit(".", 2)[0]
            path.with_name(f"{digest}.{zlib.crc32(buffer.getvalue()):08x}.arrow").write_bytes(
                buffer.getvalue()
            )
    assert_frame_equal(health.latest(dataset.scan_dataset(tmp_path)).collect(), expected)
    # made again, under the same partition and digest of its files
    assert [p.name.rsplit(".", 2)[0] for p in _summaries(tmp_path)] == [
        p.name.rsplit(".", 2)[0] for p in before
    ]
    for path in _summaries(tmp_path):
        assert pl.read_ipc_schema(path) == {
            "device_id": pl.String,
            "timestamp": SCHEMA["timestamp"],
            "first": SCHEMA["timestamp"],
        }


def test_unwritable_summaries_are_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dataset.write_dataset(_history(), tmp_path, source="raw")
    expected = health.latest(dataset.scan_dataset(tmp_path).collect())

    def refuse(path: Path, data: bytes) -> None:
        raise PermissionError(13, "read-only dataset", str(path))

    monkeypatch.setattr(dataset, "atomic_write", refuse)
    assert_frame_equal(health.latest(dataset.scan_dataset(tmp_path)).collect(), expected)
    assert _summaries(tmp_path) == []


def test_a_folder_that_cannot_hold_summaries_costs_no_summary_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the summaries' folder cannot be written, none is made (to be thrown away at each
    call): the query reads ``device_id`` and ``timestamp`` once, as on any other frame."""
    dataset.write_dataset(_history(), tmp_path, source="raw")
    expected = health.latest(dataset.scan_dataset(tmp_path).collect())
    (tmp_path / "_dexkit").mkdir(exist_ok=True)
    (tmp_path / "_dexkit" / "newest").write_bytes(b"")  # a file where the folder would be
    calls = _counting_scans(monkeypatch)
    assert_frame_equal(health.latest(dataset.scan_dataset(tmp_path)).collect(), expected)
    assert len(calls) == 1  # scan_dataset's own scan, read by the one pass


def test_two_threads_writing_one_file_do_not_share_a_temporary_file(tmp_path: Path) -> None:
    from dexkit._files import atomic_write

    target = tmp_path / "f"
    errors: list[BaseException] = []

    def write(payload: bytes) -> None:
        for _ in range(200):
            try:
                atomic_write(target, payload)
            except BaseException as exc:  # reported below
                errors.append(exc)

    threads = [threading.Thread(target=write, args=(p * 1000,)) for p in (b"a", b"b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert target.read_bytes() in {b"a" * 1000, b"b" * 1000}
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_only_the_frame_scan_dataset_returned_uses_summaries(tmp_path: Path) -> None:
    dataset.write_dataset(_history(), tmp_path, source="raw")
    scan = dataset.scan_dataset(tmp_path)
    assert dataset.newest(scan) is not None
    assert dataset.newest(scan.filter(pl.col("colo") == "FRA")) is None
    assert dataset.newest(scan.select("device_id", "timestamp")) is None
    assert (
        dataset.newest(pl.scan_parquet(tmp_path / "date=2026-03-01" / "**" / "*.parquet")) is None
    )
    # a filtered scan still gives the right rows (the newest of what it keeps)
    fra = scan.filter(pl.col("colo") == "FRA")
    assert_frame_equal(health.latest(fra).collect(), health.latest(fra.collect()))
    key = id(scan)
    del scan, fra
    gc.collect()
    assert key not in dataset._SCANS


def test_compare_windows_on_a_dataset_reads_only_the_partitions_its_windows_reach(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The window check takes the span from the summaries and reads only the partitions whose
    records reach into a window, found from their records, not their folder's name."""
    frame = records(4 * 24 * 3, start=datetime(2026, 3, 1, tzinfo=UTC), step=timedelta(minutes=20))
    dataset.write_dataset(frame, tmp_path, source="raw")
    # a file in the wrong day's folder: its records are on the fourth day
    stray = records(3, start=datetime(2026, 3, 4, 12, tzinfo=UTC)).with_columns(cpu_pct=99.0)
    stray.write_parquet(tmp_path / "date=2026-03-01" / "source=raw" / "stray.parquet")
    scan = dataset.scan_dataset(tmp_path)
    eager = scan.collect()
    baseline = (datetime(2026, 3, 4, 6, tzinfo=UTC), datetime(2026, 3, 4, 12, tzinfo=UTC))
    incident = (datetime(2026, 3, 4, 12, tzinfo=UTC), datetime(2026, 3, 4, 14, tzinfo=UTC))
    health.latest(scan).collect()  # the summaries are made
    calls = _counting_scans(monkeypatch)
    query = health.compare_windows(dataset.scan_dataset(tmp_path), baseline, incident, by="colo")
    assert [sorted(set(files)) for files in calls] == [
        ["date=2026-03-01/source=raw", "date=2026-03-02/source=raw",
         "date=2026-03-03/source=raw", "date=2026-03-04/source=raw"],
        ["date=2026-03-01/source=raw", "date=2026-03-04/source=raw"],
    ]  # fmt: skip
    result = query.collect(engine="streaming")
    assert_frame_equal(result, health.compare_windows(eager, baseline, incident, by="colo"))
    # six records of the fourth day in the incident window, and two of the stray file's three
    assert result.filter(pl.col("metric") == "cpu_pct")["incident_n"].sum() == 6 + 2
    # the span in messages and warnings is the whole dataset's, as on the frame in memory
    for late in (
        (datetime(2026, 3, 4, 22, tzinfo=UTC), datetime(2026, 3, 5, 4, tzinfo=UTC)),
        (datetime(2026, 3, 9, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC)),
    ):
        outcomes = []
        for source in (eager.lazy(), dataset.scan_dataset(tmp_path)):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    health.compare_windows(source, baseline, late)
                except ConfigError as exc:
                    outcomes.append(str(exc))
                else:
                    outcomes.append(" ".join(str(w.message) for w in caught))
        assert outcomes[0] == outcomes[1]
        assert "2026-03-01 00:00 UTC to 2026-03-04 23:40 UTC" in outcomes[0]


def test_prepare_makes_the_summaries_of_the_partitions_named(tmp_path: Path) -> None:
    dataset.write_dataset(_history(), tmp_path, source="raw")
    dataset.prepare(dataset.scan_dataset(tmp_path).filter(pl.col("colo") == "FRA"), ["x"])
    assert _summaries(tmp_path) == []  # not a frame of scan_dataset: nothing to do
    dataset.prepare(dataset.scan_dataset(tmp_path), ["date=2026-03-02/source=raw", "nowhere"])
    assert [p.name.split(",")[0] for p in _summaries(tmp_path)] == ["date=2026-03-02"]
    made = _summaries(tmp_path)[0].stat().st_mtime_ns
    dataset.prepare(dataset.scan_dataset(tmp_path), ["date=2026-03-02/source=raw"])
    assert _summaries(tmp_path)[0].stat().st_mtime_ns == made  # up to date: kept


def test_a_file_rewritten_with_its_size_and_mtime_gets_a_new_summary(tmp_path: Path) -> None:
    """The digest covers each file's inode and ctime too: a file replaced by one of the same
    size, its mtime set back (a copy that keeps mtimes, a coarse clock), is read again."""
    t = datetime(2026, 3, 1, 10, tzinfo=UTC)
    frame = pl.DataFrame(
        {"device_id": ["a", "b"], "timestamp": [t, t + timedelta(hours=1)]},
        schema={"device_id": pl.String, "timestamp": SCHEMA["timestamp"]},
    )
    dataset.write_dataset(frame, tmp_path, source="raw")
    [path] = tmp_path.glob("date=*/source=*/*.parquet")
    health.latest(dataset.scan_dataset(tmp_path)).collect()  # the summary is made
    stat = path.stat()
    swapped = tmp_path / "swapped.parquet"
    frame.with_columns(pl.col("device_id").reverse()).write_parquet(swapped)
    assert swapped.stat().st_size == stat.st_size
    os.replace(swapped, path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    scan = dataset.scan_dataset(tmp_path)
    assert_frame_equal(health.latest(scan).collect(), health.latest(scan.collect()))
    assert health.latest(scan).collect()["device_id"].to_list() == ["a", "b"]


_MANY_PARTITIONS = """
import resource, sys
from pathlib import Path
import polars as pl
from dexkit import dataset, health
dataset._Summaries.MIN_BYTES = 0
resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[2]), int(sys.argv[2])))
root = Path(sys.argv[1])
for _ in range(2):
    scan = dataset.scan_dataset(root)
    assert dataset.newest(scan) is not None
    result = health.latest(scan).collect()
print(result.height, len(list((root / "_dexkit" / "newest").glob("*.arrow"))))
"""


@pytest.mark.slow
def test_summaries_of_many_partitions_open_a_few_files_at_a_time(tmp_path: Path) -> None:
    """Summaries are read one at a time: 300 partitions under a limit of 160 open files."""
    start = datetime(2025, 1, 1, tzinfo=UTC)
    frame = records(300, start=start, step=timedelta(days=1))
    dataset.write_dataset(frame, tmp_path, source="raw")
    done = subprocess.run(
        [sys.executable, "-c", _MANY_PARTITIONS, str(tmp_path), "160"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["3", "300"]


def test_a_file_rewritten_with_its_size_and_mtime_has_its_schema_read_again(
    tmp_path: Path,
) -> None:
    t = datetime(2026, 3, 1, 10, tzinfo=UTC)
    frame = pl.DataFrame({"device_id": ["a"], "timestamp": [t], "aa": [1]}).with_columns(
        pl.col("timestamp").cast(SCHEMA["timestamp"])
    )
    dataset.write_dataset(frame, tmp_path, source="raw")
    [path] = tmp_path.glob("date=*/source=*/*.parquet")
    assert "aa" in dataset.scan_dataset(tmp_path).collect_schema()  # remembered
    stat = path.stat()
    renamed = tmp_path / "renamed.parquet"
    pl.read_parquet(path).rename({"aa": "bb"}).write_parquet(renamed, compression="zstd")
    assert renamed.stat().st_size == stat.st_size
    os.replace(renamed, path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    back = dataset.scan_dataset(tmp_path).collect()
    assert "bb" in back.columns
    assert "aa" not in back.columns
