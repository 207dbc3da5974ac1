"""The device record of ``GET /accounts/{account_id}/dex/fleet-status/devices``, in one place.

:data:`RECORD` describes the record with the API's own field names; everything else is derived
from it: :data:`SCHEMA` (the Polars schema of a loaded frame, snake_case names), the Arrow schema
the page reader parses with, and :data:`COLUMNS` (API name → column name).

>>> import dexkit
>>> dexkit.SCHEMA["cpu_pct"]
Float64
>>> dexkit.SCHEMA["rtt"]  # doctest: +ELLIPSIS
Struct({'min_rtt_us': Struct({'downstream': Int64, 'upstream': Int64}), 'rtt_us': ...})
>>> dexkit.schema.snake_case("tunnelStats")
'tunnel_stats'
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, TypeAlias

import polars as pl

__all__ = [
    "COLUMNS",
    "RECORD",
    "REQUIRED",
    "SCHEMA",
    "empty_frame",
    "leaves",
    "snake_case",
]

# A field spec is a Polars dtype (a leaf), a dict (an object) or a one-element list holding the
# spec of the items (an array).
Spec: TypeAlias = Any

_DIRECTIONAL: dict[str, Spec] = {"downstream": pl.Int64, "upstream": pl.Int64}

_IP_INFO: dict[str, Spec] = {
    "address": pl.String,
    "asn": pl.Int64,
    "aso": pl.String,
    "location": {
        "city": pl.String,
        "country_iso": pl.String,
        "state_iso": pl.String,
        "zip": pl.String,
    },
    "name": pl.String,
    "netmask": pl.String,
    "version": pl.Int64,  # 1 IPv4, 2 IPv6, 0 unknown (older SDKs: a string)
}

#: The device record with the API's names, in column order: identity first, then device health,
#: network, per-app usage, IP objects and tunnel statistics.
RECORD: dict[str, Spec] = {
    "deviceId": pl.String,
    "timestamp": pl.Datetime("us", "UTC"),
    "colo": pl.String,
    "platform": pl.String,
    "status": pl.String,
    "mode": pl.String,
    "version": pl.String,
    "deviceName": pl.String,
    "personEmail": pl.String,
    "registrationId": pl.String,
    "deviceRegistration": pl.String,
    "alwaysOn": pl.Boolean,
    "switchLocked": pl.Boolean,
    "firewallEnabled": pl.Boolean,
    "cpuPct": pl.Float64,
    "ramUsedPct": pl.Float64,
    "ramAvailableKb": pl.Int64,
    "diskUsagePct": pl.Float64,
    "diskReadBps": pl.Int64,
    "diskWriteBps": pl.Int64,
    "batteryPct": pl.Float64,
    "batteryCharging": pl.Boolean,
    "batteryCycles": pl.Int64,
    "connectionType": pl.String,
    "networkSsid": pl.String,
    "wifiStrengthDbm": pl.Int64,
    "networkRcvdBps": pl.Int64,
    "networkSentBps": pl.Int64,
    "handshakeLatencyMs": pl.Float64,
    "estimatedLossPct": pl.Float64,
    "tunnelType": pl.String,
    "dohSubdomain": pl.String,
    "metal": pl.String,
    "cpuPctByApp": [{"cpu_pct": pl.Float64, "name": pl.String}],
    "ramUsedPctByApp": [{"name": pl.String, "ram_used_pct": pl.Float64}],
    "deviceIpv4": _IP_INFO,
    "deviceIpv6": _IP_INFO,
    "gatewayIpv4": _IP_INFO,
    "gatewayIpv6": _IP_INFO,
    "ispIpv4": _IP_INFO,
    "ispIpv6": _IP_INFO,
    "rtt": {"minRttUs": _DIRECTIONAL, "rttUs": _DIRECTIONAL, "rttVarUs": _DIRECTIONAL},
    "tunnelStats": {
        "bytesLost": _DIRECTIONAL,
        "bytesReceived": _DIRECTIONAL,
        "bytesRetransmitted": _DIRECTIONAL,
        "bytesSent": _DIRECTIONAL,
        "packetsLost": _DIRECTIONAL,
        "packetsReceived": _DIRECTIONAL,
        "packetsRetransmitted": _DIRECTIONAL,
        "packetsSent": _DIRECTIONAL,
        "statsWindowMs": pl.Int64,
    },
}

#: Fields every record must carry (the spec's ``required``).
REQUIRED: tuple[str, ...] = (
    "colo",
    "deviceId",
    "mode",
    "platform",
    "status",
    "timestamp",
    "version",
)

_CAMEL_1 = re.compile(r"([A-Z]+)([A-Z][a-z])")
_CAMEL_2 = re.compile(r"([a-z0-9])([A-Z])")


def snake_case(name: str) -> str:
    """Return the snake_case column name of an API field name.

    >>> snake_case("cpuPctByApp"), snake_case("deviceIpv4"), snake_case("country_iso")
    ('cpu_pct_by_app', 'device_ipv4', 'country_iso')
    """
    return _CAMEL_2.sub(r"\1_\2", _CAMEL_1.sub(r"\1_\2", name)).lower()


def _polars(spec: Spec) -> pl.DataType:
    if isinstance(spec, dict):
        return pl.Struct({snake_case(k): _polars(v) for k, v in spec.items()})
    if isinstance(spec, list):
        return pl.List(_polars(spec[0]))
    dtype: pl.DataType = spec() if isinstance(spec, type) else spec
    return dtype


#: The Polars schema of a frame returned by :func:`dexkit.read_pages`.
SCHEMA: pl.Schema = pl.Schema({snake_case(k): _polars(v) for k, v in RECORD.items()})

#: API field name → column name, for the 43 top-level fields.
COLUMNS: dict[str, str] = {k: snake_case(k) for k in RECORD}


def leaves(record: Mapping[str, Spec] = RECORD, prefix: str = "") -> Iterator[tuple[str, Spec]]:
    """Yield ``(dotted API path, leaf spec)`` for every leaf of a record spec.

    Items of arrays appear as ``name[].field``.

    Examples
    --------
    >>> [path for path, _ in leaves() if path.startswith("rtt.rttUs")]
    ['rtt.rttUs.downstream', 'rtt.rttUs.upstream']
    """
    for key, spec in record.items():
        path = f"{prefix}{key}"
        if isinstance(spec, dict):
            yield from leaves(spec, path + ".")
        elif isinstance(spec, list):
            yield from leaves(spec[0], path + "[].")
        else:
            yield path, spec


def empty_frame() -> pl.DataFrame:
    """Return an empty frame with the full schema.

    >>> empty_frame().shape
    (0, 43)
    """
    return pl.DataFrame(schema=SCHEMA)
