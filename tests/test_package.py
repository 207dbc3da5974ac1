"""The public surface of the package: what it exports and what importing it costs."""

from __future__ import annotations

import subprocess
import sys

import pytest

import dexkit

EXPORTED = {
    "APIError",
    "AuthError",
    "BudgetError",
    "CoercionWarning",
    "ConfigError",
    "CredentialsError",
    "DexkitError",
    "DexkitWarning",
    "IncompleteChunksWarning",
    "NotFoundError",
    "PageError",
    "PartialWindowWarning",
    "QueryError",
    "RateLimitError",
    "RecordError",
    "SCHEMA",
    "ServerError",
    "StoreError",
    "TransportError",
    "UnknownFieldsWarning",
    "__version__",
    "app_usage",
    "flatten",
    "read_pages",
    "schema",
    # health and dataset
    "DatasetWrite",
    "Grading",
    "Rules",
    "colos",
    "compare_windows",
    "dataset",
    "default_store",
    "health",
    "hotspots",
    "latest",
    "load",
    "outliers",
    "scan_dataset",
    "stale",
    "status_counts",
    "summarize",
    "timeline",
    "top_apps",
    "unhealthy",
    "version_drift",
    "write_dataset",
    # display
    "Table",
    "show",
    # reports
    "Report",
    "build_report",
    "redact",
    "sample_dir",
    "write_report",
    "explore",
    # client
    "Client",
    "FetchSummary",
    "Plan",
    "compare_counts",
    # Logpush archives
    "LogpushSync",
    "read_logpush",
    "scan_logpush",
    "sync_logpush",
}


def test_all_is_sorted_and_pinned() -> None:
    # isort-style, as ruff's RUF022 keeps it: CONSTANTS, then Classes, then everything else
    def kind(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert dexkit.__all__ == sorted(dexkit.__all__, key=kind)
    assert set(dexkit.__all__) == EXPORTED
    for name in dexkit.__all__:
        assert hasattr(dexkit, name), name


def test_every_error_derives_from_dexkit_error() -> None:
    for name in dexkit.__all__:
        obj = getattr(dexkit, name)
        if isinstance(obj, type) and issubclass(obj, Exception) and not issubclass(obj, Warning):
            assert issubclass(obj, dexkit.DexkitError), name


@pytest.mark.slow
def test_import_dexkit_stays_light() -> None:
    code = (
        "import sys, dexkit; "
        "heavy = [m for m in ('altair', 'ipywidgets', 'IPython', 'jinja2', 'pandas', 'tqdm') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
