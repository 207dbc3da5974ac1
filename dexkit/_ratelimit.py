"""The request limiter that keeps a client under Cloudflare's rate limit.

Cloudflare allows 1200 requests per 5 minutes per token and blocks every call for 5 minutes with
429 once that is exceeded. :class:`RateLimiter` keeps a sliding window like the server's, with
three additions no generic limiter offers together (why this is not ``aiolimiter``):

* a slot stays taken from the moment a request is sent until ``period`` seconds after its
  response arrived, so that however the network delays a request, the server can never see more
  than ``limit`` of them in one window;
* :meth:`RateLimiter.pause` stops *every* request, queued or about to be sent, until a deadline
  (a 429's ``Retry-After``);
* :meth:`RateLimiter.observe` reads the server's ``Ratelimit`` / ``Ratelimit-Policy`` headers (and
  the older ``X-RateLimit-*``): a stricter policy replaces the configured one, and requests that
  other tools spent from the same quota shrink this client's share until the window resets.

It is shared by all in-flight requests of a client, across calls, and safe to use from several
event loops (each call of a sync method runs its own).
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Mapping

__all__ = ["WINDOW", "RateLimiter", "WaitTooLong", "parse_ratelimit"]

log = logging.getLogger("dexkit")

#: Cloudflare's rate-limit window in seconds: no header is read as asking for a longer one.
WINDOW = 300.0

_PARAM = re.compile(r"(?<![\w-])([a-z]+)=([^;,\s]*)")


class WaitTooLong(Exception):
    """The server's headers ask for a wait longer than the caller accepts.

    Attributes
    ----------
    seconds
        How long the server asked for.
    why
        Which header asked, as the server sent it.
    """

    def __init__(self, seconds: float, why: str) -> None:
        super().__init__(f"the server asks to wait {seconds:g} s ({why})")
        self.seconds = seconds
        self.why = why


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_ratelimit(headers: Mapping[str, str], *, wall: float | None = None) -> dict[str, float]:
    """Read rate-limit headers into ``{"quota", "window", "remaining", "reset"}`` (those present).

    ``reset`` is in seconds from now. Values are kept to what Cloudflare can mean: ``window``
    and ``reset`` at most :data:`WINDOW` (300 s), ``remaining`` 0 or more, ``quota`` 1 or more.
    When ``remaining`` is 0, ``asked`` is the wait the headers ask for before the next request,
    as sent (``reset``, else ``window``), so that a caller can refuse an absurd one. A value that
    is not a number is ignored, with one DEBUG line.

    >>> parse_ratelimit(
    ...     {"Ratelimit": '"default";r=42;t=30', "Ratelimit-Policy": '"burst";q=1200;w=300'}
    ... )
    {'quota': 1200.0, 'window': 300.0, 'remaining': 42.0, 'reset': 30.0}
    >>> parse_ratelimit(
    ...     {"X-RateLimit-Limit": "1200", "X-RateLimit-Remaining": "-9", "X-RateLimit-Reset": "12"}
    ... )
    {'quota': 1200.0, 'remaining': 0.0, 'reset': 12.0, 'asked': 12.0}
    >>> parse_ratelimit({"Ratelimit": '"default";r=0;t=999999999'})
    {'remaining': 0.0, 'reset': 300.0, 'asked': 999999999.0}
    """
    lower = {k.lower(): v for k, v in headers.items()}
    policy = dict(_PARAM.findall(lower.get("ratelimit-policy", "")))
    state = dict(_PARAM.findall(lower.get("ratelimit", "")))
    texts = {
        "quota": policy.get("q", lower.get("x-ratelimit-limit")),
        "window": policy.get("w"),
        "remaining": state.get("r", state.get("remaining", lower.get("x-ratelimit-remaining"))),
        "reset": state.get("t", state.get("reset", lower.get("x-ratelimit-reset"))),
    }
    raw: dict[str, float] = {}
    ignored = []
    for name, text in texts.items():
        if text is None:
            continue
        value = _number(text)
        if value is None or (name in ("quota", "window") and value <= 0):
            ignored.append(f"{name}={text[:40]!r}")
        else:
            raw[name] = value
    if ignored:
        log.debug("ignored rate-limit header values that mean nothing: %s", ", ".join(ignored))
    if raw.get("reset", 0) > 1e9:  # an epoch time, as some X-RateLimit-Reset headers send
        raw["reset"] = raw["reset"] - (time.time() if wall is None else wall)
    out = dict(raw)
    if "quota" in out:
        out["quota"] = max(1.0, out["quota"])
    if "window" in out:
        out["window"] = min(WINDOW, out["window"])
    if "remaining" in out:
        out["remaining"] = max(0.0, out["remaining"])
    if "reset" in out:
        out["reset"] = min(WINDOW, max(0.0, out["reset"]))
    if out.get("remaining") == 0:
        out["asked"] = max(0.0, raw.get("reset", raw.get("window", WINDOW)))
    return out


class RateLimiter:
    """A sliding-window limiter with a global pause, fed by the server's rate-limit headers.

    Parameters
    ----------
    limit, period
        At most ``limit`` requests in any ``period`` seconds.
    clock
        A monotonic clock (seconds); injectable for tests.

    Attributes
    ----------
    windows
        Every ``(limit, period)`` enforced: the configured one and any stricter policy the server
        announced (a burst window, say).

    Examples
    --------
    >>> import asyncio
    >>> limiter = RateLimiter(2, 60.0)
    >>> async def two() -> list[float]:
    ...     waits = [await limiter.acquire(), await limiter.acquire()]
    ...     limiter.release()
    ...     limiter.release()
    ...     return waits
    >>> asyncio.run(two())
    [0.0, 0.0]
    >>> round(limiter.delay())  # a third request would wait for the window
    60
    """

    def __init__(
        self, limit: int, period: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if limit < 1 or period <= 0:
            raise ValueError(
                f"rate limit must be at least 1 request per positive period, got {limit}/{period}"
            )
        self.windows: list[tuple[int, float]] = [(int(limit), float(period))]
        self._clock = clock
        self._lock = threading.Lock()
        self._released: list[float] = []  # sorted times at which requests were answered
        self._inflight = 0
        self._paused_until = 0.0
        # requests other clients spent from the server's quota: (period, count, until)
        self._foreign: tuple[float, int, float] = (0.0, 0, 0.0)
        # what the server's headers asked for, as sent: (seconds, which header said so)
        self._policies: dict[tuple[int, float], tuple[float, str]] = {}
        self._demand: tuple[float, str] = (0.0, "")

    def __repr__(self) -> str:
        rules = ", ".join(f"{n} requests / {p:g} s" for n, p in self.windows)
        return f"RateLimiter({rules})"

    @property
    def paused_for(self) -> float:
        """Seconds left of the current pause (0 when not paused)."""
        return max(0.0, self._paused_until - self._clock())

    def delay(self) -> float:
        """Seconds until a request could be sent now (0 when it can go)."""
        with self._lock:
            return self._delay(self._clock())[0]

    def _delay(self, now: float) -> tuple[float, float, str]:
        """Seconds to wait; and, when the server's headers set that wait, what they asked."""
        if now < self._paused_until:
            return self._paused_until - now, 0.0, ""
        horizon = max(period for _, period in self.windows)
        del self._released[: bisect.bisect_right(self._released, now - horizon)]
        f_period, f_count, f_until = self._foreign
        worst, asked, why = 0.0, 0.0, ""
        for index, (limit, period) in enumerate(self.windows):
            foreign = period == f_period and now < f_until
            cap = limit - (f_count if foreign else 0)
            inside = self._released[bisect.bisect_right(self._released, now - period) :]
            used = len(inside) + self._inflight
            if used < cap:
                continue
            ask, text = self._policies.get((limit, period), (0.0, "")) if index else (0.0, "")
            if cap <= 0:
                wait = f_until - now
                ask, text = self._demand
            elif used - cap < len(inside):
                # wait until enough answered requests have left the window
                wait = inside[used - cap] + period - now
                if foreign:
                    wait = min(wait, f_until - now)
                    if wait == f_until - now:
                        ask, text = self._demand
            else:
                wait = 0.01  # every slot is in flight: look again shortly
                ask, text = 0.0, ""
            wait = max(wait, 1e-3)
            if wait > worst:
                worst, asked, why = wait, ask, text
        return worst, asked, why

    async def acquire(self, *, max_wait: float = math.inf) -> float:
        """Wait for a slot and take it; return the seconds waited. Pair with :meth:`release`.

        Raises :class:`WaitTooLong`, taking no slot, when the server's rate-limit headers ask
        for a wait longer than ``max_wait`` (the configured limit never does).
        """
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                wait, asked, why = self._delay(now)
                if wait <= 0:
                    self._inflight += 1
                    return waited
                if asked and max(asked, wait) > max_wait:
                    raise WaitTooLong(max(asked, wait), why)
            await asyncio.sleep(wait)
            waited += wait

    def release(self) -> None:
        """Mark a request as answered (or failed): it counts until ``period`` from now."""
        with self._lock:
            self._inflight = max(0, self._inflight - 1)
            bisect.insort(self._released, self._clock())

    def pause(self, seconds: float) -> float:
        """Hold every request for ``seconds`` (a 429's ``Retry-After``); return the deadline."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)
            return self._paused_until

    def observe(self, headers: Mapping[str, str]) -> str | None:
        """Learn from a response's rate-limit headers (call before :meth:`release`).

        Returns a sentence to log when the limiter took on a new policy, else ``None``.
        """
        info = parse_ratelimit(headers)
        if not info:
            return None
        note = None
        with self._lock:
            now = self._clock()
            quota, window = info.get("quota"), info.get("window")
            if quota and window and (int(quota), window) not in self.windows:
                stricter = all(
                    quota < limit or quota / window < limit / period
                    for limit, period in self.windows
                )
                if stricter:
                    self.windows.append((max(1, int(quota)), window))
                    sent = _sent(headers, "ratelimit-policy")
                    self._policies[(max(1, int(quota)), window)] = (
                        _raw_window(sent, window),
                        f"Ratelimit-Policy: {sent[:80]!r}",
                    )
                    note = (
                        f"following the server's rate-limit policy of {quota:g} requests / "
                        f"{window:g} s"
                    )
            limit, period = (int(quota), window) if quota and window else self.windows[0]
            remaining = info.get("remaining")
            if remaining is not None:
                ours = len(self._released) - bisect.bisect_right(self._released, now - period)
                foreign = int(limit - remaining - ours - self._inflight)
                until = now + max(info.get("reset", period), 1.0)
                self._foreign = (period, foreign, until) if foreign > 0 else (period, 0, 0.0)
                self._demand = (0.0, "")
                if "asked" in info:
                    names = ("Ratelimit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
                    sent = "; ".join(
                        f"{n}: {_sent(headers, n)[:60]!r}" for n in names if _sent(headers, n)
                    )
                    self._demand = (info["asked"], sent)
        return note


def _sent(headers: Mapping[str, str], name: str) -> str:
    """A header's value as sent ('' when absent), whatever the case of its name."""
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return ""


def _raw_window(policy: str, window: float) -> float:
    """The policy's window as sent (before it was kept to :data:`WINDOW`)."""
    sent = _number(dict(_PARAM.findall(policy)).get("w", ""))
    return sent if sent is not None else window
