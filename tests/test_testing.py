"""FakeCloudflare itself: envelope, paging, rules, auth, rate limit, faults, and the spec."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from dexkit.testing import FAULTS, FakeCloudflare, iter_faults

SPEC = Path(__file__).resolve().parents[2] / "shared/ref/cloudflare-dex-openapi.json"
NOW = datetime(2026, 11, 18, 14, 20, tzinfo=UTC)


def _json_schema(node: Any) -> Any:
    """Translate OpenAPI 3.0 schema objects to JSON Schema (``nullable`` → a null type)."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _json_schema(v) for k, v in node.items() if k not in ("nullable", "example")}
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        if "$ref" in out or "allOf" in out:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@pytest.fixture(scope="module")
def validate() -> Any:
    spec = orjson.loads(SPEC.read_bytes())
    # ../shared/API.md: "Any optional field may be absent or `null`" (clients 2025.5 and 2025.7
    # spell absent fields as null); the reconstructed record schema marks only some as nullable.
    device = spec["components"]["schemas"]["digital-experience-monitoring_device"]
    for name, prop in device["properties"].items():
        if name not in device["required"]:
            prop["nullable"] = True
    spec = _json_schema(spec)
    spec["$id"] = "urn:dexkit:spec"
    resource = Resource.from_contents(spec, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource("urn:dexkit:spec", resource)

    def check(body: Any, name: str) -> None:
        schema = {
            "$ref": f"urn:dexkit:spec#/components/schemas/digital-experience-monitoring_{name}"
        }
        Draft202012Validator(schema, registry=registry).validate(body)

    return check


@pytest.fixture
def fixed() -> Iterator[FakeCloudflare]:
    """A fake whose clock stands still at NOW."""
    with FakeCloudflare(devices=120, seed=4, now=NOW) as fake:
        yield fake


def get(
    api: FakeCloudflare, op: str = "devices", *, auth: dict[str, str] | None = None, **params: Any
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {api.api_token}"} if auth is None else auth
    url = f"{api.base_url}/accounts/{api.account_id}/dex/{op}"
    return httpx.get(url, params=params, headers=headers, timeout=10)


def window(minutes: int = 30, **extra: Any) -> dict[str, Any]:
    return {
        "from": (NOW - timedelta(minutes=minutes)).isoformat(),
        "to": NOW.isoformat(),
        "page": 1,
        "per_page": 50,
        **extra,
    }


@pytest.mark.slow
def test_responses_validate_against_the_spec(fixed: FakeCloudflare, validate: Any) -> None:
    for source in ("last_seen", "hourly", "raw"):
        for page in (1, 2, 3):
            body = get(fixed, "fleet-status/devices", **window(60, source=source, page=page)).json()
            assert body["result"]
            validate(body, "fleet_status_devices_response")
    validate(get(fixed, "fleet-status/live", since_minutes=30).json(), "fleet_status_live_response")
    over = get(
        fixed,
        "fleet-status/over-time",
        **{"from": (NOW - timedelta(hours=5)).isoformat(), "to": NOW.isoformat()},
    )
    validate(over.json(), "fleet_status_over_time_response")
    device = get(fixed, "fleet-status/devices", **window()).json()["result"][0]["deviceId"]
    single = get(fixed, f"devices/{device}/fleet-status/live", since_minutes=60)
    validate(single.json(), "device")
    for failure in (
        get(fixed, "fleet-status/devices", **window(per_page=99)),
        get(fixed, "fleet-status/devices", auth={"Authorization": "Bearer nope"}, **window()),
        httpx.get(
            f"{fixed.base_url}/accounts/nope/dex/fleet-status/live?since_minutes=5",
            headers={"Authorization": f"Bearer {fixed.api_token}"},
        ),
    ):
        assert failure.status_code in (400, 403, 404)
        validate(failure.json(), "api-response-common-failure")


@pytest.mark.slow
def test_paging_serves_the_fleet_in_order(fixed: FakeCloudflare) -> None:
    records = fixed.fleet.records("raw", NOW - timedelta(minutes=60), NOW)
    got: list[dict[str, Any]] = []
    page = 1
    while True:
        body = get(
            fixed, "fleet-status/devices", **window(60, source="raw", page=page, per_page=37)
        ).json()
        info = body["result_info"]
        assert info["page"] == page
        assert info["per_page"] == 37
        assert info["count"] == len(body["result"])
        assert info["total_count"] == len(records)
        assert info["total_pages"] == -(-len(records) // 37)
        got += body["result"]
        if page >= info["total_pages"]:
            break
        page += 1
    assert [r["deviceId"] for r in got] == [r["deviceId"] for r in records]


def test_sort_and_filters(fixed: FakeCloudflare) -> None:
    body = get(fixed, "fleet-status/devices", **window(sort_by="device_id")).json()
    ids = [r["deviceId"] for r in body["result"]]
    assert ids == sorted(ids)
    colo = body["result"][0]["colo"]
    only = get(fixed, "fleet-status/devices", **window(colo=colo)).json()["result"]
    assert only
    assert {r["colo"] for r in only} == {colo}


@pytest.mark.parametrize("source", ["raw", "hourly", "last_seen"])
@pytest.mark.parametrize(
    "filters",
    [{}, {"colo": "FRA"}, {"status": "connecting"}, {"platform": "mac", "colo": "LHR"}],
    ids=["none", "colo", "status", "platform+colo"],
)
@pytest.mark.slow
def test_pages_are_the_fleets_records_under_filters(source: str, filters: dict[str, str]) -> None:
    """Pages come from a per-bucket index, not the window's records: they must still agree."""
    from dexkit.synth import Incident

    incident = Incident(NOW - timedelta(hours=1), colo="FRA")
    minutes = 50 if source == "last_seen" else 180
    with FakeCloudflare(devices=300, seed=9, incident=incident, now=NOW) as api:
        want = [
            r
            for r in api.fleet.records(source, NOW - timedelta(minutes=minutes), NOW)
            if all(str(r.get(k)) == v for k, v in filters.items())
        ]
        got: list[dict[str, Any]] = []
        page, pages = 1, 1
        while page <= pages:
            body = get(
                api,
                "fleet-status/devices",
                **window(minutes, source=source, page=page, per_page=29, **filters),
            )
            assert body.json()["result_info"]["total_count"] == len(want)
            # byte for byte: the same keys in the same order, the same numbers (1 is not 1.0)
            expect = b",".join(orjson.dumps(r) for r in want[(page - 1) * 29 : page * 29])
            assert b'"result":[' + expect + b"]" in body.content
            pages = body.json()["result_info"]["total_pages"]
            got += body.json()["result"]
            page += 1
    assert got == want


@pytest.mark.slow
def test_a_week_of_twenty_thousand_devices_is_served_page_by_page() -> None:
    """The last page of a 7-day raw listing of 20,000 devices, without building the window."""
    with FakeCloudflare(devices=20_000, seed=2, now=NOW) as api:
        params = window(7 * 24 * 60, source="raw", per_page=50)
        first = get(api, "fleet-status/devices", **params).json()["result_info"]
        assert first["total_count"] > 20_000 * 7 * 144 * 0.9
        last = get(api, "fleet-status/devices", **{**params, "page": first["total_pages"]}).json()
        assert last["result_info"]["count"] == first["total_count"] - 50 * (
            first["total_pages"] - 1
        )
        assert last["result"][-1]["timestamp"] == "2026-11-18 14:10:00+00"
        colo = get(
            api, "fleet-status/devices", **{**params, "colo": "FRA", "source": "hourly"}
        ).json()
        assert {r["colo"] for r in colo["result"]} == {"FRA"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"page": None}, "Missing required query parameter 'page'"),
        ({"per_page": 51}, "Invalid 'per_page'"),
        ({"page": 0}, "Invalid 'page'"),
        ({"source": "daily"}, "Invalid 'source'"),
        ({"sort_by": "cpu"}, "Invalid 'sort_by'"),
        ({"from": NOW.isoformat()}, "'from' must be before 'to'"),
        ({"from": "yesterday"}, "Invalid 'from'"),
        ({"from": (NOW - timedelta(minutes=61)).isoformat()}, "Please use 'hourly' or 'raw'"),
        ({"from": (NOW - timedelta(days=8)).isoformat(), "source": "hourly"}, "kept for 7 days"),
    ],
)
def test_parameter_rules(fixed: FakeCloudflare, params: dict[str, Any], message: str) -> None:
    query = {k: v for k, v in {**window(), **params}.items() if v is not None}
    response = get(fixed, "fleet-status/devices", **query)
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False
    assert body["result"] is None
    assert message in body["errors"][0]["message"]


def test_clock_is_injectable(fixed: FakeCloudflare) -> None:
    six_days = {
        "from": (NOW - timedelta(days=6)).isoformat(),
        "to": (NOW - timedelta(days=6, hours=-1)).isoformat(),
    }
    assert (
        get(fixed, "fleet-status/devices", **window(source="hourly", **six_days)).status_code == 200
    )
    ticking = [NOW]
    with FakeCloudflare(devices=10, now=lambda: ticking[0]) as api:
        assert api.now() == NOW
        ticking[0] = NOW + timedelta(days=2)
        assert (
            get(api, "fleet-status/devices", **window(source="hourly", **six_days)).status_code
            == 400
        )


def test_epoch_milliseconds_are_accepted(fixed: FakeCloudflare) -> None:
    ms = {
        "from": int((NOW - timedelta(minutes=30)).timestamp() * 1000),
        "to": int(NOW.timestamp() * 1000),
    }
    assert get(fixed, "fleet-status/devices", **window(**ms)).status_code == 200


def test_authentication(fixed: FakeCloudflare) -> None:
    key = {"X-Auth-Email": fixed.email, "X-Auth-Key": fixed.api_key}
    assert get(fixed, "fleet-status/devices", auth=key, **window()).status_code == 200
    missing = get(fixed, "fleet-status/devices", auth={}, **window())
    assert (missing.status_code, missing.json()["errors"][0]["code"]) == (400, 9106)
    wrong = get(
        fixed,
        "fleet-status/devices",
        auth={"X-Auth-Email": fixed.email, "X-Auth-Key": "x"},
        **window(),
    )
    assert (wrong.status_code, wrong.json()["errors"][0]["code"]) == (403, 10000)
    route = httpx.get(
        f"{fixed.base_url}/accounts/{fixed.account_id}/dex/nothing",
        headers={"Authorization": f"Bearer {fixed.api_token}"},
    )
    assert route.status_code == 404
    assert route.headers["cf-ray"].endswith("-FAKE")


def test_the_single_device_endpoint_is_a_bare_object(fixed: FakeCloudflare) -> None:
    device = get(fixed, "fleet-status/devices", **window()).json()["result"][0]["deviceId"]
    body = get(fixed, f"devices/{device}/fleet-status/live", since_minutes=60).json()
    assert body["deviceId"] == device
    assert "success" not in body
    assert get(fixed, "devices/nope/fleet-status/live", since_minutes=60).status_code == 404
    assert get(fixed, "fleet-status/live", since_minutes=61).status_code == 400


@pytest.mark.slow
def test_rate_limit_429_retry_after_and_headers() -> None:
    with FakeCloudflare(devices=10, now=NOW, rate_limit=(3, 1.0), retry_after=0.5) as api:
        first = get(api, "fleet-status/devices", **window())
        assert first.headers["Ratelimit"] == '"default";r=2;t=1'
        assert first.headers["Ratelimit-Policy"] == '"burst";q=3;w=1'
        statuses = [get(api, "fleet-status/devices", **window()).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        blocked = get(api, "fleet-status/devices", **window())
        assert blocked.status_code == 429
        assert blocked.headers["Retry-After"] == "1"
        assert blocked.json()["errors"][0]["code"] == 971
        time.sleep(1.0)
        assert get(api, "fleet-status/devices", **window()).status_code == 200


@pytest.mark.slow
def test_fault_kinds_over_http(fixed: FakeCloudflare) -> None:
    fixed.slow = 0.3
    page1 = get(fixed, "fleet-status/devices", **window(per_page=10)).json()
    for kind in ("reset", "truncate"):
        fixed.inject(kind)
        with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
            get(fixed, "fleet-status/devices", **window(per_page=10))
    fixed.inject("html502")
    html = get(fixed, "fleet-status/devices", **window(per_page=10))
    assert html.status_code == 502
    assert html.headers["content-type"] == "text/html"
    assert html.text.startswith("<!DOCTYPE html>")
    fixed.inject("500")
    assert get(fixed, "fleet-status/devices", **window(per_page=10)).json()["success"] is False
    fixed.inject("repeat", page=2)
    assert (
        get(fixed, "fleet-status/devices", **window(per_page=10, page=2)).json()["result"]
        == page1["result"]
    )
    fixed.inject("no_result_info")
    assert "result_info" not in get(fixed, "fleet-status/devices", **window(per_page=10)).json()
    fixed.inject("no_result")
    assert "result" not in get(fixed, "fleet-status/devices", **window(per_page=10)).json()
    fixed.inject("duplicate", page=2)
    moved = get(fixed, "fleet-status/devices", **window(per_page=10, page=2)).json()["result"]
    assert len(moved) == 11
    assert moved[0] == page1["result"][-1]
    fixed.inject("slow")
    started = time.monotonic()
    assert get(fixed, "fleet-status/devices", **window(per_page=10)).status_code == 200
    assert time.monotonic() - started >= 0.3
    fixed.inject("429")
    assert get(fixed, "fleet-status/devices", **window(per_page=10)).status_code == 429
    faults = [r.fault for r in fixed.requests if r.fault]
    assert faults == [
        "reset",
        "truncate",
        "html502",
        "500",
        "repeat",
        "no_result_info",
        "no_result",
        "duplicate",
        "slow",
        "429",
    ]
    assert fixed.requests[1].status == 0  # a reset has no status


@pytest.mark.slow
def test_random_faults_are_seeded() -> None:
    def kinds(seed: int) -> list[str | None]:
        with FakeCloudflare(
            devices=10, now=NOW, faults={"500": 0.3, "html502": 0.3}, fault_seed=seed
        ) as api:
            for _ in range(20):
                get(api, "fleet-status/devices", **window())
            return [r.fault for r in api.requests]

    assert kinds(1) == kinds(1) != kinds(2)
    assert {"500", "html502", None} == set(kinds(1))


def test_fault_specs() -> None:
    assert dict(iter_faults("429:0.02, reset")) == {"429": 0.02, "reset": 0.05}
    with pytest.raises(ValueError, match="unknown fault kind"):
        list(iter_faults("boom:0.1"))
    with pytest.raises(ValueError, match="between 0 and 1"):
        list(iter_faults("reset:2"))
    with pytest.raises(ValueError, match="unknown fault kind"):
        FakeCloudflare(devices=1, faults={"boom": 0.1})
    assert set(FAULTS) >= {"429", "reset", "truncate", "html502", "repeat", "no_result_info"}


def test_the_request_log_holds_no_headers(fixed: FakeCloudflare) -> None:
    get(fixed, "fleet-status/devices", **window(page=2))
    [request] = fixed.requests
    assert (request.page, request.status, request.fault) == (2, 200, None)
    assert request.params["page"] == "2"
    assert fixed.api_token not in repr(request)


def test_stop_closes_open_keep_alive_connections() -> None:
    api = FakeCloudflare(devices=10, now=NOW, latency=0.01).start()
    with httpx.Client(headers={"Authorization": f"Bearer {api.api_token}"}) as http:
        url = f"{api.base_url}/accounts/{api.account_id}/dex/fleet-status/devices"
        assert http.get(url, params=window()).status_code == 200
        started = time.monotonic()
        api.stop()
        assert time.monotonic() - started < 2
    with pytest.raises(RuntimeError, match="not running"):
        api.base_url  # noqa: B018
    api.stop()
