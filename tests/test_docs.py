"""Every code example in README.md and docs/ runs, in a scratch directory, as a reader would run it.

- ``>>>`` examples run as doctests (``NORMALIZE_WHITESPACE``, ``ELLIPSIS``).
- Other ```` ```python ```` blocks run top to bottom, one namespace per page, so a page may build on
  its earlier blocks. A comment line just above a block may say how:

  - ``<!-- docs-test: fake-api devices=N -->``: a :class:`dexkit.testing.FakeCloudflare` of that
    many devices is started and ``CLOUDFLARE_BASE_URL``, ``CLOUDFLARE_ACCOUNT_ID`` and
    ``CLOUDFLARE_API_TOKEN`` point at it, as for a user who exported ``dexkit fake-api``'s line;
  - ``<!-- docs-test: skip REASON -->``: not run, for a stated reason (another engine, say); the
    reasons are checked to be there.
"""

from __future__ import annotations

import doctest
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dexkit.errors import DexkitWarning

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
_FENCE = re.compile(r"^```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^```", re.M | re.S)
_DIRECTIVE = re.compile(r"<!--\s*docs-test:\s*(?P<what>[\w-]+)(?P<args>[^>]*?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    code: str
    directive: str | None
    args: str


def _blocks(page: Path) -> Iterator[Block]:
    text = page.read_text(encoding="utf-8")
    for match in _FENCE.finditer(text):
        if match["lang"] != "python" or ">>>" in match["body"]:
            continue
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        found = _DIRECTIVE.search(before)
        yield Block(
            page=page,
            line=text.count("\n", 0, match.start()) + 2,
            code=match["body"],
            directive=found["what"] if found else None,
            args=found["args"].strip() if found else "",
        )


def _name(page: Path) -> str:
    return str(page.relative_to(ROOT))


def _with_doctests() -> list[Path]:
    return [p for p in PAGES if ">>> " in p.read_text(encoding="utf-8")]


def _with_blocks() -> list[Path]:
    return [p for p in PAGES if any(True for _ in _blocks(p))]


def test_pages_are_found() -> None:
    names = {_name(p) for p in PAGES}
    assert {"README.md", "docs/index.md", "docs/fetching.md", "docs/health.md"} <= names
    assert _with_doctests(), "no doctest examples found: the collector is broken"
    assert _with_blocks(), "no python blocks found: the collector is broken"


@pytest.mark.parametrize("page", _with_doctests(), ids=_name)
@pytest.mark.slow
def test_doctest_examples(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = doctest.testfile(
        str(page),
        module_relative=False,
        optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS,
        verbose=False,
        report=True,
    )
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {page}"


@pytest.mark.parametrize("page", _with_blocks(), ids=_name)
@pytest.mark.slow
def test_python_blocks(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dexkit.testing import FakeCloudflare

    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    fakes: list[FakeCloudflare] = []
    size = 0
    ran = skipped = 0
    try:
        for block in _blocks(page):
            if block.directive == "skip":
                assert block.args, f"{page}:{block.line}: a skipped example must say why"
                skipped += 1
                continue
            if block.directive == "fake-api":
                devices = int(dict(a.split("=") for a in block.args.split())["devices"])
                if devices != size:
                    api = FakeCloudflare(devices=devices, seed=1).start()
                    fakes.append(api)
                    size = devices
                    monkeypatch.setenv("CLOUDFLARE_BASE_URL", api.base_url)
                    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", api.account_id)
                    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", api.api_token)
            elif block.directive is not None:
                pytest.fail(f"{page}:{block.line}: unknown docs-test directive {block.directive!r}")
            code = compile("\n" * (block.line - 1) + block.code, str(page), "exec")
            with warnings.catch_warnings(record=True):
                # what a reader sees too (an archive's extra fields are named, not errors);
                # anything else (a deprecated call in the docs) still fails
                warnings.simplefilter("error")
                warnings.simplefilter("always", DexkitWarning)
                exec(code, namespace)
            ran += 1
    finally:
        for api in fakes:
            api.stop()
    assert ran + skipped > 0
