"""One time vocabulary: every entry point accepts the same instants, offsets and durations."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import dexkit
from dexkit import _time, charts, health
from dexkit._query import parse_time
from dexkit.cli import main
from dexkit.errors import ConfigError, QueryError
from dexkit.testing import FakeCloudflare

NOW = datetime(2026, 11, 18, 14, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500ms", timedelta(milliseconds=500)),
        ("30s", timedelta(seconds=30)),
        ("30sec", timedelta(seconds=30)),
        ("90m", timedelta(minutes=90)),
        ("90min", timedelta(minutes=90)),
        ("1.5h", timedelta(minutes=90)),
        ("1h30m", timedelta(minutes=90)),
        (" 1h 30m ", timedelta(minutes=90)),
        ("2hr", timedelta(hours=2)),
        ("1d12h", timedelta(hours=36)),
        ("2w", timedelta(weeks=2)),
        ("1H", timedelta(hours=1)),
        (timedelta(minutes=5), timedelta(minutes=5)),
    ],
)
def test_durations(text: object, expected: timedelta) -> None:
    assert _time.duration(text, "every") == expected


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("1mo", "calendar span"),
        ("2y", "calendar span"),
        ("hourly", "not a duration"),
        ("1 hour", "not a duration"),
        ("", "not a duration"),
        ("0s", "longer than zero"),
        ("9" * 30 + "d", "out of range"),
        (3600, "got int"),
        (timedelta(minutes=-5), "must not be negative"),
    ],
)
def test_bad_durations(text: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        _time.duration(text, "every")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("-90m", NOW - timedelta(minutes=90)),
        ("90m", NOW - timedelta(minutes=90)),
        ("-90min", NOW - timedelta(minutes=90)),
        ("-1.5h", NOW - timedelta(minutes=90)),
        ("-1d12h", NOW - timedelta(hours=36)),
        (timedelta(hours=-2), NOW - timedelta(hours=2)),
        ("now", NOW),
        ("2026-11-18T13:00Z", datetime(2026, 11, 18, 13, tzinfo=UTC)),
        ("2026-11-18 13:00:00+00", datetime(2026, 11, 18, 13, tzinfo=UTC)),
        ("2026-11-18T14:00+01:00", datetime(2026, 11, 18, 13, tzinfo=UTC)),
        ("2026-11-18T13:00", datetime(2026, 11, 18, 13, tzinfo=UTC)),
        (date(2026, 11, 18), datetime(2026, 11, 18, tzinfo=UTC)),
        (1795000000000, datetime(2026, 11, 18, 11, 6, 40, tzinfo=UTC)),
        ("1795000000000", datetime(2026, 11, 18, 11, 6, 40, tzinfo=UTC)),
    ],
)
def test_instants_are_the_same_for_the_client_and_the_analytics(
    value: object, expected: datetime
) -> None:
    assert _time.instant(value, "start", now=NOW) == expected
    assert parse_time(value, now=NOW, name="start") == expected  # type: ignore[arg-type]


def test_client_errors_stay_query_errors() -> None:
    with pytest.raises(QueryError, match="cannot read 'yesterday' as a time"):
        parse_time("yesterday", now=NOW, name="start")
    with pytest.raises(QueryError, match="out of range"):
        parse_time("-" + "9" * 30 + "d", now=NOW, name="start")


@pytest.fixture(scope="module")
def raw() -> pl.DataFrame:
    return dexkit.load("sample")


@pytest.mark.slow
def test_health_charts_and_explorer_take_the_same_durations(raw: pl.DataFrame) -> None:
    a = health.timeline(raw, every="90min", metrics=["cpu_pct"])
    b = health.timeline(raw, every="1.5h", metrics=["cpu_pct"])
    assert_frame_equal(a, b)
    assert a.height == 6  # 7 hours of records in 90-minute buckets aligned on the epoch
    old = health.stale(raw, older_than="1d12h")
    assert old.columns[0] == "device_id"
    chart = charts.timeline_chart(raw, "cpu_pct", every="90min")
    assert "90m" in str(chart.to_dict()["title"])
    for every in ("30s", "2w", "90min", "1.5h"):
        assert dexkit.explore(raw, every=every).every == _time.polars_every(every, "every")


def test_analytics_windows_take_offsets(raw: pl.DataFrame) -> None:
    moment = datetime(2026, 11, 18, 17, tzinfo=UTC)
    assert _time.window(("-4h", "-2h"), "incident", now=moment) == (
        datetime(2026, 11, 18, 13, tzinfo=UTC),
        datetime(2026, 11, 18, 15, tzinfo=UTC),
    )


def test_the_command_line_takes_python_offsets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeCloudflare(devices=60, seed=1) as api:
        monkeypatch.setenv("CLOUDFLARE_BASE_URL", api.base_url)
        monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", api.account_id)
        monkeypatch.setenv("CLOUDFLARE_API_TOKEN", api.api_token)
        store = str(tmp_path / "store")
        for start in ("-3h", "3h", "-1.5h", "-1d12h"):
            code = main(["fetch", start, "--source", "hourly", "--into", store, "--plan"])
            assert code == 0, capsys.readouterr().err
        code = main(["fetch", "-30min", "-10m", "--into", store + "-snapshot", "--plan"])
        assert code == 0, capsys.readouterr().err
    assert "requests" in capsys.readouterr().out
