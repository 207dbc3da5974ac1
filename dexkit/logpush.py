"""Logpush archives of DEX device state (``dex_device_state_events``) → the frames of read_pages.

Cloudflare's Logpush job on the account dataset ``dex_device_state_events`` pushes every device
state event into the customer's own bucket (R2, S3, …) as gzip-compressed NDJSON batches, often
under one ``{DATE}`` (``YYYYMMDD``) folder per day. :func:`read_logpush` and :func:`scan_logpush`
read such an archive (local files, or an ``s3://`` URL with an R2 endpoint) into a frame with
exactly :data:`dexkit.SCHEMA`, so that every health function, chart, explorer and report works
on months of history; :func:`sync_logpush` converts an archive incrementally into the
hive-partitioned Parquet dataset of :func:`dexkit.scan_dataset`.

From the Logpush record to the API's record
-------------------------------------------
- percentages (``CPUPercentage``, …, and the per-app lists) are fractions 0–1: ×100;
- the flat ``DeviceIPv4Address`` … ``ISPIPv6Zip`` fields become the nested IP structs
  (``version`` 1 or 2 from the field's name; Logpush has no ISP ``name``);
- ``TunnelStatsUpstream`` / ``TunnelStatsDownstream`` become ``rtt`` and ``tunnel_stats`` with
  ``upstream`` / ``downstream`` (Logpush has no received counters nor ``statsWindowMs``);
- ``HandshakeLatencyMs = -1`` (disconnected) becomes null; ``WarpColoCode = "none"`` null;
- ``Timestamp`` in ``unixnano``, ``unix`` or ``rfc3339``, recognised per value;
- columns the API has and Logpush lacks (``device_name``, ``person_email``,
  ``estimated_loss_pct``, ``metal``, ``device_registration``) are null;
- ``AccountID``, ``DeviceRegistrationProfileID``, ``AppFirewallEnabled``, ``ExperimentalExtra``
  (as JSON text) and any field dexkit does not know are kept as extra columns and named once by an
  :class:`~dexkit.UnknownFieldsWarning`;
- a sampled job (``sample_rate=``) adds a ``sample_rate`` column, which
  :func:`dexkit.health.summarize` and reports show, so that counts are never taken for devices.

The object store
----------------
Object stores are reached through `obstore <https://developmentseed.org/obstore/>`_, the Python
binding of the Rust ``object_store`` crate (the one Polars itself uses): one small wheel with no
Python dependencies, listing with ETags and sizes (what the sync ledger records), whole-object
reads that release the GIL (objects are fetched concurrently while others are parsed), and R2
support through a custom endpoint with ``region="auto"``.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import io
import json
import os
import re
import warnings
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from itertools import accumulate
from pathlib import Path
from typing import Any, Literal

import orjson
import polars as pl
import pyarrow as pa
import pyarrow.json as pa_json
from isal import isal_zlib

from dexkit._files import atomic_write
from dexkit._records import Bad, Normalizer, arrow_type, renamed, warn_nulled
from dexkit._time import TimeLike, instant, timestamps
from dexkit.dataset import prepare, scan_dataset
from dexkit.errors import (
    BudgetError,
    ConfigError,
    CredentialsError,
    PageError,
    RecordError,
    TransportError,
    UnknownFieldsWarning,
    printable,
)
from dexkit.schema import SCHEMA, Spec, snake_case

#: ISA-L's error class (its stubs declare it as an instance)
_GzipError: type[Exception] = isal_zlib.error  # type: ignore[assignment]

__all__ = [
    "LOGPUSH",
    "LogpushSync",
    "read_logpush",
    "scan_logpush",
    "sync_logpush",
]

OnError = Literal["raise", "null"]

#: Default bounds (the keyword names the bound in errors).
MAX_OBJECTS = 100_000
MAX_OBJECT_BYTES = 1 << 30  # decoded bytes of one object
MAX_LINES = 2_000_000  # records in one object (Logpush closes a batch at ~100,000)

_DIRECTION: dict[str, Spec] = {
    "rttUs": pl.Int64,
    "minRttUs": pl.Int64,
    "rttVarUs": pl.Int64,
    "packetsSent": pl.Int64,
    "packetsLost": pl.Int64,
    "packetsRetransmitted": pl.Int64,
    "bytesSent": pl.Int64,
    "bytesLost": pl.Int64,
    "bytesRetransmitted": pl.Int64,
}
_BY_APP: list[Spec] = [{"name": pl.String, "percentage": pl.Float64}]


def _ip_fields(prefix: str, isp: bool) -> dict[str, Spec]:
    out: dict[str, Spec] = {f"{prefix}Address": pl.String, f"{prefix}Netmask": pl.String}
    if isp:
        out.update(
            {
                f"{prefix}ASN": pl.Int64,
                f"{prefix}ASO": pl.String,
                f"{prefix}City": pl.String,
                f"{prefix}CountryISO": pl.String,
                f"{prefix}StateISO": pl.String,
                f"{prefix}Zip": pl.String,
            }
        )
    return out


#: The fields of the Logpush dataset ``dex_device_state_events`` that dexkit maps, with their
#: types (``Timestamp`` is an int or a string, depending on the job's ``timestamp_format``).
LOGPUSH: dict[str, Spec] = {
    "AccountID": pl.String,
    "DeviceID": pl.String,
    "DeviceRegistrationID": pl.String,
    "DeviceRegistrationProfileID": pl.String,
    "ClientPlatform": pl.String,
    "ClientVersion": pl.String,
    "WarpColoCode": pl.String,
    "Mode": pl.String,
    "Status": pl.String,
    "TunnelType": pl.String,
    "DoHSubdomain": pl.String,
    "AlwaysOn": pl.Boolean,
    "SwitchLocked": pl.Boolean,
    "FirewallEnabled": pl.Boolean,
    "AppFirewallEnabled": pl.Boolean,
    "CPUPercentage": pl.Float64,
    "RAMUsedPercentage": pl.Float64,
    "DiskUsagePercentage": pl.Float64,
    "BatteryPercentage": pl.Float64,
    "CPUPercentageByApp": _BY_APP,
    "RAMUsedPercentageByApp": _BY_APP,
    "BatteryCharging": pl.Boolean,
    "BatteryCycles": pl.Int64,
    "RAMAvailableKB": pl.Int64,
    "DiskReadBPS": pl.Int64,
    "DiskWriteBPS": pl.Int64,
    "ConnectionType": pl.String,
    "NetworkSSID": pl.String,
    "WiFiStrengthDBM": pl.Int64,
    "NetworkReceivedBPS": pl.Int64,
    "NetworkSentBPS": pl.Int64,
    "HandshakeLatencyMs": pl.Int64,
    **_ip_fields("DeviceIPv4", False),
    **_ip_fields("DeviceIPv6", False),
    **_ip_fields("GatewayIPv4", False),
    **_ip_fields("GatewayIPv6", False),
    **_ip_fields("ISPIPv4", True),
    **_ip_fields("ISPIPv6", True),
    "TunnelStatsUpstream": _DIRECTION,
    "TunnelStatsDownstream": _DIRECTION,
}

#: Logpush fields the API record lacks: kept as these extra columns.
_EXTRAS = {
    "AccountID": "account_id",
    "DeviceRegistrationProfileID": "device_registration_profile_id",
    "AppFirewallEnabled": "app_firewall_enabled",
    "ExperimentalExtra": "experimental_extra",
}
_EXTRA_TYPES: dict[str, pl.DataType] = {
    "account_id": pl.String(),
    "device_registration_profile_id": pl.String(),
    "app_firewall_enabled": pl.Boolean(),
    "experimental_extra": pl.String(),
}
_KNOWN = {*LOGPUSH, "Timestamp", "ExperimentalExtra"}
_PERCENT = {
    "cpu_pct": "CPUPercentage",
    "ram_used_pct": "RAMUsedPercentage",
    "disk_usage_pct": "DiskUsagePercentage",
    "battery_pct": "BatteryPercentage",
}
_SAME = {
    "device_id": "DeviceID",
    "platform": "ClientPlatform",
    "status": "Status",
    "mode": "Mode",
    "version": "ClientVersion",
    "registration_id": "DeviceRegistrationID",
    "always_on": "AlwaysOn",
    "switch_locked": "SwitchLocked",
    "firewall_enabled": "FirewallEnabled",
    "ram_available_kb": "RAMAvailableKB",
    "disk_read_bps": "DiskReadBPS",
    "disk_write_bps": "DiskWriteBPS",
    "battery_charging": "BatteryCharging",
    "battery_cycles": "BatteryCycles",
    "connection_type": "ConnectionType",
    "network_ssid": "NetworkSSID",
    "wifi_strength_dbm": "WiFiStrengthDBM",
    "network_rcvd_bps": "NetworkReceivedBPS",
    "network_sent_bps": "NetworkSentBPS",
    "tunnel_type": "TunnelType",
    "doh_subdomain": "DoHSubdomain",
}
_IPS = {
    "device_ipv4": ("DeviceIPv4", 1),
    "device_ipv6": ("DeviceIPv6", 2),
    "gateway_ipv4": ("GatewayIPv4", 1),
    "gateway_ipv6": ("GatewayIPv6", 2),
    "isp_ipv4": ("ISPIPv4", 1),
    "isp_ipv6": ("ISPIPv6", 2),
}
_DATE_FOLDER = re.compile(r"(?:^|/)(\d{4})(\d{2})(\d{2})(?:/|$)")
_SUFFIXES = (".gz", ".log", ".json", ".ndjson", ".jsonl", ".csv")
_LEDGER_DIR = "_logpush"


# --------------------------------------------------------------------------------------------
# Where the objects are: local files or an object store


@dataclass(frozen=True)
class _Object:
    key: str  # what errors show: a local path or the full URL
    path: str  # the path inside the store (or the local path)
    size: int
    etag: str
    day: date | None


def _folder_day(path: str) -> date | None:
    found = None
    for match in _DATE_FOLDER.finditer(path):
        found = match
    if found is None:
        return None
    try:
        return date(int(found[1]), int(found[2]), int(found[3]))
    except ValueError:
        return None


class _Source:
    """A set of objects and how to read them."""

    display: str

    def list(self, limit: int) -> list[_Object]:
        """The objects, sorted; a BudgetError past ``limit`` keys (listing costs requests)."""
        raise NotImplementedError

    def read(self, obj: _Object) -> bytes:
        raise NotImplementedError


class _LocalSource(_Source):
    def __init__(self, source: str | os.PathLike[str]) -> None:
        self.display = os.fspath(source)
        path = Path(source)
        try:
            is_dir, is_file = path.is_dir(), path.is_file()
        except OSError as exc:
            raise ConfigError(f"cannot use {self.display!r} as a path ({exc})") from exc
        if is_dir:
            files = [p for p in path.rglob("*") if p.is_file() and p.name.endswith(_SUFFIXES)]
            self.files = sorted(p for p in files if _LEDGER_DIR not in p.parts)
        elif is_file:
            self.files = [path]
        elif glob.has_magic(self.display):
            self.files = [Path(p) for p in sorted(glob.glob(self.display, recursive=True))]
            self.files = [p for p in self.files if p.is_file()]
        else:
            raise ConfigError(f"no Logpush archive at {self.display!r}: no such file or directory")

    def list(self, limit: int) -> list[_Object]:
        if len(self.files) > limit:
            raise _too_many(self.display, limit)
        out = []
        for path in self.files:
            stat = path.stat()
            text = path.as_posix()
            # the ledger's key: the same file is the same object however the source is spelled
            key = path.resolve().as_posix()
            etag = f"{stat.st_mtime_ns:x}-{stat.st_size:x}"
            out.append(_Object(text, key, stat.st_size, etag, _folder_day(text)))
        return out

    def read(self, obj: _Object) -> bytes:
        try:
            return Path(obj.path).read_bytes()
        except OSError as exc:
            raise PageError(f"cannot read the file ({exc.strerror or exc})", page=obj.key) from exc


_CLIENT_KEYS = {"allow_http", "timeout", "connect_timeout", "allow_invalid_certificates"}
_SECRET_OPTIONS = re.compile(r"secret|token|password|key_id|session", re.I)


class _StoreSource(_Source):
    """An ``s3://bucket/prefix`` (R2: with ``endpoint`` and ``region="auto"``) through obstore."""

    def __init__(self, url: str, storage_options: Mapping[str, Any] | None) -> None:
        from obstore.store import from_url

        match = re.fullmatch(r"(s3a?|gs|az|r2)://([^/]+)/?(.*)", url)
        if match is None:
            raise ConfigError(f"not an object store URL: {url!r} (expected s3://bucket/prefix/)")
        scheme, bucket, prefix = match.groups()
        if scheme == "r2":
            scheme = "s3"
        self.display = url
        self.bucket_url = f"{scheme}://{bucket}"
        self.prefix = prefix
        options = {str(k).lower(): v for k, v in (storage_options or {}).items()}
        self._secrets = [str(v) for k, v in options.items() if _SECRET_OPTIONS.search(k) and v] + [
            os.environ[n]
            for n in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
            if os.environ.get(n)
        ]
        client: dict[str, Any] = {"timeout": "60s", "connect_timeout": "10s"}
        if os.environ.get("AWS_ALLOW_HTTP"):  # explicit client options hide the environment's
            client["allow_http"] = os.environ["AWS_ALLOW_HTTP"]
        config: dict[str, Any] = {}
        for key, value in options.items():
            name = key.removeprefix("aws_") if key.removeprefix("aws_") in _CLIENT_KEYS else key
            if name in _CLIENT_KEYS:
                client[name] = value
            else:
                config[key] = value
        if scheme == "s3":
            has_key = (
                any(k in config for k in ("access_key_id", "aws_access_key_id", "skip_signature"))
                or os.environ.get("AWS_ACCESS_KEY_ID")
                or os.environ.get("AWS_SKIP_SIGNATURE")
            )
            if not has_key:
                raise CredentialsError(
                    f"no credentials for {self.bucket_url}: set AWS_ACCESS_KEY_ID and "
                    "AWS_SECRET_ACCESS_KEY (an R2 API token's S3 credentials), or pass "
                    "storage_options={'access_key_id': ..., 'secret_access_key': ...}; "
                    "skip_signature=True reads a public bucket"
                )
        try:
            self.store = from_url(  # type: ignore[call-overload]
                self.bucket_url, config=config or None, client_options=client
            )
        except Exception as exc:  # obstore: UnknownConfigurationKeyError, GenericError …
            raise ConfigError(
                f"cannot open {self.bucket_url}: {self._clean(exc)} (storage_options keys: "
                f"{', '.join(sorted(options)) or 'none'})"
            ) from None

    def _clean(self, exc: BaseException) -> str:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        for secret in self._secrets:
            if len(secret) >= 4:
                text = text.replace(secret, "***")
        return text[:300]

    def _error(self, exc: BaseException, what: str, key: str | None = None) -> Exception:
        from obstore.exceptions import (
            NotFoundError,
            PermissionDeniedError,
            UnauthenticatedError,
        )

        text = str(exc)
        denied = isinstance(exc, PermissionDeniedError | UnauthenticatedError) or any(
            code in text
            for code in (
                "403",
                "401",
                "InvalidAccessKeyId",
                "SignatureDoesNotMatch",
                "AccessDenied",
            )
        )
        if denied:
            return CredentialsError(
                f"{self.bucket_url} refused the credentials while {what} (HTTP 401/403: a wrong "
                "access key id or secret, or a token without read access to the bucket); check "
                "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or storage_options, and for R2 the "
                "endpoint https://<account_id>.r2.cloudflarestorage.com with region='auto'"
            )
        if isinstance(exc, NotFoundError):
            return ConfigError(f"{what}: not found at {self.bucket_url} ({self._clean(exc)})")
        message = f"{what} failed: {self._clean(exc)}"
        return PageError(message, page=key) if key else TransportError(message)

    def list(self, limit: int) -> list[_Object]:
        import obstore

        out: list[_Object] = []
        listed = 0
        try:
            for batch in obstore.list(self.store, prefix=self.prefix or None, chunk_size=1000):
                listed += len(batch)
                if listed > limit:
                    raise _too_many(self.display, limit)
                for meta in batch:
                    path = str(meta["path"])
                    if not path.endswith(_SUFFIXES):
                        continue
                    out.append(
                        _Object(
                            f"{self.bucket_url}/{path}",
                            path,
                            int(meta["size"]),
                            str(meta.get("e_tag") or ""),
                            _folder_day(path),
                        )
                    )
        except BudgetError:
            raise
        except Exception as exc:
            raise self._error(exc, f"listing {self.display}") from None
        return sorted(out, key=lambda o: o.path)

    def read(self, obj: _Object) -> bytes:
        import obstore

        try:
            return bytes(obstore.get(self.store, obj.path).bytes())
        except Exception as exc:
            raise self._error(exc, f"reading {obj.key}", obj.key) from None


_LISTING = 10  # keys listed at most, per object that may be read (max_objects)


def _too_many(display: str, limit: int) -> BudgetError:
    return BudgetError(
        f"{display} holds more than {limit:,} keys, ten times max_objects={limit // _LISTING:,} "
        "(--max-objects): point at a narrower prefix (a job's folder, or a {DATE} folder such as "
        "…/20261118/) or raise the bound"
    )


def _open(source: str | os.PathLike[str], storage_options: Mapping[str, Any] | None) -> _Source:
    if isinstance(source, str) and re.match(r"^[a-z0-9]+://", source):
        return _StoreSource(source, storage_options)
    if not isinstance(source, str | os.PathLike):
        raise ConfigError(
            "read_logpush() takes a file, directory, glob or s3:// URL, got "
            f"{type(source).__name__}"
        )
    if storage_options:
        raise ConfigError("storage_options only apply to object store URLs (s3://…)")
    return _LocalSource(source)


# --------------------------------------------------------------------------------------------
# One object → a typed frame of Logpush fields


@dataclass
class _Options:
    on_error: OnError
    field_names: tuple[str, ...] | None
    max_object_bytes: int
    max_lines: int
    sample_rate: float | None
    start: datetime | None
    end: datetime | None


@dataclass
class _Outcome:
    frame: pl.DataFrame
    unknown: list[tuple[str, str]]
    nulled: Counter[str] = field(default_factory=Counter)
    files: list[str] = field(default_factory=list)  # what sync_logpush wrote for it


def _gunzip(obj: _Object, data: bytes, opts: _Options, nulled: Counter[str]) -> bytes:
    if data[:2] != b"\x1f\x8b":
        if len(data) > opts.max_object_bytes:
            raise PageError(_too_big(opts), page=obj.key)
        return data
    out: list[bytes] = []
    total = 0
    rest = data
    while rest:
        inflater = isal_zlib.decompressobj(wbits=31)  # zlib's API at twice its speed
        try:
            chunk = inflater.decompress(rest, opts.max_object_bytes - total + 1)
            while chunk:
                out.append(chunk)
                total += len(chunk)
                if total > opts.max_object_bytes:
                    raise PageError(_too_big(opts), page=obj.key)
                chunk = inflater.decompress(
                    inflater.unconsumed_tail, opts.max_object_bytes - total + 1
                )
        except _GzipError as exc:
            return _damaged(obj, b"".join(out), f"damaged gzip data ({exc})", opts, nulled)
        if not inflater.eof:
            return _damaged(obj, b"".join(out), "truncated gzip data", opts, nulled)
        rest = inflater.unused_data
        if rest[:2] != b"\x1f\x8b":
            break  # trailing garbage after the last member is ignored, as gzip does
    return b"".join(out)


def _too_big(opts: _Options) -> str:
    return (
        f"decodes to more than {opts.max_object_bytes:,} bytes, the bound of "
        f"max_object_bytes={opts.max_object_bytes:,} (--max-object-bytes); raise it if the "
        "objects are that large"
    )


def _damaged(obj: _Object, decoded: bytes, why: str, opts: _Options, nulled: Counter[str]) -> bytes:
    """A gzip stream that ends early: strictly an error naming the line, leniently the whole
    lines decoded so far."""
    complete = decoded[: decoded.rfind(b"\n") + 1]
    line = complete.count(b"\n") + 1
    if opts.on_error != "null":
        raise PageError(
            f"{why}: the object ends inside this line (pass on_error='null' to keep the "
            f"{line - 1} complete line(s) before it)",
            page=obj.key,
            line=line,
        )
    nulled["<truncated object>"] += 1
    return complete


class _LineNormalizer(Normalizer):
    def _fail(self, bad: Bad, page: int | str, record: int | None) -> None:
        if not self.lenient:
            raise RecordError(
                bad.reason, page=page, record=None, line=record, field=bad.field, value=bad.value
            )
        self.nulled[bad.field] += 1
        self._failed.add(bad.field)


_TS_SPEC = {"Timestamp": pl.Datetime("us", "UTC")}  # the checked path keeps it as text


def _arrow_schema(timestamp: pa.DataType) -> pa.Schema:
    return pa.schema([("Timestamp", timestamp), *((k, arrow_type(v)) for k, v in LOGPUSH.items())])


_SCHEMA_INT = _arrow_schema(pa.int64())
_SCHEMA_STR = _arrow_schema(pa.string())


def _fast(data: bytes) -> pa.Table | None:
    """Arrow's multi-threaded reader with the explicit schema; None when anything is unusual."""
    head = data[: data.find(b"\n")] if b"\n" in data else data
    try:
        first = orjson.loads(head)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(first, dict):
        return None
    stamp = first.get("Timestamp")
    schema = _SCHEMA_STR if isinstance(stamp, str) else _SCHEMA_INT
    try:
        return pa_json.read_json(
            io.BytesIO(data),
            read_options=pa_json.ReadOptions(
                block_size=max(1 << 20, min(len(data) // 2 + 1, 1 << 24))
            ),
            parse_options=pa_json.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="infer"
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None


def _checked(obj: _Object, data: bytes, opts: _Options, nulled: Counter[str]) -> pa.Table:
    """orjson line by line: names the line of a broken record; leniently skips it."""
    lenient = opts.on_error == "null"
    norm = _LineNormalizer(lenient)
    spec = {**_TS_SPEC, **LOGPUSH}
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(data.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            if not lenient:
                raise PageError(f"not a JSON record ({exc})", page=obj.key, line=number) from None
            nulled["<broken line>"] += 1
            continue
        if not isinstance(record, dict):
            if not lenient:
                raise PageError(
                    f"expected a JSON object, got {type(record).__name__}",
                    page=obj.key,
                    line=number,
                )
            nulled["<broken line>"] += 1
            continue
        known = {k: v for k, v in record.items() if k in spec}
        out = norm._object(known, spec, "", obj.key, number)
        for key, value in record.items():
            if key not in spec and value is not None:
                out[key] = value if isinstance(value, str) else orjson.dumps(value).decode()
        rows.append(out)
    nulled.update(norm.nulled)
    extra = sorted({k for row in rows for k in row if k not in spec})
    schema = _arrow_schema(pa.string())
    schema = pa.schema([*schema, *((k, pa.string()) for k in extra)])
    return pa.Table.from_pylist(rows, schema=schema)


def _csv(obj: _Object, data: bytes, opts: _Options, nulled: Counter[str]) -> pl.DataFrame:
    """A CSV batch: a header line (the job's ``batch_prefix``) or the given field names."""
    first = data[: data.find(b"\n")].decode("utf-8", "replace").strip()
    header = [h.strip().strip('"') for h in first.split(",")]
    names = list(opts.field_names) if opts.field_names else None
    has_header = names is None or header == names
    if names is None and not (set(header) & _KNOWN):
        raise PageError(
            "a CSV object without a header: pass field_names= (--field-names) in the order of "
            "the job's field_names",
            page=obj.key,
        )
    try:
        raw = pl.read_csv(data, has_header=has_header, new_columns=names, infer_schema=False)
    except pl.exceptions.PolarsError as exc:
        raise PageError(f"cannot read CSV ({_first_line(exc)})", page=obj.key) from exc
    casts = []
    for name in raw.columns:
        spec = LOGPUSH.get(name)
        if spec is None:
            continue
        dtype = _polars_dtype(spec)
        column = pl.col(name)
        if dtype == pl.Boolean:
            casts.append(
                pl.when(column.str.to_lowercase() == "true")
                .then(True)
                .when(column.str.to_lowercase() == "false")
                .then(False)
                .alias(name)
            )
        elif isinstance(dtype, pl.Struct | pl.List):
            casts.append(column.str.json_decode(dtype).alias(name))
        else:
            casts.append(column.cast(dtype, strict=False).alias(name))
    try:
        typed = raw.with_columns(casts)
    except pl.exceptions.PolarsError as exc:
        raise PageError(f"cannot read CSV values ({_first_line(exc)})", page=obj.key) from exc
    offset = 2 if has_header else 1
    for name in raw.columns:
        if name not in LOGPUSH:
            continue
        bad = raw[name].is_not_null() & (raw[name] != "") & typed[name].is_null()
        if bad.any():
            row = int(bad.arg_true()[0])
            if opts.on_error != "null":
                raise RecordError(
                    f"expected {_polars_dtype(LOGPUSH[name])}",
                    page=obj.key,
                    record=None,
                    line=row + offset,
                    field=name,
                    value=raw[name][row],
                    problems=int(bad.sum()),
                )
            nulled[name] += int(bad.sum())
    return typed


def _polars_dtype(spec: Spec) -> pl.DataType:
    if isinstance(spec, dict):
        return pl.Struct({k: _polars_dtype(v) for k, v in spec.items()})
    if isinstance(spec, list):
        return pl.List(_polars_dtype(spec[0]))
    dtype: pl.DataType = spec() if isinstance(spec, type) else spec
    return dtype


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _count_lines(obj: _Object, data: bytes, opts: _Options) -> None:
    if len(data) < opts.max_lines:
        return  # fewer bytes than the bound: fewer lines too
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    if lines > opts.max_lines:
        raise PageError(
            f"holds {lines:,} lines, more than max_lines={opts.max_lines:,} (--max-lines); "
            "raise it if the job's batches are that large",
            page=obj.key,
        )


def _decode(obj: _Object, raw: bytes, opts: _Options, nulled: Counter[str]) -> pl.DataFrame:
    """One object as a frame of Logpush fields (the dataset's names, types and units)."""
    data = _gunzip(obj, raw, opts, nulled)
    _count_lines(obj, data, opts)
    stripped = data.lstrip()
    if not stripped:
        return _empty_logpush()
    if stripped[:1] != b"{" or opts.field_names:
        return _csv(obj, data, opts, nulled)
    table = _fast(data)
    if table is None:
        table = _checked(obj, data, opts, nulled)
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def _empty_logpush() -> pl.DataFrame:
    return pl.DataFrame(
        schema={"Timestamp": pl.Int64, **{k: _polars_dtype(v) for k, v in LOGPUSH.items()}}
    )


# --------------------------------------------------------------------------------------------
# Logpush frame → the API's schema


def _timestamp(dtype: pl.DataType) -> pl.Expr:
    column = pl.col("Timestamp")
    if dtype.is_integer():
        value = column.cast(pl.Int64)
    elif dtype == pl.String:
        text = column.str.strip_chars()
        value = pl.when(text.str.contains(r"^-?\d+$")).then(text.cast(pl.Int64, strict=False))
    elif dtype == pl.Null:
        return pl.lit(None, pl.Datetime("us", "UTC"))
    else:
        value = column.cast(pl.Int64, strict=False)
    # unixnano (≥ 10^15, i.e. after 1970-01-12 in ns) or unix seconds (up to the year 33,000)
    epoch = (
        pl.when(value.abs() >= 10**15)
        .then(value // 1000)
        .when(value.abs() < 10**12)
        .then(value * 1_000_000)
    )
    as_epoch = epoch.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    if dtype == pl.String:
        return pl.when(value.is_not_null()).then(as_epoch).otherwise(_rfc3339(column))
    return as_epoch


def _rfc3339(text: pl.Expr) -> pl.Expr:
    return timestamps(text)


def _col(schema: pl.Schema, name: str, dtype: Any) -> pl.Expr:
    if name in schema and schema[name] != pl.Null:
        return pl.col(name).cast(dtype, strict=False) if schema[name] != dtype else pl.col(name)
    return pl.lit(None, dtype)


def _field(schema: pl.Schema, name: str, sub: str) -> pl.Expr:
    dtype = schema.get(name)
    if isinstance(dtype, pl.Struct) and sub in {f.name for f in dtype.fields}:
        return pl.col(name).struct.field(sub).cast(pl.Int64, strict=False)
    return pl.lit(None, pl.Int64)


def _struct(values: dict[str, pl.Expr], present: Sequence[pl.Expr], dtype: pl.DataType) -> pl.Expr:
    any_present = pl.any_horizontal([e.is_not_null() for e in present])
    return pl.when(any_present).then(pl.struct(list(values.values()))).cast(dtype)


def _percent(fraction: pl.Expr) -> pl.Expr:
    """A Logpush fraction (0-1) on the API's scale (0-100), without float noise (0.103 → 10.3)."""
    return (fraction * 100.0).round(9)


@lru_cache(maxsize=64)
def _api_columns_cached(items: tuple[tuple[str, pl.DataType], ...]) -> list[pl.Expr]:
    return _api_columns(pl.Schema(dict(items)))


def _api_columns(schema: pl.Schema) -> list[pl.Expr]:
    out: dict[str, pl.Expr] = {}
    for column, dtype in SCHEMA.items():
        if column in _SAME:
            out[column] = _col(schema, _SAME[column], dtype)
        elif column in _PERCENT:
            out[column] = _percent(_col(schema, _PERCENT[column], pl.Float64))
        else:
            out[column] = pl.lit(None, dtype)
    out["timestamp"] = _timestamp(schema.get("Timestamp", pl.Null()))
    colo = _col(schema, "WarpColoCode", pl.String)
    out["colo"] = pl.when(colo.str.to_lowercase() != "none").then(colo)
    latency = _col(schema, "HandshakeLatencyMs", pl.Float64)
    out["handshake_latency_ms"] = pl.when(latency >= 0).then(latency)
    for column, source, value in (
        ("cpu_pct_by_app", "CPUPercentageByApp", "cpu_pct"),
        ("ram_used_pct_by_app", "RAMUsedPercentageByApp", "ram_used_pct"),
    ):
        if isinstance(schema.get(source), pl.List):
            out[column] = (
                pl.col(source)
                .list.eval(
                    pl.struct(
                        _percent(pl.element().struct.field("percentage").cast(pl.Float64)).alias(
                            value
                        ),
                        pl.element().struct.field("name").cast(pl.String),
                    )
                )
                .cast(SCHEMA[column])
            )
    for column, (prefix, version) in _IPS.items():
        dtype = SCHEMA[column]
        parts = {
            name: _col(schema, f"{prefix}{name.title()}", pl.String)
            for name in ("address", "netmask")
        }
        values: dict[str, pl.Expr] = {"address": parts["address"]}
        present = [parts["address"], parts["netmask"]]
        if prefix.startswith("ISP"):
            location = {
                "city": _col(schema, f"{prefix}City", pl.String),
                "country_iso": _col(schema, f"{prefix}CountryISO", pl.String),
                "state_iso": _col(schema, f"{prefix}StateISO", pl.String),
                "zip": _col(schema, f"{prefix}Zip", pl.String),
            }
            asn, aso = (
                _col(schema, f"{prefix}ASN", pl.Int64),
                _col(schema, f"{prefix}ASO", pl.String),
            )
            values.update(
                asn=asn,
                aso=aso,
                location=pl.when(
                    pl.any_horizontal([e.is_not_null() for e in location.values()])
                ).then(pl.struct([e.alias(k) for k, e in location.items()])),
            )
            present += [asn, aso, *location.values()]
        else:
            values.update(asn=pl.lit(None, pl.Int64), aso=pl.lit(None, pl.String))
            values["location"] = pl.lit(None, dtype.to_schema()["location"])  # type: ignore[attr-defined]
        values.update(
            name=pl.lit(None, pl.String),
            netmask=parts["netmask"],
            version=pl.lit(version, pl.Int64),
        )
        ordered = {f.name: values[f.name].alias(f.name) for f in dtype.fields}  # type: ignore[attr-defined]
        out[column] = _struct(ordered, present, dtype)
    up = {k: _field(schema, "TunnelStatsUpstream", k) for k in _DIRECTION}
    down = {k: _field(schema, "TunnelStatsDownstream", k) for k in _DIRECTION}

    def pair(name: str) -> pl.Expr:
        u, d = up.get(name, pl.lit(None, pl.Int64)), down.get(name, pl.lit(None, pl.Int64))
        return pl.when(u.is_not_null() | d.is_not_null()).then(
            pl.struct(d.alias("downstream"), u.alias("upstream"))
        )

    rtt = {snake_case(k): pair(k).alias(snake_case(k)) for k in ("minRttUs", "rttUs", "rttVarUs")}
    out["rtt"] = _struct(
        rtt,
        [
            *(up[k] for k in ("rttUs", "minRttUs", "rttVarUs")),
            *(down[k] for k in ("rttUs", "minRttUs", "rttVarUs")),
        ],
        SCHEMA["rtt"],
    )
    stats_dtype = SCHEMA["tunnel_stats"]
    stats: dict[str, pl.Expr] = {}
    for f in stats_dtype.fields:  # type: ignore[attr-defined]
        api = {
            "bytes_lost": "bytesLost",
            "bytes_retransmitted": "bytesRetransmitted",
            "bytes_sent": "bytesSent",
            "packets_lost": "packetsLost",
            "packets_retransmitted": "packetsRetransmitted",
            "packets_sent": "packetsSent",
        }.get(f.name)
        stats[f.name] = (pair(api) if api else pl.lit(None, f.dtype)).alias(f.name)
    counters = [k for k in _DIRECTION if not k.startswith(("rtt", "minRtt"))]
    out["tunnel_stats"] = _struct(
        stats, [*(up[k] for k in counters), *(down[k] for k in counters)], stats_dtype
    )
    return [expr.cast(SCHEMA[name]).alias(name) for name, expr in out.items()]


def _extra_columns(frame: pl.DataFrame) -> tuple[list[pl.Expr], list[tuple[str, str]]]:
    schema = frame.schema
    exprs: list[pl.Expr] = []
    named: list[tuple[str, str]] = []
    taken = set(SCHEMA)
    for name, dtype in schema.items():
        if (name in LOGPUSH and name not in _EXTRAS) or name == "Timestamp":
            continue
        if name in _EXTRAS and (dtype == pl.Null or frame[name].null_count() == frame.height):
            continue  # a field the job does not export
        column = _EXTRAS.get(name) or snake_case(name)
        while column in taken:
            column += "_"
        taken.add(column)
        expr = pl.col(name)
        if isinstance(dtype, pl.Struct | pl.List | pl.Array):
            encoded = (
                expr.struct.json_encode()
                if isinstance(dtype, pl.Struct)
                else expr.map_batches(
                    lambda s: pl.Series(
                        [None if v is None else json.dumps(v) for v in s.to_list()], dtype=pl.String
                    ),
                    return_dtype=pl.String,
                )
            )
            expr = pl.when(expr.is_not_null()).then(encoded)
        elif dtype == pl.Null and name == "ExperimentalExtra":
            expr = expr.cast(pl.String)
        exprs.append(expr.alias(column))
        named.append((name, column))
    return exprs, named


def _to_api(
    parts: Sequence[tuple[_Object, pl.DataFrame]], opts: _Options, nulled: Counter[str]
) -> _Outcome:
    """Frames of Logpush fields with one schema (consecutive objects) as one frame of the API's.

    Converting several objects at once costs one query plan instead of one per object.
    """
    frame = parts[0][1] if len(parts) == 1 else pl.concat([f for _, f in parts], rechunk=False)
    schema = frame.schema
    extras, named = _extra_columns(frame)
    try:
        columns = _api_columns_cached(tuple(schema.items()))
    except TypeError:  # a dtype that is not hashable
        columns = _api_columns(schema)
    out = frame.select(*columns, *extras)
    if "Timestamp" in schema:
        bad = frame.get_column("Timestamp").is_not_null() & out.get_column("timestamp").is_null()
        if bad.any():
            rows = bad.arg_true()
            if opts.on_error != "null":
                row = int(rows[0])
                ends = list(accumulate(p.height for _, p in parts))
                at = bisect_right(ends, row)  # the object holding the first bad row
                obj, part = parts[at]
                offset = ends[at] - part.height
                raise RecordError(
                    "cannot read this timestamp (expected unixnano, unix seconds or RFC 3339)",
                    page=obj.key,
                    record=None,
                    line=row - offset + 1,
                    field="Timestamp",
                    value=frame.get_column("Timestamp")[row],
                    problems=int(((rows >= offset) & (rows < offset + part.height)).sum()),
                )
            nulled["Timestamp"] += len(rows)
    if opts.sample_rate is not None:
        out = out.with_columns(pl.lit(opts.sample_rate, pl.Float64).alias("sample_rate"))
    if opts.start is not None or opts.end is not None:
        keep = pl.lit(True)
        if opts.start is not None:
            keep = keep & (pl.col("timestamp") >= opts.start)
        if opts.end is not None:
            keep = keep & (pl.col("timestamp") < opts.end)
        out = out.filter(keep)
    return _Outcome(out, named, nulled)


# --------------------------------------------------------------------------------------------
# The archive: listing, pruning, concurrent reading


@dataclass
class _Plan:
    source: _Source
    objects: list[_Object]
    opts: _Options
    concurrency: int


def _positive(value: object, name: str, flag: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive int ({flag}), got {value!r}")
    return value


def _plan(
    source: str | os.PathLike[str],
    *,
    start: TimeLike | None,
    end: TimeLike | None,
    storage_options: Mapping[str, Any] | None,
    on_error: str,
    sample_rate: float | None,
    field_names: Sequence[str] | None,
    max_objects: int,
    max_object_bytes: int,
    max_lines: int,
    concurrency: int,
    func: str,
) -> _Plan:
    if on_error not in ("raise", "null"):
        raise ConfigError(f"{func}(): on_error must be 'raise' or 'null', not {on_error!r}")
    if sample_rate is not None and (
        isinstance(sample_rate, bool)
        or not isinstance(sample_rate, int | float)
        or not 0 < sample_rate <= 1
    ):
        raise ConfigError(
            f"{func}(): sample_rate must be a number in (0, 1] (the job's sample_rate), "
            f"got {sample_rate!r}"
        )
    if field_names is not None:
        if isinstance(field_names, str):
            field_names = [f.strip() for f in field_names.split(",")]
        unknown = [f for f in field_names if f not in _KNOWN]
        if unknown or not field_names:
            raise ConfigError(
                f"{func}(): field_names holds name(s) the dataset does not have: "
                f"{', '.join(map(repr, unknown)) or '(none given)'}"
            )
    _positive(max_objects, "max_objects", "--max-objects")
    _positive(max_object_bytes, "max_object_bytes", "--max-object-bytes")
    _positive(max_lines, "max_lines", "--max-lines")
    _positive(concurrency, "concurrency", "--concurrency")
    first = None if start is None else instant(start, "start")
    last = None if end is None else instant(end, "end")
    if first is not None and last is not None and not first < last:
        raise ConfigError(f"{func}(): start must be before end, got {first} to {last}")
    store = _open(source, storage_options)
    objects = store.list(_LISTING * max_objects)
    if not objects:
        raise ConfigError(
            f"{func}(): no Logpush objects (.gz, .log, .json, .csv) at {store.display!r}"
        )
    listed = len(objects)
    if first is not None or last is not None:
        low = first.date() if first is not None else date.min
        high = (last - timedelta(microseconds=1)).date() if last is not None else date.max
        objects = [o for o in objects if o.day is None or low <= o.day <= high]
        if not objects:
            raise ConfigError(
                f"{func}(): none of the {listed} object(s) at {store.display!r} is in a {{DATE}} "
                f"folder from {low} to {high}; check start/end"
            )
    if len(objects) > max_objects:
        raise BudgetError(
            f"{func}(): {len(objects):,} objects to read, more than max_objects={max_objects:,} "
            "(--max-objects); narrow start/end or raise the bound"
        )
    opts = _Options(
        on_error,  # type: ignore[arg-type]
        None if field_names is None else tuple(field_names),
        max_object_bytes,
        max_lines,
        None if sample_rate is None or sample_rate == 1 else float(sample_rate),
        first,
        last,
    )
    return _Plan(store, objects, opts, concurrency)


def _decoded(plan: _Plan, obj: _Object, nulled: Counter[str]) -> pl.DataFrame:
    if obj.size > plan.opts.max_object_bytes:
        raise PageError(
            f"is {obj.size:,} bytes, more than max_object_bytes={plan.opts.max_object_bytes:,} "
            "(--max-object-bytes)",
            page=obj.key,
        )
    return _decode(obj, plan.source.read(obj), plan.opts, nulled)


def _read_one(plan: _Plan, obj: _Object) -> _Outcome:
    nulled: Counter[str] = Counter()
    return _to_api([(obj, _decoded(plan, obj, nulled))], plan.opts, nulled)


def _read_batch(plan: _Plan, objects: Sequence[_Object]) -> _Outcome:
    """Consecutive objects as one frame; runs of objects with one schema converted at once."""
    nulled: Counter[str] = Counter()
    parts = [(obj, _decoded(plan, obj, nulled)) for obj in objects]
    kept = [p for p in parts if p[1].height] or parts[:1]
    runs: list[list[tuple[_Object, pl.DataFrame]]] = []
    for part in kept:
        if runs and runs[-1][-1][1].schema == part[1].schema:
            runs[-1].append(part)
        else:
            runs.append([part])
    outcomes = [_to_api(run, plan.opts, nulled) for run in runs]
    frames = [o.frame for o in outcomes]
    frame = frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")
    return _Outcome(frame, [u for o in outcomes for u in o.unknown], nulled)


#: Objects converted together by read_logpush and scan_logpush: up to this many compressed
#: bytes (about 25 MB of JSON) or this many objects, whichever comes first.
_BATCH_BYTES = 4 << 20
_BATCH_OBJECTS = 8


def _batches(objects: Sequence[_Object]) -> list[list[_Object]]:
    out: list[list[_Object]] = []
    size = 0
    for obj in objects:
        if not out or size + obj.size > _BATCH_BYTES or len(out[-1]) >= _BATCH_OBJECTS:
            out.append([])
            size = 0
        out[-1].append(obj)
        size += obj.size
    return out


def _batched(plan: _Plan, objects: Sequence[_Object]) -> Iterator[_Outcome]:
    """Objects read and converted in batches (see ``_BATCH_BYTES``), in order."""
    for _, outcome in _in_flight(plan, _batches(objects), _read_batch):
        yield outcome


def _in_flight(
    plan: _Plan,
    units: Sequence[Sequence[_Object]],
    work: Callable[[_Plan, Sequence[_Object]], _Outcome],
) -> Iterator[tuple[Sequence[_Object], _Outcome]]:
    """``work`` on each unit in order, ``concurrency`` units in flight."""
    if plan.concurrency == 1 or len(units) == 1:
        for unit in units:
            yield unit, work(plan, unit)
        return
    with ThreadPoolExecutor(plan.concurrency, thread_name_prefix="dexkit-logpush") as pool:
        pending: list[tuple[Sequence[_Object], Future[_Outcome]]] = []
        queue = iter(units)
        try:
            for unit in queue:
                pending.append((unit, pool.submit(work, plan, unit)))
                if len(pending) >= plan.concurrency:
                    break
            while pending:
                unit, future = pending.pop(0)
                outcome = future.result()
                nxt = next(queue, None)
                if nxt is not None:
                    pending.append((nxt, pool.submit(work, plan, nxt)))
                yield unit, outcome
        finally:
            for _, future in pending:
                future.cancel()


def _warn(unknown: Iterable[tuple[str, str]], nulled: Counter[str], stacklevel: int = 3) -> None:
    names = dict(unknown)
    if names:
        warnings.warn(
            f"{len(names)} Logpush field(s) not in the API's record were kept as extra "
            f"columns: {renamed(names.items())}",
            UnknownFieldsWarning,
            stacklevel=stacklevel,
        )
    warn_nulled(
        nulled,
        "damaged object(s), broken line(s) or wrong-typed value(s) were skipped or became null",
        stacklevel=stacklevel,
    )


def _concat(frames: list[pl.DataFrame], sample_rate: float | None) -> pl.DataFrame:
    base = dict(SCHEMA)
    if sample_rate is not None:
        base["sample_rate"] = pl.Float64()
    if not frames:
        return pl.DataFrame(schema=base)
    return pl.concat(frames, how="diagonal_relaxed")


_COMMON_DOC = """
    source
        A local file, a directory (read recursively: ``.gz``, ``.log``, ``.json``, ``.ndjson``,
        ``.csv``), a glob, or an object store URL such as ``s3://bucket/prefix/``.
    start, end
        Keep records with ``start <= timestamp < end`` (datetimes, dates or ISO 8601 strings;
        naive means UTC). Objects in ``{DATE}`` folders (``YYYYMMDD``) outside the window are
        not read at all.
    storage_options
        For URLs: obstore's S3 settings, e.g. ``{"endpoint":
        "https://<account_id>.r2.cloudflarestorage.com", "region": "auto"}``, and
        ``access_key_id`` / ``secret_access_key`` (default: the ``AWS_*`` environment
        variables); ``allow_http`` and ``timeout`` go to the HTTP client.
    sample_rate
        The job's ``sample_rate`` if it samples (e.g. ``0.1``): adds a ``sample_rate`` column
        so that summaries and reports say the counts are of a sample.
    field_names
        For CSV jobs without a header: the job's ``field_names``, in order.
    on_error
        ``"raise"`` (default): a damaged object (truncated gzip, a broken line, a wrong-typed
        value) raises :class:`~dexkit.PageError` / :class:`~dexkit.RecordError` naming the
        object key and line. ``"null"``: complete lines are kept, broken ones skipped and wrong
        values nulled, and a :class:`~dexkit.CoercionWarning` counts them.
    max_objects, max_object_bytes, max_lines
        Bounds: objects read, decoded bytes of one object, lines of one object.
    concurrency
        Objects fetched and parsed at once.
"""


def read_logpush(
    source: str | os.PathLike[str],
    *,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    storage_options: Mapping[str, Any] | None = None,
    sample_rate: float | None = None,
    field_names: Sequence[str] | None = None,
    on_error: OnError = "raise",
    max_objects: int = MAX_OBJECTS,
    max_object_bytes: int = MAX_OBJECT_BYTES,
    max_lines: int = MAX_LINES,
    concurrency: int = 4,
) -> pl.DataFrame:
    """Read a Logpush archive of ``dex_device_state_events`` into a frame like read_pages'.

    Parameters
    ----------
    {common}
    Returns
    -------
    polars.DataFrame
        :data:`dexkit.SCHEMA` (same names, dtypes, nesting and units as
        :func:`dexkit.read_pages`), then the extra columns (``account_id``,
        ``device_registration_profile_id``, ``app_firewall_enabled``, ``experimental_extra``,
        unknown fields), then ``sample_rate`` for a sampled job. Rows in object order.

    Raises
    ------
    ConfigError
        No objects, or none in the window; bad arguments.
    CredentialsError
        No credentials, or the object store refused them (the message holds no secret).
    BudgetError
        More objects than ``max_objects``.
    PageError, RecordError
        A damaged object (with ``on_error="raise"``), or one past a bound.

    Examples
    --------
    >>> import gzip, tempfile, pathlib, warnings
    >>> import dexkit
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "20261118"
    >>> folder.mkdir()
    >>> line = (b'{{"DeviceID":"d1","Timestamp":1794996000000000000,"WarpColoCode":"FRA",'
    ...         b'"ClientPlatform":"windows","Status":"connected","Mode":"warp",'
    ...         b'"ClientVersion":"2025.9.1","CPUPercentage":0.125,"HandshakeLatencyMs":-1,'
    ...         b'"DeviceIPv4Address":"192.168.1.20","TunnelStatsUpstream":{{"rttUs":21000}}}}')
    >>> _ = (folder / "20261118T100000Z_20261118T100030Z_ab12cd34.log.gz").write_bytes(
    ...     gzip.compress(line + b"\\n"))
    >>> frame = dexkit.read_logpush(folder.parent)
    >>> frame.shape
    (1, 43)
    >>> frame.row(0, named=True)["cpu_pct"], frame["device_ipv4"][0]["address"]
    (12.5, '192.168.1.20')
    >>> str(frame["timestamp"][0])
    '2026-11-18 10:00:00+00:00'
    """
    plan = _plan(
        source,
        start=start,
        end=end,
        storage_options=storage_options,
        on_error=on_error,
        sample_rate=sample_rate,
        field_names=field_names,
        max_objects=max_objects,
        max_object_bytes=max_object_bytes,
        max_lines=max_lines,
        concurrency=concurrency,
        func="read_logpush",
    )
    frames: list[pl.DataFrame] = []
    unknown: list[tuple[str, str]] = []
    nulled: Counter[str] = Counter()
    for outcome in _batched(plan, plan.objects):
        if outcome.frame.height:
            frames.append(outcome.frame)
        unknown.extend(outcome.unknown)
        nulled.update(outcome.nulled)
    frame = _concat(frames, plan.opts.sample_rate)
    _warn(unknown, nulled)
    return frame


read_logpush.__doc__ = (read_logpush.__doc__ or "").replace("{common}", _COMMON_DOC.strip())
read_logpush.__doc__ = read_logpush.__doc__.replace("{{", "{").replace("}}", "}")


def scan_logpush(
    source: str | os.PathLike[str],
    *,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    storage_options: Mapping[str, Any] | None = None,
    sample_rate: float | None = None,
    field_names: Sequence[str] | None = None,
    on_error: OnError = "raise",
    max_objects: int = MAX_OBJECTS,
    max_object_bytes: int = MAX_OBJECT_BYTES,
    max_lines: int = MAX_LINES,
    concurrency: int = 4,
) -> pl.LazyFrame:
    """Scan a Logpush archive as a ``LazyFrame`` (one batch of objects in memory per worker).

    Lists the archive and reads its first object now (for the schema and the warning about
    extra fields); the rest is read when the frame is collected, in batches of consecutive
    objects (up to 4 MiB compressed or 8 objects, ``concurrency`` batches at once), so that
    ``engine="streaming"`` aggregates archives larger than memory. Only the columns a query
    uses are kept from each object, and filters are applied to each object as it arrives.

    Parameters
    ----------
    {common}
    Returns
    -------
    polars.LazyFrame
        With the schema of :func:`read_logpush`. Extra fields that appear only after the first
        object are not in the schema: they are left out, and an
        :class:`~dexkit.UnknownFieldsWarning` names them when the frame is collected
        (read_logpush keeps them).

    Examples
    --------
    >>> import gzip, tempfile, pathlib
    >>> import dexkit, polars as pl
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "batch.log.gz").write_bytes(gzip.compress(
    ...     b'{{"DeviceID":"d1","Timestamp":"2026-11-18T10:00:00Z","WarpColoCode":"none",'
    ...     b'"ClientPlatform":"mac","Status":"disconnected","Mode":"warp",'
    ...     b'"ClientVersion":"2025.9.1","RAMUsedPercentage":0.5}}\\n'))
    >>> dexkit.scan_logpush(folder).select("colo", "ram_used_pct").collect()
    shape: (1, 2)
    ┌──────┬──────────────┐
    │ colo ┆ ram_used_pct │
    │ ---  ┆ ---          │
    │ str  ┆ f64          │
    ╞══════╪══════════════╡
    │ null ┆ 50.0         │
    └──────┴──────────────┘
    """
    from polars.io.plugins import register_io_source

    plan = _plan(
        source,
        start=start,
        end=end,
        storage_options=storage_options,
        on_error=on_error,
        sample_rate=sample_rate,
        field_names=field_names,
        max_objects=max_objects,
        max_object_bytes=max_object_bytes,
        max_lines=max_lines,
        concurrency=concurrency,
        func="scan_logpush",
    )
    head = _read_one(plan, plan.objects[0])
    schema = dict(SCHEMA)
    schema.update({name: _EXTRA_TYPES[name] for name in _EXTRAS.values()})
    for name, dtype in head.frame.schema.items():
        schema.setdefault(name, dtype)
    _warn(head.unknown, head.nulled)
    rest = plan.objects[1:]

    def generate(
        with_columns: list[str] | None,
        predicate: pl.Expr | None,
        n_rows: int | None,
        batch_size: int | None,
    ) -> Iterator[pl.DataFrame]:
        names = list(schema) if with_columns is None else with_columns
        remaining = n_rows
        nulled: Counter[str] = Counter()
        late: dict[str, str] = {}

        def shaped(frame: pl.DataFrame) -> pl.DataFrame:
            columns = [
                pl.col(n) if n in frame.columns else pl.lit(None, schema[n]).alias(n) for n in names
            ]
            out = frame.select(columns)
            return out.filter(predicate) if predicate is not None else out

        def objects() -> Iterator[_Outcome]:
            yield head
            yield from _batched(plan, rest)

        for outcome in objects():
            nulled.update(outcome.nulled)
            late.update((api, col) for api, col in outcome.unknown if col not in schema)
            frame = shaped(outcome.frame)
            if remaining is not None:
                frame = frame.head(remaining)
                remaining -= frame.height
            if frame.height:
                yield frame
            if remaining is not None and remaining <= 0:
                break
        nulled.subtract(head.nulled)
        nulled = +nulled
        if nulled:
            _warn([], nulled, stacklevel=2)
        if late:
            listed = ", ".join(printable(api) for api in late)
            warnings.warn(
                f"{len(late)} Logpush field(s) first seen after the first object are not in "
                f"scan_logpush's schema (learnt from the first object) and were left out: "
                f"{listed}; read_logpush or sync_logpush keep them",
                UnknownFieldsWarning,
                stacklevel=2,
            )

    return register_io_source(generate, schema=schema)


scan_logpush.__doc__ = (scan_logpush.__doc__ or "").replace("{common}", _COMMON_DOC.strip())
scan_logpush.__doc__ = scan_logpush.__doc__.replace("{{", "{").replace("}}", "}")


# --------------------------------------------------------------------------------------------
# Archive → dataset, incrementally


@dataclass(frozen=True)
class LogpushSync:
    """What :func:`sync_logpush` did.

    Attributes
    ----------
    root
        The dataset's directory.
    listed
        Objects in the archive (in the window).
    skipped
        Objects already converted by an earlier run (same key, ETag and size).
    converted
        Objects converted by this run.
    records
        Records written by this run.
    files
        Parquet files written by this run (relative to ``root``).
    sample_rate
        The job's sample rate recorded in the dataset's provenance (None: not sampled).
    """

    root: Path
    listed: int
    skipped: int
    converted: int
    records: int
    files: tuple[str, ...]
    sample_rate: float | None

    def __str__(self) -> str:
        sampled = f", sampled at {self.sample_rate:g}" if self.sample_rate else ""
        return (
            f"{self.converted} object(s) converted ({self.records:,} records), {self.skipped} "
            f"already done, {self.listed} listed → {self.root}{sampled}"
        )


_LEDGER = "ledger.jsonl"
_PROVENANCE = "provenance.json"
_SOURCE = "logpush"


def _load_ledger(path: Path) -> dict[str, dict[str, Any]]:
    done: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return done
    for number, line in enumerate(path.read_bytes().split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line cut short by a killed run: that object is converted again
        if not isinstance(entry, dict) or "key" not in entry:
            raise ConfigError(f"{path}: line {number} is not a ledger entry; remove the file")
        done[str(entry["key"])] = entry
    return done


def _safe_options(storage_options: Mapping[str, Any] | None) -> dict[str, str]:
    return {
        str(k): str(v)
        for k, v in (storage_options or {}).items()
        if not _SECRET_OPTIONS.search(str(k)) and not re.search(r"access_key", str(k), re.I)
    }


def sync_logpush(
    source: str | os.PathLike[str],
    into: str | os.PathLike[str],
    *,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    storage_options: Mapping[str, Any] | None = None,
    sample_rate: float | None = None,
    field_names: Sequence[str] | None = None,
    on_error: OnError = "raise",
    max_objects: int = MAX_OBJECTS,
    max_object_bytes: int = MAX_OBJECT_BYTES,
    max_lines: int = MAX_LINES,
    concurrency: int = 4,
    progress: Callable[[str], None] | None = None,
) -> LogpushSync:
    """Convert the new objects of a Logpush archive into a Parquet dataset (``scan_dataset``).

    Each object becomes one Parquet file per UTC day it spans,
    ``date=YYYY-MM-DD/source=logpush/part-<hash of the key>.parquet``, written to a temporary
    file and renamed. After its files are in place, the object's key, ETag and size are
    appended to ``<into>/_logpush/ledger.jsonl``; a later run skips objects listed there with
    the same ETag and size, so a month of archive is converted once and a daily run converts
    the new day. A run killed at any point resumes without duplicates (an object converted but
    not yet in the ledger is written again under the same file names) nor gaps (an object is in
    the ledger only once its files are). ``<into>/_logpush/provenance.json`` records the source
    (without credentials) and the sample rate. The sync works on whole objects: ``start`` and
    ``end`` choose the ``{DATE}`` folders to convert, and every record of those objects is
    written (filter by time when reading the dataset).

    Parameters
    ----------
    {common}
    into
        The dataset directory (created if needed); ``scan_dataset(into, source="logpush")``
        reads it.
    progress
        Called with one line per converted object (the CLI prints them).

    Returns
    -------
    LogpushSync

    Examples
    --------
    >>> import gzip, tempfile, pathlib
    >>> import dexkit
    >>> archive = pathlib.Path(tempfile.mkdtemp()) / "20261118"
    >>> archive.mkdir()
    >>> _ = (archive / "a.log.gz").write_bytes(gzip.compress(
    ...     b'{{"DeviceID":"d1","Timestamp":1794996000,"WarpColoCode":"FRA",'
    ...     b'"ClientPlatform":"mac","Status":"connected","Mode":"warp",'
    ...     b'"ClientVersion":"2025.9.1"}}\\n'))
    >>> into = pathlib.Path(tempfile.mkdtemp())
    >>> print(dexkit.sync_logpush(archive.parent, into).converted)
    1
    >>> print(dexkit.sync_logpush(archive.parent, into))  # doctest: +ELLIPSIS
    0 object(s) converted (0 records), 1 already done, 1 listed → ...
    >>> dexkit.scan_dataset(into).select("device_id", "date", "source").collect().row(0)
    ('d1', datetime.date(2026, 11, 18), 'logpush')
    """
    root = Path(into)
    state = root / _LEDGER_DIR
    provenance_path = state / _PROVENANCE
    recorded: float | None = None
    if provenance_path.is_file():
        try:
            previous = json.loads(provenance_path.read_text("utf-8"))
        except ValueError:
            previous = {}
        value = previous.get("sample_rate") if isinstance(previous, dict) else None
        recorded = float(value) if isinstance(value, int | float) else None
    if sample_rate is None:
        sample_rate = recorded
    elif recorded is not None and float(sample_rate) != recorded:
        raise ConfigError(
            f"sync_logpush(): the dataset at {str(root)!r} holds records sampled at "
            f"{recorded:g}, not {sample_rate:g}; sync a job with another sample rate into "
            "another dataset"
        )
    plan = _plan(
        source,
        start=start,
        end=end,
        storage_options=storage_options,
        on_error=on_error,
        sample_rate=sample_rate,
        field_names=field_names,
        max_objects=max_objects,
        max_object_bytes=max_object_bytes,
        max_lines=max_lines,
        concurrency=concurrency,
        func="sync_logpush",
    )
    # whole objects only: a record filter would mark objects done with records left out
    plan.opts.start = plan.opts.end = None
    state.mkdir(parents=True, exist_ok=True)
    ledger_path = state / _LEDGER
    done = _load_ledger(ledger_path)
    todo = [
        o
        for o in plan.objects
        if not (
            o.path in done
            and done[o.path].get("etag") == o.etag
            and done[o.path].get("size") == o.size
        )
    ]
    provenance = {
        "source": plan.source.display,
        "storage_options": _safe_options(storage_options),
        "sample_rate": plan.opts.sample_rate,
        "updated": datetime.now(UTC).replace(microsecond=0).isoformat(),
    }
    atomic_write(provenance_path, json.dumps(provenance, indent=2).encode())
    written: list[str] = []
    records = 0
    unknown: list[tuple[str, str]] = []
    nulled: Counter[str] = Counter()

    def convert(plan: _Plan, batch: Sequence[_Object]) -> _Outcome:
        """Read, convert and write one object (in a worker: objects are written side by side;
        the ledger is appended in order by the caller, once an object's files are in place)."""
        outcome = _read_one(plan, batch[0])
        part = hashlib.sha256(batch[0].path.encode()).hexdigest()[:20]
        outcome.files = _write_object(root, outcome.frame, part)
        return outcome

    with ledger_path.open("ab") as ledger:
        for (obj,), outcome in _in_flight(plan, [[o] for o in todo], convert):
            unknown.extend(outcome.unknown)
            nulled.update(outcome.nulled)
            files = outcome.files
            for old in done.get(obj.path, {}).get("files", []):
                if old not in files:
                    (root / old).unlink(missing_ok=True)
            entry = {
                "key": obj.path,
                "etag": obj.etag,
                "size": obj.size,
                "records": outcome.frame.height,
                "files": files,
            }
            ledger.write(json.dumps(entry).encode() + b"\n")
            ledger.flush()
            os.fsync(ledger.fileno())
            written.extend(files)
            records += outcome.frame.height
            if progress is not None:
                progress(f"{obj.key}: {outcome.frame.height:,} records")
    _warn(unknown, nulled)
    if written:  # the schema cache and the summaries of the partitions written, for queries
        with contextlib.suppress(ConfigError):
            prepare(scan_dataset(root), {Path(name).parent.as_posix() for name in written})
    return LogpushSync(
        root=root,
        listed=len(plan.objects),
        skipped=len(plan.objects) - len(todo),
        converted=len(todo),
        records=records,
        files=tuple(written),
        sample_rate=plan.opts.sample_rate,
    )


sync_logpush.__doc__ = (sync_logpush.__doc__ or "").replace("{common}", _COMMON_DOC.strip())
sync_logpush.__doc__ = sync_logpush.__doc__.replace("{{", "{").replace("}}", "}")


def _write_object(root: Path, frame: pl.DataFrame, part: str) -> list[str]:
    if frame.height == 0:
        return []
    frame = frame.filter(pl.col("timestamp").is_not_null())
    days = frame.get_column("timestamp").dt.date()
    files = []
    for (day,), piece in (
        frame.with_columns(days.alias("__day"))
        .partition_by("__day", as_dict=True, include_key=False, maintain_order=True)
        .items()
    ):
        assert isinstance(day, date)
        relative = f"date={day.isoformat()}/source={_SOURCE}/part-{part}.parquet"
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.tmp")
        try:
            piece.write_parquet(temporary, compression="zstd", statistics=True)
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        files.append(relative)
    return files
