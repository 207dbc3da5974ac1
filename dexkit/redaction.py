"""Keyed pseudonyms for the fields of device records that say who someone is or where.

:func:`redact` replaces each identifying value with a pseudonym derived from it by HMAC-SHA256
under a key: ``device-3f9a1c04e2`` for a device name, ``user-…`` for an email, ``ssid-…`` for a
Wi-Fi network, ``reg-…`` for a registration, ``ip-…`` for an IP address and ``zip-…`` for a
postal code. The same value gives
the same pseudonym under the same key, so a reader can follow one device (or see that ten
devices share one network) without learning whose it is; without the key, a pseudonym cannot be
turned back into the value, nor checked against a guess.

=====================  ====================================================================
column                 what is replaced
=====================  ====================================================================
``person_email``       the whole value → ``user-…``
``device_name``        the whole value → ``device-…``
``network_ssid``       the whole value → ``ssid-…``
``registration_id``    the whole value → ``reg-…`` (it identifies a user's registration on a
                       multi-user device); the deprecated ``device_registration`` too, with
                       the same pseudonym for the same value
``device_ipv4`` …      in each IP struct (``device``, ``gateway``, ``isp`` × ``ipv4``,
                       ``ipv6``): ``address`` → ``ip-…`` and ``location.zip`` → ``zip-…``;
                       also the flat columns ``{name}_address`` and ``{name}_location_zip``
                       of :func:`dexkit.flatten` (with any separator: ``.``, ``/``…)
=====================  ====================================================================

Everything else is kept: ``device_id`` (an opaque UUID that lets a reader follow a device),
colos, platforms, versions, metrics, app names, ISP names and the city and country of an
address. Nulls stay null.

The key is random for every call unless given: pass the same ``key`` to keep pseudonyms
stable across frames and reports (and keep the key as secret as the data). Polars does the
work: each batch's distinct values are hashed once and replaced with ``replace_strict``; a
``LazyFrame`` stays lazy.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from typing import TypeVar

import polars as pl

from dexkit.errors import ConfigError

__all__ = ["IP_COLUMNS", "REDACTED", "pseudonym", "redact"]

FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)

#: The IP struct columns of a device record.
IP_COLUMNS: tuple[str, ...] = (
    "device_ipv4",
    "device_ipv6",
    "gateway_ipv4",
    "gateway_ipv6",
    "isp_ipv4",
    "isp_ipv6",
)
#: The columns :func:`redact` rewrites by default.
REDACTED: tuple[str, ...] = (
    "person_email",
    "device_name",
    "network_ssid",
    "registration_id",
    "device_registration",
    *IP_COLUMNS,
)

# The pseudonym's prefix per column (IP structs: per field).
_PREFIX = {
    "person_email": "user",
    "device_name": "device",
    "network_ssid": "ssid",
    "registration_id": "reg",
    "device_registration": "reg",
}
_DIGITS = 10  # 40 bits: a collision among 100,000 values is a ~0.5 % event


def _key(key: bytes | str | None) -> bytes:
    if key is None:
        return secrets.token_bytes(32)
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, bytes):
        raise ConfigError(f"redact(): key must be bytes, str or None, got {type(key).__name__}")
    if not key:
        raise ConfigError("redact(): key must not be empty")
    return key


def pseudonym(value: str, kind: str, key: bytes | str) -> str:
    """Return the pseudonym of one value: ``f"{kind}-"`` and 10 hex digits of an HMAC-SHA256.

    The message is ``kind``, a NUL byte and the value, so the same text in two kinds of field
    (a device named like a Wi-Fi network) gives unrelated pseudonyms.

    Parameters
    ----------
    value
        The text to hide.
    kind
        ``"device"``, ``"user"``, ``"ssid"``, ``"ip"`` or ``"zip"`` (any short word works).
    key
        The secret key.

    Returns
    -------
    str

    Examples
    --------
    >>> from dexkit.redaction import pseudonym
    >>> pseudonym("alice-laptop", "device", key="k")
    'device-8d3c001b43'
    >>> pseudonym("alice-laptop", "device", key="k") == pseudonym("alice-laptop", "device", "k2")
    False
    """
    digest = hmac.new(_key(key), f"{kind}\0{value}".encode(), hashlib.sha256).hexdigest()
    return f"{kind}-{digest[:_DIGITS]}"


def _hashed(expr: pl.Expr, kind: str, key: bytes) -> pl.Expr:
    def apply(series: pl.Series) -> pl.Series:
        values = series.drop_nulls().unique()
        mapping = {value: pseudonym(value, kind, key) for value in values.to_list()}
        return series.replace_strict(mapping, default=None, return_dtype=pl.String)

    return expr.cast(pl.String).map_batches(apply, return_dtype=pl.String, is_elementwise=True)


def _ip_struct(name: str, dtype: pl.Struct, key: bytes) -> pl.Expr:
    fields = {field.name: field.dtype for field in dtype.fields}
    column = pl.col(name)
    updates: list[pl.Expr] = []
    if "address" in fields:
        updates.append(_hashed(column.struct.field("address"), "ip", key).alias("address"))
    location = fields.get("location")
    if isinstance(location, pl.Struct) and "zip" in {f.name for f in location.fields}:
        loc = column.struct.field("location")
        zipped = (
            pl.when(loc.is_null())
            .then(None)
            .otherwise(loc.struct.with_fields(_hashed(loc.struct.field("zip"), "zip", key)))
        )
        updates.append(zipped.alias("location"))
    if not updates:
        return column
    # keep a null struct null (with_fields would turn it into a struct of nulls)
    return pl.when(column.is_null()).then(None).otherwise(column.struct.with_fields(updates))


def _flat_kind(column: str, flat: str) -> str | None:
    """``"ip"`` or ``"zip"`` when ``flat`` is the address or zip leaf of the IP struct
    ``column`` as :func:`dexkit.flatten` names it, whatever the separator (``_``, ``.``, ``/``…)."""
    name = re.escape(column)
    if re.fullmatch(rf"{name}[^0-9A-Za-z]+address", flat):
        return "ip"
    if re.fullmatch(rf"{name}(?P<sep>[^0-9A-Za-z]+)location(?P=sep)zip", flat):
        return "zip"
    return None


def redact(
    frame: FrameT, *, key: bytes | str | None = None, columns: Sequence[str] = REDACTED
) -> FrameT:
    """Replace names, emails, SSIDs, registrations, IP addresses and postal codes with keyed
    pseudonyms.

    Parameters
    ----------
    frame
        Device records (``DataFrame`` or ``LazyFrame``), nested or :func:`~dexkit.flatten`-ed.
    key
        The HMAC key (bytes, or a string taken as UTF-8). ``None`` (the default) draws a random
        key for this call: pseudonyms are consistent within the result but differ from those
        of any other call. Pass a key to keep them stable across frames and reports.
    columns
        Which columns to rewrite (default :data:`REDACTED`); string columns are replaced
        whole, IP structs have their ``address`` and ``location.zip`` replaced. Names the
        frame lacks are skipped.

    Returns
    -------
    DataFrame or LazyFrame
        The same kind of frame, same columns, same dtypes; rewritten columns are ``String``.

    Examples
    --------
    >>> import polars as pl
    >>> from dexkit.redaction import redact
    >>> frame = pl.DataFrame({
    ...     "device_id": ["d1", "d2", "d3"],
    ...     "device_name": ["alice-laptop", "bob-phone", "alice-laptop"],
    ...     "person_email": ["alice@example.com", None, "alice@example.com"],
    ... })
    >>> redact(frame, key="k")
    shape: (3, 3)
    ┌───────────┬───────────────────┬─────────────────┐
    │ device_id ┆ device_name       ┆ person_email    │
    │ ---       ┆ ---               ┆ ---             │
    │ str       ┆ str               ┆ str             │
    ╞═══════════╪═══════════════════╪═════════════════╡
    │ d1        ┆ device-8d3c001b43 ┆ user-a974021dc5 │
    │ d2        ┆ device-cd9957ae52 ┆ null            │
    │ d3        ┆ device-8d3c001b43 ┆ user-a974021dc5 │
    └───────────┴───────────────────┴─────────────────┘
    """
    if not isinstance(frame, pl.DataFrame | pl.LazyFrame):
        raise ConfigError(
            f"redact() takes a polars DataFrame or LazyFrame, got {type(frame).__name__}"
        )
    if isinstance(columns, str):
        columns = [columns]
    secret = _key(key)
    schema = frame.collect_schema()
    exprs: list[pl.Expr] = []
    for name in dict.fromkeys(columns):
        dtype = schema.get(name)
        if isinstance(dtype, pl.Struct):
            exprs.append(_ip_struct(name, dtype, secret).alias(name))
        elif dtype is not None:
            kind = _PREFIX.get(name, "ip" if name.endswith("address") else name.split("_")[-1])
            exprs.append(_hashed(pl.col(name), kind, secret).alias(name))
        if name in IP_COLUMNS:
            for flat in schema:
                leaf = _flat_kind(name, flat)
                if leaf is not None:
                    exprs.append(_hashed(pl.col(flat), leaf, secret).alias(flat))
    if not exprs:
        return frame
    return frame.with_columns(exprs)
