"""The module map of docs/architecture.md, enforced: imports flow one way, heavy libraries stay put.

Every ``import`` of the package is read with :mod:`ast`, those inside functions included (a lazy
import is still a dependency). A module may import only modules of a lower layer; a library may be
imported only by the modules named for it. A new module must be placed in a layer here (and on the
architecture page) before its first test can pass.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "dexkit"

#: Lowest first. A module imports only from layers before its own.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "_version"),
    ("_time", "_checks", "_presentation", "_files", "_places", "schema", "synth", "redaction"),
    ("_query", "_ratelimit", "_fleetindex", "_progress", "_records"),
    ("store",),
    ("frames", "dataset"),
    ("client", "logpush"),
    ("health",),
    ("inputs",),
    ("display", "charts"),
    ("report", "widgets"),
    ("testing",),
    ("cli", "__init__"),
    ("__main__",),
)
RANK = {module: rank for rank, layer in enumerate(LAYERS) for module in layer}

#: Where each heavy or network-facing library may be imported.
CONFINED: dict[str, set[str]] = {
    "httpx": {"client"},
    "altair": {"charts", "widgets", "report"},
    "anywidget": {"charts"},
    "ipywidgets": {"widgets"},
    "IPython": {"widgets", "_progress", "charts", "display", "report"},
    "jinja2": {"display", "report"},
    "vl_convert": {"charts", "widgets", "report"},
    "tqdm": {"_progress"},
    "obstore": {"logpush"},
    "isal": {"logpush"},
    "numpy": {"_fleetindex"},
    "filelock": {"store"},
    "platformdirs": {"store"},
}


def _imports(path: Path) -> tuple[set[str], set[str]]:
    """(dexkit modules, top-level third-party packages) that ``path`` imports anywhere."""
    internal: set[str] = set()
    external: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "dexkit":
                    internal.add(parts[1] if len(parts) > 1 else "__init__")
                else:
                    external.add(parts[0])
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            if parts[0] != "dexkit":
                external.add(parts[0])
            elif len(parts) > 1:
                internal.add(parts[1])
            else:  # from dexkit import health, _presentation as _p
                internal.update(alias.name for alias in node.names if alias.name in RANK)
    return internal, external


MODULES = sorted(p.stem for p in PACKAGE.glob("*.py"))


def test_every_module_has_a_layer() -> None:
    missing = [m for m in MODULES if m not in RANK]
    assert not missing, f"place these modules in LAYERS (and on docs/architecture.md): {missing}"
    gone = sorted(set(RANK) - set(MODULES))
    assert not gone, f"LAYERS names modules that no longer exist: {gone}"


@pytest.mark.parametrize("module", MODULES)
def test_imports_flow_one_way(module: str) -> None:
    internal, _ = _imports(PACKAGE / f"{module}.py")
    upward = sorted(m for m in internal - {module} if RANK.get(m, -1) >= RANK[module])
    assert not upward, (
        f"dexkit.{module} (layer {RANK[module]}) imports {upward} from its layer or above"
    )


@pytest.mark.parametrize("library", sorted(CONFINED))
@pytest.mark.slow
def test_heavy_libraries_stay_in_their_modules(library: str) -> None:
    users = {m for m in MODULES if library in _imports(PACKAGE / f"{m}.py")[1]}
    assert users <= CONFINED[library], f"{library} imported by {sorted(users - CONFINED[library])}"


def test_the_architecture_page_names_every_module() -> None:
    page = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    unnamed = [m for m in MODULES if m not in ("__init__", "__main__") and f"`{m}`" not in page]
    assert not unnamed, f"docs/architecture.md does not name: {unnamed}"
