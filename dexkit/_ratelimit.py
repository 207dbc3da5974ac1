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
import re
import threading
import time
from collections.abc import Callable, Mapping

__all__ = ["RateLimiter", "parse_ratelimit"]

_PARAM = re.compile(r"\b([a-z]+)=([0-9.]+)")


def parse_ratelimit(headers: Mapping[str, str], *, wall: float | None = None) -> dict[str, float]:
    """Read rate-limit headers into ``{"quota", "window", "remaining", "reset"}`` (those present).

    ``reset`` is in seconds from now.

    >>> parse_ratelimit(
    ...     {"Ratelimit": '"default";r=42;t=30', "Ratelimit-Policy": '"burst";q=1200;w=300'}
    ... )
    {'quota': 1200.0, 'window': 300.0, 'remaining': 42.0, 'reset': 30.0}
    >>> parse_ratelimit(
    ...     {"X-RateLimit-Limit": "1200", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "12"}
    ... )
    {'quota': 1200.0, 'remaining': 0.0, 'reset': 12.0}
    """
    out: dict[str, float] = {}
    lower = {k.lower(): v for k, v in headers.items()}
    policy = dict(_PARAM.findall(lower.get("ratelimit-policy", "")))
    if "q" in policy:
        out["quota"] = float(policy["q"])
    if "w" in policy:
        out["window"] = float(policy["w"])
    state = dict(_PARAM.findall(lower.get("ratelimit", "")))
    values = {
        "quota": lower.get("x-ratelimit-limit"),
        "remaining": state.get("r", state.get("remaining", lower.get("x-ratelimit-remaining"))),
        "reset": state.get("t", state.get("reset", lower.get("x-ratelimit-reset"))),
    }
    for name, value in values.items():
        if value is not None and name not in out:
            try:
                out[name] = float(value)
            except ValueError:
                continue
    if out.get("reset", 0) > 1e9:  # an epoch time, as some X-RateLimit-Reset headers send
        out["reset"] = max(0.0, out["reset"] - (time.time() if wall is None else wall))
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
            return self._delay(self._clock())

    def _delay(self, now: float) -> float:
        if now < self._paused_until:
            return self._paused_until - now
        horizon = max(period for _, period in self.windows)
        del self._released[: bisect.bisect_right(self._released, now - horizon)]
        f_period, f_count, f_until = self._foreign
        worst = 0.0
        for limit, period in self.windows:
            cap = limit - (f_count if period == f_period and now < f_until else 0)
            inside = self._released[bisect.bisect_right(self._released, now - period) :]
            used = len(inside) + self._inflight
            if used < cap:
                continue
            if cap <= 0:
                wait = f_until - now
            elif used - cap < len(inside):
                # wait until enough answered requests have left the window
                wait = inside[used - cap] + period - now
                if now < f_until and period == f_period:
                    wait = min(wait, f_until - now)
            else:
                wait = 0.01  # every slot is in flight: look again shortly
            worst = max(worst, wait, 1e-3)
        return worst

    async def acquire(self) -> float:
        """Wait for a slot and take it; return the seconds waited. Pair with :meth:`release`."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                wait = self._delay(now)
                if wait <= 0:
                    self._inflight += 1
                    return waited
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
        return note
