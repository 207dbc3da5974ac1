"""Assertions several test files share."""

from __future__ import annotations


def assert_unknown_name(error: BaseException, func: str, name: str, closest: str) -> None:
    """``error`` is ``func``'s message for an unknown ``name``, offering ``closest`` among the
    names it suggests (``_checks``' "did you mean")."""
    message = str(error)
    assert message.startswith(f"{func}(): unknown ")
    assert f"{name!r}; did you mean " in message
    assert repr(closest) in message.split("did you mean", 1)[1]
