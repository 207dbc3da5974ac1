"""Answer a synthetic fleet's listings page by page, without building the window.

:class:`FleetIndex` is how :class:`dexkit.testing.FakeCloudflare` serves 100,000 devices over a
7-day window: it keeps the fleet's per-device schedule (offline stretches, roaming, status) as
numpy arrays and evaluates :class:`dexkit.synth.Fleet`'s stable hashes for every device of one
10-minute bucket at once. A listing's size is a sum of per-bucket counts (one vectorised pass
per bucket, cached), and a page is located by a binary search over those counts; only the
page's own records are generated (:meth:`Fleet._record`). Everything agrees with
:meth:`Fleet.records` record for record.

>>> from datetime import UTC, datetime, timedelta
>>> from dexkit.synth import Fleet
>>> fleet = Fleet(300, seed=3, countable=True)
>>> index = FleetIndex(fleet)
>>> start = datetime(2026, 11, 18, 10, tzinfo=UTC)
>>> listing = index.listing("raw", start, start + timedelta(hours=2))
>>> listing.total == len(fleet.records("raw", start, start + timedelta(hours=2)))
True
>>> listing.slice(100, 103) == fleet.records("raw", start, start + timedelta(hours=2))[100:103]
True
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from dexkit.errors import ConfigError
from dexkit.synth import (
    _BUCKET,
    _COLOS,
    _HOUR,
    _S_FLICKER,
    _S_NET,
    _S_OFFLINE,
    _S_RECORD,
    _S_STATUS,
    Fleet,
    _Hashes,
)

__all__ = ["FleetIndex", "Listing"]

_U64 = np.uint64
_MASK = (1 << 64) - 1
_NEVER = np.int64(1 << 62)
#: Per-bucket columns kept (one byte a device each: about 100 MB at 100,000 devices), enough
#: for the kinds of every block of a 7-day window.
_COLUMNS = 1024
#: Status codes, in the order of the thresholds of ``Fleet._record``.
STATUSES = ("connected", "disconnected", "paused", "connecting")
_STATIC = ("platform", "mode", "version")

Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]


def _mix(
    parts: Sequence[int | npt.NDArray[Any]],
    size: int,
    state: npt.NDArray[np.uint64] | None = None,
) -> npt.NDArray[np.uint64]:
    """``synth._mix`` over arrays: the same splitmix64 chain, element-wise (uint64 wraps).

    ``state`` is the chain after some first parts (``_mix(first, size)``): the hash of
    ``first + parts`` is then ``_mix(parts, size, state)``, at the cost of ``parts`` only.
    """
    h = np.full(size, 0x9E3779B97F4A7C15, dtype=_U64) if state is None else state.copy()
    m1, m2 = _U64(0xBF58476D1CE4E5B9), _U64(0x94D049BB133111EB)
    s31, s29 = _U64(31), _U64(29)
    for part in parts:
        if isinstance(part, np.ndarray):
            h ^= part.astype(_U64)
        else:
            h ^= _U64(part & _MASK)
        h *= m1
        h ^= h >> s31
        h *= m2
        h ^= h >> s29
    return h


def _unit(
    parts: Sequence[int | npt.NDArray[Any]],
    size: int,
    state: npt.NDArray[np.uint64] | None = None,
) -> npt.NDArray[np.float64]:
    return _mix(parts, size, state).astype(np.float64) / float(1 << 64)


def _codes(values: Sequence[str]) -> tuple[Ints, list[str]]:
    names = sorted(set(values))
    lookup = {name: i for i, name in enumerate(names)}
    return np.array([lookup[v] for v in values], dtype=np.int64), names


class FleetIndex:
    """A vectorised view of a :class:`~dexkit.synth.Fleet`'s schedule (built once, thread-safe).

    Parameters
    ----------
    fleet
        A fleet built with ``countable=True``. Its roster is built on first use (seconds at
        100,000 devices).

    Raises
    ------
    ConfigError
        The fleet is not countable (its status flickers come from each record's random stream).

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> from dexkit.synth import Fleet
    >>> index = FleetIndex(Fleet(50, seed=1, countable=True))
    >>> start = datetime(2026, 11, 18, 14, tzinfo=UTC)
    >>> index.listing("last_seen", start, start.replace(minute=30), {"colo": "XXX"}).total
    0
    """

    def __init__(self, fleet: Fleet) -> None:
        if not fleet.countable:
            raise ConfigError("FleetIndex needs a fleet built with countable=True")
        self.fleet = fleet
        self._lock = threading.Lock()
        self._ready = False
        self._columns: OrderedDict[tuple[str, int], npt.NDArray[Any]] = OrderedDict()
        self._listings: OrderedDict[tuple[Any, ...], Listing] = OrderedDict()

    def build(self) -> FleetIndex:
        """Build the roster and the per-device arrays now (else on first use); return ``self``."""
        with self._lock:
            if self._ready:
                return self
            roster, order = self.fleet._roster()
            n = len(roster)
            self.n = n
            self.roster = roster  # by device index
            # Every per-device array is in deviceId order, the order of a bucket's records:
            # position p holds device index[p].
            self.index = np.array(order, dtype=np.int64)
            devices = [roster[i] for i in order]
            # The hash chain after (seed, device): every per-device hash goes on from it.
            self.chain = _mix((self.fleet.seed, self.index), n)
            self.phase = np.array([d.offline_phase for d in devices], dtype=np.int64)
            self.share = np.array([d.offline_share for d in devices], dtype=np.float64)
            self.stale = np.array(
                [
                    _NEVER if d.stale_since is None else -(-d.stale_since // _BUCKET)
                    for d in devices
                ],
                dtype=np.int64,
            )
            self.colo_names = sorted(_COLOS)
            lookup = {name: i for i, name in enumerate(self.colo_names)}
            self.home = np.array([lookup[d.colo] for d in devices], dtype=np.int64)
            self.neighbour = np.array(
                [lookup[_COLOS[d.colo].neighbour] for d in devices], dtype=np.int64
            )
            self.static: dict[str, tuple[Ints, list[str]]] = {
                name: _codes([getattr(d, name) for d in devices]) for name in _STATIC
            }
            self.ids = {d.device_id: position for position, d in enumerate(devices)}
            incident = self.fleet.incident
            self.cpu_hit = np.zeros(n, dtype=np.bool_)
            if incident is not None:
                self.cpu_hit = np.array(
                    [
                        d.platform == incident.platform and d.version == incident.version
                        for d in devices
                    ],
                    dtype=np.bool_,
                )
            self._ready = True
        return self

    # -- per-bucket columns (cached) --------------------------------------------------------

    def _column(self, kind: str, block: int, make: Callable[[int], npt.NDArray[Any]]) -> Any:
        key = (kind, block)
        with self._lock:
            found = self._columns.get(key)
            if found is not None:
                self._columns.move_to_end(key)
                return found
        value = make(block)
        with self._lock:
            self._columns[key] = value
            while len(self._columns) > _COLUMNS:
                self._columns.popitem(last=False)
        return value

    def _block(self, kind: str, bucket: int, size: int, make: Callable[[int], Any]) -> Any:
        """A per-device value constant over ``(bucket + phase) // size`` blocks, at ``bucket``."""
        base = bucket // size
        offset = (bucket % size + self.phase) // size  # phase < 12: at most two blocks on
        out = self._column(kind, base, make)
        for step in range(1, (size + 10) // size + 1):
            out = np.where(offset == step, self._column(kind, base + step, make), out)
        return out

    def online(self, bucket: int) -> Bools:
        """Which devices (by position) report in raw bucket ``bucket``."""

        def make(block: int) -> Bools:
            u = _unit((block, _S_OFFLINE), self.n, self.chain)
            return np.asarray(u >= self.share)

        return np.asarray(self._block("online", bucket, 12, make) & (bucket < self.stale))

    def colo(self, bucket: int) -> Ints:
        """The colo code (index into ``colo_names``) of each device's record in ``bucket``."""

        def make(block: int) -> Bools:
            h = _mix((block, _S_NET), self.n, self.chain)
            return np.asarray((h >> _U64(42)).astype(np.float64) / 4194304.0 < 0.02)

        roams = self._block("roam", bucket, 12, make)
        return np.where(roams, self.neighbour, self.home)

    def status(self, bucket: int, colo: Ints | None = None) -> Ints:
        """The status code (index into :data:`STATUSES`) of each device's record in ``bucket``."""

        def make(block: int) -> npt.NDArray[np.int8]:
            u = _unit((block, _S_STATUS), self.n, self.chain)
            cut = np.searchsorted(np.array([0.905, 0.95, 0.985]), u, side="right")
            return np.asarray(cut, dtype=np.int8)

        status = np.array(self._block("status", bucket, 6, make), dtype=np.int64)
        u = _unit((bucket, _S_FLICKER), self.n, self.chain)
        connected = status == 0
        incident, window = self.fleet.incident, self.fleet._window
        if incident is not None and window[0] <= bucket * _BUCKET < window[1]:
            where = self.colo(bucket) if colo is None else colo
            hit = where == self.colo_names.index(incident.colo)
        else:
            hit = np.zeros(self.n, dtype=np.bool_)
        connecting = connected & ((u < 0.01) | (hit & (u < 0.07)))
        disconnected = connected & ~connecting & hit & (u < 0.09)
        status[connecting] = 3
        status[disconnected] = 1
        return status

    def hashes(self, positions: npt.NDArray[np.integer[Any]], bucket: int) -> list[_Hashes]:
        """:meth:`Fleet._hashes` of the records in ``bucket`` of the devices at ``positions``."""
        size, chain, phase = len(positions), self.chain[positions], self.phase[positions]
        record = _mix((bucket, _S_RECORD), size, chain).tolist()
        net = _mix(((bucket + phase) // 12, _S_NET), size, chain).tolist()
        status = _mix(((bucket + phase) // 6, _S_STATUS), size, chain).tolist()
        flicker = _mix((bucket, _S_FLICKER), size, chain).tolist()
        return [_Hashes(*row) for row in zip(record, net, status, flicker, strict=True)]

    def field(self, name: str, bucket: int) -> tuple[Ints, list[str]]:
        """The codes and names of a record field (colo, status, platform, mode, version)."""
        if name == "colo":
            return self.colo(bucket), self.colo_names
        if name == "status":
            return self.status(bucket), list(STATUSES)
        return self.static[name]

    def match(self, filters: Mapping[str, str], bucket: int) -> Bools | None:
        """Which devices' records in ``bucket`` pass ``filters`` (``None``: no filter)."""
        mask: Bools | None = None
        for name, value in filters.items():
            if name == "device_id":
                part = np.zeros(self.n, dtype=np.bool_)
                if value in self.ids:
                    part[self.ids[value]] = True
            else:
                codes, names = self.field(name, bucket)
                part = codes == names.index(value) if value in names else np.zeros_like(codes, bool)
            mask = part if mask is None else mask & part
        return mask

    # -- listings ---------------------------------------------------------------------------

    def listing(
        self,
        source: str,
        start: datetime,
        end: datetime,
        filters: Mapping[str, str] | None = None,
    ) -> Listing:
        """The listing of ``source`` over ``[start, end)`` sorted by timestamp, then device id.

        Cached: the last 64 listings are kept (their per-bucket counts, not their records).
        """
        self.build()
        flt = dict(sorted((filters or {}).items()))
        key = (source, start, end, tuple(flt.items()))
        with self._lock:
            found = self._listings.get(key)
            if found is not None:
                self._listings.move_to_end(key)
                return found
        made = self._make(source, start, end, flt)
        with self._lock:
            self._listings[key] = made
            while len(self._listings) > 64:
                self._listings.popitem(last=False)
        return made

    def _make(self, source: str, start: datetime, end: datetime, flt: dict[str, str]) -> Listing:
        step = _HOUR if source == "hourly" else _BUCKET
        buckets = list(Fleet._buckets(start, end, step))
        latest: Ints | None = None
        if source == "last_seen":
            latest = np.full(self.n, -1, dtype=np.int64)
            for bucket in reversed(buckets):
                latest[(latest < 0) & self.online(bucket)] = bucket
        listing = Listing(self, buckets, flt, latest)
        return listing


@dataclass
class Listing:
    """One listing: the buckets it spans, how many records each holds, and how to get them."""

    index: FleetIndex
    buckets: list[int]
    filters: dict[str, str]
    latest: Ints | None  # last_seen: each device's latest online bucket (-1: none)

    def __post_init__(self) -> None:
        counts = [int(np.count_nonzero(self.mask(b))) for b in self.buckets]
        self.counts = np.array(counts, dtype=np.int64)
        self.ends = np.cumsum(self.counts)
        self.total = int(self.ends[-1]) if len(counts) else 0
        # The positions of the last bucket a page was taken from: a client reading the
        # listing in order takes hundreds of pages from one bucket.
        self._recent: tuple[int, npt.NDArray[np.int32]] | None = None

    def mask(self, bucket: int) -> Bools:
        """Which devices (by position) have a record of this listing in ``bucket``."""
        index = self.index
        here = index.online(bucket) if self.latest is None else self.latest == bucket
        match = index.match(self.filters, bucket)
        return here if match is None else here & match

    def positions(self, bucket: int) -> npt.NDArray[np.int32]:
        """The positions (deviceId order) of the devices with a record in ``bucket``."""
        recent = self._recent
        if recent is not None and recent[0] == bucket:
            return recent[1]
        positions = np.flatnonzero(self.mask(bucket)).astype(np.int32)
        self._recent = (bucket, positions)
        return positions

    def slice(self, lo: int, hi: int, *, shared: bool = False) -> list[dict[str, Any]]:
        """Records ``lo`` to ``hi`` (exclusive), as :meth:`Fleet.records` lists them.

        With ``shared``, records share their address objects with other records (see
        ``Fleet._record``): for a caller that serializes them at once.
        """
        lo, hi = max(lo, 0), min(hi, self.total)
        out: list[dict[str, Any]] = []
        if lo >= hi:
            return out
        index = self.index
        k = int(np.searchsorted(self.ends, lo, side="right"))
        while lo < hi and k < len(self.buckets):
            bucket = self.buckets[k]
            first = int(self.ends[k] - self.counts[k])
            positions = self.positions(bucket)[lo - first : hi - first]
            hashes = index.hashes(positions, bucket)
            out.extend(
                index.fleet._record(index.roster[i], bucket, h, shared=shared)
                for i, h in zip(index.index[positions].tolist(), hashes, strict=True)
            )
            lo = int(self.ends[k])
            k += 1
        return out

    def tally(self, fields: Sequence[str]) -> tuple[int, dict[str, list[tuple[int, str, int]]]]:
        """Distinct devices over the listing, and ``(bucket, value, devices)`` per field."""
        index = self.index
        seen = np.zeros(index.n, dtype=np.bool_)
        out: dict[str, list[tuple[int, str, int]]] = {name: [] for name in fields}
        for bucket, count in zip(self.buckets, self.counts.tolist(), strict=True):
            if not count:
                continue
            mask = self.mask(bucket)
            seen |= mask
            for name in fields:
                codes, names = index.field(name, bucket)
                per = np.bincount(codes[mask], minlength=len(names))
                out[name].extend(
                    (bucket, names[c], int(per[c])) for c in np.flatnonzero(per).tolist()
                )
        return int(np.count_nonzero(seen)), out
