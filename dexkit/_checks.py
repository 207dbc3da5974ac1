"""Checks of user arguments shared by the analytics, charts, explorer and reports.

One place says how a wrong argument is reported: :func:`frame` for "not a Polars frame" (with
the qualified type name, ``pandas.DataFrame``), :func:`unknown` for a misspelled name (with the
closest valid names, found by :mod:`difflib` and by shared words).
"""

from __future__ import annotations

import difflib
import sys
import warnings
from collections.abc import Iterable
from typing import TypeVar

import polars as pl

from dexkit.errors import ConfigError

__all__ = ["close_names", "lazy", "renamed", "type_name", "unknown"]

_V = TypeVar("_V")


def type_name(value: object) -> str:
    """The qualified name of ``value``'s type, as a user imports it.

    >>> import polars as pl
    >>> type_name(pl.DataFrame()), type_name([1]), type_name(None)
    ('polars.DataFrame', 'list', 'None')
    """
    if value is None:
        return "None"
    kind = type(value)
    module = kind.__module__ or ""
    if module == "builtins":
        return kind.__qualname__
    top = module.partition(".")[0]
    # the shortest public path: pandas.DataFrame rather than pandas.core.frame.DataFrame
    if getattr(sys.modules.get(top), kind.__qualname__, None) is kind:
        return f"{top}.{kind.__qualname__}"
    return f"{module}.{kind.__qualname__}"


def lazy(frame: object, func: str) -> pl.LazyFrame:
    """``frame`` as a ``LazyFrame``, or a :class:`ConfigError` naming ``func`` and the type.

    >>> lazy([1, 2], "summarize")
    Traceback (most recent call last):
    ...
    dexkit.errors.ConfigError: summarize() takes a polars DataFrame or LazyFrame, got list
    """
    if isinstance(frame, pl.DataFrame):
        return frame.lazy()
    if isinstance(frame, pl.LazyFrame):
        return frame
    raise ConfigError(
        f"{func}() takes a polars DataFrame or LazyFrame, got {type_name(frame)}"
        + (
            " (convert it with polars.from_pandas)"
            if type_name(frame).startswith("pandas.")
            else ""
        )
    )


def close_names(name: str, valid: Iterable[str], n: int = 3) -> list[str]:
    """The valid names closest to ``name``: similar spellings first, then shared words.

    >>> close_names("loss", ["cpu_pct", "estimated_loss_pct"])
    ['estimated_loss_pct']
    >>> close_names("handshake_latency", ["handshake_latency_ms", "cpu_pct"])
    ['handshake_latency_ms']
    """
    choices = list(dict.fromkeys(valid))
    found = difflib.get_close_matches(name, choices, n=n, cutoff=0.6)
    words = {w for w in name.lower().replace("-", "_").split("_") if len(w) > 2}
    for choice in choices:
        lowered = choice.lower()
        shared = words & set(lowered.split("_"))
        if choice not in found and (shared or (len(name) > 2 and name.lower() in lowered)):
            found.append(choice)
    return found[:n]


def unknown(
    func: str, what: str, name: object, valid: Iterable[str], hint: str = ""
) -> ConfigError:
    """A :class:`ConfigError` for an unknown ``what`` (metric, group, filter…) named ``name``.

    The message names the function, the name and the closest valid names, then lists the valid
    names (or ``hint`` when given).

    >>> print(unknown("outliers", "metric", "latency", ["cpu_pct", "handshake_latency_ms"]))
    outliers(): unknown metric 'latency'; did you mean 'handshake_latency_ms'? (known: cpu_pct,
    handshake_latency_ms)
    """
    choices = list(dict.fromkeys(valid))
    text = f"{func}(): unknown {what} {name!r}"
    close = close_names(name, choices) if isinstance(name, str) else []
    if close:
        text += "; did you mean " + " or ".join(repr(c) for c in close) + "?"
    if hint:
        text += f" ({hint})"
    elif choices:
        shown = ", ".join(choices[:20]) + (", …" if len(choices) > 20 else "")
        text += f" (known: {shown})"
    return ConfigError(text)


def renamed(func: str, old: str, new: str, old_value: _V | None, new_value: _V, default: _V) -> _V:
    """The value of an argument renamed from ``old`` to ``new``: ``old=`` still works, with a
    ``DeprecationWarning`` pointing at the caller of ``func``; giving both is an error."""
    if old_value is None:
        return new_value
    if new_value != default and new_value != old_value:
        raise ConfigError(f"{func}(): give {new}= only ({old}= is its deprecated spelling)")
    warnings.warn(
        f"{func}(): {old}= is deprecated, use {new}={old_value!r}",
        DeprecationWarning,
        stacklevel=3,
    )
    return old_value
