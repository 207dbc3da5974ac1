"""Exceptions and warnings raised by dexkit.

Every error dexkit raises derives from :class:`DexkitError` and carries the context a user needs
to act on it (page, record, field, HTTP status, Cloudflare error codes, ``cf-ray``). No error
message ever contains a credential.

::

    DexkitError
    ├── ConfigError (ValueError)          bad arguments or configuration
    │   ├── CredentialsError              no usable credentials were found
    │   └── QueryError                    a query the API would reject, caught before any request
    │       └── BudgetError               a query that would spend more requests than allowed
    ├── PageError                         a page cannot be read (not JSON, HTML, no result)
    │   └── RecordError                   a record has a missing or wrong-typed field
    ├── StoreError                        a page store is damaged or unsafe (manifest, symlinks)
    ├── APIError                          Cloudflare answered with an error (4xx, 5xx, failure)
    │   ├── AuthError                     401 / 403: the credentials are wrong or lack permission
    │   ├── NotFoundError                 404: wrong account id or path
    │   ├── RateLimitError                429s past the retries, or a wait past max_retry_after
    │   └── ServerError                   5xx or a proxy's HTML page that outlasted the retry budget
    └── TransportError                    timeouts, deadlines, resets, bad bodies after the retries

    DexkitWarning (UserWarning)
    ├── UnknownFieldsWarning              records carry fields dexkit's schema does not know (kept)
    ├── CoercionWarning                   lenient loading turned wrong-typed values into nulls
    ├── IncompleteChunksWarning           a page store's interrupted chunks were left out
    └── PartialWindowWarning              the records cover a time window only in part

Text that comes from servers or data (Cloudflare's messages, field names, file names) goes
through :func:`printable` before it reaches an error message or a warning, so that no escape
sequence from outside ever reaches a terminal.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

__all__ = [
    "APIError",
    "AuthError",
    "BudgetError",
    "CoercionWarning",
    "ConfigError",
    "CredentialsError",
    "DexkitError",
    "DexkitWarning",
    "IncompleteChunksWarning",
    "NotFoundError",
    "PageError",
    "PartialWindowWarning",
    "QueryError",
    "RateLimitError",
    "RecordError",
    "ServerError",
    "StoreError",
    "TransportError",
    "UnknownFieldsWarning",
]


#: C0 controls but newline and tab, DEL, and the C1 controls (CSI, OSC, ... in 8-bit form).
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROLS_ALL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: object, *, newlines: bool = False) -> str:
    r"""Return ``text`` with control characters shown as escapes (``\x1b``), fit for a terminal.

    Escape sequences in text from a server or from data (``ESC ] 0 ; … BEL`` sets a terminal's
    title, ``ESC [ 2 J`` clears the screen) are made visible instead of acted upon. Newlines
    and tabs are escaped too unless ``newlines`` is true.

    >>> printable("cpu\x1b]0;pwned\x07\x1b[2J\x9b1m")
    'cpu\\x1b]0;pwned\\x07\\x1b[2J\\x9b1m'
    >>> printable("two\nlines"), printable("two\nlines", newlines=True)
    ('two\\nlines', 'two\nlines')
    """
    text = str(text)
    pattern = _CONTROLS if newlines else _CONTROLS_ALL
    if pattern.search(text) is None:
        return text
    return pattern.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _short(value: Any, limit: int = 80) -> str:
    """Return a short ``repr`` of ``value`` fit for an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class DexkitError(Exception):
    """Base class of every error raised by dexkit."""


class ConfigError(DexkitError, ValueError):
    """Invalid arguments or configuration, detected before any work is done."""


class CredentialsError(ConfigError):
    """No usable Cloudflare credentials were given or found in the environment."""


class QueryError(ConfigError):
    """A query that the API would reject; the message says how to fix the call."""


class BudgetError(QueryError):
    """A query that needs more requests than the caller's ``max_requests`` budget.

    Attributes
    ----------
    plan
        The plan that was refused (see ``Client.plan``).
    """

    def __init__(self, message: str, *, plan: Any = None) -> None:
        super().__init__(message)
        self.plan = plan


class PageError(DexkitError):
    """A page of results could not be read.

    Attributes
    ----------
    page
        Which page: its number (pages given as bytes count from 1, like the API's) or its file;
        for a Logpush archive, the object's key.
    line
        For a Logpush object, the 1-based line of the record (``None`` otherwise).
    """

    def __init__(
        self, message: str, *, page: int | str | None = None, line: int | None = None
    ) -> None:
        self.page = page
        self.line = line
        if line is not None:
            where = f"object {printable(page)}, line {line}: "
        else:
            where = f"page {printable(page)}: " if page is not None else ""
        super().__init__(where + message)


class RecordError(PageError):
    """A record holds a missing or wrong-typed value.

    Attributes
    ----------
    page, record, field, value
        Where the value is (``record`` is the 0-based index inside the page's ``result``;
        ``field`` the API's dotted name such as ``"rtt.rttUs.upstream"``) and what it was.
    problems
        How many problems of this kind the page set holds in all (the message names the first).
    """

    def __init__(
        self,
        message: str,
        *,
        page: int | str | None,
        record: int | None,
        field: str,
        value: Any,
        problems: int = 1,
        line: int | None = None,
    ) -> None:
        self.record = record
        self.field = field
        self.value = value
        self.problems = problems
        where = f"record {record}, " if record is not None else ""
        more = (
            f" ({problems - 1} more problem(s) of this kind in the input)" if problems > 1 else ""
        )
        text = f"{where}field {printable(repr(field))}: {message}, got {_short(value)}{more}"
        super().__init__(text, page=page, line=line)


class APIError(DexkitError):
    """Cloudflare answered with an error.

    Attributes
    ----------
    status
        The HTTP status, or ``None`` for a saved page with ``success: false``.
    errors
        Cloudflare's error objects (``{"code": ..., "message": ...}``), possibly empty.
    codes, messages
        The codes and messages of ``errors``.
    cf_ray
        The ``cf-ray`` response header, which Cloudflare support asks for.
    page
        The page being fetched or read, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        errors: Sequence[dict[str, Any]] = (),
        cf_ray: str | None = None,
        page: int | str | None = None,
    ) -> None:
        self.status = status
        self.errors = [dict(e) for e in errors]
        self.codes = [e.get("code") for e in self.errors]
        self.messages = [str(e.get("message", "")) for e in self.errors]
        self.cf_ray = cf_ray
        self.page = page
        parts = []
        if page is not None:
            parts.append(f"page {page}")
        if status is not None:
            parts.append(f"HTTP {status}")
        head = ", ".join(parts)
        detail = "; ".join(
            f"[{printable(e.get('code'))}] {printable(e.get('message', ''))}" for e in self.errors
        )
        text = f"{head}: {message}" if head else message
        if detail:
            text += f" — Cloudflare says: {detail}"
        if cf_ray:
            text += f" (cf-ray {printable(cf_ray)})"
        super().__init__(text)


class AuthError(APIError):
    """401 or 403: the credentials are invalid or lack the DEX Read permission."""


class NotFoundError(APIError):
    """404: the account id or the path does not exist."""


class RateLimitError(APIError):
    """429 responses outlasted the retries, or the server asked for a wait past ``max_retry_after``.

    The message says how long the server asked for, and which header asked.
    """


class ServerError(APIError):
    """5xx responses or a proxy's HTML page outlasted the retry budget."""


class StoreError(DexkitError):
    """A page store cannot be used: a damaged manifest or page, or a path leaving the store.

    Raised before anything is deleted or written. The message names the file and says what to
    do (usually: move the file away, or fetch into a new directory).

    Attributes
    ----------
    path
        The file or directory at fault.
    """

    def __init__(self, message: str, *, path: str | os.PathLike[str] | None = None) -> None:
        self.path = None if path is None else os.fspath(path)
        where = f"{printable(self.path)}: " if self.path is not None else ""
        super().__init__(where + message)


class TransportError(DexkitError):
    """The exchange failed and retries did not help.

    A timeout, the attempt's ``deadline``, a reset connection, a truncated body, or a body that
    does not decode (bad gzip/deflate).

    Attributes
    ----------
    page
        The page being fetched, when known.
    """

    def __init__(self, message: str, *, page: int | str | None = None) -> None:
        super().__init__(message)
        self.page = page


class DexkitWarning(UserWarning):
    """Base class of dexkit's warnings."""


class UnknownFieldsWarning(DexkitWarning):
    """Records hold fields that dexkit's schema does not know; they were kept as extra columns."""


class CoercionWarning(DexkitWarning):
    """Lenient loading replaced wrong-typed values with nulls."""


class IncompleteChunksWarning(DexkitWarning):
    """Reading a page store left out chunks whose fetch did not finish (see ``incomplete=``)."""


class PartialWindowWarning(DexkitWarning):
    """A time window (a baseline or an incident) that the records cover only in part; the
    message gives the covered fraction and the span of the records."""
