"""A raw-socket HTTP server that misbehaves on purpose, for the client's bounds tests.

``HostileServer(script)`` listens on 127.0.0.1 and, for each request, calls
``script(request, send)`` in the connection's thread: ``request`` holds the request line's path
and query and its number (1, 2, … in arrival order); ``send(data)`` writes raw bytes to the socket
(``False`` once the client has gone). The connection is closed when ``script`` returns, so a
script can trickle headers, send bodies that never end, or lie in any way HTTP allows.
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

ACCOUNT = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"


@dataclass
class Request:
    """One request the server read: its number (from 1), path, query and arrival time."""

    number: int
    path: str
    params: dict[str, str]
    at: float = field(default_factory=time.monotonic)

    @property
    def page(self) -> int:
        return int(self.params.get("page", "0"))


Send = Callable[[bytes], bool]
Script = Callable[[Request, Send], None]


class HostileServer:
    """Serve ``script`` on an ephemeral loopback port (see the module docstring)."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self._threads: list[threading.Thread] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}/client/v4"

    def client_args(self) -> dict[str, Any]:
        return {"account_id": ACCOUNT, "api_token": "tok-hostile", "base_url": self.base_url}

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        for thread in self._threads:
            thread.join(5)
        self._sock.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            data = b""
            with contextlib.suppress(OSError):
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
            line = data.split(b"\r\n", 1)[0].decode("latin-1")
            url = urlsplit(line.split(" ")[1])
            params = {k: v[0] for k, v in parse_qs(url.query).items()}
            with self._lock:
                request = Request(len(self.requests) + 1, url.path, params)
                self.requests.append(request)

            def send(chunk: bytes) -> bool:
                if self._stop.is_set():
                    return False
                try:
                    conn.sendall(chunk)
                except OSError:
                    return False
                return True

            self.script(request, send)


# -- building blocks of answers ----------------------------------------------------------------


def record(i: int) -> dict[str, Any]:
    return {
        "deviceId": f"d{i}",
        "timestamp": "2026-11-18 13:00:00+00",
        "colo": "FRA",
        "platform": "linux",
        "status": "connected",
        "mode": "warp",
        "version": "1",
    }


def page_body(
    n: int,
    ids: range | list[int],
    *,
    total_pages: Any,
    total_count: Any,
    per_page: int = 50,
) -> bytes:
    info = {
        "page": n,
        "per_page": per_page,
        "count": len(ids),
        "total_pages": total_pages,
        "total_count": total_count,
    }
    doc = {
        "success": True,
        "errors": [],
        "messages": [],
        "result": [record(i) for i in ids],
        "result_info": info,
    }
    return orjson.dumps(doc)


def response(
    body: bytes, *, status: str = "200 OK", headers: dict[str, str] | None = None
) -> bytes:
    """A whole HTTP/1.1 response with ``Content-Length`` (unless a header says otherwise)."""
    lines = [f"HTTP/1.1 {status}", "Content-Type: application/json", "Connection: close"]
    extra = dict(headers or {})
    if "Transfer-Encoding" not in extra and "Content-Length" not in extra:
        extra["Content-Length"] = str(len(body))
    lines += [f"{k}: {v}" for k, v in extra.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunked(pieces: Iterator[bytes], send: Send) -> None:
    """Send ``pieces`` as an HTTP chunked body until they end or the client leaves."""
    for piece in pieces:
        if piece and not send(b"%x\r\n%s\r\n" % (len(piece), piece)):
            return
    send(b"0\r\n\r\n")


def gzip_of_zeros(size: int) -> bytes:
    """``size`` zero bytes gzipped (about 1/1000 of ``size``), built a MiB at a time."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(1 << 20)
    out = [packer.compress(block) for _ in range(size >> 20)]
    out.append(packer.flush())
    return b"".join(out)


def endless_gzip_of_zeros() -> Iterator[bytes]:
    """A gzip stream of zeros that never ends (each piece ~1 KB, ~1 MiB decoded)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(1 << 20)
    while True:
        yield packer.compress(block) + packer.flush(zlib.Z_SYNC_FLUSH)


def gzipped(body: bytes) -> bytes:
    return gzip.compress(body)
