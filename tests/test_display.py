"""Tests of dexkit.display: what the table shows, escaping, limits, and a real browser."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import dexkit
from dexkit._presentation import cell as _cell
from dexkit._presentation import header as _header
from dexkit._presentation import table as _table
from dexkit.display import Table, show
from dexkit.errors import ConfigError
from dexkit.health import GRADES
from tests.browser import ARGS, CHROMIUM
from tests.test_report import HOSTILE


class _Cells(HTMLParser):
    """Collect tags, attributes, header texts and body rows of a rendered table."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.headers: list[str] = []
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self.badges: list[tuple[str, str]] = []
        self._badge: str | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)
        if tag == "tr":
            self.rows.append([])
        if tag in ("td", "th"):
            self._cell = []
        if tag == "span":
            self._badge = dict(attrs).get("style") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            text = "".join(self._cell)
            (self.headers if tag == "th" else self.rows[-1]).append(text)
            self._cell = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self._badge is not None:
            self.badges.append((data, self._badge))
            self._badge = None


def parse(html: str) -> _Cells:
    parser = _Cells()
    parser.feed(html)
    parser.close()
    parser.rows = [r for r in parser.rows if r]
    return parser


@pytest.fixture
def summary() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "colo": ["FRA", "LHR", "AMS"],
            "devices": [1200, 800, 5],
            "connected_share": [0.62, 0.97, None],
            "estimated_loss_pct_p90": [6.4, 0.25, None],
            "handshake_latency_ms_p99": [812.0, 95.5, float("nan")],
            "since": [datetime(2026, 11, 18, 13, tzinfo=UTC), None, None],
            "broken": [["loss", "latency"], [], None],
            "health": pl.Series(["critical", "ok", "degraded"], dtype=pl.Enum(GRADES)),
        }
    )


def test_cells_read_as_people_read_them(summary: pl.DataFrame) -> None:
    page = parse(show(summary, "Health by colo").to_html())
    assert page.headers == [
        "colo",
        "devices",
        "connected share",
        "Estimated loss (%) p90",
        "Handshake latency (ms) p99",
        "since",
        "broken",
        "health",
    ]
    assert page.rows == [
        [
            "FRA",
            "1,200",
            "62.0%",
            "6.40",
            "812.00",
            "2026-11-18 13:00 UTC",
            "loss, latency",
            "critical",
        ],
        ["LHR", "800", "97.0%", "0.25", "95.50", "", "", "ok"],
        ["AMS", "5", "", "", "", "", "", "degraded"],
    ]
    assert "Health by colo" in "".join(page.text)
    assert "3 rows · 8 columns" in "".join(page.text)


def test_changes_carry_a_sign_and_relative_changes_are_percentages() -> None:
    frame = pl.DataFrame(
        {
            "metric": ["estimated_loss_pct", "cpu_pct", "battery_pct"],
            "change": [6.18, 0.0, -2.5],
            "rel_change": [44.143, 0.0, -0.0312],
            "effect": [6.65, None, -0.2],
        }
    )
    assert parse(show(frame).to_html()).rows == [
        ["estimated_loss_pct", "+6.18", "+4,414.3%", "+6.65"],
        ["cpu_pct", "+0.00", "+0.0%", ""],
        ["battery_pct", "-2.50", "-3.1%", "-0.20"],
    ]


@pytest.mark.parametrize(
    ("value", "name", "text"),
    [
        (-0.001, "change", "+0.00"),  # no negative zero
        (-0.0004, "rel_change", "+0.0%"),
        (float("inf"), "p90", "\u221e"),
        (float("-inf"), "change", "-\u221e"),
        (1e300, "p90", "1.000e+300"),
        (3.0, "shared_devices", "3.00"),  # only *_share columns are shares
        (0.62, "connected_share", "62.0%"),
        (-0.05, "connected_share_change", "-5.0 pp"),
        (Decimal("1234567.891"), "cost", "1,234,567.89"),
        (
            timedelta(days=2, hours=1, minutes=59, seconds=46, milliseconds=750),
            "age",
            "2d 1h 59m 46s",
        ),
        (timedelta(hours=-1), "lag", "-1h"),
        (timedelta(milliseconds=750), "age", "750ms"),
        ([[1, 2], [3]], "x", "[1, 2], [3]"),
        ([1.5, None, float("nan")], "x", "1.50, \u2013, \u2013"),
        (b"\x00<x>", "x", "0x003c783e"),
        ({"at": datetime(2026, 1, 1, tzinfo=UTC)}, "x", '{"at": "2026-01-01 00:00 UTC"}'),
    ],
)
def test_edge_values(value: object, name: str, text: str) -> None:
    assert _cell(value, name) == text


def test_headers_read_as_words() -> None:
    assert _header("cpu_pct_by_app") == "CPU (%) by app"
    assert _header("handshake_latency_ms_rel_change") == "Handshake latency (ms) rel change"
    assert _header("battery_pct") == "Battery (%)"


def test_durations_from_stale_are_readable_and_right_aligned() -> None:
    frame = pl.DataFrame(
        {
            "device_id": ["a"],
            "timestamp": [datetime(2026, 2, 27, 8, 0, 13, 250_000, tzinfo=UTC)],
        }
    )
    old = dexkit.stale(frame, "12h", now=datetime(2026, 3, 1, 10, tzinfo=UTC))
    table = _table("", old)
    assert table["rows"][0][-1] == "2d 1h 59m 46s"
    assert table["numeric"][-1]


def test_markup_claims_are_escaped_too() -> None:
    class Markup(str):
        def __html__(self) -> str:
            return str(self)

    frame = pl.DataFrame({"x": [Markup("<img src=x onerror=alert(1)>")]}, schema={"x": pl.Object})
    html = show(frame, title=Markup("<b>t</b>"), caption=Markup("<i>c</i>")).to_html()
    assert "<img" not in html
    assert "<b>" not in html
    assert "<i>" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_tables_compare_by_identity() -> None:
    frame = pl.DataFrame({"a": [1]})
    a, b = show(frame), show(frame.clone())
    assert a != b  # no DataFrame truth-value error
    assert a == a
    assert len({a, b}) == 2


def test_grades_are_coloured_and_only_grades(summary: pl.DataFrame) -> None:
    page = parse(show(summary).to_html())
    badges = dict(page.badges)
    assert set(badges) == set(GRADES)
    assert len({badges[g] for g in GRADES}) == 3  # three different styles
    # a string or categorical column called health is graded too (a round trip through pandas
    # makes the Enum categorical); other strings that happen to say "ok" are not
    for dtype in (pl.String, pl.Categorical):
        plain = summary.with_columns(pl.col("health").cast(dtype), note=pl.lit("ok"))
        assert [text for text, _ in parse(show(plain).to_html()).badges] == [
            "critical",
            "ok",
            "degraded",
        ]


def test_numeric_columns_are_right_aligned(summary: pl.DataFrame) -> None:
    html = show(summary.select("colo", "devices")).to_html()
    cells = html.split("<td ")[1:]
    assert "text-align:left" in cells[0]
    assert "text-align:right" in cells[1]


def test_long_frames_are_cut_and_say_so() -> None:
    frame = pl.DataFrame({"n": range(1000)})
    table = show(frame, max_rows=25)
    page = parse(table.to_html())
    assert len(page.rows) == 25
    assert page.rows[-1] == ["24"]
    assert "first 25 of 1,000 rows · 1 column" in "".join(page.text)
    assert table.frame.height == 1000  # the data is never cut


def test_empty_frame() -> None:
    page = parse(show(pl.DataFrame({"colo": [], "devices": []})).to_html())
    assert page.rows == [["no rows"]]
    assert "0 rows · 2 columns" in "".join(page.text)


def test_hostile_text_is_escaped_everywhere() -> None:
    frame = pl.DataFrame({"isp": HOSTILE, "devices": range(len(HOSTILE))})
    bad = HOSTILE[1]
    html = show(frame.rename({"isp": bad}), title=HOSTILE[0], caption=HOSTILE[2]).to_html()
    page = parse(html)
    assert set(page.tags) <= {"div", "table", "caption", "thead", "tbody", "tr", "th", "td"}
    assert {name for name, _ in page.attrs} <= {"class", "style", "colspan"}
    assert [row[0] for row in page.rows] == HOSTILE  # the text survives, literally
    text = "".join(page.text)
    assert HOSTILE[0] in text
    assert HOSTILE[2] in text
    assert bad.replace("_", " ") in page.headers


def test_lazy_frames_are_collected_and_results_compose() -> None:
    frame = pl.DataFrame(
        {
            "device_id": ["a", "b", "c"],
            "timestamp": [datetime(2026, 3, 1, 10, tzinfo=UTC)] * 3,
            "colo": ["FRA", "FRA", "LHR"],
            "status": ["connected", "disconnected", "connected"],
        }
    )
    table = dexkit.show(dexkit.summarize(frame.lazy(), by="colo"))
    assert isinstance(table, Table)
    assert table.frame.equals(dexkit.summarize(frame, by="colo"))
    assert table._repr_html_() == table.to_html()
    assert repr(table) == repr(table.frame)
    assert repr(dexkit.show(table.frame, "Colos")).startswith("Colos\nshape: (2, ")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: show({"a": [1]}), "show\\(\\) takes a polars DataFrame or LazyFrame, got dict"),
        (lambda: show(pl.DataFrame(), title=3), "title must be a string"),
        (lambda: show(pl.DataFrame(), caption=b"x"), "caption must be a string"),
        (lambda: show(pl.DataFrame(), max_rows=0), "max_rows must be a positive integer"),
        (lambda: show(pl.DataFrame(), max_rows=True), "max_rows must be a positive integer"),
        (lambda: Table(pl.LazyFrame()), "Table takes a polars DataFrame, got polars.LazyFrame"),
    ],
)
def test_bad_arguments(call: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        call()


@pytest.mark.browser
def test_renders_in_chromium_offline_and_inert(tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"{CHROMIUM} is not installed")
    frame = pl.DataFrame(
        {
            "isp": HOSTILE,
            "devices": [10, 20, 30, 40, 50],
            "health": pl.Series(["ok", "degraded", "critical", "ok", "ok"], dtype=pl.Enum(GRADES)),
        }
    )
    path = tmp_path / "table.html"
    body = show(frame, HOSTILE[0], caption=HOSTILE[1]).to_html()
    path.write_text(f"<!doctype html><meta charset=utf-8><body>{body}</body>", "utf-8")
    requests: list[str] = []
    dialogs: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            page.on("request", lambda request: requests.append(request.url))
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            page.goto(path.as_uri())
            page.wait_for_timeout(300)  # any onerror/onload handler would have fired
            cells = page.eval_on_selector_all(
                "tbody tr td:first-child", "tds => tds.map(t => t.textContent)"
            )
            injected = page.evaluate("() => document.querySelectorAll('img, svg, script').length")
            critical = page.locator("span", has_text="critical")
            colour = critical.evaluate("s => getComputedStyle(s).backgroundColor")
            width = page.locator("table").evaluate("t => t.getBoundingClientRect().width")
        finally:
            browser.close()
    assert cells == HOSTILE
    assert injected == 0
    assert dialogs == []
    assert requests == [path.as_uri()]
    assert colour == "rgb(209, 67, 47)"  # the one red of "critical" (dexkit._presentation)
    assert width > 100


@pytest.mark.slow
def test_critical_is_one_red_everywhere() -> None:
    from dexkit import charts
    from dexkit.schema import SCHEMA

    at = datetime(2026, 11, 18, 14, tzinfo=UTC)
    rows = [
        {"device_id": d, "timestamp": at, "colo": "FRA", "status": "disconnected"} for d in "abcdef"
    ]
    frame = pl.DataFrame(rows, schema=SCHEMA)
    scale = charts.colo_map(frame).to_dict()["layer"][1]["encoding"]["color"]["scale"]
    red = scale["range"][scale["domain"].index("critical")]
    summary = dexkit.summarize(frame, by="colo")
    assert summary["health"].to_list() == ["critical"]
    assert f"background:{red};" in show(summary).to_html()
    page = dexkit.build_report(frame).html  # the hotspots table and the colo map
    assert f'class="grade" style="background:{red};' in page
    assert f'"range":["#2e7d43","#e0a800","{red}"]' in page
