"""dexkit: look at a Cloudflare Zero Trust fleet through DEX fleet-status device records.

``import dexkit`` stays light (Polars, pyarrow, orjson): the modules that need Altair, ipywidgets,
Jinja2 or tqdm import them only when used.
"""

from __future__ import annotations

from dexkit import dataset, health, schema
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
    NotFoundError,
    PageError,
    QueryError,
    RateLimitError,
    RecordError,
    ServerError,
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
from dexkit.logpush import LogpushSync, read_logpush, scan_logpush, sync_logpush
from dexkit.redaction import redact
from dexkit.report import Report, build_report, write_report
from dexkit.schema import SCHEMA
from dexkit.widgets import explore

__version__ = "0.1.0"

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
    "LogpushSync",
    "NotFoundError",
    "PageError",
    "Plan",
    "QueryError",
    "RateLimitError",
    "RecordError",
    "Report",
    "Rules",
    "ServerError",
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
    "explore",
    "flatten",
    "health",
    "hotspots",
    "latest",
    "outliers",
    "read_logpush",
    "read_pages",
    "redact",
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
