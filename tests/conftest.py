"""Shared fixtures: a clean environment, a fake Cloudflare API and clients for it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dexkit.client import Client
from dexkit.testing import FakeCloudflare


@pytest.fixture(autouse=True)
def _no_cloudflare_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: Any) -> None:
    """No test sees the developer's real Cloudflare credentials or writes to their store."""
    for name in list(os.environ):
        if name.startswith("CLOUDFLARE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DEXKIT_STORE", str(tmp_path_factory.mktemp("dexkit-store")))


@pytest.fixture
def window() -> tuple[datetime, datetime]:
    """A 30-minute window ending now, as absolute times (so that every call asks the same)."""
    end = datetime.now(UTC).replace(microsecond=0)
    return end - timedelta(minutes=30), end


@pytest.fixture
def api() -> Iterator[FakeCloudflare]:
    """A fake API with 300 devices (7 pages of 50 for ``last_seen``), no latency."""
    with FakeCloudflare(devices=300, seed=1) as fake:
        yield fake


@pytest.fixture
def make_client() -> Callable[..., Client]:
    """Build a client for a fake, quiet and with fast retries unless told otherwise."""

    def make(fake: FakeCloudflare, **options: Any) -> Client:
        options = {"progress": False, "backoff": 0.01, **options}
        return Client(fake.account_id, fake.api_token, base_url=fake.base_url, **options)

    return make
