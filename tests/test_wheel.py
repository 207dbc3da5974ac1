"""The built wheel works outside the repository, offline: install it in a fresh venv and use it.

The wheel is built from this checkout and installed, without its dependencies, into a new virtual
environment in a scratch directory. The dependencies (Polars, pyarrow, …) come from the development
environment through a path entry; that is the one thing borrowed, so that the test needs no package
index. The checkout itself is never on the path: ``import dexkit`` must find the installed copy, and
the bundled sample, the colo table and the report template must come from inside the wheel. Every
command runs with proxies pointing at a closed port, so anything that reached for the network fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    work = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(work / "dist"), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = (work / "dist").glob("dexkit-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
         "--no-index", str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    # The development environment's packages, for the dependencies only (its own .pth files,
    # among them the editable dexkit, are not processed for a directory added this way).
    Path(site, "dev-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    home = work / "home"
    home.mkdir()
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(home),
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "ALL_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "",
    }
    if "OPENBLAS_CORETYPE" in os.environ:
        env["OPENBLAS_CORETYPE"] = os.environ["OPENBLAS_CORETYPE"]
    return wheel, env


def _run(args: list[str], env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        args, env=env, cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_wheel_carries_its_data(installed: tuple[Path, dict[str, str]]) -> None:
    wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "dexkit/py.typed" in names
    assert "dexkit/data/colos.csv" in names
    assert "dexkit/templates/report.html.j2" in names
    assert any(n.startswith("dexkit/data/sample/raw/") for n in names)
    assert any(n.startswith("dexkit/data/logpush/") and n.endswith(".log.gz") for n in names)
    assert not any(n.startswith(("tests/", "notebooks/", "docs/")) for n in names)


def test_version_demo_and_sample_outside_the_checkout(
    installed: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    _, env = installed
    import dexkit

    assert _run(["dexkit", "--version"], env, tmp_path).strip() == f"dexkit {dexkit.__version__}"
    out = _run(
        ["python", "-c", "import dexkit; f = dexkit.load('sample'); "
         "print(dexkit.__file__); print(f.height, f['device_id'].n_unique()); "
         "print(dexkit.sample_dir())"],
        env, tmp_path,
    ).split("\n")  # fmt: skip
    assert not out[0].startswith(str(ROOT)), f"imported the checkout, not the wheel: {out[0]}"
    assert out[1] == "19706 484"
    assert not out[2].startswith(str(ROOT)), "the sample came from the checkout"
    demo = _run(["dexkit", "demo", "-o", "demo.html"], env, tmp_path)
    assert "demo.html" in demo
    html = (tmp_path / "demo.html").read_text(encoding="utf-8")
    assert html.lower().startswith("<!doctype html>")
    assert "FRA" in html
    assert "<script src=" not in html
