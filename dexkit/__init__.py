"""dexkit: look at a Cloudflare Zero Trust fleet through DEX fleet-status device records."""

from __future__ import annotations

from dexkit import schema
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
from dexkit.schema import SCHEMA

__version__ = "0.1.0"

__all__ = [
    "SCHEMA",
    "APIError",
    "AuthError",
    "BudgetError",
    "CoercionWarning",
    "ConfigError",
    "CredentialsError",
    "DexkitError",
    "DexkitWarning",
    "NotFoundError",
    "PageError",
    "QueryError",
    "RateLimitError",
    "RecordError",
    "ServerError",
    "TransportError",
    "UnknownFieldsWarning",
    "__version__",
    "app_usage",
    "flatten",
    "read_pages",
    "schema",
]
