"""The geography shipped with dexkit: Cloudflare's colos and a world outline.

:func:`colos` is public as :func:`dexkit.colos` and :func:`dexkit.dataset.colos`;
:mod:`dexkit.charts` draws the colo map from both, offline.
"""

from __future__ import annotations

import io
import json
from functools import lru_cache
from importlib import resources
from typing import Any

import polars as pl

__all__ = ["colos", "world"]


def colos() -> pl.DataFrame:
    """Return Cloudflare's colos (data centers) with their city, country and coordinates.

    Read from ``dexkit/data/colos.csv``, shipped with the package; its header names the sources.
    Coordinates are those of the airport the IATA code names (null for the few colos whose code
    is no airport's).

    Returns
    -------
    polars.DataFrame
        ``iata`` (String, the colo code of the device records), ``city``, ``country`` (ISO
        3166-1 alpha-2), ``latitude`` and ``longitude`` (Float64), ``icao`` (the airport whose
        coordinates were used).

    Examples
    --------
    >>> from dexkit.dataset import colos
    >>> colos().filter(iata="FRA").select("iata", "city", "country")
    shape: (1, 3)
    ┌──────┬───────────┬─────────┐
    │ iata ┆ city      ┆ country │
    │ ---  ┆ ---       ┆ ---     │
    │ str  ┆ str       ┆ str     │
    ╞══════╪═══════════╪═════════╡
    │ FRA  ┆ Frankfurt ┆ DE      │
    └──────┴───────────┴─────────┘
    """
    data = resources.files("dexkit").joinpath("data", "colos.csv").read_bytes()
    return pl.read_csv(
        io.BytesIO(data),
        comment_prefix="#",
        schema={
            "iata": pl.String,
            "city": pl.String,
            "country": pl.String,
            "latitude": pl.Float64,
            "longitude": pl.Float64,
            "icao": pl.String,
        },
    )


@lru_cache(maxsize=1)
def _world_text() -> str:
    return resources.files("dexkit").joinpath("data", "countries-110m.json").read_text("utf-8")


def world() -> dict[str, Any]:
    """The world's countries (Natural Earth 1:110m, TopoJSON), a new dict on every call."""
    world: dict[str, Any] = json.loads(_world_text())
    return world
