"""A deterministic, realistic synthetic DEX fleet that emits the API's exact pages.

:class:`Fleet` simulates a Cloudflare Zero Trust fleet of WARP clients and answers the fleet-status
device list (``GET /accounts/{account_id}/dex/fleet-status/devices``) the way the API does:
:meth:`Fleet.records` returns the API-shaped records (camelCase keys, the API's timestamp format,
Go's ``omitempty`` and whole-float-as-integer habits) and :meth:`Fleet.pages` the exact response
bodies, envelope included. An :class:`Incident` degrades one colo's network and one client
version's CPU for a while, which is what the analytics and notebooks look for.

Everything is a pure function of the fleet's parameters: a device's static attributes derive from
``(seed, index)`` and its state in a 10-minute bucket from ``(seed, index, bucket)``, through a
stable integer hash (never Python's salted ``hash``), so overlapping windows agree on their overlap
and every run, on every platform, gives the same bytes. Only the standard library is used.

:data:`SAMPLE` holds the parameters of the sample committed in ``data/sample``;
:func:`write_sample` (or ``python -m dexkit.synth --out data/sample``) regenerates it.

Examples
--------
>>> from datetime import UTC, datetime, timedelta
>>> fleet = Fleet(50, seed=1)
>>> start = datetime(2026, 11, 18, 14, tzinfo=UTC)
>>> records = fleet.records("raw", start, start + timedelta(minutes=30))
>>> records[0]["timestamp"]
'2026-11-18 14:00:00+00'
>>> list(records[0])[:7]
['deviceId', 'timestamp', 'colo', 'platform', 'status', 'mode', 'version']
>>> earlier = fleet.records("raw", start - timedelta(hours=1), start + timedelta(minutes=30))
>>> earlier[-len(records) :] == records  # overlapping windows agree
True
"""

from __future__ import annotations

import argparse
import gc
import gzip
import io
import json
import math
import random
import sys
import threading
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import accumulate
from pathlib import Path
from typing import Any, Final, Literal, NamedTuple, TypeVar

from dexkit.errors import ConfigError

__all__ = [
    "DEFAULT_EPOCH",
    "LOGPUSH_FIELDS",
    "LOGPUSH_SAMPLE",
    "LOGPUSH_SUBSET",
    "SAMPLE",
    "SOURCES",
    "Device",
    "Fleet",
    "Incident",
    "LogpushJob",
    "dumps",
    "envelope",
    "logpush_record",
    "main",
    "sample_fleet",
    "write_logpush",
    "write_logpush_sample",
    "write_sample",
]

#: The three ``source`` values of the device list.
SOURCES: Final = ("last_seen", "hourly", "raw")

#: The reference instant of a fleet built without ``epoch``: the end of the sample's windows.
DEFAULT_EPOCH: Final = datetime(2026, 11, 18, 18, tzinfo=UTC)

_BUCKET: Final = 600  # seconds in a raw bucket
_HOUR: Final = 3600
_MASK: Final = (1 << 64) - 1
_TWO64: Final = float(1 << 64)

# Domain-separation salts of the stable hash.
_S_DEVICE: Final = 0x5EED_DE71CE
_S_RECORD: Final = 0x5EED_0EC0D
_S_OFFLINE: Final = 0x5EED_0FF1
_S_STATUS: Final = 0x5EED_57A7
_S_NET: Final = 0x5EED_4E7
_S_ACCOUNT: Final = 0x5EED_ACC7
_S_FLICKER: Final = 0x5EED_F11C


def _mix(*parts: int) -> int:
    """Return a stable 64-bit hash of integers (splitmix64 finaliser, chained)."""
    h = 0x9E3779B97F4A7C15
    for part in parts:
        h ^= part & _MASK
        h = (h * 0xBF58476D1CE4E5B9) & _MASK
        h ^= h >> 31
        h = (h * 0x94D049BB133111EB) & _MASK
        h ^= h >> 29
    return h


def _unit(*parts: int) -> float:
    """Return a stable uniform number in [0, 1) for integers."""
    return _mix(*parts) / _TWO64


class _Hashes(NamedTuple):
    """The stable hashes one record draws from (:meth:`Fleet._hashes`)."""

    record: int  # seeds the record's random stream
    net: int  # the network context, sticky over 2-hour blocks
    status: int  # the status, sticky over 1-hour blocks
    flicker: int  # a connected device's brief flicker (countable fleets; else 0)


class _Table:
    """Weighted choice over a fixed list, by one uniform draw."""

    __slots__ = ("cum", "items", "total")

    def __init__(self, pairs: Sequence[tuple[Any, float]]) -> None:
        self.items = [item for item, _ in pairs]
        self.cum = list(accumulate(weight for _, weight in pairs))
        self.total = self.cum[-1]

    def pick(self, u: float) -> Any:
        return self.items[min(bisect_right(self.cum, u * self.total), len(self.items) - 1)]


# ---------------------------------------------------------------------------------------------
# The world: colos, cities, ISPs, platforms, versions, apps
# ---------------------------------------------------------------------------------------------


class _City(NamedTuple):
    name: str
    state: str | None
    zip: str | None


class _Colo(NamedTuple):
    country: str
    weight: float  # share of the fleet (relative)
    tz_minutes: int  # UTC offset in November
    rtt_ms: float  # typical tunnel RTT of the colo's devices
    loss_pct: float  # typical estimated loss
    neighbour: str  # where anycast sends a device when it roams
    number: int  # numeric data-centre id used in ``metal``
    cities: tuple[_City, ...]


def _cities(*rows: tuple[str, str | None, str | None]) -> tuple[_City, ...]:
    return tuple(_City(*row) for row in rows)


# fmt: off
_COLOS: Final[dict[str, _Colo]] = {
    "FRA": _Colo("DE", 8.0, 60, 9, 0.25, "AMS", 18, _cities(
        ("Frankfurt am Main", "HE", "60311"), ("Berlin", "BE", "10115"), ("München", "BY", "80331"),
        ("Hamburg", "HH", "20095"), ("Köln", "NW", "50667"), ("Stuttgart", "BW", "70173"),
        ("Mainz", "RP", "55116"), ("Darmstadt", "HE", "64283"),
    )),
    "LHR": _Colo("GB", 9.0, 0, 8, 0.2, "DUB", 12, _cities(
        ("London", "ENG", "EC1A 1BB"), ("Manchester", "ENG", "M1 1AE"),
        ("Birmingham", "ENG", "B1 1AA"), ("Reading", "ENG", "RG1 1AA"),
        ("Edinburgh", "SCT", "EH1 1YZ"), ("Bristol", "ENG", "BS1 4DJ"),
    )),
    "AMS": _Colo("NL", 4.0, 60, 7, 0.15, "FRA", 20, _cities(
        ("Amsterdam", "NH", "1012"), ("Rotterdam", "ZH", "3011"), ("Utrecht", "UT", "3511"),
        ("Den Haag", "ZH", "2511"), ("Eindhoven", "NB", "5611"),
    )),
    "CDG": _Colo("FR", 5.0, 60, 9, 0.2, "FRA", 19, _cities(
        ("Paris", "IDF", "75001"), ("Lyon", "ARA", "69001"), ("Lille", "HDF", "59000"),
        ("Nantes", "PDL", "44000"), ("Toulouse", "OCC", "31000"),
    )),
    "IAD": _Colo("US", 7.0, -300, 11, 0.2, "EWR", 1, _cities(
        ("Washington", "DC", "20001"), ("Arlington", "VA", "22201"), ("Reston", "VA", "20190"),
        ("Baltimore", "MD", "21201"), ("Richmond", "VA", "23219"),
    )),
    "EWR": _Colo("US", 6.0, -300, 10, 0.25, "IAD", 3, _cities(
        ("New York", "NY", "10001"), ("Brooklyn", "NY", "11201"), ("Newark", "NJ", "07102"),
        ("Jersey City", "NJ", "07302"), ("Stamford", "CT", "06901"),
    )),
    "ORD": _Colo("US", 5.0, -360, 11, 0.2, "IAD", 4, _cities(
        ("Chicago", "IL", "60601"), ("Evanston", "IL", "60201"), ("Naperville", "IL", "60540"),
        ("Milwaukee", "WI", "53202"),
    )),
    "DFW": _Colo("US", 4.0, -360, 12, 0.2, "ATL", 8, _cities(
        ("Dallas", "TX", "75201"), ("Fort Worth", "TX", "76102"), ("Plano", "TX", "75024"),
        ("Austin", "TX", "78701"),
    )),
    "LAX": _Colo("US", 4.0, -480, 11, 0.25, "SJC", 2, _cities(
        ("Los Angeles", "CA", "90012"), ("Santa Monica", "CA", "90401"), ("Irvine", "CA", "92618"),
        ("San Diego", "CA", "92101"), ("Pasadena", "CA", "91101"),
    )),
    "SJC": _Colo("US", 6.0, -480, 9, 0.15, "LAX", 5, _cities(
        ("San Jose", "CA", "95113"), ("San Francisco", "CA", "94105"), ("Palo Alto", "CA", "94301"),
        ("Oakland", "CA", "94612"), ("Sunnyvale", "CA", "94085"),
    )),
    "SEA": _Colo("US", 3.0, -480, 10, 0.2, "SJC", 6, _cities(
        ("Seattle", "WA", "98101"), ("Bellevue", "WA", "98004"), ("Redmond", "WA", "98052"),
        ("Portland", "OR", "97201"),
    )),
    "ATL": _Colo("US", 3.0, -300, 12, 0.25, "MIA", 7, _cities(
        ("Atlanta", "GA", "30303"), ("Alpharetta", "GA", "30009"), ("Charlotte", "NC", "28202"),
    )),
    "MIA": _Colo("US", 2.0, -300, 13, 0.3, "ATL", 9, _cities(
        ("Miami", "FL", "33131"), ("Fort Lauderdale", "FL", "33301"), ("Orlando", "FL", "32801"),
        ("Tampa", "FL", "33602"),
    )),
    "YYZ": _Colo("CA", 3.0, -300, 11, 0.2, "ORD", 24, _cities(
        ("Toronto", "ON", "M5H 2N2"), ("Mississauga", "ON", "L5B 1M2"), ("Ottawa", "ON", "K1P 1J1"),
        ("Waterloo", "ON", "N2L 3G1"), ("Montréal", "QC", "H2Y 1C6"),
    )),
    "GRU": _Colo("BR", 3.0, -180, 18, 0.5, "MIA", 43, _cities(
        ("São Paulo", "SP", "01310-100"), ("Campinas", "SP", "13010-111"),
        ("Rio de Janeiro", "RJ", "20040-020"), ("Curitiba", "PR", "80010-000"),
    )),
    "NRT": _Colo("JP", 3.0, 540, 8, 0.1, "ICN", 46, _cities(
        ("Tokyo", "13", "100-0005"), ("Yokohama", "14", "220-0012"), ("Saitama", "11", "330-0063"),
        ("Chiba", "12", "260-0013"),
    )),
    "HKG": _Colo("HK", 2.0, 480, 7, 0.2, "SIN", 37, _cities(
        ("Hong Kong", None, None), ("Kowloon", None, None), ("Sha Tin", None, None),
    )),
    "SIN": _Colo("SG", 3.0, 480, 7, 0.15, "HKG", 38, _cities(
        ("Singapore", None, "018956"), ("Singapore", None, "238801"), ("Singapore", None, "529510"),
    )),
    "SYD": _Colo("AU", 2.5, 660, 13, 0.3, "SIN", 39, _cities(
        ("Sydney", "NSW", "2000"), ("Parramatta", "NSW", "2150"), ("Newcastle", "NSW", "2300"),
        ("Canberra", "ACT", "2600"), ("Wollongong", "NSW", "2500"),
    )),
    "BOM": _Colo("IN", 3.0, 330, 20, 0.6, "DEL", 60, _cities(
        ("Mumbai", "MH", "400001"), ("Pune", "MH", "411001"), ("Ahmedabad", "GJ", "380001"),
        ("Bengaluru", "KA", "560001"), ("Hyderabad", "TG", "500001"),
    )),
    "DEL": _Colo("IN", 2.0, 330, 21, 0.6, "BOM", 61, _cities(
        ("New Delhi", "DL", "110001"), ("Gurugram", "HR", "122001"), ("Noida", "UP", "201301"),
        ("Jaipur", "RJ", "302001"),
    )),
    "MAD": _Colo("ES", 2.0, 60, 10, 0.25, "CDG", 26, _cities(
        ("Madrid", "MD", "28013"), ("Barcelona", "CT", "08001"), ("Valencia", "VC", "46002"),
        ("Sevilla", "AN", "41001"),
    )),
    "MXP": _Colo("IT", 2.0, 60, 11, 0.3, "ZRH", 27, _cities(
        ("Milano", "MI", "20121"), ("Torino", "TO", "10121"), ("Bergamo", "BG", "24121"),
        ("Bologna", "BO", "40121"), ("Roma", "RM", "00184"),
    )),
    "WAW": _Colo("PL", 2.0, 60, 12, 0.3, "FRA", 28, _cities(
        ("Warszawa", "MZ", "00-001"), ("Kraków", "MA", "30-001"), ("Łódź", "LD", "90-001"),
        ("Wrocław", "DS", "50-001"), ("Gdańsk", "PM", "80-001"),
    )),
    "ARN": _Colo("SE", 1.5, 60, 9, 0.15, "AMS", 29, _cities(
        ("Stockholm", "AB", "111 20"), ("Uppsala", "C", "753 10"), ("Göteborg", "O", "411 03"),
        ("Malmö", "M", "211 20"),
    )),
    "DUB": _Colo("IE", 2.0, 0, 9, 0.2, "LHR", 30, _cities(
        ("Dublin", "D", "D02 X285"), ("Cork", "CO", "T12 W8DR"), ("Galway", "G", "H91 E2KT"),
        ("Limerick", "LK", "V94 T9PX"),
    )),
    "ZRH": _Colo("CH", 1.5, 60, 8, 0.1, "FRA", 31, _cities(
        ("Zürich", "ZH", "8001"), ("Basel", "BS", "4001"), ("Bern", "BE", "3011"),
        ("Genève", "GE", "1201"), ("Luzern", "LU", "6003"),
    )),
    "JNB": _Colo("ZA", 1.0, 120, 17, 0.5, "LHR", 74, _cities(
        ("Johannesburg", "GP", "2001"), ("Sandton", "GP", "2196"), ("Pretoria", "GP", "0002"),
        ("Durban", "KZN", "4001"), ("Cape Town", "WC", "8001"),
    )),
    "ICN": _Colo("KR", 1.0, 540, 8, 0.1, "NRT", 47, _cities(
        ("Seoul", "11", "04524"), ("Incheon", "28", "21554"), ("Seongnam", "41", "13494"),
        ("Busan", "26", "48058"),
    )),
    "DXB": _Colo("AE", 1.0, 240, 14, 0.35, "BOM", 80, _cities(
        ("Dubai", "DU", None), ("Abu Dhabi", "AZ", None), ("Sharjah", "SH", None),
    )),
}
# fmt: on


class _ISP(NamedTuple):
    name: str
    aso: str
    asn: int
    weight: float
    kind: str  # "fixed", "mobile" or "both"


_Kind = Literal["fixed", "mobile", "both"]


def _isps(*rows: tuple[str, str, int, float, _Kind]) -> tuple[_ISP, ...]:
    return tuple(_ISP(*row) for row in rows)


# A handful of real access networks per country (public registry data); the addresses generated
# for them come from the documentation ranges, so no real host is ever named.
# fmt: off
_ISPS: Final[dict[str, tuple[_ISP, ...]]] = {
    "DE": _isps(
        ("Telekom", "Deutsche Telekom AG", 3320, 40, "both"),
        ("Vodafone", "Vodafone GmbH", 3209, 30, "both"),
        ("O2", "Telefonica Germany GmbH & Co.OHG", 6805, 15, "both"),
        ("1&1", "1&1 Versatel Deutschland GmbH", 8881, 10, "fixed"),
        ("NetCologne", "NetCologne GmbH", 8422, 5, "fixed"),
    ),
    "GB": _isps(
        ("BT", "British Telecommunications PLC", 2856, 35, "fixed"),
        ("Virgin Media", "Virgin Media Limited", 5089, 25, "fixed"),
        ("Sky Broadband", "Sky UK Limited", 5607, 20, "fixed"),
        ("EE", "EE Limited", 12576, 15, "mobile"),
        ("Vodafone UK", "Vodafone Limited", 25135, 10, "both"),
    ),
    "NL": _isps(
        ("KPN", "KPN B.V.", 1136, 40, "both"),
        ("Ziggo", "VodafoneZiggo B.V.", 33915, 40, "both"),
        ("Odido", "Odido Netherlands B.V.", 31615, 20, "both"),
    ),
    "FR": _isps(
        ("Orange", "Orange S.A.", 3215, 40, "both"),
        ("Free", "Free SAS", 12322, 25, "both"),
        ("SFR", "Societe Francaise du Radiotelephone - SFR SA", 15557, 20, "both"),
        ("Bouygues Telecom", "Bouygues Telecom SA", 5410, 15, "both"),
    ),
    "US": _isps(
        ("Xfinity", "Comcast Cable Communications, LLC", 7922, 30, "fixed"),
        ("AT&T", "AT&T Services, Inc.", 7018, 20, "both"),
        ("Spectrum", "Charter Communications Inc", 20115, 20, "fixed"),
        ("Verizon Fios", "Verizon Business", 701, 15, "both"),
        ("T-Mobile", "T-Mobile USA, Inc.", 21928, 10, "mobile"),
        ("Cox", "Cox Communications Inc.", 22773, 5, "fixed"),
    ),
    "CA": _isps(
        ("Rogers", "Rogers Communications Canada Inc.", 812, 35, "both"),
        ("Bell", "Bell Canada", 577, 35, "both"),
        ("TELUS", "TELUS Communications Inc.", 852, 20, "both"),
        ("Videotron", "Videotron Telecom Ltee", 5769, 10, "fixed"),
    ),
    "BR": _isps(
        ("Vivo", "TELEFONICA BRASIL S.A", 26599, 40, "both"),
        ("Claro", "Claro NXT Telecomunicacoes Ltda", 28573, 40, "both"),
        ("TIM", "TIM S/A", 26615, 20, "both"),
    ),
    "JP": _isps(
        ("OCN", "NTT Communications Corporation", 4713, 40, "fixed"),
        ("au", "KDDI CORPORATION", 2516, 30, "both"),
        ("SoftBank", "SoftBank Corp.", 17676, 30, "both"),
    ),
    "HK": _isps(
        ("Netvigator", "HKT Limited", 4760, 45, "both"),
        ("HKBN", "Hong Kong Broadband Network Ltd.", 9269, 35, "fixed"),
        ("CMHK", "China Mobile Hong Kong Company Limited", 9231, 20, "mobile"),
    ),
    "SG": _isps(
        ("Singtel", "SingNet Pte Ltd", 3758, 45, "both"),
        ("StarHub", "StarHub Ltd", 4657, 35, "both"),
        ("M1", "M1 LIMITED", 4773, 20, "both"),
    ),
    "AU": _isps(
        ("Telstra", "Telstra Limited", 1221, 45, "both"),
        ("Optus", "Optus Internet Pty Ltd", 4804, 30, "both"),
        ("TPG", "TPG Telecom Limited", 7545, 25, "fixed"),
    ),
    "IN": _isps(
        ("Jio", "Reliance Jio Infocomm Limited", 55836, 40, "both"),
        ("Airtel", "Bharti Airtel Ltd.", 24560, 35, "both"),
        ("Vi", "Vodafone Idea Ltd", 55410, 15, "mobile"),
        ("ACT Fibernet", "Atria Convergence Technologies Ltd.", 24309, 10, "fixed"),
    ),
    "ES": _isps(
        ("Movistar", "Telefonica de Espana SAU", 3352, 45, "both"),
        ("Vodafone ES", "Vodafone Espana S.A.U.", 12430, 30, "both"),
        ("Orange ES", "Orange Espagne SA", 12479, 25, "both"),
    ),
    "IT": _isps(
        ("TIM", "Telecom Italia S.p.A.", 3269, 40, "both"),
        ("Vodafone IT", "Vodafone Italia S.p.A.", 30722, 25, "both"),
        ("Fastweb", "Fastweb SpA", 12874, 20, "fixed"),
        ("WindTre", "Wind Tre S.p.A.", 1267, 15, "both"),
    ),
    "PL": _isps(
        ("Orange PL", "Orange Polska Spolka Akcyjna", 5617, 45, "both"),
        ("Netia", "Netia SA", 12741, 25, "fixed"),
        ("Play", "P4 Sp. z o.o.", 39603, 30, "both"),
    ),
    "SE": _isps(
        ("Telia", "Telia Company AB", 3301, 45, "both"),
        ("Tele2", "Tele2 Sverige AB", 1257, 35, "both"),
        ("Bahnhof", "Bahnhof AB", 8473, 20, "fixed"),
    ),
    "IE": _isps(
        ("eir", "Eircom Limited", 5466, 45, "both"),
        ("Virgin Media IE", "Virgin Media Ireland Limited", 6830, 30, "fixed"),
        ("Vodafone IE", "Vodafone Ireland Limited", 15502, 25, "both"),
    ),
    "CH": _isps(
        ("Swisscom", "Swisscom (Schweiz) AG", 3303, 55, "both"),
        ("Sunrise", "Sunrise GmbH", 6730, 30, "both"),
        ("Init7", "Init7 (Switzerland) Ltd.", 13030, 15, "fixed"),
    ),
    "ZA": _isps(
        ("Vodacom", "Vodacom", 29975, 40, "both"),
        ("MTN", "MTN SA", 16637, 30, "both"),
        ("Telkom", "Telkom SA Ltd.", 5713, 30, "both"),
    ),
    "KR": _isps(
        ("KT", "Korea Telecom", 4766, 45, "both"),
        ("SK Broadband", "SK Broadband Co Ltd", 9318, 35, "both"),
        ("LG U+", "LG POWERCOMM", 17858, 20, "both"),
    ),
    "AE": _isps(
        ("Etisalat", "Emirates Telecommunications Group Company (etisalat group) PJSC", 5384, 60,
         "both"),
        ("du", "Emirates Integrated Telecommunications Company PJSC", 15802, 40, "both"),
    ),
}
# fmt: on

# Share of homes with IPv6 by country (for a minority of devices overall).
_IPV6_SHARE: Final = {"DE": 0.45, "FR": 0.55, "US": 0.4, "IN": 0.5, "JP": 0.35, "BR": 0.35}
_IPV6_DEFAULT: Final = 0.15

_HOME_SSIDS: Final[dict[str, tuple[str, ...]]] = {
    "DE": ("FRITZ!Box 7590 {A}{A}", "Vodafone-{H}{H}", "o2-WLAN{D}{D}", "MagentaWLAN-{H}{H}"),
    "GB": ("BT-{A}{A}{A}{A}{D}{D}", "SKY{H}{H}{H}", "VM{D}{D}{D}{D}{D}{D}{D}", "TALKTALK{H}{H}{H}"),
    "US": ("xfinitywifi", "NETGEAR{D}{D}", "ATT{A}{D}{A}{A}{D}", "Spectrum-5G-{D}{D}{D}{D}"),
    "FR": ("Livebox-{H}{H}", "Freebox-{H}{H}{H}", "SFR_{H}{H}"),
    "NL": ("KPN{H}{H}{H}{H}", "Ziggo{D}{D}{D}{D}{D}{D}{D}"),
}
_HOME_SSIDS_DEFAULT: Final = (
    "TP-Link_{H}{H}",
    "ASUS_{H}{D}",
    "HOME-{H}{H}",
    "Linksys{D}{D}{D}{D}{D}",
)

_PLATFORMS: Final = _Table(
    [("windows", 50), ("mac", 26), ("linux", 5), ("ios", 9), ("android", 8), ("chromeos", 2)]
)
_LAPTOP_SHARE: Final = {"windows": 0.72, "mac": 0.85, "linux": 0.45, "chromeos": 1.0}

_LEGACY_VERSION: Final = "2025.5.893.0"  # still sends the deprecated deviceRegistration
_NULL_VERSIONS: Final = frozenset({_LEGACY_VERSION, "2025.7.106.1"})  # send explicit nulls
# fmt: off
_VERSIONS: Final[dict[str, _Table]] = {
    "windows": _Table([
        (_LEGACY_VERSION, 3), ("2025.7.106.1", 12), ("2025.8.779.0", 25),
        ("2025.9.558.0", 35), ("2025.10.186.0", 25),
    ]),
    "mac": _Table([
        (_LEGACY_VERSION, 2), ("2025.7.106.1", 10), ("2025.8.779.0", 25),
        ("2025.9.558.0", 43), ("2025.10.186.0", 20),
    ]),
    "linux": _Table([
        (_LEGACY_VERSION, 5), ("2025.7.106.1", 20), ("2025.8.779.0", 30),
        ("2025.9.558.0", 35), ("2025.10.186.0", 10),
    ]),
    "ios": _Table([("2025.7.106.1", 15), ("2025.8.779.0", 35), ("2025.9.558.0", 50)]),
    "android": _Table([
        (_LEGACY_VERSION, 4), ("2025.7.106.1", 20), ("2025.8.779.0", 36), ("2025.9.558.0", 40),
    ]),
    "chromeos": _Table([("2025.7.106.1", 30), ("2025.8.779.0", 50), ("2025.9.558.0", 20)]),
}
# fmt: on

_MODES: Final = {
    "computer": _Table(
        [("warp", 76), ("tunnel_only", 8), ("doh", 6), ("proxy", 5), ("posture_only", 5)]
    ),
    "mobile": _Table([("warp", 85), ("doh", 10), ("tunnel_only", 5)]),
}
_TUNNEL_MODES: Final = frozenset({"warp", "tunnel_only", "proxy"})
_DOH_MODES: Final = frozenset({"warp", "doh"})

# fmt: off
_CPU_MEDIAN: Final = {
    "windows": 16.0, "mac": 13.0, "linux": 10.0, "ios": 7.0, "android": 9.0, "chromeos": 18.0,
}
# fmt: on

# Processes per platform: (name, CPU weight, RAM weight). The WARP process comes first.
# fmt: off
_APPS: Final[dict[str, tuple[tuple[str, float, float], ...]]] = {
    "windows": (
        ("warp-svc", 1, 1), ("chrome", 10, 12), ("msedge", 8, 9), ("teams", 8, 9),
        ("outlook", 7, 6), ("slack", 5, 5), ("zoom", 4, 3), ("code", 3, 5), ("excel", 3, 3),
        ("winword", 3, 2), ("onedrive", 3, 2), ("explorer", 5, 2), ("msmpeng", 4, 2),
        ("firefox", 2, 4), ("searchhost", 2, 1),
    ),
    "mac": (
        ("CloudflareWARP", 1, 1), ("chrome", 10, 12), ("safari", 6, 6), ("slack", 6, 5),
        ("zoom", 4, 3), ("teams", 5, 6), ("outlook", 5, 5), ("code", 4, 5), ("finder", 3, 1),
        ("mds_stores", 3, 1), ("windowserver", 6, 3), ("firefox", 2, 4), ("spotify", 2, 2),
    ),
    "linux": (
        ("warp-svc", 1, 1), ("firefox", 8, 9), ("chrome", 6, 9), ("code", 6, 6), ("slack", 4, 4),
        ("gnome-shell", 6, 3), ("xorg", 3, 1), ("zoom", 2, 2), ("java", 3, 6), ("python3", 3, 2),
        ("dockerd", 4, 3),
    ),
    "chromeos": (
        ("warp-svc", 1, 1), ("chrome", 12, 14), ("teams", 3, 4), ("zoom", 3, 3), ("slack", 3, 3),
        ("crosvm", 3, 4), ("ash", 5, 2),
    ),
}
# fmt: on

# fmt: off
_FIRST: Final = (
    "Anna", "Ben", "Carla", "David", "Elena", "Felix", "Grace", "Hiro", "Ines", "Jonas", "Kavya",
    "Liam", "Maria", "Noah", "Olga", "Pablo", "Quinn", "Rosa", "Samir", "Tara", "Umar", "Vera",
    "Wei", "Ximena", "Yusuf", "Zoe", "Lukas", "Sofia", "Mateo", "Aisha", "Chen", "Emma", "Oliver",
    "Mia", "Leon", "Hannah", "Arjun", "Priya", "Lucas", "Julia", "Tom", "Sara", "Kenji", "Amara",
    "Nadia", "Erik", "Freya", "Diego", "Camila", "Jin",
)
_LAST: Final = (
    "Muller", "Smith", "Garcia", "Rossi", "Novak", "Tanaka", "Kim", "Patel", "Silva", "Dubois",
    "Jansen", "Schmidt", "Johnson", "Brown", "Nguyen", "Lopez", "Kowalski", "Andersson", "Murphy",
    "Weber", "Fischer", "Moreau", "Sato", "Singh", "Costa", "Martin", "Bianchi", "Meyer", "Walker",
    "Okafor", "Ivanova", "Chen", "Haddad", "Larsen", "Wagner", "Becker", "Romero", "Khan", "Lee",
    "Fernandez", "Nakamura", "Hughes", "Sharma", "Berg", "Keller", "Adeyemi", "Young", "Park",
    "Hoffmann", "Ward",
)
_ANDROID_MODELS: Final = (
    "Pixel 8", "Pixel 8 Pro", "Pixel 7a", "SM-S921B", "SM-S918B", "SM-A546B", "moto g84 5G",
    "CPH2581", "2312DRA50G",
)
# fmt: on
_ALNUM: Final = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # 32 symbols, 5 bits each


def _app_sets(
    pool: tuple[tuple[str, float, float], ...], count: int
) -> tuple[tuple[tuple[str, float, float], ...], ...]:
    """Return ``count`` app sets: the WARP process and 6 apps sampled by weight, without
    replacement (Efraimidis-Spirakis keys), from a fixed generator."""
    rng = random.Random(0xA995)
    out = []
    for _ in range(count):
        keyed = sorted(pool[1:], key=lambda app: -(rng.random() ** (1.0 / (app[1] + app[2]))))
        out.append((pool[0], *keyed[:6]))
    return tuple(out)


#: Per platform, 64 sets of the apps a device runs (a device picks one).
_APP_SETS: Final = {platform: _app_sets(pool, 64) for platform, pool in _APPS.items()}


_T = TypeVar("_T")


def _fill(rng: random.Random, template: str) -> str:
    """Fill ``{A}`` (letter), ``{D}`` (digit) and ``{H}`` (hex pair) placeholders."""
    out = template
    while "{A}" in out:
        out = out.replace("{A}", _choice(rng, "ABCDEFGHJKLMNPQRSTUVWXYZ"), 1)
    while "{D}" in out:
        out = out.replace("{D}", _choice(rng, "0123456789"), 1)
    while "{H}" in out:
        out = out.replace("{H}", f"{_below(rng, 0, 256):02X}", 1)
    return out


def _choice(rng: random.Random, seq: Sequence[_T]) -> _T:
    return seq[int(rng.random() * len(seq))]


def _below(rng: random.Random, low: int, high: int) -> int:
    """Return an int in [low, high)."""
    return low + int(rng.random() * (high - low))


def _uuid4(rng: random.Random) -> str:
    """Return a random UUID v4 string (what ``str(uuid.UUID(int=..., version=4))`` gives)."""
    n = rng.getrandbits(128)
    n = (n & ~(0xC000 << 48)) | (0x8000 << 48)  # variant RFC 4122
    n = (n & ~(0xF000 << 64)) | (4 << 76)  # version 4
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _num(value: float, digits: int = 1) -> float | int:
    """Round like the API does and write whole floats as integers (Go's encoder)."""
    rounded = round(value, digits)
    return int(rounded) if rounded.is_integer() else rounded


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(rng.gauss(0.0, sigma))


def _aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise ConfigError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ConfigError(f"{name} must be timezone-aware (UTC), got the naive {value.isoformat()}")
    return value.astimezone(UTC)


@contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: records hold no cycles, and building 100,000 of
    them otherwise triggers collections whose cost grows with the list (about half the time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@lru_cache(maxsize=4096)
def _stamp(seconds: int) -> str:
    """Return the API's timestamp text (``2023-10-11 00:00:00+00``) of epoch seconds."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S+00")


# ---------------------------------------------------------------------------------------------
# Public types
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Incident:
    """A two-sided incident: a colo's network degrades while a client release burns CPU.

    During ``[start, start + duration)``, records whose colo is ``colo`` get
    ``loss_pct_points`` added to ``estimatedLossPct`` (uniform in the range), their
    ``handshakeLatencyMs`` multiplied by ``handshake_factor`` and their ``rtt`` by ``rtt_factor``
    (a few more of them are ``connecting``); devices running ``version`` on ``platform`` get
    ``cpu_pct_points`` (±20 %) added to ``cpuPct``, most of it charged to the WARP process at the
    top of ``cpuPctByApp``. Outside the window nothing changes.

    Parameters
    ----------
    start
        When the incident begins (timezone-aware; converted to UTC). The only positional field.
    colo, duration, version, platform
        Where and for how long (keyword-only, like the magnitudes).
    loss_pct_points, handshake_factor, rtt_factor, cpu_pct_points
        The magnitudes of the effects.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> incident = Incident(datetime(2026, 11, 18, 13, tzinfo=UTC))
    >>> incident.colo, incident.version, str(incident.end)
    ('FRA', '2025.10.186.0', '2026-11-18 15:00:00+00:00')
    >>> incident.active(datetime(2026, 11, 18, 15, tzinfo=UTC))
    False
    """

    start: datetime
    colo: str = field(default="FRA", kw_only=True)
    duration: timedelta = field(default=timedelta(hours=2), kw_only=True)
    version: str = field(default="2025.10.186.0", kw_only=True)
    platform: str = field(default="windows", kw_only=True)
    loss_pct_points: tuple[float, float] = field(default=(4.0, 8.0), kw_only=True)
    handshake_factor: float = field(default=4.0, kw_only=True)
    rtt_factor: float = field(default=3.0, kw_only=True)
    cpu_pct_points: float = field(default=35.0, kw_only=True)

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _aware(self.start, "Incident.start"))
        if self.duration <= timedelta(0):
            raise ConfigError(f"Incident.duration must be positive, got {self.duration}")
        low, high = self.loss_pct_points
        if not 0 <= low <= high:
            raise ConfigError(f"Incident.loss_pct_points must be 0 <= low <= high, got {low, high}")

    @property
    def end(self) -> datetime:
        """The end of the incident (exclusive)."""
        return self.start + self.duration

    def active(self, when: datetime) -> bool:
        """Return whether ``when`` (timezone-aware) falls inside the incident.

        >>> from datetime import UTC, datetime
        >>> Incident(datetime(2026, 1, 1, tzinfo=UTC)).active(datetime(2026, 1, 1, 1, tzinfo=UTC))
        True
        """
        return self.start <= _aware(when, "when") < self.end


@dataclass(frozen=True, slots=True)
class Device:
    """The static attributes of one simulated device (a function of ``(seed, index)``).

    The first block of attributes is what the API shows; the rest are the parameters the
    simulation draws each record from. ``form`` is ``"desktop"``, ``"laptop"`` or ``"mobile"``:
    only laptops and mobiles report battery fields. ``stale_since`` is set for the few devices
    that stopped reporting (days) before the fleet's epoch; they send nothing from then on.

    Examples
    --------
    >>> device = Fleet(10, seed=3).device(0)
    >>> device.index, len(device.device_id), device.person_email.endswith("@example.com")
    (0, 36, True)
    """

    index: int
    device_id: str
    registration_id: str
    name: str
    person_email: str
    platform: str
    form: str
    colo: str
    city: _City
    mode: str
    version: str
    tunnel_type: str | None
    always_on: bool
    switch_locked: bool
    firewall_enabled: bool | None
    stale_since: int | None  # epoch seconds
    # simulation parameters
    legacy: bool
    explicit_nulls: bool
    offline_phase: int
    offline_share: float
    home_isp: _ISP
    mobile_isp: _ISP
    has_ipv6: bool
    home_net: int
    host: int
    v6_host: str
    home_ssid: str
    office_worker: float
    ethernet_share: float
    ram_total_kb: int
    ram_base: float
    disk_base: float
    cpu_base: float
    apps: tuple[tuple[str, float, float], ...]
    battery_cycles: int
    battery_period: int
    battery_phase: float
    docked: bool
    rtt_ms: float
    loss_pct: float
    server: int


# ---------------------------------------------------------------------------------------------
# The fleet
# ---------------------------------------------------------------------------------------------

_COLO_TABLE: Final = _Table([(code, colo.weight) for code, colo in _COLOS.items()])
_ISP_TABLES: Final = {
    country: (
        _Table([(isp, isp.weight) for isp in isps if isp.kind != "mobile"]),
        _Table([(isp, isp.weight) for isp in isps if isp.kind != "fixed"]),
    )
    for country, isps in _ISPS.items()
}


class Fleet:
    """A deterministic synthetic fleet of WARP clients.

    Parameters
    ----------
    devices
        How many devices the fleet has.
    seed
        Everything derives from it: the same ``(devices, seed, incident, epoch)`` gives the same
        records, in any process. A device's attributes do not depend on ``devices``, so a larger
        fleet extends a smaller one.
    incident
        An optional :class:`Incident`.
    epoch
        The fleet's reference "now" (timezone-aware; :data:`DEFAULT_EPOCH` if omitted): about 3 %
        of the devices went silent between 2 hours and 14 days before it and report nothing after.
    countable
        Draw the brief status flickers (a connected device reported as ``connecting``) from a
        stable hash of ``(seed, device, bucket)`` instead of the record's random stream, so that
        every field a server filters or counts by is a hash of device and time:
        :class:`dexkit.testing.FakeCloudflare` counts a listing without generating it. Other
        fields are the same either way; the committed sample keeps ``False``.

    Notes
    -----
    Devices report every 10 minutes while online. About 3 % of the devices are offline at any
    time (stretches of 2 hours), a few per cent more are ``disconnected``, ``paused`` or
    ``connecting``. Tunnel figures (``rtt``, ``tunnelStats``, ``handshakeLatencyMs``,
    ``estimatedLossPct``) are only sent by ``connected`` devices in a tunnel mode (``warp``,
    ``tunnel_only``, ``proxy``); some ``disconnected`` records carry ``handshakeLatencyMs = -1``.
    Records of clients 2025.5 and 2025.7 spell absent fields as ``null``, newer clients omit them;
    2025.5 clients still send ``deviceRegistration`` instead of ``registrationId``. Public
    addresses come from the documentation ranges (RFC 5737, RFC 3849).

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> fleet = Fleet(200, seed=7)
    >>> start = datetime(2026, 11, 18, 14, tzinfo=UTC)
    >>> end = datetime(2026, 11, 18, 15, tzinfo=UTC)
    >>> rows = fleet.records("last_seen", start, end)
    >>> 180 < len(rows) <= 200, rows[0]["timestamp"] <= rows[-1]["timestamp"]
    (True, True)
    >>> pages = fleet.pages("last_seen", start, end, per_page=50)
    >>> len(pages), pages[0][:40]
    (4, b'{"success":true,"errors":[],"messages":[')
    """

    def __init__(
        self,
        devices: int = 1000,
        *,
        seed: int = 0,
        incident: Incident | None = None,
        epoch: datetime | None = None,
        countable: bool = False,
    ) -> None:
        if isinstance(devices, bool) or not isinstance(devices, int) or devices < 0:
            raise ConfigError(f"devices must be a non-negative int, got {devices!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigError(f"seed must be an int, got {seed!r}")
        if incident is not None and not isinstance(incident, Incident):
            raise ConfigError(f"incident must be an Incident or None, got {incident!r}")
        self.devices: int = devices
        self.seed: int = seed
        self.incident: Incident | None = incident
        self.epoch: datetime = DEFAULT_EPOCH if epoch is None else _aware(epoch, "epoch")
        self.countable: bool = bool(countable)
        self._epoch_s = int(self.epoch.timestamp())
        self._cache: list[Device] | None = None
        self._order: list[int] | None = None
        self._nets: dict[int, tuple[tuple[str, dict[str, Any] | None], ...]] = {}
        # The last few listings of pages(): servers call it once per request.
        self._pages: dict[tuple[str, datetime, datetime, int], list[bytes]] = {}
        self._lock = threading.Lock()
        rng = random.Random(_mix(seed, _S_ACCOUNT))
        letters = "abcdefghijklmnopqrstuvwxyz0123456789"
        self.doh_subdomain: str = "".join(_choice(rng, letters) for _ in range(10))
        self._office_isp = {
            country: isps[_below(rng, 0, min(2, len(isps)))] for country, isps in _ISPS.items()
        }
        self._window = (0, 0)  # the incident's [start, end) in epoch seconds
        if incident is not None:
            self._window = (int(incident.start.timestamp()), int(incident.end.timestamp()))

    def __repr__(self) -> str:
        countable = ", countable=True" if self.countable else ""
        return (
            f"Fleet({self.devices}, seed={self.seed}, incident={self.incident!r}, "
            f"epoch={self.epoch.isoformat()!r}{countable})"
        )

    # -- static attributes ---------------------------------------------------------------------

    def device(self, index: int) -> Device:
        """Return the static attributes of device ``index`` (0 <= index < devices).

        >>> Fleet(5, seed=1).device(4).platform in ("windows", "mac", "linux", "ios", "android")
        True
        """
        if not 0 <= index < self.devices:
            raise ConfigError(f"device index must be in [0, {self.devices}), got {index}")
        if self._cache is not None:
            return self._cache[index]
        return self._make_device(index)

    def _roster(self) -> tuple[list[Device], list[int]]:
        """Return every device and the indexes in ``deviceId`` order (built once)."""
        if self._cache is None or self._order is None:
            with _no_gc():
                devices = [self._make_device(i) for i in range(self.devices)]
            self._order = sorted(range(self.devices), key=lambda i: devices[i].device_id)
            self._cache = devices
        return self._cache, self._order

    def _make_device(self, index: int) -> Device:
        rng = random.Random(_mix(self.seed, index, _S_DEVICE))
        device_id = _uuid4(rng)
        registration_id = _uuid4(rng)
        platform: str = _PLATFORMS.pick(rng.random())
        if platform in ("ios", "android"):
            form = "mobile"
        else:
            form = "laptop" if rng.random() < _LAPTOP_SHARE[platform] else "desktop"
        code: str = _COLO_TABLE.pick(rng.random())
        colo = _COLOS[code]
        # The colo's first city is the biggest one.
        city = colo.cities[0] if rng.random() < 0.45 else _choice(rng, colo.cities)
        first, last = _choice(rng, _FIRST), _choice(rng, _LAST)
        email = f"{first.lower()}.{last.lower()}@example.com"
        name = self._device_name(rng, platform, form, first)
        mode: str = _MODES["mobile" if form == "mobile" else "computer"].pick(rng.random())
        version: str = _VERSIONS[platform].pick(rng.random())
        newer = version >= "2025.9"  # lexical is enough to tell 2025.9 and 2025.10 from older
        tunnel_type = None
        if mode in _TUNNEL_MODES:
            tunnel_type = "masque" if rng.random() < (0.6 if newer else 0.3) else "wireguard"
        fixed, mobile = _ISP_TABLES[colo.country]
        home_isp: _ISP = fixed.pick(rng.random())
        mobile_isp: _ISP = mobile.pick(rng.random())
        has_ipv6 = rng.random() < _IPV6_SHARE.get(colo.country, _IPV6_DEFAULT)
        templates = _HOME_SSIDS.get(colo.country, _HOME_SSIDS_DEFAULT)
        home_ssid = _fill(rng, _choice(rng, templates))
        stale = rng.random() < 0.03
        stale_since = self._epoch_s - _below(rng, 2 * _HOUR, 14 * 24 * _HOUR) if stale else None
        ram_gb = (
            _choice(rng, (4, 6, 8, 8, 12))
            if form == "mobile"
            else _choice(rng, (8, 16, 16, 16, 32, 32, 64))
        )
        sets = _APP_SETS.get(platform)
        apps = () if sets is None else _choice(rng, sets)
        return Device(
            index=index,
            device_id=device_id,
            registration_id=registration_id,
            name=name,
            person_email=email,
            platform=platform,
            form=form,
            colo=code,
            city=city,
            mode=mode,
            version=version,
            tunnel_type=tunnel_type,
            always_on=rng.random() < 0.85,
            switch_locked=rng.random() < 0.6,
            firewall_enabled=None if form == "mobile" else rng.random() < 0.93,
            stale_since=stale_since,
            legacy=version == _LEGACY_VERSION,
            explicit_nulls=version in _NULL_VERSIONS,
            offline_phase=_below(rng, 0, 12),
            offline_share=rng.uniform(0.005, 0.055),
            home_isp=home_isp,
            mobile_isp=mobile_isp,
            has_ipv6=has_ipv6,
            home_net=_choice(rng, (0, 1, 1, 2, 178, 86, 10)),
            host=_below(rng, 2, 254),
            v6_host=":".join(f"{rng.getrandbits(16):x}" for _ in range(4)),
            home_ssid=home_ssid,
            office_worker=rng.uniform(0.0, 0.8) if form != "mobile" else rng.uniform(0.0, 0.4),
            ethernet_share={"desktop": 0.85, "laptop": 0.2, "mobile": 0.0}[form],
            ram_total_kb=ram_gb * 1024 * 1024,
            ram_base=rng.uniform(35, 75),
            disk_base=rng.uniform(18, 92),
            cpu_base=_lognormal(rng, _CPU_MEDIAN[platform], 0.4),
            apps=apps,
            battery_cycles=_below(rng, 5, 900),
            battery_period=_below(rng, 7 * _HOUR, 20 * _HOUR),
            battery_phase=rng.random(),
            docked=form == "laptop" and rng.random() < 0.25,
            rtt_ms=_lognormal(rng, colo.rtt_ms, 0.35),
            loss_pct=_lognormal(rng, colo.loss_pct, 0.5),
            server=_below(rng, 1, 240),
        )

    @staticmethod
    def _device_name(rng: random.Random, platform: str, form: str, first: str) -> str:
        if platform == "windows":
            if rng.random() < 0.5:
                prefix = "LAPTOP" if form == "laptop" else "DESKTOP"
                bits = rng.getrandbits(35)
                tag = "".join(_ALNUM[(bits >> (5 * k)) & 31] for k in range(7))
                return f"{prefix}-{tag}"
            return f"ACME-{'LT' if form == 'laptop' else 'WS'}-{_below(rng, 0, 100000):05d}"
        if platform == "mac":
            model = (
                _choice(rng, ("MacBook-Pro", "MacBook-Pro", "MacBook-Air"))
                if form == "laptop"
                else _choice(rng, ("Mac-mini", "iMac", "Mac-Studio"))
            )
            return f"{first}s-{model}"
        if platform == "linux":
            if form == "laptop":
                return f"{first.lower()}-{_choice(rng, ('thinkpad', 'xps', 'framework'))}"
            return f"ws-{first.lower()}-{_below(rng, 0, 100):02d}"
        if platform == "ios":
            return f"{first}'s {'iPhone' if rng.random() < 0.85 else 'iPad'}"
        if platform == "android":
            return _choice(rng, _ANDROID_MODELS)
        return f"Chromebook-{_below(rng, 0, 10000):04d}"

    # -- time ----------------------------------------------------------------------------------

    def _online(self, d: Device, bucket: int) -> bool:
        """Whether device ``d`` reports in raw bucket number ``bucket``."""
        if d.stale_since is not None and bucket * _BUCKET >= d.stale_since:
            return False
        block = (bucket + d.offline_phase) // 12
        return _unit(self.seed, d.index, block, _S_OFFLINE) >= d.offline_share

    @staticmethod
    def _buckets(start: datetime, end: datetime, step: int) -> range:
        lo = -(-int(start.timestamp()) // step)  # ceil: the first bucket starting at/after start
        hi = -(-int(end.timestamp()) // step)  # buckets starting before end
        return range(lo * step // _BUCKET, hi * step // _BUCKET, step // _BUCKET)

    # -- records -------------------------------------------------------------------------------

    def records(self, source: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Return the API-shaped records of ``source`` over ``[start, end)``.

        Parameters
        ----------
        source
            ``"raw"``: one record per online device per 10-minute bucket (timestamp = bucket
            start); ``"hourly"``: one record per device online at the top of each hour, equal to
            its raw record of that bucket (the sample at the hour, not a mean);
            ``"last_seen"``: one record per device seen in the window, its latest raw record.
        start, end
            The window (timezone-aware). The API's window rules (60 minutes for ``last_seen``,
            7 days back for the others) are not enforced here.

        Returns
        -------
        list of dict
            Records with the API's camelCase keys, sorted by timestamp then ``deviceId``.

        Examples
        --------
        >>> from datetime import UTC, datetime
        >>> fleet = Fleet(30, seed=2)
        >>> day = datetime(2026, 11, 18, tzinfo=UTC)
        >>> hourly = fleet.records("hourly", day, day.replace(hour=3))
        >>> sorted({r["timestamp"] for r in hourly})
        ['2026-11-18 00:00:00+00', '2026-11-18 01:00:00+00', '2026-11-18 02:00:00+00']
        """
        if source not in SOURCES:
            raise ConfigError(f"source must be one of {', '.join(SOURCES)}; got {source!r}")
        start = _aware(start, "start")
        end = _aware(end, "end")
        with _no_gc():
            devices, order = self._roster()
            if source == "last_seen":
                buckets = self._buckets(start, end, _BUCKET)
                latest: list[tuple[int, str, Device]] = []
                for d in devices:
                    for bucket in reversed(buckets):
                        if self._online(d, bucket):
                            latest.append((bucket, d.device_id, d))
                            break
                latest.sort(key=lambda row: (row[0], row[1]))
                return [self._record(d, bucket) for bucket, _, d in latest]
            out: list[dict[str, Any]] = []
            step = _HOUR if source == "hourly" else _BUCKET
            for bucket in self._buckets(start, end, step):
                for i in order:
                    d = devices[i]
                    if self._online(d, bucket):
                        out.append(self._record(d, bucket))
            return out

    def pages(
        self, source: str, start: datetime, end: datetime, *, per_page: int = 50
    ) -> list[bytes]:
        """Return the exact API response bodies of every page of a listing.

        Parameters
        ----------
        source, start, end
            As for :meth:`records`.
        per_page
            Records per page (the API accepts 1 to 50).

        Returns
        -------
        list of bytes
            Compact JSON envelopes (see :func:`envelope`), one per page. An empty listing is one
            page with an empty ``result`` and ``total_pages`` 0. The last four listings are
            kept, so a server may call this for every request.

        Examples
        --------
        >>> import json
        >>> from datetime import UTC, datetime
        >>> start = datetime(2026, 11, 18, 14, tzinfo=UTC)
        >>> pages = Fleet(20, seed=5).pages("raw", start, start.replace(minute=20), per_page=15)
        >>> [json.loads(p)["result_info"]["count"] for p in pages]
        [15, 15, 9]
        """
        if isinstance(per_page, bool) or not isinstance(per_page, int) or per_page < 1:
            raise ConfigError(f"per_page must be a positive int, got {per_page!r}")
        key = (source, _aware(start, "start"), _aware(end, "end"), per_page)
        with self._lock:
            cached = self._pages.get(key)
        if cached is None:
            rows = self.records(source, start, end)
            total = len(rows)
            cached = [
                envelope(
                    rows[i : i + per_page],
                    page=i // per_page + 1,
                    per_page=per_page,
                    total_count=total,
                )
                for i in range(0, max(total, 1), per_page)
            ]
            with self._lock:
                while len(self._pages) >= 4:
                    self._pages.pop(next(iter(self._pages)))
                self._pages[key] = cached
        return list(cached)

    # -- one record ----------------------------------------------------------------------------

    def _hashes(self, d: Device, bucket: int) -> _Hashes:
        """Return the stable hashes of device ``d``'s record in raw bucket ``bucket``."""
        seed, index, phase = self.seed, d.index, d.offline_phase
        return _Hashes(
            record=_mix(seed, index, bucket, _S_RECORD),
            net=_mix(seed, index, (bucket + phase) // 12, _S_NET),
            status=_mix(seed, index, (bucket + phase) // 6, _S_STATUS),
            flicker=_mix(seed, index, bucket, _S_FLICKER) if self.countable else 0,
        )

    def _record(
        self, d: Device, bucket: int, hashes: _Hashes | None = None, *, shared: bool = False
    ) -> dict[str, Any]:
        """Return device ``d``'s record in raw bucket ``bucket``.

        ``hashes`` are :meth:`_hashes` of the record, when the caller computed them already
        (:class:`dexkit._fleetindex.FleetIndex` does so for a whole page at once). With
        ``shared``, the address objects are the fleet's cached ones, shared with other records:
        for a caller that serializes the record at once and keeps nothing.
        """
        if hashes is None:
            hashes = self._hashes(d, bucket)
        rng = random.Random(hashes.record)
        t = bucket * _BUCKET
        home = _COLOS[d.colo]
        local = t + home.tz_minutes * 60
        hour = (local // _HOUR) % 24
        weekday = (local // 86400 + 3) % 7  # 1970-01-01 was a Thursday
        working = weekday < 5 and 8 <= hour < 18

        # Network context: sticky over 2-hour blocks.
        h = hashes.net  # three uniforms from one hash
        u_net = (h & 0x1FFFFF) / 2097152.0
        u_where = ((h >> 21) & 0x1FFFFF) / 2097152.0
        colo_code = home.neighbour if (h >> 42) / 4194304.0 < 0.02 else d.colo
        colo = _COLOS[colo_code]
        if d.form == "mobile":
            conn = "cellular" if u_net < (0.25 if working else 0.45) else "wifi"
        else:
            conn = "ethernet" if u_net < d.ethernet_share else "wifi"
        at_office = conn != "cellular" and working and u_where < d.office_worker
        if conn == "cellular":
            isp, city = d.mobile_isp, d.city
        elif at_office:
            isp, city = self._office_isp[home.country], home.cities[0]
        else:
            isp, city = d.home_isp, d.city

        # Status: sticky over hours, flickers within.
        u_status = hashes.status / _TWO64
        if u_status < 0.905:
            status = "connected"
        elif u_status < 0.95:
            status = "disconnected"
        elif u_status < 0.985:
            status = "paused"
        else:
            status = "connecting"
        incident = self.incident
        colo_hit = cpu_hit = False
        if incident is not None and self._window[0] <= t < self._window[1]:
            colo_hit = colo_code == incident.colo
            cpu_hit = d.platform == incident.platform and d.version == incident.version
        u = rng.random()
        if self.countable:  # a stable hash instead (the draw above keeps the stream aligned)
            u = hashes.flicker / _TWO64
        if status == "connected":
            if u < 0.01 or (colo_hit and u < 0.07):
                status = "connecting"
            elif colo_hit and u < 0.09:
                status = "disconnected"

        # A field set to None is absent: newer clients omit it, older ones send null (at the end).
        rec: dict[str, Any] = {
            "deviceId": d.device_id,
            "timestamp": _stamp(t),
            "colo": colo_code,
            "platform": d.platform,
            "status": status,
            "mode": d.mode,
            "version": d.version,
            "deviceName": d.name,
            "personEmail": d.person_email,
            "registrationId": None if d.legacy else d.registration_id,
            "deviceRegistration": d.registration_id if d.legacy else None,
            "alwaysOn": d.always_on,
            "switchLocked": d.switch_locked,
            "firewallEnabled": d.firewall_enabled,
        }

        # Device health.
        cpu = d.cpu_base * (1.3 if working else 0.8) * math.exp(rng.gauss(0.0, 0.35))
        cpu = min(cpu, 97.0)
        warp_extra = 0.0
        if cpu_hit and incident is not None:
            extra = incident.cpu_pct_points * rng.uniform(0.8, 1.2)
            warp_extra = extra * rng.uniform(0.85, 0.95)
            cpu = min(cpu + extra, 100.0)
        ram = min(d.ram_base + rng.gauss(0.0, 6.0) + (5.0 if working else 0.0), 98.0)
        ram = max(ram, 8.0)
        rec["cpuPct"] = _num(max(cpu, 0.1))
        rec["ramUsedPct"] = _num(ram)
        rec["ramAvailableKb"] = int(d.ram_total_kb * (100.0 - ram) / 100.0)
        rec["diskUsagePct"] = _num(d.disk_base + 0.2 * math.sin(t / 86400.0 + d.index))
        busy = 1.0 if working else 0.3
        rec["diskReadBps"] = None if rng.random() < 0.02 else int(_lognormal(rng, 9e5 * busy, 1.2))
        rec["diskWriteBps"] = None if rng.random() < 0.02 else int(_lognormal(rng, 4e5 * busy, 1.2))
        if d.form == "desktop":
            rec["batteryPct"] = rec["batteryCharging"] = rec["batteryCycles"] = None
        else:
            x = ((t / d.battery_period) + d.battery_phase) % 1.0
            if d.docked:
                pct, charging = 100 - int(3 * x), False
            elif x < 0.75:
                pct, charging = round(100 - x / 0.75 * 78), False
            else:
                pct, charging = round(22 + (x - 0.75) / 0.25 * 78), True
            rec["batteryPct"] = pct
            rec["batteryCharging"] = charging
            rec["batteryCycles"] = d.battery_cycles + max(0, (t - 1_700_000_000) // 172_800)

        # Network.
        rec["connectionType"] = conn
        if conn == "wifi":
            rec["networkSsid"] = "ACME-Corp" if at_office else d.home_ssid
            dbm = int(rng.gauss(-52 if at_office else -60, 9))
            rec["wifiStrengthDbm"] = None if rng.random() < 0.03 else max(-90, min(-28, dbm))
        else:
            rec["networkSsid"] = rec["wifiStrengthDbm"] = None
        rcvd = int(_lognormal(rng, 2.5e5 * busy, 1.3))
        sent = int(_lognormal(rng, 6e4 * busy, 1.3))
        rec["networkRcvdBps"] = rcvd
        rec["networkSentBps"] = sent

        tunnel = status == "connected" and d.mode in _TUNNEL_MODES
        rtt_ms = d.rtt_ms * (colo.rtt_ms / home.rtt_ms) * math.exp(rng.gauss(0.0, 0.25))
        if conn == "cellular":
            rtt_ms *= 2.2
        elif conn == "wifi":
            rtt_ms *= 1.25
        handshake = 2.2 * rtt_ms + 12.0 + 18.0 * rng.random()
        loss = 0.0
        if rng.random() > 0.35:
            loss = d.loss_pct * math.exp(rng.gauss(0.0, 0.8)) + (0.4 if conn == "cellular" else 0.0)
        if colo_hit and incident is not None:
            rtt_ms *= incident.rtt_factor * rng.uniform(0.85, 1.15)
            handshake *= incident.handshake_factor * rng.uniform(0.85, 1.15)
            loss += rng.uniform(*incident.loss_pct_points)
        loss = min(loss, 100.0)
        if tunnel:
            rec["handshakeLatencyMs"] = int(handshake)
            rec["estimatedLossPct"] = _num(loss, 2)
        elif status == "disconnected" and rng.random() < 0.3:
            rec["handshakeLatencyMs"] = -1
            rec["estimatedLossPct"] = None
        else:
            rec["handshakeLatencyMs"] = rec["estimatedLossPct"] = None
        rec["tunnelType"] = d.tunnel_type
        rec["dohSubdomain"] = self.doh_subdomain if d.mode in _DOH_MODES else None
        rec["metal"] = f"{colo.number}m{d.server if colo_code == d.colo else d.server // 2 + 1}"

        # Per-app usage (desktop platforms only).
        if d.apps:
            top = _by_app(rng, d.apps, cpu, False, warp_extra)
            rec["cpuPctByApp"] = [{"cpu_pct": _num(v), "name": n} for v, n in top]
            top = _by_app(rng, d.apps, ram, True, 0.0)
            rec["ramUsedPctByApp"] = [{"name": n, "ram_used_pct": _num(v)} for v, n in top]
        else:
            rec["cpuPctByApp"] = rec["ramUsedPctByApp"] = None

        # Addresses (built once per device and network).
        ctx = 2 if conn == "cellular" else 1 if at_office else 0
        nets = self._nets.get(d.index * 3 + ctx)
        if nets is None:
            nets = self._nets[d.index * 3 + ctx] = _addresses(d, ctx, isp, city, home.country)
        rec.update(nets if shared else _copies(nets))

        # Tunnel.
        if tunnel:
            rtt_us = int(rtt_ms * 1000)
            rtt_up = int(rtt_us * (0.95 + 0.13 * rng.random()))
            rec["rtt"] = {
                "minRttUs": {"downstream": rtt_us * 18 // 25, "upstream": rtt_up * 7 // 10},
                "rttUs": {"downstream": rtt_us, "upstream": rtt_up},
                "rttVarUs": {"downstream": rtt_us * 3 // 25, "upstream": rtt_up * 3 // 20},
            }
            window_ms = 600_000
            down_bytes, up_bytes = rcvd * 600, sent * 600
            down_pkts, up_pkts = down_bytes // 1180 + 1, up_bytes // 640 + 1
            lost_down = int(down_pkts * loss / 100.0)
            lost_up = int(up_pkts * loss / 125.0)
            retr_down, retr_up = lost_down * 9 // 10, lost_up * 9 // 10
            rec["tunnelStats"] = {
                "bytesLost": {"downstream": lost_down * 1180, "upstream": lost_up * 640},
                "bytesReceived": {"downstream": down_bytes, "upstream": up_bytes // 40},
                "bytesRetransmitted": {"downstream": retr_down * 1180, "upstream": retr_up * 640},
                "bytesSent": {"downstream": down_bytes // 40, "upstream": up_bytes},
                "packetsLost": {"downstream": lost_down, "upstream": lost_up},
                "packetsReceived": {"downstream": down_pkts, "upstream": up_pkts // 2},
                "packetsRetransmitted": {"downstream": retr_down, "upstream": retr_up},
                "packetsSent": {"downstream": down_pkts // 2, "upstream": up_pkts},
                "statsWindowMs": window_ms,
            }
        else:
            rec["rtt"] = rec["tunnelStats"] = None
        if d.explicit_nulls:
            return rec
        return {key: value for key, value in rec.items() if value is not None}


def _addresses(
    d: Device, ctx: int, isp: _ISP, city: _City, country: str
) -> tuple[tuple[str, dict[str, Any] | None], ...]:
    """Return the six IP objects of a device on a network (0 home, 1 office, 2 cellular)."""
    if ctx == 2:
        dev4 = f"10.{64 + d.host % 64}.{d.host}.{(d.index * 7) % 250 + 2}"
        mask4, gw4 = "255.255.255.255", None
    elif ctx == 1:
        dev4 = f"10.{20 + d.index % 20}.{(d.index // 20) % 250}.{d.host}"
        mask4, gw4 = "255.255.252.0", f"10.{20 + d.index % 20}.0.1"
    else:
        dev4 = f"192.168.{d.home_net}.{d.host}"
        mask4, gw4 = "255.255.255.0", f"192.168.{d.home_net}.1"
    v6 = d.has_ipv6 and ctx != 1
    prefix = f"2001:db8:{isp.asn & 0xFFFF:x}:{(d.index * 2654435761) & 0xFFFF:x}"
    location = {"city": city.name, "country_iso": country}
    if city.state is not None:
        location["state_iso"] = city.state
    if city.zip is not None:
        location["zip"] = city.zip
    net = ("192.0.2", "198.51.100", "203.0.113")[isp.asn % 3]
    isp4 = {
        "address": f"{net}.{(d.host * 31 + isp.asn) % 253 + 1}",
        "asn": isp.asn,
        "aso": isp.aso,
        "location": location,
        "name": isp.name,
        "version": 1,
    }
    return (
        ("deviceIpv4", {"address": dev4, "netmask": mask4, "version": 1}),
        (
            "deviceIpv6",
            {"address": f"{prefix}:{d.v6_host}", "netmask": "ffff:ffff:ffff:ffff::", "version": 2}
            if v6
            else None,
        ),
        ("gatewayIpv4", None if gw4 is None else {"address": gw4, "netmask": mask4, "version": 1}),
        ("gatewayIpv6", {"address": "fe80::1", "version": 2} if v6 and ctx == 0 else None),
        ("ispIpv4", isp4),
        ("ispIpv6", {**isp4, "address": f"{prefix}::1", "version": 2} if v6 else None),
    )


def _copies(
    nets: tuple[tuple[str, dict[str, Any] | None], ...],
) -> list[tuple[str, dict[str, Any] | None]]:
    """Return fresh copies of a device's cached address objects (see :func:`_addresses`)."""
    out: list[tuple[str, dict[str, Any] | None]] = []
    for key, obj in nets:
        if obj is not None and "location" in obj:
            obj = {**obj, "location": {**obj["location"]}}
        elif obj is not None:
            obj = {**obj}
        out.append((key, obj))
    return out


def _by_app(
    rng: random.Random,
    apps: tuple[tuple[str, float, float], ...],
    total: float,
    ram: bool,
    warp_extra: float,
) -> list[tuple[float, str]]:
    """Split ``total`` over the top 3-6 apps; ``warp_extra`` goes to the WARP process (apps[0])."""
    random_ = rng.random
    values = [(app[2] if ram else app[1]) * (0.25 + 1.5 * random_()) for app in apps]
    scale = total * (0.45 + 0.4 * random_()) / sum(values)
    # largest first (app names differ, so no two entries tie)
    ranked = sorted(
        [(value * scale, app[0]) for value, app in zip(values, apps, strict=True)], reverse=True
    )
    if warp_extra:
        warp = apps[0][0]
        ranked = sorted(
            [(v + warp_extra, n) if n == warp else (v, n) for v, n in ranked], reverse=True
        )
    return ranked[: 3 + int(random_() * 4)]


# ---------------------------------------------------------------------------------------------
# Bodies and the committed sample
# ---------------------------------------------------------------------------------------------


def dumps(obj: Any) -> bytes:
    """Return compact, deterministic UTF-8 JSON (the stdlib encoder, insertion key order).

    >>> dumps({"cpuPct": 12, "city": "Köln"})
    b'{"cpuPct":12,"city":"K\\xc3\\xb6ln"}'
    """
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def envelope(
    result: Sequence[dict[str, Any]], *, page: int, per_page: int, total_count: int
) -> bytes:
    """Return the API's success body for one page of a listing.

    ``result_info.count`` is the number of records on this page (as in the API's examples) and
    ``total_pages`` is ``ceil(total_count / per_page)``.

    >>> envelope([], page=1, per_page=50, total_count=0)
    b'{"success":true,"errors":[],"messages":[],"result":[],"result_info":{"count":0,"page":1,"per_page":50,"total_count":0,"total_pages":0}}'
    """
    return dumps(
        {
            "success": True,
            "errors": [],
            "messages": [],
            "result": list(result),
            "result_info": {
                "count": len(result),
                "page": page,
                "per_page": per_page,
                "total_count": total_count,
                "total_pages": -(-total_count // per_page),
            },
        }
    )


#: The parameters of the sample committed in ``data/sample`` (do not mutate): 500 devices
#: (1000 would not fit the 12 MB budget), seed 7, the default epoch, the default incident
#: (FRA network and windows 2025.10.186.0 CPU, 2026-11-18 13:00-15:00 UTC), 50 records a page,
#: gzip level 9, and the ``[start, end)`` window of each source.
SAMPLE: Final[dict[str, Any]] = {
    "devices": 500,
    "seed": 7,
    "epoch": DEFAULT_EPOCH,
    "incident": Incident(datetime(2026, 11, 18, 13, tzinfo=UTC)),
    "per_page": 50,
    "compresslevel": 9,
    "windows": {
        "last_seen": (DEFAULT_EPOCH - timedelta(hours=4), DEFAULT_EPOCH - timedelta(hours=3)),
        "hourly": (DEFAULT_EPOCH - timedelta(hours=24), DEFAULT_EPOCH),
        "raw": (DEFAULT_EPOCH - timedelta(hours=8), DEFAULT_EPOCH - timedelta(hours=1)),
    },
}


def sample_fleet() -> Fleet:
    """Return the fleet of the committed sample (see :data:`SAMPLE`).

    >>> sample_fleet().seed == SAMPLE["seed"]
    True
    """
    return Fleet(
        SAMPLE["devices"], seed=SAMPLE["seed"], incident=SAMPLE["incident"], epoch=SAMPLE["epoch"]
    )


def _gzip(body: bytes, level: int) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=level, mtime=0, filename="") as gz:
        gz.write(body)
    return buf.getvalue()


def _readme(counts: dict[str, tuple[int, int]]) -> str:
    incident: Incident = SAMPLE["incident"]
    windows: dict[str, tuple[datetime, datetime]] = SAMPLE["windows"]
    low, high = incident.loss_pct_points
    hs = incident.handshake_factor

    def iso(value: datetime) -> str:
        return value.strftime("%Y-%m-%d %H:%M UTC")

    rows = "\n".join(
        f"| `{source}` | {iso(windows[source][0])} | {iso(windows[source][1])} "
        f"| {counts[source][0]} | {counts[source][1]} |"
        for source in SOURCES
    )
    return f"""# Sample DEX fleet-status pages

Synthetic responses of `GET /accounts/{{account_id}}/dex/fleet-status/devices` (Cloudflare DEX
fleet status) for {SAMPLE["devices"]} simulated WARP clients, written by `dexkit.synth`. Each file
is one page exactly as the API sends it (the envelope with `result` and `result_info`, compact
JSON), gzip-compressed. Nothing real is described: people are `firstname.lastname@example.com`,
public addresses come from the documentation ranges (RFC 5737, RFC 3849).

## What is in it

- 30 colos of skewed sizes (FRA about 8 %), six platforms, five modes, a client rollout
  (2025.5 to 2025.10.186.0), four statuses; devices offline for stretches and a few stale ones.
- The API's habits: optional fields omitted by newer clients and `null` in records of
  2025.5/2025.7 clients, whole floats written as integers, `deviceRegistration` instead of
  `registrationId` from 2025.5 clients, `handshakeLatencyMs: -1` on some disconnected records,
  tunnel figures only on connected devices, battery fields only on laptops and mobiles.
- An incident from {iso(incident.start)} to {iso(incident.end)}: in colo {incident.colo}
  `estimatedLossPct` rises by {low:g}-{high:g} points, `handshakeLatencyMs` x{hs:g}
  and `rtt` x{incident.rtt_factor:g}; {incident.platform} clients {incident.version} use
  {incident.cpu_pct_points:g} more CPU points, most of it in the WARP process. Nothing changes
  outside that window.

## Parameters

`dexkit.synth.SAMPLE`: devices {SAMPLE["devices"]}, seed {SAMPLE["seed"]}, epoch \
{iso(SAMPLE["epoch"])}, {SAMPLE["per_page"]} records a page, gzip level \
{SAMPLE["compresslevel"]} (mtime 0, no file name).

| source | from | to (exclusive) | records | pages |
|---|---|---|---|---|
{rows}

`hourly` records are the raw sample at the top of each hour (not means); `last_seen` holds each
device's latest record in the window (the API allows at most 60 minutes for it).

## Layout

`{{last_seen,hourly,raw}}/page-NNNNN.json.gz`, pages numbered from 1, plus this file.

## Regenerate

    python -m dexkit.synth --out data/sample

Generation is deterministic: the decompressed bytes are the same on every run
(`tests/test_synth.py` regenerates the sample and compares it with these files).
"""


def write_sample(directory: str | Path) -> list[Path]:
    """Write the committed sample (see :data:`SAMPLE`) into ``directory``.

    Existing ``page-*.json.gz`` files of the three sources are replaced.

    Parameters
    ----------
    directory
        Where to write (created if needed), usually ``data/sample``.

    Returns
    -------
    list of Path
        The files written, sorted.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     files = write_sample(tmp)
    ...     [path.relative_to(tmp).as_posix() for path in files[:3]]
    ['README.md', 'hourly/page-00001.json.gz', 'hourly/page-00002.json.gz']
    """
    root = Path(directory)
    fleet = sample_fleet()
    written: list[Path] = []
    counts: dict[str, tuple[int, int]] = {}
    for source in SOURCES:
        folder = root / source
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("page-*.json.gz"):
            old.unlink()
        start, end = SAMPLE["windows"][source]
        bodies = fleet.pages(source, start, end, per_page=SAMPLE["per_page"])
        for number, body in enumerate(bodies, 1):
            path = folder / f"page-{number:05d}.json.gz"
            path.write_bytes(_gzip(body, SAMPLE["compresslevel"]))
            written.append(path)
        total = json.loads(bodies[0])["result_info"]["total_count"]
        counts[source] = (total, len(bodies))
    readme = root / "README.md"
    readme.write_bytes(_readme(counts).encode())  # "\n" line ends on every platform
    written.append(readme)
    return sorted(written)


def main(argv: Sequence[str] | None = None) -> int:
    """Regenerate the committed sample: ``python -m dexkit.synth [--out data/sample]``.

    Parameters
    ----------
    argv
        The command-line arguments (``sys.argv[1:]`` if omitted).

    Returns
    -------
    int
        The exit status (0).

    Examples
    --------
    >>> import contextlib, io
    >>> text = io.StringIO()
    >>> with contextlib.redirect_stdout(text), contextlib.suppress(SystemExit):
    ...     main(["--help"])
    >>> text.getvalue().startswith("usage: python -m dexkit.synth")
    True
    """
    parser = argparse.ArgumentParser(
        prog="python -m dexkit.synth",
        description="Regenerate the committed synthetic DEX sample (deterministic; see SAMPLE).",
    )
    parser.add_argument(
        "--out", default="data/sample", help="directory to write (default: %(default)s)"
    )
    parser.add_argument(
        "--logpush",
        default=None,
        metavar="DIR",
        help="write the committed Logpush archive (data/logpush) into DIR instead",
    )
    args = parser.parse_args(argv)
    if args.logpush:
        objects = write_logpush_sample(args.logpush)
        size = sum(path.stat().st_size for path in objects)
        print(f"wrote {len(objects)} Logpush objects to {args.logpush} ({size / 1e6:.2f} MB)")
        return 0
    files = write_sample(args.out)
    total = sum(path.stat().st_size for path in files)
    for source in SOURCES:
        part = [p for p in files if p.parent.name == source]
        size = sum(p.stat().st_size for p in part)
        print(f"{source}: {len(part)} pages, {size / 1e6:.2f} MB")
    print(f"wrote {len(files)} files to {args.out} ({total / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())


# ---------------------------------------------------------------------------------------------
# The same fleet as a Logpush archive (dataset dex_device_state_events)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogpushJob:
    """One Logpush job of a synthetic archive: its folder, timestamp format and fields.

    Parameters
    ----------
    name
        The job's folder in the archive (its destination path prefix).
    timestamp_format
        ``"unixnano"`` (integer nanoseconds), ``"unix"`` (integer seconds) or ``"rfc3339"``.
    fields
        The fields it exports (``None``: all of them, :data:`LOGPUSH_FIELDS`).
    until
        The job writes records before this instant (``None``: to the end); the next job takes
        over from there, as when a job is recreated with other settings.
    """

    name: str
    timestamp_format: Literal["unixnano", "unix", "rfc3339"]
    fields: tuple[str, ...] | None = None
    until: datetime | None = None


#: Every field of ``dex_device_state_events``, in the order the synthetic archive writes them.
LOGPUSH_FIELDS: Final = (
    "AccountID", "DeviceID", "DeviceRegistrationID", "DeviceRegistrationProfileID", "Timestamp",
    "ClientPlatform", "ClientVersion", "WarpColoCode", "Mode", "Status", "TunnelType",
    "DoHSubdomain", "AlwaysOn", "SwitchLocked", "FirewallEnabled", "AppFirewallEnabled",
    "CPUPercentage", "RAMUsedPercentage", "DiskUsagePercentage", "BatteryPercentage",
    "CPUPercentageByApp", "RAMUsedPercentageByApp", "BatteryCharging", "BatteryCycles",
    "RAMAvailableKB", "DiskReadBPS", "DiskWriteBPS", "ConnectionType", "NetworkSSID",
    "WiFiStrengthDBM", "NetworkReceivedBPS", "NetworkSentBPS", "HandshakeLatencyMs",
    "DeviceIPv4Address", "DeviceIPv4Netmask", "DeviceIPv6Address", "DeviceIPv6Netmask",
    "GatewayIPv4Address", "GatewayIPv4Netmask", "GatewayIPv6Address", "GatewayIPv6Netmask",
    "ISPIPv4Address", "ISPIPv4Netmask", "ISPIPv4ASN", "ISPIPv4ASO", "ISPIPv4City",
    "ISPIPv4CountryISO", "ISPIPv4StateISO", "ISPIPv4Zip",
    "ISPIPv6Address", "ISPIPv6Netmask", "ISPIPv6ASN", "ISPIPv6ASO", "ISPIPv6City",
    "ISPIPv6CountryISO", "ISPIPv6StateISO", "ISPIPv6Zip",
    "TunnelStatsUpstream", "TunnelStatsDownstream", "ExperimentalExtra",
)  # fmt: skip

#: A privacy-minded job's fields: no registration, addresses, SSID or geo below the country.
_PERSONAL: Final = frozenset(
    {"DeviceRegistrationID", "NetworkSSID", "ISPIPv4City", "ISPIPv4StateISO", "ISPIPv4Zip",
     "ISPIPv6City", "ISPIPv6StateISO", "ISPIPv6Zip"}
    | {f for f in LOGPUSH_FIELDS if f.endswith(("Address", "Netmask"))}
)  # fmt: skip
LOGPUSH_SUBSET: Final = tuple(f for f in LOGPUSH_FIELDS if f not in _PERSONAL)

_PERCENTS: Final = (
    ("cpuPct", "CPUPercentage"),
    ("ramUsedPct", "RAMUsedPercentage"),
    ("diskUsagePct", "DiskUsagePercentage"),
    ("batteryPct", "BatteryPercentage"),
)
_RENAMES: Final = (
    ("platform", "ClientPlatform"),
    ("version", "ClientVersion"),
    ("mode", "Mode"),
    ("status", "Status"),
    ("tunnelType", "TunnelType"),
    ("dohSubdomain", "DoHSubdomain"),
    ("alwaysOn", "AlwaysOn"),
    ("switchLocked", "SwitchLocked"),
    ("firewallEnabled", "FirewallEnabled"),
    ("batteryCharging", "BatteryCharging"),
    ("batteryCycles", "BatteryCycles"),
    ("ramAvailableKb", "RAMAvailableKB"),
    ("diskReadBps", "DiskReadBPS"),
    ("diskWriteBps", "DiskWriteBPS"),
    ("connectionType", "ConnectionType"),
    ("networkSsid", "NetworkSSID"),
    ("wifiStrengthDbm", "WiFiStrengthDBM"),
    ("networkRcvdBps", "NetworkReceivedBPS"),
    ("networkSentBps", "NetworkSentBPS"),
    ("handshakeLatencyMs", "HandshakeLatencyMs"),
)
_IP_KEYS: Final = (
    ("deviceIpv4", "DeviceIPv4"),
    ("deviceIpv6", "DeviceIPv6"),
    ("gatewayIpv4", "GatewayIPv4"),
    ("gatewayIpv6", "GatewayIPv6"),
    ("ispIpv4", "ISPIPv4"),
    ("ispIpv6", "ISPIPv6"),
)
_GEO: Final = (("city", "City"), ("country_iso", "CountryISO"), ("state_iso", "StateISO"),
               ("zip", "Zip"))  # fmt: skip
_TUNNEL: Final = (
    "packetsSent", "packetsLost", "packetsRetransmitted", "bytesSent", "bytesLost",
    "bytesRetransmitted",
)  # fmt: skip


def _fraction(value: float) -> float:
    """An API percentage (0-100) as Logpush writes it (0-1)."""
    return round(value / 100.0, 8)


def _api_seconds(stamp: str) -> int:
    return int(datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S+00").replace(tzinfo=UTC).timestamp())


def logpush_record(
    record: dict[str, Any],
    *,
    timestamp_format: str = "unixnano",
    fields: Sequence[str] | None = None,
    account_id: str = "0" * 32,
) -> dict[str, Any]:
    """Return one API record of :meth:`Fleet.records` as the Logpush dataset writes it.

    Percentages become fractions 0-1, IP objects flat fields, ``rtt``/``tunnelStats`` one
    object per direction; ``deviceName``, ``personEmail``, ``estimatedLossPct`` and ``metal``
    have no Logpush field. A disconnected record with ``handshakeLatencyMs = -1`` has no colo
    (``WarpColoCode = "none"``). Absent values are left out; ``fields`` keeps only those.

    >>> api = {"deviceId": "d1", "timestamp": "2026-11-18 14:00:00+00", "colo": "FRA",
    ...        "platform": "mac", "status": "connected", "mode": "warp", "version": "2025.9.1",
    ...        "cpuPct": 12.5, "rtt": {"rttUs": {"downstream": 900, "upstream": 1100}}}
    >>> row = logpush_record(api, timestamp_format="rfc3339")
    >>> row["Timestamp"], row["CPUPercentage"], row["TunnelStatsUpstream"]
    ('2026-11-18T14:00:00Z', 0.125, {'rttUs': 1100})
    """
    seconds = _api_seconds(record["timestamp"])
    if timestamp_format == "unixnano":
        stamp: int | str = seconds * 1_000_000_000
    elif timestamp_format == "unix":
        stamp = seconds
    elif timestamp_format == "rfc3339":
        stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    else:
        raise ConfigError(
            f"timestamp_format must be unixnano, unix or rfc3339: {timestamp_format!r}"
        )
    device_id: str = record["deviceId"]
    out: dict[str, Any] = {
        "AccountID": account_id,
        "DeviceID": device_id,
        "DeviceRegistrationID": record.get("registrationId") or record.get("deviceRegistration"),
        "DeviceRegistrationProfileID": f"profile-{record['platform']}",
        "Timestamp": stamp,
    }
    for api, name in _RENAMES:
        out[name] = record.get(api)
    colo = record.get("colo")
    if record.get("handshakeLatencyMs") == -1:
        colo = "none"
    out["WarpColoCode"] = colo
    if record.get("firewallEnabled") is not None:
        out["AppFirewallEnabled"] = (
            bool(record["firewallEnabled"]) and int(device_id[0], 16) % 3 != 0
        )
    for api, name in _PERCENTS:
        if record.get(api) is not None:
            out[name] = _fraction(record[api])
    for api, name, value in (
        ("cpuPctByApp", "CPUPercentageByApp", "cpu_pct"),
        ("ramUsedPctByApp", "RAMUsedPercentageByApp", "ram_used_pct"),
    ):
        if record.get(api) is not None:
            out[name] = [
                {"name": a["name"], "percentage": _fraction(a[value])} for a in record[api]
            ]
    for api, prefix in _IP_KEYS:
        obj = record.get(api)
        if not obj:
            continue
        out[f"{prefix}Address"] = obj.get("address")
        out[f"{prefix}Netmask"] = obj.get("netmask")
        if prefix.startswith("ISP"):
            out[f"{prefix}ASN"] = obj.get("asn")
            out[f"{prefix}ASO"] = obj.get("aso")
            location = obj.get("location") or {}
            for key, suffix in _GEO:
                out[f"{prefix}{suffix}"] = location.get(key)
    rtt, stats = record.get("rtt") or {}, record.get("tunnelStats") or {}
    for direction, name in (
        ("upstream", "TunnelStatsUpstream"),
        ("downstream", "TunnelStatsDownstream"),
    ):
        values: dict[str, Any] = {}
        for key in ("rttUs", "minRttUs", "rttVarUs"):
            if key in rtt:
                values[key] = rtt[key][direction]
        for key in _TUNNEL:
            if key in stats:
                values[key] = stats[key][direction]
        if values:
            out[name] = values
    if record.get("tunnelType") == "masque" and "rtt" in record:
        out["ExperimentalExtra"] = {"masqueVersion": "h3", "pmtu": 1350}
    keep = LOGPUSH_FIELDS if fields is None else fields
    return {name: out[name] for name in keep if out.get(name) is not None}


def _logpush_jobs(start: datetime) -> tuple[LogpushJob, ...]:
    return (
        LogpushJob("api-job", "unixnano", until=start + timedelta(hours=2)),
        LogpushJob("dashboard-job", "rfc3339", until=start + timedelta(hours=4)),
        LogpushJob("privacy-job", "unix", fields=LOGPUSH_SUBSET),
    )


def _compact(dt: datetime) -> str:
    return dt.strftime("%Y%m%dT%H%M%SZ")


def write_logpush(
    directory: str | Path,
    fleet: Fleet,
    start: datetime,
    end: datetime,
    *,
    jobs: Sequence[LogpushJob] | None = None,
    batch: timedelta = timedelta(minutes=30),
    max_records: int = 100_000,
    sample_rate: float | None = None,
    compresslevel: int = 6,
) -> list[Path]:
    """Write the fleet's raw records over ``[start, end)`` as a Logpush archive.

    Layout: ``<job>/<YYYYMMDD>/<first>_<last>_<8 hex>.log.gz``: one gzip NDJSON batch per
    ``batch`` of time (at most ``max_records`` records), in the ``{DATE}`` folder of the batch's
    start, named like Cloudflare's objects. Each record goes to the job active at its time (by
    default three jobs one after the other: ``unixnano`` with every field for two hours,
    ``rfc3339`` for two more, then ``unix`` with :data:`LOGPUSH_SUBSET`, no personal fields).

    Parameters
    ----------
    directory
        Where to write (created if needed).
    fleet, start, end
        The fleet and the window (raw records, one per online device per 10 minutes).
    jobs
        The jobs, in time order (see :class:`LogpushJob`).
    batch, max_records
        How a job cuts its batches.
    sample_rate
        Keep each record with this probability (a stable hash of device and time), as a
        sampled job does.
    compresslevel
        gzip level (files are reproducible: mtime 0, no name).

    Returns
    -------
    list of Path
        The objects written, sorted.

    Examples
    --------
    >>> import tempfile
    >>> from datetime import UTC, datetime
    >>> start = datetime(2026, 11, 18, 10, tzinfo=UTC)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     files = write_logpush(tmp, Fleet(20, seed=1), start, start.replace(hour=11))
    ...     [p.relative_to(tmp).as_posix() for p in files]  # doctest: +NORMALIZE_WHITESPACE
    ['api-job/20261118/20261118T100000Z_20261118T102000Z_1e10b37e.log.gz',
     'api-job/20261118/20261118T103000Z_20261118T105000Z_c71b6848.log.gz']
    """
    root = Path(directory)
    jobs = _logpush_jobs(_aware(start, "start")) if jobs is None else tuple(jobs)
    if not jobs:
        raise ConfigError("write_logpush(): jobs must name at least one LogpushJob")
    if sample_rate is not None and not 0 < sample_rate <= 1:
        raise ConfigError(f"sample_rate must be in (0, 1], got {sample_rate!r}")
    step = int(batch.total_seconds())
    if step <= 0 or step % _BUCKET:
        raise ConfigError(f"batch must be a positive multiple of 10 minutes, got {batch}")
    account = f"{_mix(fleet.seed, _S_ACCOUNT):016x}" * 2
    written: list[Path] = []
    groups: dict[tuple[int, int], list[dict[str, Any]]] = {}
    starts = [None if j.until is None else int(_aware(j.until, "until").timestamp()) for j in jobs]
    for record in fleet.records("raw", start, end):
        seconds = _api_seconds(record["timestamp"])
        rate = 1.0 if sample_rate is None else sample_rate
        if rate < 1 and _unit(int(record["deviceId"][:8], 16), seconds, 0x5A4D) >= rate:
            continue
        index = next(
            (i for i, until in enumerate(starts) if until is None or seconds < until), len(jobs) - 1
        )
        groups.setdefault((index, seconds // step), []).append(record)
    for (job_index, slot), records in sorted(groups.items()):
        job = jobs[job_index]
        for first in range(0, len(records), max_records):
            chunk = records[first : first + max_records]
            lo = datetime.fromtimestamp(_api_seconds(chunk[0]["timestamp"]), UTC)
            hi = datetime.fromtimestamp(_api_seconds(chunk[-1]["timestamp"]), UTC)
            body = b"".join(
                dumps(
                    logpush_record(
                        r,
                        timestamp_format=job.timestamp_format,
                        fields=job.fields,
                        account_id=account,
                    )
                )
                + b"\n"
                for r in chunk
            )
            tag = f"{_mix(fleet.seed, slot, first, job_index) & 0xFFFFFFFF:08x}"
            path = root / job.name / f"{lo:%Y%m%d}" / f"{_compact(lo)}_{_compact(hi)}_{tag}.log.gz"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(_gzip(body, compresslevel))
            written.append(path)
    return sorted(written)


#: The Logpush archive committed in ``data/logpush``: the sample fleet's raw window (the same
#: records as ``data/sample/raw``) written by the three default jobs.
LOGPUSH_SAMPLE: Final[dict[str, Any]] = {"compresslevel": 9, "batch": timedelta(minutes=30)}


def write_logpush_sample(directory: str | Path) -> list[Path]:
    """Write the committed Logpush archive (see :data:`LOGPUSH_SAMPLE`) into ``directory``.

    Existing ``.log.gz`` objects under ``directory`` are replaced.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     files = write_logpush_sample(tmp)
    ...     len(files), files[0].relative_to(tmp).parts[:2]
    (14, ('api-job', '20261118'))
    """
    root = Path(directory)
    for old in root.glob("*/*/*.log.gz"):
        old.unlink()
    start, end = SAMPLE["windows"]["raw"]
    return write_logpush(
        root,
        sample_fleet(),
        start,
        end,
        batch=LOGPUSH_SAMPLE["batch"],
        compresslevel=LOGPUSH_SAMPLE["compresslevel"],
    )
