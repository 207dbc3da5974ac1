"""The ``dexkit`` command: ``fake-api``, ``fetch``, ``report`` and ``demo``."""

from __future__ import annotations

import gzip
import json
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest

import dexkit
from dexkit.cli import main
from dexkit.client import Client
from dexkit.testing import FakeCloudflare


def hours_ago(n: int) -> str:
    moment = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=n)
    return moment.isoformat()


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["fake-api", "--help"],
        ["fetch", "--help"],
        ["report", "--help"],
        ["demo", "--help"],
    ],
)
def test_help_on_every_command(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 0
    assert "usage: dexkit" in capsys.readouterr().out


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "fake-api" in capsys.readouterr().err


@pytest.mark.slow
def test_fake_api_prints_one_json_line_and_serves_until_interrupted() -> None:
    command = [sys.executable, "-m", "dexkit", "fake-api", "--devices", "60", "--seed", "2"]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            line = json.loads(proc.stdout.readline())
            assert sorted(line) == ["account_id", "api_token", "base_url"]
            assert line["base_url"].startswith("http://127.0.0.1:")
            client = Client(line["account_id"], line["api_token"], base_url=line["base_url"])
            assert client.devices("-20m", progress=False).height > 40
        finally:
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert out == ""
    assert "Traceback" not in err


def test_fake_api_rejects_bad_faults(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fake-api", "--faults", "boom:0.1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("dexkit: error: --faults: unknown fault kind 'boom'")
    assert err.count("\n") == 1


def test_fetch_with_credentials_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeCloudflare(devices=200, seed=1) as api:
        monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", api.account_id)
        monkeypatch.setenv("CLOUDFLARE_API_TOKEN", api.api_token)
        monkeypatch.setenv("CLOUDFLARE_BASE_URL", api.base_url)
        store = tmp_path / "store"
        argv = ["fetch", hours_ago(3), hours_ago(1), "--source", "hourly", "--into", str(store)]
        assert main([*argv, "--plan"]) == 0
        assert main(argv) == 0
        assert main([*argv, "--no-progress"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].startswith("source='hourly'")
    assert "page(s) of 50" in lines[1]
    assert " at 1,200 per 5 min (" in lines[2]
    assert "2 chunk(s) (0 already complete)" in lines[-2]
    assert "2 chunk(s) (2 already complete)" in lines[-1]
    assert dexkit.read_pages(store).height > 300
    assert api.api_token not in out + err


@pytest.mark.slow
def test_budget_errors_speak_in_flags_and_report_finds_the_default_store(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeCloudflare(devices=300, seed=1) as api:
        monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", api.account_id)
        monkeypatch.setenv("CLOUDFLARE_API_TOKEN", api.api_token)
        monkeypatch.setenv("CLOUDFLARE_BASE_URL", api.base_url)
        monkeypatch.setenv("DEXKIT_STORE", str(tmp_path / "stores"))
        assert main(["fetch", "6h", "--source", "raw", "--max-requests", "20"]) == 1
        err = capsys.readouterr().err
        first = err.splitlines()[0]
        assert "more than --max-requests 20: narrow it, or pass --max-requests " in first
        assert "max_requests=" not in err
        assert "--colo" in err
        argv = ["fetch", hours_ago(2), hours_ago(1), "--source", "hourly", "--colo", "FRA"]
        assert main([*argv, "--no-progress"]) == 0
        capsys.readouterr()
        assert main([*argv, "--plan"]) == 0
        assert "0 requests: the page store holds the whole window" in capsys.readouterr().out
        out = tmp_path / "report.html"
        assert main(["report", "--source", "hourly", "--colo", "FRA", "-o", str(out)]) == 0
    assert out.stat().st_size > 10_000
    assert main(["report", "--source", "raw", "-o", str(out)]) == 1
    assert "holds no pages: nothing was fetched into it yet" in capsys.readouterr().err


def test_fetch_errors_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["fetch", "30m", "--into", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("dexkit: error: no Cloudflare credentials")
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_fetch_query_errors_are_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", "acc")
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "tok-secret")
    assert main(["fetch", "3h", "--into", str(tmp_path), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "use source='hourly'" in err
    assert "tok-secret" not in err


# -- report and demo -----------------------------------------------------------------------------

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


@pytest.mark.slow
def test_demo_writes_the_sample_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo.html"
    assert main(["demo", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out.resolve()}" in printed
    assert "FRA" in printed
    assert "windows 2025.10.186.0" in printed
    html = out.read_text()
    assert 0 < out.stat().st_size < 5_000_000
    assert "FRA" in html
    assert "ada.lovelace" not in html  # redacted by default
    assert "@example.com" not in html


@pytest.mark.slow
def test_report_from_saved_pages_with_windows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.html"
    argv = ["report", str(SAMPLE / "raw"), "-o", str(out), "--title", "<b>T</b>"]
    argv += ["--incident", "2026-11-18T13:00Z", "2026-11-18T15:00Z"]
    argv += ["--baseline", "2026-11-18T10:00Z", "2026-11-18T13:00Z"]
    assert main(argv) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    html = out.read_text()
    assert "&lt;b&gt;T&lt;/b&gt;" in html
    assert "@example.com" not in html


@pytest.mark.slow
def test_report_no_redact_is_an_explicit_opt_in(tmp_path: Path) -> None:
    names = dexkit.read_pages(SAMPLE / "last_seen")["device_name"].drop_nulls().unique()
    shown = {}
    for flag in ([], ["--no-redact"]):
        out = tmp_path / "r.html"
        assert main(["report", str(SAMPLE / "last_seen"), "-o", str(out), *flag]) == 0
        html = out.read_text()
        shown[bool(flag)] = sum(name in html for name in names)
    assert shown == {False: 0, True: shown[True]}
    assert shown[True] > 10


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["report", "/nonexistent/pages", "-o", "x.html"], "no device records"),
        (["report", str(SAMPLE / "raw"), "-o", "x.html", "--incident", "then", "now"], "then"),
        (
            [
                "report",
                str(SAMPLE / "raw"),
                "-o",
                "x.html",
                "--incident",
                "0001-01-01",
                "0001-01-02",
            ],
            "starts too early for a baseline",
        ),
    ],
)
@pytest.mark.slow
def test_report_errors_are_one_line(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = [a if a != "x.html" else str(tmp_path / "x.html") for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("dexkit: error:")
    assert err.count("\n") == 1
    assert words in err


@pytest.mark.slow
def test_fetch_then_report_from_the_store_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, out = tmp_path / "store", tmp_path / "fleet.html"
    with FakeCloudflare(devices=120, seed=4) as api:
        monkeypatch.setenv("CLOUDFLARE_BASE_URL", api.base_url)
        monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", api.account_id)
        monkeypatch.setenv("CLOUDFLARE_API_TOKEN", api.api_token)
        assert main(["fetch", hours_ago(3), hours_ago(1), "--source", "hourly", "--into",
                     str(store), "--no-progress"]) == 0  # fmt: skip
        token = api.api_token
    for name in ("CLOUDFLARE_BASE_URL", "CLOUDFLARE_ACCOUNT_ID", "CLOUDFLARE_API_TOKEN"):
        monkeypatch.delenv(name)
    assert main(["report", str(store), "-o", str(out)]) == 0  # the fake is gone: offline
    printed = capsys.readouterr()
    html = out.read_text()
    assert "page store" in html
    assert "hourly" in html
    assert token not in html
    assert token not in printed.out + printed.err
    assert dexkit.read_pages(store)["device_id"].n_unique() > 100


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["fetch", "99999999d", "--source", "hourly"], "start: the offset '99999999d' is out of"),
        (
            ["fetch", "1h", "--source", "hourly", "--chunk-minutes", "99999999999"],
            "from 1 to 7 days",
        ),
        (["fetch", "1h", "--source", "hourly", "--chunk-minutes", "0"], "from 1 to 7 days"),
    ],
)
def test_out_of_range_fetch_arguments_are_one_line(
    argv: list[str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", "acc")
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "tok")
    assert main([*argv, "--into", str(tmp_path), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("dexkit: error: ")
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_fake_api_port_out_of_range(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["fake-api", "--port", "99999"])
    assert info.value.code == 2
    assert "expected a port from 0 to 65535, got '99999'" in capsys.readouterr().err


def test_report_on_a_damaged_dataset_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "r.html")
    root = tmp_path / "ds"
    dexkit.write_dataset(dexkit.read_pages(SAMPLE / "last_seen"), root, source="last_seen")
    next(root.rglob("*.parquet")).write_bytes(b"PAR1 not parquet")
    assert main(["report", str(root), "-o", out]) == 1
    err = capsys.readouterr().err
    assert err.startswith("dexkit: error: scan_dataset(): ")
    assert "is not readable Parquet" in err
    assert len(err.strip().splitlines()) == 1


# -- damaged or crafted page stores: one StoreError naming the file, everywhere ------------------


@pytest.fixture(scope="module")
def fetched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, FakeCloudflare]]:
    """A store with a complete chunk and one interrupted at page 3, and the fake it came from."""
    store = tmp_path_factory.mktemp("fetched") / "store"
    with FakeCloudflare(devices=300, seed=5) as api:
        client = Client(api.account_id, api.api_token, base_url=api.base_url, progress=False)
        client.fetch(hours_ago(3), hours_ago(2), source="raw", into=store)
        api.inject("500", page=3, times=1000)
        broken = Client(
            api.account_id, api.api_token, base_url=api.base_url, progress=False, retries=0
        )
        with pytest.raises(dexkit.ServerError):
            broken.fetch(hours_ago(2), hours_ago(1), source="raw", into=store)
        api._scripted.clear()
        yield store, api


def _copy(fetched: tuple[Path, FakeCloudflare], tmp_path: Path) -> Path:
    store = tmp_path / "store"
    shutil.copytree(fetched[0], store, symlinks=True)
    return store


def _manifest(store: Path) -> dict[str, Any]:
    return dict(orjson.loads((store / "manifest.json").read_bytes()))


def _edited(change: Callable[[dict[str, Any]], object]) -> Callable[[Path], bytes]:
    def edit(store: Path) -> bytes:
        manifest = _manifest(store)
        change(manifest)
        return orjson.dumps(manifest)

    return edit


def _first_chunk(manifest: dict[str, Any]) -> dict[str, Any]:
    return dict(next(iter(manifest["chunks"].values())))


DAMAGED_MANIFESTS: dict[str, Callable[[Path], bytes]] = {
    "empty": lambda store: b"",
    "truncated": lambda store: (store / "manifest.json").read_bytes()[:300],
    "binary": lambda store: bytes(range(256)) * 4,
    "deeply nested": lambda store: b"[" * 100_000 + b"]" * 100_000,
    "deeply nested object": lambda store: (
        b'{"format": "dexkit-page-store", "chunks": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5001
    ),
    "not an object": lambda store: b'["dexkit-page-store"]',
    "chunks is a list": _edited(lambda m: m.update(chunks=[])),
    "version is text": _edited(lambda m: m.update(version="1")),
    "shape is text": _edited(lambda m: m.update(shape="raw")),
    "fetches is an object": _edited(lambda m: m.update(fetches={})),
    "a chunk is a list": _edited(lambda m: m["chunks"].update({next(iter(m["chunks"])): []})),
    "pages hold text": _edited(lambda m: next(iter(m["chunks"].values())).update(pages=["x"])),
    "complete is a number": _edited(lambda m: next(iter(m["chunks"].values())).update(complete=1)),
    "a chunk name with ..": _edited(
        lambda m: m["chunks"].update({"raw/../../../etc": _first_chunk(m)})
    ),
}


@pytest.mark.parametrize("damage", list(DAMAGED_MANIFESTS))
@pytest.mark.slow
def test_a_damaged_manifest_is_one_store_error_naming_it(
    damage: str,
    fetched: tuple[Path, FakeCloudflare],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = _copy(fetched, tmp_path)
    manifest = store / "manifest.json"
    manifest.write_bytes(DAMAGED_MANIFESTS[damage](store))
    with pytest.raises(dexkit.StoreError, match="not a dexkit page store manifest") as info:
        dexkit.read_pages(store)
    assert info.value.path == str(manifest)
    api = fetched[1]
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", api.base_url)
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", api.account_id)
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", api.api_token)
    fetch = ["fetch", hours_ago(3), hours_ago(1), "--source", "raw", "--into", str(store)]
    report = ["report", str(store), "-o", str(tmp_path / "r.html")]
    for argv in (fetch, [*fetch[:-2], "--into", str(store), "--no-progress"], report):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"dexkit: error: {manifest}: not a dexkit page store manifest")
        assert len(err.strip().splitlines()) == 1
        assert "Traceback" not in err


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


DAMAGED_PAGES: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "truncated gzip": (lambda page: page[: len(page) // 2], "cannot decompress gzip data"),
    "empty file": (lambda page: b"", "is not gzip data"),
    "binary, not gzip": (lambda page: bytes(range(256)), "is not gzip data"),
    "gzip of HTML": (lambda page: _gz(b"<html><title>oops</title></html>"), "HTML"),
    "gzip of truncated JSON": (lambda page: _gz(gzip.decompress(page)[:500]), "JSON"),
    "gzip of binary": (lambda page: _gz(bytes(range(256))), "not UTF-8"),
    "gzip of deep nesting": (
        lambda page: _gz(b'{"result": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}"),
        "damaged",
    ),
    "gzip of a list": (lambda page: _gz(b"[1, 2]"), "damaged"),
}


@pytest.mark.parametrize("damage", list(DAMAGED_PAGES))
def test_a_damaged_stored_page_is_one_store_error_naming_it(
    damage: str,
    fetched: tuple[Path, FakeCloudflare],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = _copy(fetched, tmp_path)
    change, words = DAMAGED_PAGES[damage]
    complete = store / "raw" / f"{datetime.fromisoformat(hours_ago(3)):%Y-%m-%dT%H}"
    interrupted = store / "raw" / f"{datetime.fromisoformat(hours_ago(2)):%Y-%m-%dT%H}"
    for chunk in (complete, interrupted):
        page = chunk / "page-00001.json.gz"
        page.write_bytes(change(page.read_bytes()))
    page = complete / "page-00001.json.gz"
    with pytest.raises(dexkit.StoreError, match="a stored page is damaged") as info:
        dexkit.read_pages(store)
    assert info.value.path == str(page)
    assert words in str(info.value)
    assert main(["report", str(store), "-o", str(tmp_path / "r.html")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"dexkit: error: {page}: a stored page is damaged")
    assert len(err.strip().splitlines()) == 1
    # fetching the interrupted window again resumes from its saved pages: page 1 is damaged
    api = fetched[1]
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", api.base_url)
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", api.account_id)
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", api.api_token)
    argv = ["fetch", hours_ago(2), hours_ago(1), "--source", "raw", "--into", str(store)]
    assert main([*argv, "--no-progress"]) == 1
    err = capsys.readouterr().err
    page = interrupted / "page-00001.json.gz"
    assert err.startswith(f"dexkit: error: {page}: a stored page is damaged")
    assert len(err.strip().splitlines()) == 1


# -- escape sequences from servers and files never reach the terminal -----------------------------

ESCAPES = "\x1b]0;pwned\x07\x1b[2J"


class _Hostile(BaseHTTPRequestHandler):
    """Answers every request with a 400 whose Cloudflare error message carries escapes."""

    def do_GET(self) -> None:
        body = json.dumps(
            {
                "success": False,
                "errors": [{"code": 1001, "message": f"bad {ESCAPES}request"}],
                "messages": [],
                "result": None,
            }
        ).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.slow
def test_cloudflare_messages_are_escaped_in_error_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("CLOUDFLARE_BASE_URL", f"http://127.0.0.1:{server.server_port}")
        monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", "acc")
        monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "tok")
        argv = ["fetch", "30m", "--into", str(tmp_path / "store"), "--no-progress"]
        assert main(argv) == 1
    finally:
        server.shutdown()
        server.server_close()
    err = capsys.readouterr().err
    assert err.startswith("dexkit: error: ")
    assert "\x1b" not in err
    assert "\x07" not in err
    assert "bad \\x1b]0;pwned\\x07\\x1b[2Jrequest" in err
    assert len(err.strip().splitlines()) == 1


def test_file_names_are_escaped_in_error_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / f"page{ESCAPES}.json"
    bad.write_bytes(b"not json")
    assert main(["report", str(bad), "-o", str(tmp_path / "r.html")]) == 1
    err = capsys.readouterr().err
    assert "\x1b" not in err
    assert "page\\x1b]0;pwned\\x07\\x1b[2J.json" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_report_flags_move_the_bounds_and_choose_incomplete_chunks(
    fetched: tuple[Path, FakeCloudflare], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = _copy(fetched, tmp_path)
    out = str(tmp_path / "r.html")
    assert main(["report", str(store), "-o", out, "--incomplete", "raise"]) == 1
    err = capsys.readouterr().err
    assert "chunk(s) of this page store are incomplete" in err
    assert "--incomplete" in err
    assert main(["report", str(store), "-o", out, "--max-page-bytes", "1000"]) == 1
    err = capsys.readouterr().err
    assert "more than max_page_bytes=1000" in err
    assert "--max-page-bytes" in err
    assert main(["report", str(store), "-o", out, "--max-files", "1"]) == 1
    assert "more than max_files=1 pages" in capsys.readouterr().err
    assert main(["report", str(store), "-o", out, "--incomplete", "include"]) == 0
    assert "wrote" in capsys.readouterr().out


def test_warnings_are_one_escaped_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.html"
    code = main([
        "report", str(dexkit.sample_dir() / "raw"), "-o", str(out),
        "--incident", "2026-11-18T16:00Z", "2026-11-18T20:00Z",
    ])  # fmt: skip
    assert code == 0
    err = capsys.readouterr().err.splitlines()
    warned = [line for line in err if line.startswith("dexkit: warning: ")]
    assert len(warned) == 1, err
    assert "the records cover only 25.0% of the incident window" in warned[0]
    assert not any("warnings.warn" in line or "Warning:" in line for line in err)
