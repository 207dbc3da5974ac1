"""The client's bounds in time, memory and requests, against servers that misbehave on purpose.

Every server here is real (a socket on 127.0.0.1): ``tests.hostile.HostileServer`` for what no
honest server sends, ``dexkit.testing.FakeCloudflare`` for the rest.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from dexkit.client import API_BASE, Client
from dexkit.errors import ConfigError
from dexkit.testing import FakeCloudflare
from tests.hostile import ACCOUNT

Window = tuple[datetime, datetime]


def window_now() -> Window:
    end = datetime.now(UTC).replace(microsecond=0)
    return end - timedelta(minutes=30), end


# -- cleartext and the base URL ------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://api.cloudflare.com/client/v4",
        "http://10.0.0.5:8080/client/v4",
        "http://[2001:db8::1]/client/v4",
        "http://localhost.example.com/client/v4",
        "http://0.0.0.0:8080/client/v4",
    ],
)
def test_http_to_a_remote_host_is_refused(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="clear text: use https://") as info:
        Client(ACCOUNT, "tok-secret", base_url=url)
    assert "tok-secret" not in str(info.value)
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", url)
    with pytest.raises(ConfigError, match=r"CLOUDFLARE_BASE_URL .* clear text"):
        Client(ACCOUNT, "tok-secret")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/client/v4",
        "http://127.3.2.1/client/v4",
        "http://[::1]:8080/client/v4",
        "http://localhost:8080/client/v4",
        "http://LOCALHOST/client/v4",
        "https://dex.example.com/client/v4",
    ],
)
def test_loopback_http_and_any_https_are_allowed(url: str) -> None:
    assert Client(ACCOUNT, "tok", base_url=url).base_url.lower() == url.lower()


def test_base_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Client(ACCOUNT, "tok").base_url == API_BASE
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", "")
    assert Client(ACCOUNT, "tok").base_url == API_BASE  # empty means unset, as on the CLI
    with FakeCloudflare(devices=60, seed=1) as api:
        monkeypatch.setenv("CLOUDFLARE_BASE_URL", api.base_url)
        monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", api.account_id)
        monkeypatch.setenv("CLOUDFLARE_API_TOKEN", api.api_token)
        client = Client(progress=False)
        assert client.base_url == api.base_url
        assert client.devices(*window_now()).height > 0
        assert len(api.requests) >= 1
        # the argument wins over the environment
        assert Client(base_url=API_BASE).base_url == API_BASE
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", "not a url")
    with pytest.raises(ConfigError, match="CLOUDFLARE_BASE_URL must be an http"):
        Client()


# -- settings are fixed at construction ----------------------------------------------------------


@pytest.mark.timeout(30)
def test_settings_cannot_be_broken_after_construction() -> None:
    with FakeCloudflare(devices=60, seed=1) as api:
        client = Client(api.account_id, api.api_token, base_url=api.base_url, progress=False)
        for name, value in [
            ("concurrency", 0),
            ("retries", -1),
            ("timeout", "soon"),
            ("max_requests", 0),
            ("base_url", "http://example.com"),
            ("account_id", "../other"),
            ("_limiter", None),
        ]:
            with pytest.raises(AttributeError, match=f"read-only: '{name}' cannot be set"):
                setattr(client, name, value)
        with pytest.raises(AttributeError, match="read-only"):
            del client.concurrency
        assert (client.concurrency, client.retries, client.max_requests) == (4, 5, 1000)
        assert client.plan(*window_now()).pages == 2  # before: concurrency=0 made this hang


# -- the limiter never leaks ---------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_cancelled_calls_leave_the_client_usable() -> None:
    with FakeCloudflare(devices=300, seed=1, latency=3.0) as api:
        # two requests may be in flight in the whole limiter: two leaked slots would block it
        client = Client(
            api.account_id,
            api.api_token,
            base_url=api.base_url,
            concurrency=2,
            rate_limit=(2, 0.2),
            progress=False,
        )
        window = window_now()

        async def cancel_in_flight() -> None:
            sent = len(api.requests)
            task = asyncio.create_task(client.adevices(*window))
            give_up = time.monotonic() + 10
            while len(api.requests) == sent:  # wait until the request is at the server
                assert time.monotonic() < give_up, "the call never sent a request"
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        for _ in range(3):
            asyncio.run(cancel_in_flight())
        with pytest.raises(TimeoutError):
            asyncio.run(asyncio.wait_for(client.adevices(*window), 1.5))
        # every call had a request in flight when it was cancelled; a leaked slot would have
        # kept the later calls from sending at all
        assert len(api.requests) == 4
        api.latency = 0.0
        frame = asyncio.run(asyncio.wait_for(client.adevices(*window), 20))
        assert frame.height == len(api.fleet.records("last_seen", *window))
