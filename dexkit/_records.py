"""Device records checked against a field spec: Arrow types, value checks, leniency.

The one home of what a record's values may be, shared by the API pages' reader (``frames``) and
the Logpush reader (``logpush``): :func:`arrow_type` derives the Arrow type of a spec,
:class:`Normalizer` checks records value by value (strictly, raising a
:class:`~dexkit.RecordError` naming the field; or leniently, nulling and counting).
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterable
from typing import Any

import orjson
import polars as pl
import pyarrow as pa

from dexkit.errors import CoercionWarning, RecordError, printable
from dexkit.schema import RECORD, REQUIRED, Spec

__all__ = [
    "INT64",
    "IP_VERSIONS",
    "Bad",
    "Normalizer",
    "arrow_type",
    "leaf",
    "renamed",
    "warn_nulled",
]


def arrow_type(spec: Spec) -> pa.DataType:
    if isinstance(spec, dict):
        return pa.struct([(k, arrow_type(v)) for k, v in spec.items()])
    if isinstance(spec, list):
        return pa.list_(arrow_type(spec[0]))
    dtype = spec() if isinstance(spec, type) else spec
    if isinstance(dtype, pl.Datetime):
        return pa.string()  # parsed by Polars afterwards: the API's format is not RFC 3339
    return {
        pl.String: pa.string(),
        pl.Int64: pa.int64(),
        pl.Float64: pa.float64(),
        pl.Boolean: pa.bool_(),
    }[type(dtype)]


class Bad(Exception):
    def __init__(self, reason: str, field: str, value: Any) -> None:
        self.reason, self.field, self.value = reason, field, value


IP_VERSIONS = {"0": 0, "1": 1, "2": 2, "4": 1, "6": 2, "ipv4": 1, "v4": 1, "ipv6": 2, "v6": 2}
INT64 = (-(2**63), 2**63 - 1)


class Normalizer:
    """Checks records against :data:`RECORD`; in lenient mode wrong values become ``None``."""

    def __init__(self, lenient: bool, unknown_as_json: bool = False) -> None:
        self.lenient = lenient
        self.unknown_as_json = unknown_as_json
        self.nulled: Counter[str] = Counter()
        self._failed: set[str] = set()  # fields of the current record already counted

    def _fail(self, bad: Bad, page: int | str, record: int | None) -> None:
        if not self.lenient:
            raise RecordError(
                bad.reason, page=page, record=record, field=bad.field, value=bad.value
            )
        self.nulled[bad.field] += 1
        self._failed.add(bad.field)

    def record(self, page: int | str, index: int, record: Any) -> dict[str, Any]:
        if not isinstance(record, dict):
            self._fail(
                Bad("expected a device record (a JSON object)", "<record>", record), page, index
            )
            return {}
        self._failed.clear()
        out = self._object(record, RECORD, "", page, index)
        for name in REQUIRED:
            if out.get(name) is None and name not in self._failed:
                self._fail(Bad("required field is missing or null", name, None), page, index)
        return out

    def _object(
        self, obj: dict[str, Any], spec: dict[str, Spec], path: str, page: int | str, index: int
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in obj.items():
            sub = spec.get(key)
            if sub is None and key not in spec:
                out[key] = orjson.dumps(value).decode() if self.unknown_as_json else value
                continue
            try:
                out[key] = self._value(value, sub, f"{path}{key}", page, index)
            except Bad as bad:
                self._fail(bad, page, index)
                out[key] = None
        return out

    def _value(self, value: Any, spec: Spec, path: str, page: int | str, index: int) -> Any:
        if value is None:
            return None
        if isinstance(spec, dict):
            if not isinstance(value, dict):
                raise Bad("expected an object", path, value)
            return self._object(value, spec, path + ".", page, index)
        if isinstance(spec, list):
            if not isinstance(value, list):
                raise Bad("expected a list", path, value)
            items: list[Any] = []
            for item in value:  # older SDKs: a list of lists of items
                items.extend(item if isinstance(item, list) else [item])
            out = []
            for item in items:
                try:
                    out.append(self._value(item, spec[0], path + "[]", page, index))
                except Bad as bad:
                    self._fail(bad, page, index)
                    out.append(None)
            return out
        return leaf(value, spec, path)


def leaf(value: Any, spec: Spec, path: str) -> Any:
    dtype = spec() if isinstance(spec, type) else spec
    if isinstance(dtype, pl.Datetime):
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(int(value))  # epoch milliseconds
        raise Bad("expected a timestamp string or epoch milliseconds", path, value)
    if isinstance(dtype, pl.String):
        if isinstance(value, str):
            return value
        raise Bad("expected a string", path, value)
    if isinstance(dtype, pl.Boolean):
        if isinstance(value, bool):
            return value
        raise Bad("expected true or false", path, value)
    if isinstance(value, bool):
        raise Bad("expected a number", path, value)
    if isinstance(dtype, pl.Float64):
        if isinstance(value, int | float):
            return float(value)
        raise Bad("expected a number", path, value)
    # Int64
    if path.endswith(".version") and isinstance(value, str):
        if value.strip().lower() in IP_VERSIONS:
            return IP_VERSIONS[value.strip().lower()]
        raise Bad("expected an IP version (1 IPv4, 2 IPv6, 0 unknown)", path, value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and INT64[0] <= value <= INT64[1]:
        return value
    raise Bad("expected an integer", path, value)


def renamed(pairs: Iterable[tuple[str, str]]) -> str:
    """``field (→ column), …`` for a warning, escaped: field names are text from outside."""
    return ", ".join(f"{printable(field)} (→ {printable(column)})" for field, column in pairs)


def warn_nulled(nulled: Counter[str], what: str, stacklevel: int) -> None:
    """The one :class:`~dexkit.CoercionWarning` of a lenient read: how many ``what`` (e.g.
    "wrong-typed or missing value(s) became null"), then each field with its count, escaped.
    ``stacklevel`` counts from the caller of this function."""
    if not nulled:
        return
    detail = ", ".join(f"{printable(name)} ({n})" for name, n in nulled.most_common())
    warnings.warn(
        f"on_error='null': {sum(nulled.values())} {what}: {detail}",
        CoercionWarning,
        stacklevel=stacklevel + 1,
    )
