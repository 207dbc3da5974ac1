"""dexkit: look at a Cloudflare Zero Trust fleet through DEX fleet-status device records.

``import dexkit`` stays light (Polars, pyarrow, orjson): the modules that need Altair, ipywidgets,
Jinja2 or tqdm import them only when used.
"""

from __future__ import annotations

from dexkit import dataset, health, schema
from dexkit._version import __version__
from dexkit.client import Client, FetchSummary, Plan, compare_counts
from dexkit.dataset import DatasetWrite, colos, scan_dataset, write_dataset
from dexkit.display import Table, show
from dexkit.errors import (
    APIError,
    AuthError,
    BudgetError,
    CoercionWarning,
    ConfigError,
    CredentialsError,
    DexkitError,
    DexkitWarning,
    IncompleteChunksWarning,
    NotFoundError,
    PageError,
    PartialWindowWarning,
    QueryError,
    RateLimitError,
    RecordError,
    ServerError,
    StoreError,
    TransportError,
    UnknownFieldsWarning,
)
from dexkit.frames import app_usage, flatten, read_pages
from dexkit.health import (
    Grading,
    Rules,
    compare_windows,
    hotspots,
    latest,
    outliers,
    stale,
    status_counts,
    summarize,
    timeline,
    top_apps,
    unhealthy,
    version_drift,
)
from dexkit.inputs import load, sample_dir
from dexkit.logpush import LogpushSync, read_logpush, scan_logpush, sync_logpush
from dexkit.redaction import redact
from dexkit.report import Report, build_report, write_report
from dexkit.schema import SCHEMA
from dexkit.store import default_store
from dexkit.widgets import explore

__all__ = [
    "SCHEMA",
    "APIError",
    "AuthError",
    "BudgetError",
    "Client",
    "CoercionWarning",
    "ConfigError",
    "CredentialsError",
    "DatasetWrite",
    "DexkitError",
    "DexkitWarning",
    "FetchSummary",
    "Grading",
    "IncompleteChunksWarning",
    "LogpushSync",
    "NotFoundError",
    "PageError",
    "PartialWindowWarning",
    "Plan",
    "QueryError",
    "RateLimitError",
    "RecordError",
    "Report",
    "Rules",
    "ServerError",
    "StoreError",
    "Table",
    "TransportError",
    "UnknownFieldsWarning",
    "__version__",
    "app_usage",
    "build_report",
    "colos",
    "compare_counts",
    "compare_windows",
    "dataset",
    "default_store",
    "explore",
    "flatten",
    "health",
    "hotspots",
    "latest",
    "load",
    "outliers",
    "read_logpush",
    "read_pages",
    "redact",
    "sample_dir",
    "scan_dataset",
    "scan_logpush",
    "schema",
    "show",
    "stale",
    "status_counts",
    "summarize",
    "sync_logpush",
    "timeline",
    "top_apps",
    "unhealthy",
    "version_drift",
    "write_dataset",
    "write_report",
]
