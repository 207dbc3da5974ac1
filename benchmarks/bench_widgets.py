"""How long the explorer takes to redraw after a filter change, on 100,000 records.

Run ``.venv/bin/python benchmarks/bench_widgets.py`` (``make bench``). The records are the
bundled ``raw`` sample copied onto new device ids until there are 100,000 (so about 2,400
devices over seven hours, 30 colos, the scripted incident included). Each round changes one
filter (cycling through colos, platforms, versions and statuses, caches cleared) and times

- *compute*: the filtered frame, the summary table, the device list and both chart specs
  (``chart.to_dict()``), what :class:`dexkit.widgets.Explorer` recomputes;
- *svg*: drawing the two charts as SVG with vl-convert, as the UI does;
- *ui*: the whole redraw of the ipywidgets UI (compute + SVG + widget updates), no browser.

It prints the median and the worst of ``--repeat`` rounds as a markdown table. The budget is
300 ms for the whole redraw.

Then the linked views (``dexkit.charts.render("interactive")``): each round sends one selection
the way the page does (a brushed time range, a clicked colo or a clicked status, set on the
chart widget's ``_vl_selections``, caches cleared) and times *selection → redraw*: the filters,
the table, the headline, the other charts' specs handed to their ``JupyterChart`` widgets (the
browser's own drawing is timed by ``tests/test_notebooks_browser.py``). Budget: 150 ms median.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl

import dexkit
from dexkit.widgets import Explorer, _svg

ROOT = Path(__file__).resolve().parent.parent
BUDGET_MS = 300.0
LINKED_BUDGET_MS = 150.0
#: Selections as the page sends them: (chart, selection, Vega signal value).
SELECTIONS: list[tuple[str, str, object]] = [
    ("timeline", "brush", {"timestamp": ["2026-11-18T13:00:00.000Z", "2026-11-18T15:00:00.000Z"]}),
    ("status", "pick", {"vlPoint": {"or": [{"group": "FRA"}]}}),
    ("timeline", "brush", {"timestamp": ["2026-11-18T12:20:00.000Z", "2026-11-18T16:10:00.000Z"]}),
    ("timeline", "brush", {}),
    ("status", "pick", {"vlPoint": {"or": [{"group": "FRA"}, {"group": "LHR"}]}}),
    ("status", "legend", {"vlPoint": {"or": [{"status": "disconnected"}]}}),
    ("status", "legend", {}),
    ("status", "pick", {}),
]
CHANGES: list[dict[str, object]] = [
    {"colo": ["FRA"]},
    {"colo": ["FRA", "LHR"]},
    {"colo": [], "platform": ["windows"]},
    {"platform": [], "version": ["2025.10.186.0"]},
    {"version": [], "status": ["connected"]},
    {"status": [], "connection_type": ["wifi"]},
    {"connection_type": []},
]


def records(n: int = 100_000) -> pl.DataFrame:
    """The raw sample copied onto new device ids until it holds ``n`` records."""
    raw = dexkit.read_pages(ROOT / "data" / "sample" / "raw")
    copies = -(-n // raw.height)
    return pl.concat(
        [
            raw.with_columns(
                (pl.col("device_id") + f"-{i}").alias("device_id"),
                (pl.col("device_name") + f"-{i}").alias("device_name"),
            )
            for i in range(copies)
        ]
    ).head(n)


def timed(func: Callable[[], object]) -> float:
    start = time.perf_counter()
    func()
    return (time.perf_counter() - start) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=21)
    args = parser.parse_args(argv)

    frame = records(args.records)
    ex = Explorer(frame)
    ui = ex.widget()  # builds the UI once (and warms vl-convert up)
    del ui
    assert ex._ui is not None
    view = ex._ui

    compute: list[float] = []
    svg: list[float] = []
    whole: list[float] = []
    for i in range(args.repeat):
        change = CHANGES[i % len(CHANGES)]

        def recompute(change: dict[str, object] = change) -> None:
            ex._cache.clear()
            ex.filter(**change)
            ex.table()
            ex.devices()
            ex.status_chart().to_dict()
            ex.timeline_chart().to_dict()

        compute.append(timed(recompute))
        svg.append(timed(lambda: (_svg(ex.status_chart()), _svg(ex.timeline_chart()))))

        def redraw(change: dict[str, object] = change) -> None:
            ex._cache.clear()
            ex.filter(**change)
            view.redraw()

        whole.append(timed(redraw))

    print(
        f"Explorer redraw after one filter change, {frame.height:,} records, "
        f"{frame['device_id'].n_unique():,} devices; {args.repeat} rounds "
        f"(Python {platform.python_version()}, Polars {pl.__version__}, {sys.platform})\n"
    )
    print("| step | median ms | worst ms |")
    print("|---|---:|---:|")
    for name, values in (
        ("compute (filter, table, devices, chart specs)", compute),
        ("svg (two charts, vl-convert)", svg),
        ("ui (whole redraw, no browser)", whole),
    ):
        print(f"| {name} | {statistics.median(values):.0f} | {max(values):.0f} |")
    median = statistics.median(whole)
    verdict = "within" if median < BUDGET_MS else "OVER"
    print(f"\nWhole redraw median {median:.0f} ms: {verdict} the {BUDGET_MS:.0f} ms budget.")
    linked(frame, args.repeat)
    return 0


def linked(frame: pl.DataFrame, repeat: int) -> None:
    """Selection → redraw of the linked views, as the page drives them."""
    from dexkit import charts

    charts.render("interactive")
    ex = Explorer(frame)
    ex.widget()
    assert ex._ui is not None
    boxes = ex._ui.boxes
    timings: dict[str, list[float]] = {"brush": [], "pick": [], "legend": []}
    for i in range(max(repeat, len(SELECTIONS))):
        box, name, value = SELECTIONS[i % len(SELECTIONS)]
        sent = dict(boxes[box]._vl_selections)
        sent[name] = {"value": value, "store": []}
        before = ex.filters
        ex._cache.clear()

        def select(box: str = box, sent: dict[str, object] = sent) -> None:
            boxes[box]._vl_selections = sent

        timings[name].append(timed(select))
        assert ex.filters != before, (name, value)
    every = [t for values in timings.values() for t in values]
    print(f"\nLinked views (interactive), {frame.height:,} records: selection → redraw\n")
    print("| selection | rounds | median ms | worst ms |")
    print("|---|---:|---:|---:|")
    for name, values in (*timings.items(), ("all", every)):
        print(f"| {name} | {len(values)} | {statistics.median(values):.0f} | {max(values):.0f} |")
    median = statistics.median(every)
    verdict = "within" if median < LINKED_BUDGET_MS else "OVER"
    print(
        f"\nSelection → redraw median {median:.0f} ms: {verdict} the "
        f"{LINKED_BUDGET_MS:.0f} ms budget."
    )


if __name__ == "__main__":
    raise SystemExit(main())
