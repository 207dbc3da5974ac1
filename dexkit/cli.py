"""The ``dexkit`` command: a thin argparse layer over the Python API.

Each subcommand is one small ``_add_<name>`` function that registers a subparser and sets
``run`` to the function doing the work; :func:`main` dispatches and turns dexkit's errors into
one line on stderr and a non-zero exit (never a traceback).

>>> main(["--help"])  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
SystemExit: 0
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import warnings
from collections.abc import Callable, Sequence
from datetime import timedelta
from types import FrameType
from typing import Any

from dexkit._files import MAX_FILES, MAX_PAGE_BYTES
from dexkit.errors import DexkitError, DexkitWarning, printable

__all__ = ["main"]

Runner = Callable[[argparse.Namespace], int]


# "-3h" is an offset (3 hours ago) as in Python, not an option: argparse would take it for one.
_OFFSET = re.compile(r"-(?:\d+(?:\.\d+)?|\.\d+)[a-zA-Z][\w.]*")


def _offsets(argv: Sequence[str]) -> list[str]:
    """Protect offsets such as ``-3h`` from argparse (a leading space; time parsing strips it)."""
    return [f" {arg}" if _OFFSET.fullmatch(arg) else arg for arg in argv]


def _version() -> str:
    from dexkit._version import __version__

    return __version__


def _shown(original: Callable[..., None]) -> Callable[..., None]:
    """dexkit's warnings on the command line: one escaped line each; others as Python shows them."""

    def show(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        if issubclass(category, DexkitWarning):
            print(f"dexkit: warning: {printable(str(message))}", file=sys.stderr)
        else:
            original(message, category, *args, **kwargs)

    return show


def _fail(message: str) -> int:
    # messages carry text from servers and files: no escape sequence reaches the terminal
    print(f"dexkit: error: {printable(message)}", file=sys.stderr)
    return 1


# -- fake-api --------------------------------------------------------------------------------


def _rate_limit(text: str) -> tuple[int, float]:
    try:
        count, _, seconds = text.partition("/")
        return int(count), float(seconds or "300")
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected REQUESTS/SECONDS such as 1200/300, got {text!r}"
        ) from None


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, got {text!r}")
    return port


def _add_fake_api(commands: Any) -> None:
    parser = commands.add_parser(
        "fake-api",
        help="serve a fake Cloudflare DEX fleet-status API on 127.0.0.1",
        description=(
            "Serve a fake of Cloudflare's DEX fleet-status API (the four endpoints) over a "
            "synthetic fleet on 127.0.0.1, to try dexkit without an account. Prints one JSON "
            'line {"base_url", "account_id", "api_token"} once listening; serves until '
            "interrupted (Ctrl-C)."
        ),
    )
    parser.add_argument("--devices", type=int, default=1000, help="devices in the fleet (1000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic fleet (0)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per response (0)")
    parser.add_argument("--port", type=_port, default=0, help="port (default: a free one)")
    parser.add_argument(
        "--faults",
        default="",
        help="inject faults at random, e.g. '429:0.01,500:0.02,reset:0.02' (kinds: 429, 500, "
        "html502, reset, truncate, slow, repeat, no_result_info, no_result, duplicate)",
    )
    parser.add_argument(
        "--rate-limit",
        type=_rate_limit,
        default=None,
        metavar="N/SECONDS",
        help="enforce a sliding-window rate limit, e.g. 1200/300 (default: none)",
    )
    parser.add_argument(
        "--retry-after", type=float, default=1.0, help="seconds of Retry-After on a 429 (1)"
    )
    parser.set_defaults(run=_run_fake_api)


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _run_fake_api(args: argparse.Namespace) -> int:
    from dexkit.testing import FakeCloudflare, iter_faults

    try:
        faults = dict(iter_faults(args.faults))
    except ValueError as exc:
        return _fail(f"--faults: {exc}")
    api = FakeCloudflare(
        args.devices,
        seed=args.seed,
        latency=args.latency,
        port=args.port,
        faults=faults,
        rate_limit=args.rate_limit,
        retry_after=args.retry_after,
    )
    try:
        api.start()
    except OSError as exc:
        return _fail(f"cannot listen on port {args.port}: {exc.strerror or exc}")
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        line = {"base_url": api.base_url, "account_id": api.account_id, "api_token": api.api_token}
        print(json.dumps(line), flush=True)
        api.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        api.stop()
        signal.signal(signal.SIGTERM, previous)
    return 0


# -- fetch -----------------------------------------------------------------------------------


def _add_fetch(commands: Any) -> None:
    parser = commands.add_parser(
        "fetch",
        help="fetch device pages into a page store (credentials from the environment)",
        description=(
            "Fetch the device records of a window into a page store directory, resuming what "
            "is there; read it offline with dexkit.read_pages(DIR). Credentials come from "
            "CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN (or CLOUDFLARE_EMAIL + "
            "CLOUDFLARE_API_KEY); CLOUDFLARE_BASE_URL overrides the API's URL."
        ),
        epilog=(
            "Times: ISO 8601, epoch milliseconds, 'now', or how long ago: -90m (or 90m), -6h, "
            "-1d12h; the same spellings as in Python."
        ),
    )
    parser.add_argument("start", help="start of the window, e.g. -90m (ago) or 2026-11-18T13:00Z")
    parser.add_argument("end", nargs="?", default=None, help="end of the window (default: now)")
    parser.add_argument(
        "--into",
        default=None,
        metavar="DIR",
        help="the page store directory (default: the query's store under $DEXKIT_STORE or the "
        "user cache directory, per account; the notebooks and `dexkit report --source` find "
        "it there)",
    )
    parser.add_argument(
        "--source",
        choices=("last_seen", "hourly", "raw"),
        default="last_seen",
        help="last_seen (latest state, up to 60 minutes), hourly or raw (up to 7 days back)",
    )
    for name in ("colo", "device-id", "mode", "platform", "status", "version"):
        parser.add_argument(f"--{name}", default=None, help=f"only records with this {name}")
    parser.add_argument("--sort-by", default=None, help="the API's sort dimension")
    parser.add_argument("--per-page", type=int, default=50, help="records per request (50)")
    parser.add_argument(
        "--chunk-minutes", type=int, default=60, help="chunk size of hourly/raw windows (60)"
    )
    parser.add_argument(
        "--max-requests", type=int, default=1000, help="refuse queries needing more (1000)"
    )
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight (4)")
    parser.add_argument("--plan", action="store_true", help="only say what the fetch costs")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(run=_run_fetch)


def _run_fetch(args: argparse.Namespace) -> int:
    from dexkit.client import Client, budget_advice
    from dexkit.errors import BudgetError
    from dexkit.store import default_store

    client = Client(  # CLOUDFLARE_BASE_URL is read by Client, as in Python
        concurrency=args.concurrency,
        max_requests=args.max_requests,
        progress=not args.no_progress,
    )
    query: dict[str, Any] = {
        "source": args.source,
        "colo": args.colo,
        "device_id": args.device_id,
        "mode": args.mode,
        "platform": args.platform,
        "status": args.status,
        "version": args.version,
        "per_page": args.per_page,
    }
    chunk = timedelta(minutes=args.chunk_minutes)
    into = args.into
    if into is None:
        filters = {k: v for k, v in query.items() if k not in ("source", "per_page")}
        into = default_store(
            args.source,
            account_id=client.account_id,
            per_page=args.per_page,
            sort_by=args.sort_by,
            **filters,
        )
    try:
        if args.plan:
            print(client.plan(args.start, args.end, chunk=chunk, into=into, **query))
            return 0
        summary = client.fetch(
            args.start, args.end, into=into, sort_by=args.sort_by, chunk=chunk, **query
        )
    except BudgetError as exc:
        if exc.plan is None:
            return _fail(str(exc).replace("max_requests=", "--max-requests "))
        return _fail(budget_advice(exc.plan, args.max_requests, cli=True))
    print(summary)
    return 0


# -- report / demo ---------------------------------------------------------------------------


def _add_report(commands: Any) -> None:
    parser = commands.add_parser(
        "report",
        help="write a self-contained HTML report of device records",
        description=(
            "Write one self-contained HTML report (numbers, tables, charts, provenance; works "
            "offline) of the device records in INPUT: a page store, a directory or glob of "
            "saved pages, a Parquet dataset, or a Logpush archive (a directory of .log.gz "
            "batches or an s3:// URL, credentials from AWS_*). Device names, emails, SSIDs, "
            "registration ids, IP addresses and postal codes are keyed pseudonyms unless "
            "--no-redact."
        ),
        epilog="Times: ISO 8601, e.g. 2026-11-18T13:00Z (naive times are UTC).",
    )
    parser.add_argument(
        "input",
        metavar="INPUT",
        nargs="?",
        default=None,
        help="page store, pages directory or glob, dataset, or Logpush archive (a directory or "
        "s3:// URL; default: the store of --source and the filters that `dexkit fetch` fills, "
        "for CLOUDFLARE_ACCOUNT_ID)",
    )
    parser.add_argument(
        "--source",
        choices=("last_seen", "hourly", "raw"),
        default=None,
        help="without INPUT: read the default page store of this source (and filters)",
    )
    for name in ("colo", "device-id", "mode", "platform", "status", "version"):
        parser.add_argument(
            f"--{name}", default=None, help=f"without INPUT: the store filtered by {name}"
        )
    parser.add_argument("-o", "--output", required=True, metavar="OUT.html", help="where to write")
    parser.add_argument(
        "--incident",
        nargs=2,
        metavar=("START", "END"),
        default=None,
        help="an incident window: adds a baseline-vs-incident comparison and shades it",
    )
    parser.add_argument(
        "--baseline",
        nargs=2,
        metavar=("START", "END"),
        default=None,
        help="the window to compare with (default: the same length just before the incident)",
    )
    parser.add_argument("--title", default="DEX fleet report", help="the report's title")
    parser.add_argument(
        "--incomplete",
        choices=("skip", "include", "raise"),
        default="skip",
        help="chunks of a page store whose fetch did not finish: leave out with a warning "
        "(skip, the default), read what they hold (include), or fail (raise)",
    )
    parser.add_argument(
        "--max-page-bytes",
        type=int,
        default=MAX_PAGE_BYTES,
        metavar="N",
        help=f"refuse a page larger than N bytes once decompressed ({MAX_PAGE_BYTES})",
    )
    parser.add_argument(
        "--max-files",
        type=int,
        default=MAX_FILES,
        metavar="N",
        help=f"refuse a directory or glob selecting more than N files ({MAX_FILES})",
    )
    parser.add_argument(
        "--no-redact",
        action="store_true",
        help="show device names, emails, SSIDs and addresses as recorded (default: pseudonyms)",
    )
    parser.set_defaults(run=_run_report)


def _run_report(args: argparse.Namespace) -> int:
    from dexkit.inputs import read_input
    from dexkit.report import write_report

    source = args.input
    if source is None:
        from dexkit.store import default_store, is_store

        if args.source is None:
            return _fail("give INPUT (a page store, pages or a dataset) or --source")
        names = ("colo", "device_id", "mode", "platform", "status", "version")
        source = default_store(args.source, **{n: getattr(args, n) for n in names})
        if not is_store(source):
            return _fail(
                f"no page store at {source}: fill it with `dexkit fetch START --source "
                f"{args.source}` and the same filters"
            )
    frame, provenance = read_input(
        source,
        incomplete=args.incomplete,
        max_page_bytes=args.max_page_bytes,
        max_files=args.max_files,
    )
    path = write_report(
        frame,
        args.output,
        incident=tuple(args.incident) if args.incident else None,
        baseline=tuple(args.baseline) if args.baseline else None,
        title=args.title,
        redact=not args.no_redact,
        provenance=provenance,
    )
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


def _add_demo(commands: Any) -> None:
    parser = commands.add_parser(
        "demo",
        help="write the report of the bundled sample fleet and its scripted incident",
        description=(
            "Write the report of dexkit's sample fleet (500 synthetic devices, raw records "
            "2026-11-18 10:00-17:00 UTC) with its scripted incident (13:00-15:00 UTC: loss and "
            "latency in FRA, CPU of windows 2025.10.186.0), and print where it is. Offline."
        ),
    )
    parser.add_argument(
        "-o",
        "--output",
        default="dexkit-demo.html",
        metavar="OUT.html",
        help="where to write (default: dexkit-demo.html)",
    )
    parser.set_defaults(run=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    import polars as pl

    from dexkit import synth
    from dexkit.frames import read_pages
    from dexkit.health import compare_windows, summarize
    from dexkit.report import write_report

    fleet = synth.sample_fleet()
    start, end = synth.SAMPLE["windows"]["raw"]
    incident = synth.SAMPLE["incident"]
    frame = read_pages(fleet.pages("raw", start, end, per_page=1000))
    head = summarize(frame).row(0, named=True)
    print("dexkit demo: the bundled sample fleet (synthetic, offline)")
    print(
        f"  {head['devices']} devices, {head['connected']} connected "
        f"({head['connected_share']:.0%}), fleet health {head['health']}; {frame.height:,} raw "
        f"records {start:%Y-%m-%d %H:%M}-{end:%H:%M} UTC"
    )
    window = (incident.start, incident.end)
    baseline = (incident.start - (incident.end - incident.start), incident.start)
    print(
        f"  what moved in {incident.start:%H:%M}-{incident.end:%H:%M} UTC against "
        f"{baseline[0]:%H:%M}-{baseline[1]:%H:%M} (medians; effect size = Cohen's d):"
    )
    for by, top in (("colo", 2), (["platform", "version"], 1)):
        moved = compare_windows(frame, baseline, window, by=by).head(top)
        names = [by] if isinstance(by, str) else by
        for row in moved.select(
            pl.concat_str(names, separator=" ").alias("where"),
            "metric",
            "baseline",
            "incident",
            "effect",
        ).iter_rows(named=True):
            print(
                f"    {row['where']:<24} {row['metric']:<22} {row['baseline']:>8.2f} -> "
                f"{row['incident']:>8.2f}   effect {row['effect']:.1f}"
            )
    path = write_report(
        frame,
        args.output,
        incident=window,
        baseline=baseline,
        title="dexkit demo: the sample fleet's incident",
        provenance={"input": "dexkit.synth.sample_fleet() (synthetic)", "source": "raw"},
    )
    print(
        f"wrote {path.resolve()} ({path.stat().st_size / 1e6:.1f} MB): the redacted postmortem "
        "report; open it in any browser, it needs no network"
    )
    return 0


# -- logpush ---------------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _add_logpush(commands: Any) -> None:
    parser = commands.add_parser(
        "logpush",
        help="convert a Logpush archive of DEX device state into a Parquet dataset",
        description="Read Logpush archives of the dex_device_state_events dataset.",
    )
    sub = parser.add_subparsers(title="commands", dest="logpush_command", metavar="COMMAND")
    sync = sub.add_parser(
        "sync",
        help="convert the archive's new objects into a hive-partitioned Parquet dataset",
        description=(
            "Convert the objects of a Logpush archive (a directory, glob or s3://bucket/prefix/) "
            "that DATASET does not hold yet into its date=…/source=logpush partitions; read it "
            "with dexkit.scan_dataset(DATASET) or 'dexkit report DATASET'. Re-runs convert only "
            "new objects (ledger in DATASET/_logpush); a killed run resumes. Credentials: "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (for R2, an API token's S3 "
            "credentials)."
        ),
        epilog="R2: --endpoint https://<account_id>.r2.cloudflarestorage.com --region auto",
    )
    sync.add_argument("source", metavar="SOURCE", help="archive directory, glob or s3:// URL")
    sync.add_argument("--into", required=True, metavar="DATASET", help="the dataset directory")
    sync.add_argument(
        "--start", default=None, help="first {DATE} folder to convert (ISO 8601 date or time, UTC)"
    )
    sync.add_argument("--end", default=None, help="where to stop (excluded; ISO 8601, UTC)")
    sync.add_argument("--endpoint", default=None, help="S3 endpoint URL (R2: see below)")
    sync.add_argument("--region", default=None, help="S3 region (R2: auto)")
    sync.add_argument(
        "--sample-rate", type=float, default=None, help="the job's sample_rate, if it samples"
    )
    sync.add_argument(
        "--field-names", default=None, help="CSV jobs without a header: the fields, comma-separated"
    )
    sync.add_argument(
        "--on-error",
        choices=("raise", "null"),
        default="raise",
        help="raise on a damaged object (default) or keep going and count (null)",
    )
    sync.add_argument(
        "--max-objects",
        type=_positive_int,
        default=100_000,
        help="objects to read at most (100000)",
    )
    sync.add_argument(
        "--max-object-bytes",
        type=_positive_int,
        default=1 << 30,
        help="decoded, per object (1 GiB)",
    )
    sync.add_argument("--max-lines", type=_positive_int, default=2_000_000, help="per object (2M)")
    sync.add_argument("--concurrency", type=_positive_int, default=4, help="objects at once (4)")
    sync.add_argument("--quiet", action="store_true", help="no line per converted object")
    sync.set_defaults(run=_run_logpush_sync)
    parser.set_defaults(run=lambda args: (parser.print_help(sys.stderr), 2)[1])


def _run_logpush_sync(args: argparse.Namespace) -> int:
    from dexkit.logpush import sync_logpush

    options: dict[str, str] = {}
    if args.endpoint:
        options["endpoint"] = args.endpoint
        if args.endpoint.startswith("http://"):
            options["allow_http"] = "true"
    if args.region:
        options["region"] = args.region
    result = sync_logpush(
        args.source,
        args.into,
        start=args.start,
        end=args.end,
        storage_options=options or None,
        sample_rate=args.sample_rate,
        field_names=args.field_names.split(",") if args.field_names else None,
        on_error=args.on_error,
        max_objects=args.max_objects,
        max_object_bytes=args.max_object_bytes,
        max_lines=args.max_lines,
        concurrency=args.concurrency,
        progress=None if args.quiet else lambda line: print(line, flush=True),
    )
    print(result)
    return 0


# -- main ------------------------------------------------------------------------------------

#: Functions that add one subcommand each.
COMMANDS: list[Callable[[Any], None]] = [
    _add_demo,
    _add_report,
    _add_fetch,
    _add_logpush,
    _add_fake_api,
]


def build_parser() -> argparse.ArgumentParser:
    """The ``dexkit`` argument parser, one subparser per command."""
    parser = argparse.ArgumentParser(
        prog="dexkit",
        description="Look at a Cloudflare Zero Trust fleet through DEX fleet-status records.",
    )
    parser.add_argument("--version", action="version", version=f"dexkit {_version()}")
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    for add in COMMANDS:
        add(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``dexkit`` command; return the exit status.

    Errors are one line on stderr (``dexkit: error: …``) and exit status 1; dexkit's warnings
    (a partly covered window, unknown fields, skipped chunks) are one line each
    (``dexkit: warning: …``); ``--help`` works on every command.
    """
    parser = build_parser()
    args = parser.parse_args(_offsets(sys.argv[1:] if argv is None else argv))
    run: Runner | None = getattr(args, "run", None)
    if run is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", DexkitWarning)
            warnings.showwarning = _shown(warnings.showwarning)
            return run(args)
    except DexkitError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        print("dexkit: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        return _fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
