"""Property tests: whatever pages read_pages is given, it returns one row per record or raises
one of the documented dexkit errors — nothing else."""

from __future__ import annotations

import json
import warnings
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dexkit
from dexkit import APIError, DexkitWarning, PageError, RecordError
from dexkit.schema import RECORD
from tests.test_frames import full_record, minimal_record, page

# Hypothesis runs hundreds of generated pages per test: `make unit-fast` leaves them out.
pytestmark = pytest.mark.slow

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
FIELDS = sorted(RECORD)


@st.composite
def records(draw: st.DrawFn) -> Any:
    base = draw(st.sampled_from([full_record, minimal_record]))(
        draw(st.text(min_size=1, max_size=8))
    )
    for key in draw(st.lists(st.sampled_from(FIELDS), max_size=4)):
        action = draw(st.sampled_from(["drop", "null", "junk"]))
        if action == "drop":
            base.pop(key, None)
        elif action == "null":
            base[key] = None
        else:
            base[key] = draw(JSON)
    if draw(st.booleans()):
        base[draw(st.text(min_size=1, max_size=8))] = draw(JSON)
    return base if draw(st.integers(0, 30)) else draw(JSON)


pages_of_records = st.lists(st.lists(records(), max_size=4), max_size=3)


def _read(pages: list[bytes], on_error: str = "raise") -> pl.DataFrame | Exception:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DexkitWarning)
        try:
            return dexkit.read_pages(pages, on_error=on_error)  # type: ignore[arg-type]
        except (PageError, RecordError, APIError) as exc:
            return exc


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pages_of_records)
def test_generated_pages_give_one_row_per_record_or_a_dexkit_error(pages: list[list[Any]]) -> None:
    bodies = [page(p) for p in pages]
    out = _read(bodies)
    if isinstance(out, pl.DataFrame):
        assert out.height == sum(len(p) for p in pages)
        assert out.columns[:43] == dexkit.SCHEMA.names()
    else:
        assert isinstance(out, RecordError)  # the envelopes are fine: only records can be wrong
        assert out.page in range(1, len(pages) + 1)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pages_of_records)
def test_lenient_mode_always_keeps_every_record(pages: list[list[Any]]) -> None:
    out = _read([page(p) for p in pages], on_error="null")
    assert isinstance(out, pl.DataFrame)
    assert out.height == sum(len(p) for p in pages)
    assert out.columns[:43] == dexkit.SCHEMA.names()
    for name, dtype in dexkit.SCHEMA.items():  # nested unknown fields may extend structs
        assert out.schema[name] == dtype or isinstance(dtype, pl.Struct | pl.List), name


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(records(), max_size=3), min_size=1, max_size=3),
    st.data(),
)
def test_corrupted_bytes_give_a_frame_or_a_dexkit_error(pages: list[list[Any]], data: Any) -> None:
    bodies = [page(p) for p in pages]
    victim = data.draw(st.integers(0, len(bodies) - 1))
    body = bodies[victim]
    how = data.draw(st.sampled_from(["truncate", "flip", "splice", "replace", "envelope"]))
    if how == "truncate":
        body = body[: data.draw(st.integers(0, len(body)))]
    elif how == "flip":
        at = data.draw(st.integers(0, len(body) - 1))
        body = body[:at] + bytes([data.draw(st.integers(0, 255))]) + body[at + 1 :]
    elif how == "splice":
        at = data.draw(st.integers(0, len(body)))
        body = body[:at] + data.draw(st.binary(max_size=8)) + body[at:]
    elif how == "replace":
        body = data.draw(st.binary(max_size=40))
    else:
        envelope = json.loads(body)
        envelope[data.draw(st.sampled_from(["success", "result", "errors"]))] = data.draw(JSON)
        body = json.dumps(envelope).encode()
    bodies[victim] = body
    for mode in ("raise", "null"):
        out = _read(bodies, on_error=mode)
        if isinstance(out, pl.DataFrame):
            assert out.columns[:43] == dexkit.SCHEMA.names()
        else:
            assert isinstance(out, PageError | APIError)
            assert out.page in range(1, len(bodies) + 1)
