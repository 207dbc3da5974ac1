"""Files on disk within bounds: capped decompression, walks that end, atomic writes.

Shared by :mod:`dexkit.store` (resuming a fetch), :mod:`dexkit.frames` (reading pages), and,
for :func:`atomic_write`, :mod:`dexkit.dataset` (its caches) and :mod:`dexkit.logpush` (a
sync's provenance).

- A page file is read whole only up to ``max_bytes`` (after decompression for ``.gz``): a gzip
  bomb stops at the cap with a :class:`~dexkit.PageError` instead of filling memory.
- Directory walks and ``**`` globs are iterative (no recursion, whatever the depth) and visit
  each directory once (by device and inode), so symbolic-link loops end; they stop at
  ``max_files`` matches.
"""

from __future__ import annotations

import glob
import os
import re
import stat
import uuid
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

from dexkit.errors import ConfigError, PageError, printable

__all__ = ["MAX_FILES", "MAX_PAGE_BYTES", "atomic_write", "decompress", "find", "read_page", "walk"]

#: Default cap on one page's decoded size (``max_page_bytes=``): a 50-record page is ~100 KB.
MAX_PAGE_BYTES = 256 * 2**20
#: The largest page Arrow's JSON reader takes (its block size is a 32-bit number).
MAX_PAGE_BYTES_LIMIT = 2**30 - 1
#: Default cap on the files a directory or glob may select (``max_files=``).
MAX_FILES = 200_000
_GZIP = b"\x1f\x8b"
_READ = 1 << 20


def _size(number: int) -> str:
    if number % 2**20 == 0:
        return f"{number // 2**20} MiB"
    return f"{number:,} bytes"


def _too_big(label: int | str, max_bytes: int, what: str) -> PageError:
    return PageError(
        f"{what} more than max_page_bytes={max_bytes} ({_size(max_bytes)}); a DEX page is "
        "about 100 KB: if this file is meant to be read, pass a larger max_page_bytes= "
        "(dexkit report --max-page-bytes)",
        page=label,
    )


def _gunzip(label: int | str, data: bytes, max_bytes: int) -> bytes:
    """Decode gzip data (all its members) up to ``max_bytes``; more is a PageError.

    One C call per member with an output limit, so a bomb stops at the cap (a stream reader
    costs a fifth more on ordinary pages).
    """
    parts: list[bytes] = []
    total = 0
    while data:
        inflater = zlib.decompressobj(31)
        try:
            part = inflater.decompress(data, max_bytes + 1 - total)
        except zlib.error as exc:
            raise PageError(f"cannot decompress gzip data ({exc})", page=label) from exc
        total += len(part)
        if total > max_bytes:
            raise _too_big(label, max_bytes, "decompresses to")
        if not inflater.eof:
            raise PageError(
                "cannot decompress gzip data (it ends before the end of the compressed stream: "
                "a truncated file)",
                page=label,
            )
        parts.append(part)
        data = inflater.unused_data
        if not data.strip(b"\0"):  # trailing zero padding, as gzip allows
            break
    return parts[0] if len(parts) == 1 else b"".join(parts)


def decompress(label: int | str, data: bytes, max_bytes: int = MAX_PAGE_BYTES) -> bytes:
    """``data`` itself, or its gzip-decoded contents (capped at ``max_bytes``).

    >>> import gzip
    >>> decompress(1, gzip.compress(b'{"result": []}'))
    b'{"result": []}'
    >>> decompress(1, gzip.compress(bytes(5000)), max_bytes=1000)
    Traceback (most recent call last):
    ...
    dexkit.errors.PageError: page 1: decompresses to more than max_page_bytes=1000 ...
    """
    if data[:2] != _GZIP:
        if len(data) > max_bytes:
            raise _too_big(label, max_bytes, "holds")
        return data
    return _gunzip(label, data, max_bytes)


def read_page(path: Path, max_bytes: int = MAX_PAGE_BYTES) -> bytes:
    """Read one page file, gzip-decoded if it is gzip, within ``max_bytes``.

    A file named ``.gz`` that is not gzip data is a :class:`~dexkit.PageError` that says so.
    """
    label = str(path)
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > max_bytes:  # gzip never shrinks a page below its compressed size
                raise _too_big(label, max_bytes, "holds")
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise PageError(f"cannot read the file ({exc.strerror or exc})", page=label) from exc
    if len(data) > max_bytes:  # a file that grew while read, or a pipe
        raise _too_big(label, max_bytes, "holds")
    if data[:2] == _GZIP:
        return _gunzip(label, data, max_bytes)
    if path.name.endswith(".gz"):
        raise PageError(
            f"the file is named .gz but is not gzip data (it starts with {data[:8]!r}): "
            "gzip it, or rename it without .gz if it is plain JSON",
            page=label,
        )
    return data


def walk(
    root: Path, *, follow: bool = True, max_depth: int | None = None
) -> Iterator[tuple[Path, bool, bool]]:
    """Every entry under ``root`` as ``(path, is_dir, is_link)``, depth first, in name order.

    Iterative, so any depth works. With ``follow``, symbolic links to directories are walked
    too, but each directory (by device and inode) only once: link loops end. Unreadable
    directories are skipped; ``max_depth`` stops at that many levels below ``root``.
    """
    seen: set[tuple[int, int]] = set()
    try:
        info = root.stat()
        seen.add((info.st_dev, info.st_ino))
    except OSError:
        return
    stack: list[Iterator[os.DirEntry[str]]] = []
    try:
        stack.append(iter(sorted(os.scandir(root), key=lambda e: e.name)))
    except OSError:
        return
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
            continue
        path = Path(entry.path)
        try:
            is_dir = entry.is_dir(follow_symlinks=follow)
            is_link = entry.is_symlink()
        except OSError:
            is_dir = is_link = False
        yield path, is_dir, is_link
        if not is_dir or (max_depth is not None and len(stack) >= max_depth):
            continue
        try:
            info = entry.stat(follow_symlinks=True)
            if (info.st_dev, info.st_ino) in seen or not stat.S_ISDIR(info.st_mode):
                continue
            seen.add((info.st_dev, info.st_ino))
            stack.append(iter(sorted(os.scandir(path), key=lambda e: e.name)))
        except OSError:  # unreadable, or a path too long for the system
            continue


def _part_regex(part: str) -> str:
    """One path component of a glob as a regex (``*`` and ``?`` never match ``/``)."""
    if part == "**":
        return "(?:(?!\\.)[^/]+/)*"
    out = [] if part.startswith(".") else ["(?!\\.)"]  # like glob: * skips hidden names
    i = 0
    while i < len(part):
        char = part[i]
        i += 1
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            j = i + (1 if part[i : i + 1] in ("!", "^") else 0)
            j = part.find("]", j + 1 if part[j : j + 1] == "]" else j)
            if j < 0:
                out.append(re.escape(char))
                continue
            inside = part[i:j].replace("\\", "\\\\")
            if inside[:1] in ("!", "^"):
                inside = "^" + inside[1:]
            out.append(f"[{inside}]")
            i = j + 1
        else:
            out.append(re.escape(char))
    return "".join(out) + "/"


def _glob_regex(parts: list[str]) -> re.Pattern[str]:
    *head, last = parts
    tail = "(?!\\.)[^/]+(?:/(?!\\.)[^/]+)*" if last == "**" else _part_regex(last)[:-1]
    return re.compile("(?s:" + "".join(_part_regex(p) for p in head) + tail + r")\Z")


def find(
    pattern: str, *, max_files: int = MAX_FILES, keep: Callable[[Path], bool] = Path.is_file
) -> list[Path]:
    """The files matching a glob (``*``, ``?``, ``[...]``, ``**`` for any depth), sorted.

    Like ``glob.glob(pattern, recursive=True)``, but it ends on symbolic-link loops, works at
    any depth, and raises :class:`~dexkit.ConfigError` past ``max_files`` matches.
    """
    parts = pattern.replace(os.sep, "/").split("/")
    fixed: list[str] = []
    for part in parts:
        if glob.has_magic(part):
            break
        fixed.append(part)
    rest = parts[len(fixed) :]
    base = Path("/".join(fixed) or ".") if fixed != [""] else Path("/")
    if not rest:
        return [base] if keep(base) else []
    regex = _glob_regex(rest)
    deep = "**" in rest
    depth = len(rest)
    found: list[Path] = []
    for path, _, _ in walk(base, max_depth=None if deep else depth):
        relative = path.relative_to(base).as_posix()
        if regex.match(relative) and keep(path):
            found.append(path)
            if len(found) > max_files:
                raise _too_many(pattern, max_files)
    return sorted(found, key=str)


def _too_many(what: str, max_files: int) -> ConfigError:
    return ConfigError(
        f"{printable(what)!r} selects more than max_files={max_files} files: narrow the "
        "directory or glob, or pass a larger max_files= (dexkit report --max-files)"
    )


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all: a new temporary file beside it (created
    exclusively, so a link planted at its name is never written through), synced, then renamed
    over ``path``. A reader sees the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # a name of its own for each call: two threads writing one path do not share it
    part = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.part")
    part.unlink(missing_ok=True)  # a planted link: never written through
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o644)
    try:
        with open(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)
