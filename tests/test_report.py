"""Tests of dexkit.report: content, escaping, redaction, provenance and windows."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import dexkit
from dexkit import synth
from dexkit.errors import ConfigError, PartialWindowWarning
from dexkit.inputs import read_input
from dexkit.report import Report, build_report, write_report

HOSTILE = [
    "</script><script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "\"'><svg onload=alert(1)>",
    "{{7*7}}",
    "x\u2028y\u2029z",
]
INCIDENT = ("2026-11-18T13:00:00Z", "2026-11-18T15:00:00Z")


def _hostile_record(record: dict[str, Any], i: int) -> dict[str, Any]:
    bad = HOSTILE[i % len(HOSTILE)]
    record = dict(record)
    record["deviceName"] = f"{bad} laptop {i % 7}"
    record["personEmail"] = f"{bad}@example.com"
    record["networkSsid"] = bad
    if i % 3 == 0:
        record["colo"] = HOSTILE[(i // 3) % len(HOSTILE)]
    if i % 4 == 0:
        record["version"] = HOSTILE[(i // 4) % len(HOSTILE)]
    for field in ("cpuPctByApp", "ramUsedPctByApp"):
        apps = record.get(field) or []
        if apps:
            apps = [dict(app) for app in apps]
            apps[0]["name"] = HOSTILE[(i + 1) % len(HOSTILE)]
            record[field] = apps
    for field in ("ispIpv4", "ispIpv6"):
        if record.get(field):
            ip = dict(record[field])
            ip["name"] = HOSTILE[(i + 2) % len(HOSTILE)]
            ip["aso"] = HOSTILE[(i + 3) % len(HOSTILE)]
            record[field] = ip
    return record


def hostile_frame(devices: int = 40) -> pl.DataFrame:
    """Synthetic raw records 11:00-17:00 with the sample's incident and hostile strings in
    every field a user or a network controls."""
    fleet = synth.Fleet(devices, seed=3, incident=synth.SAMPLE["incident"])
    start = datetime(2026, 11, 18, 11, tzinfo=UTC)
    records = fleet.records("raw", start, start.replace(hour=17))
    records = [_hostile_record(r, i) for i, r in enumerate(records)]
    page = synth.envelope(records, page=1, per_page=len(records), total_count=len(records))
    return dexkit.read_pages(page)


@pytest.fixture(scope="module")
def hostile() -> pl.DataFrame:
    return hostile_frame()


@pytest.fixture(scope="module")
def hostile_report(hostile: pl.DataFrame) -> Report:
    return build_report(hostile, incident=INCIDENT, redact=False, title="<i>{{7*7}}</i>")


def _script_blocks(page: str) -> list[str]:
    return re.findall(r"<script[^>]*>(.*?)</script>", page, flags=re.S)


def _strings(node: object) -> set[str]:
    if isinstance(node, str):
        return {node}
    if isinstance(node, dict):
        return set().union(*(_strings(v) for v in node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*(_strings(v) for v in node)) if node else set()
    return set()


@pytest.mark.slow
def test_report_is_self_contained(hostile_report: Report) -> None:
    page = hostile_report.html
    assert page.startswith("<!doctype html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "cdn.jsdelivr" not in page
    assert "vegaEmbed" in page
    # the bundle, the boot script and one JSON block per chart; no other script element
    blocks = re.findall(r"<script([^>]*)>", page)
    json_blocks = [b for b in blocks if 'type="application/json"' in b]
    assert len(blocks) == len(json_blocks) + 2
    assert len(json_blocks) >= 5
    assert "Content-Security-Policy" in page
    assert "connect-src &#39;none&#39;" in page


def test_hostile_strings_are_escaped(hostile_report: Report) -> None:
    page = hostile_report.html
    for bad in ("<script>alert(1)", "<img src=x", "<svg onload"):
        assert bad not in page
    for block in _script_blocks(page):
        assert "\u2028" not in block
        assert "\u2029" not in block
    # the page has exactly the script elements the report wrote
    assert page.lower().count("<script") == page.lower().count("</script>")
    # the strings are there, as text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "{{7*7}}" in page
    assert "<title>&lt;i&gt;{{7*7}}&lt;/i&gt;</title>" in page


def test_chart_json_is_safe_and_parses(hostile_report: Report) -> None:
    page = hostile_report.html
    blobs = re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', page, flags=re.S)
    values = set()
    for blob in blobs:
        assert not set(blob) & {"<", ">", "&", "\u2028", "\u2029"}
        spec = json.loads(blob)
        assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/v6")
        values.update(_strings(spec))
    assert any("</script>" in v for v in values)  # a hostile value made it into a chart


def test_incident_section(hostile_report: Report) -> None:
    page = hostile_report.html
    assert "Incident: baseline vs incident" in page
    assert "2026-11-18 11:00 UTC to 2026-11-18 13:00 UTC" in page  # the default baseline
    assert "Biggest changes by colo" in page
    assert "What moved" in page


def test_health_grades_are_coloured_in_tables(hostile_report: Report) -> None:
    from dexkit._presentation import GRADE_STYLE as _GRADE_STYLE

    badges = re.findall(r'<span class="grade" style="([^"]*)">([a-z]+)</span>', hostile_report.html)
    assert badges  # the hotspots table has a health column
    assert all(_GRADE_STYLE[grade] == style for style, grade in badges)


@pytest.mark.slow
def test_redacted_by_default(hostile: pl.DataFrame) -> None:
    names = hostile["device_name"].unique().to_list()
    emails = hostile["person_email"].unique().to_list()
    page = build_report(hostile, key="k").html
    assert not any(name in page for name in names)
    assert not any(email in page for email in emails if email)
    assert "device-" in page
    assert "identities are pseudonyms" in page
    unredacted = build_report(hostile, redact=False).html
    assert "not redacted" in unredacted


@pytest.mark.slow
def test_same_key_same_pseudonyms(hostile: pl.DataFrame) -> None:
    def pseudonyms(page: str) -> set[str]:
        return set(re.findall(r"device-[0-9a-f]{10}", page))

    a = pseudonyms(build_report(hostile, key="k").html)
    b = pseudonyms(build_report(hostile, key="k").html)
    c = pseudonyms(build_report(hostile, key="other").html)
    assert a
    assert a == b
    assert not a & c


@pytest.mark.slow
def test_no_secret_in_report(hostile: pl.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    token = "tok_9f8e7d6c5b4a39281706f5e4d3c2b1a0zz"
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", token)
    provenance = {
        "query": {"source": "raw", "api_token": token, "headers": {"Authorization": token}},
        "api_key": token,
        "X-Auth-Email": "admin@example.com",
        "account": "acme",
    }
    page = build_report(hostile, provenance=provenance).html
    assert token not in page
    assert "admin@example.com" not in page
    assert "acme" in page
    assert "&#34;source&#34;: &#34;raw&#34;" in page


def test_provenance_basics(hostile_report: Report) -> None:
    page = hostile_report.html
    for text in ("dexkit version", dexkit.__version__, "records from", "generated at"):
        assert text in page


@pytest.mark.slow
def test_windows() -> None:
    frame = hostile_frame(10)
    start, end = datetime(2026, 11, 18, 13, tzinfo=UTC), datetime(2026, 11, 18, 15, tzinfo=UTC)
    page = build_report(
        frame, incident=(start, end), baseline=("2026-11-18 11:30", "2026-11-18 12:30")
    ).html
    assert "2026-11-18 11:30 UTC to 2026-11-18 12:30 UTC" in page
    with pytest.raises(ConfigError, match="needs an incident"):
        build_report(frame, baseline=(start, end))
    with pytest.raises(ConfigError, match="start before it ends"):
        build_report(frame, incident=(end, start))
    with pytest.raises(ConfigError, match="ISO 8601"):
        build_report(frame, incident=("yesterday", end))


def test_bad_frames() -> None:
    with pytest.raises(ConfigError, match="DataFrame or LazyFrame"):
        build_report({"a": 1})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="lack the column"):
        build_report(pl.DataFrame({"device_id": ["a"]}))
    empty = pl.DataFrame(
        schema={"device_id": pl.String, "timestamp": pl.Datetime("us", "UTC"), "status": pl.String}
    )
    with pytest.raises(ConfigError, match="no records"):
        build_report(empty)


@pytest.mark.slow
def test_lazy_frame_and_write(tmp_path: Path) -> None:
    frame = hostile_frame(10)
    out = write_report(frame.lazy(), tmp_path / "r.html", key="k")
    assert out.stat().st_size > 500_000
    assert out.read_text("utf-8").startswith("<!doctype html>")


def test_repr_html_is_a_sandboxed_iframe(hostile_report: Report) -> None:
    snippet = hostile_report._repr_html_()
    assert snippet.startswith('<iframe sandbox="allow-scripts"')
    assert "<script" not in snippet  # all of it is inside the escaped srcdoc
    assert "characters" in repr(hostile_report)


def test_read_input(tmp_path: Path) -> None:
    fleet = synth.Fleet(5, seed=1)
    start = datetime(2026, 11, 18, 14, tzinfo=UTC)
    pages = fleet.pages("last_seen", start, start.replace(hour=15), per_page=3)
    (tmp_path / "pages").mkdir()
    for i, page in enumerate(pages, 1):
        (tmp_path / "pages" / f"page-{i:05d}.json").write_bytes(page)
    frame, info = read_input(tmp_path / "pages")
    assert frame.height == 5
    assert info["kind"] == "saved pages"
    frame, info = read_input(str(tmp_path / "pages" / "*.json"))
    assert frame.height == 5
    assert info["kind"] == "saved pages (glob)"
    from dexkit.dataset import write_dataset

    write_dataset(frame, tmp_path / "ds", source="last_seen")
    frame, info = read_input(tmp_path / "ds")
    assert frame.height == 5
    assert info["kind"] == "Parquet dataset"


@pytest.mark.slow
def test_sample_report_size(tmp_path: Path) -> None:
    sample = Path(__file__).parent.parent / "data" / "sample" / "raw"
    frame = dexkit.read_pages(sample)
    out = write_report(frame, tmp_path / "sample.html", incident=INCIDENT)
    assert out.stat().st_size < 5_000_000


@pytest.mark.slow
def test_import_dexkit_stays_light() -> None:
    code = (
        "import sys, dexkit, dexkit.report, dexkit.redaction; "
        "print(sorted(m for m in ('jinja2', 'altair', 'vl_convert') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_partitions_that_disagree_on_a_type_are_one_config_error(tmp_path: Path) -> None:
    frame = dexkit.read_pages(Path(__file__).resolve().parents[1] / "data" / "sample" / "last_seen")
    dexkit.write_dataset(frame, tmp_path, source="last_seen")
    other = tmp_path / "date=2026-11-17" / "source=last_seen"
    other.mkdir(parents=True)
    frame.head(3).with_columns(pl.col("cpu_pct").cast(pl.String)).write_parquet(
        other / "data.parquet"
    )
    with pytest.raises(ConfigError, match=r"cannot read the Parquet dataset at .*cpu_pct"):
        read_input(str(tmp_path))


def test_an_empty_window_is_an_error_naming_it_and_the_span() -> None:
    frame = hostile_frame(10)  # records 11:00 to 17:00
    with pytest.raises(ConfigError) as raised:
        build_report(frame, incident=("2026-11-19 13:00", "2026-11-19 15:00"))
    message = str(raised.value)
    assert "the baseline window, 2026-11-19 11:00 UTC to 2026-11-19 13:00 UTC, holds no" in message
    assert "the records span 2026-11-18 11:" in message
    assert "pass baseline=(start, end)" in message  # the default baseline is named as such
    with pytest.raises(ConfigError, match="the incident window, 2026-11-19 13:00 UTC"):
        build_report(
            frame,
            incident=("2026-11-19 13:00", "2026-11-19 15:00"),
            baseline=("2026-11-18 12:00", "2026-11-18 13:00"),
        )


@pytest.mark.slow
def test_a_partly_covered_window_warns_and_says_so_in_the_report(tmp_path: Path) -> None:
    frame = hostile_frame(10)  # records 11:00 to 17:00 (the 17:00 hour excluded)
    with pytest.warns(PartialWindowWarning) as caught:
        out = write_report(
            frame, tmp_path / "r.html", incident=("2026-11-18 16:00", "2026-11-18 20:00")
        )
    assert len(caught) == 1  # once, although two comparisons read the windows
    message = str(caught[0].message)
    assert message.startswith("build_report(): the records cover only 25.0% of the incident")
    page = out.read_text()
    assert "Partial window: the records cover only 25.0% of the incident window" in page
    assert "of the baseline window" not in page  # 12:00 to 16:00: covered


def test_the_report_reads_the_version_and_vocabulary_from_their_modules() -> None:
    import tomllib

    from dexkit import _version, report

    root = Path(__file__).resolve().parent.parent
    build = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["hatch"]["version"]
    assert build["path"] == "dexkit/_version.py"
    assert dexkit.__version__ == _version.__version__ == report.__version__
    source = Path(report.__file__).read_text()
    # no hidden import of the package root, no private names of dexkit.display
    assert "from dexkit import __version__" not in source
    assert "from dexkit.display import" not in source
