"""The HTTP server faqbot runs: uvicorn with the connection limits it lacks on its own.

uvicorn 0.54 closes an idle keep-alive connection (timeout_keep_alive) and can refuse requests
over a connection count (limit_concurrency, answered with a plain-text 503), but with its
httptools parser it puts no limit on the size of a request head and no deadline on a connection
that sends nothing, or half a request. GuardedProtocol adds both, in the protocol itself, before
anything reaches the app:

- a request (head and body) must arrive within read_timeout_s of its first byte, or of
  connecting; after that the connection closes (with 408 when part of a request came);
- a request head over max_header_bytes gets 431 and the connection closes, before it is parsed;
- over max_connections open connections, a request gets 503 with a JSON `detail`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
from typing import Any

import uvicorn
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from faqbot.errors import FaqbotError
from faqbot.settings import Settings


class ServerConfig(uvicorn.Config):
    """uvicorn's Config plus the limits GuardedProtocol reads (a class, so worker processes can unpickle it)."""

    def __init__(self, app: Any, *, read_timeout_s: float, max_header_bytes: int, max_connections: int, **kwargs: Any) -> None:
        super().__init__(app, http=GuardedProtocol, **kwargs)
        self.read_timeout_s = read_timeout_s
        self.max_header_bytes = max_header_bytes
        self.max_connections = max_connections


def server_config(app: Any, settings: Settings, **kwargs: Any) -> ServerConfig:
    """The uvicorn configuration `faqbot serve` runs app with (kwargs: host, port, workers, ...)."""
    return ServerConfig(
        app,
        read_timeout_s=settings.read_timeout_s,
        max_header_bytes=settings.max_header_bytes,
        max_connections=settings.max_connections,
        timeout_keep_alive=settings.keep_alive_s,
        server_header=False,
        **kwargs,
    )


def _json_response(status: int, reason: str, detail: str) -> bytes:
    body = json.dumps({"detail": detail}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a request deadline, a head size limit and a connection cap."""

    def __init__(self, config: uvicorn.Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:  # fmt: skip
        super().__init__(config, server_state, app_state, _loop)
        self.read_timeout_s: float = getattr(config, "read_timeout_s", 10.0)
        self.max_header_bytes: int = getattr(config, "max_header_bytes", 32 * 1024)
        self.max_connections: int | None = getattr(config, "max_connections", None)
        self._head_bytes: int | None = 0  # bytes of the request head read so far; None while reading a body or idle
        self._head_tail = b""  # the last bytes seen, to find a head's end split across two reads
        self._read_deadline: asyncio.TimerHandle | None = None
        self._received_any = False

    # ---- the read deadline ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_read_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_read_deadline()
        super().connection_lost(exc)

    def _arm_read_deadline(self) -> None:
        if self._read_deadline is None:
            self._read_deadline = self.loop.call_later(self.read_timeout_s, self._read_timed_out)

    def _disarm_read_deadline(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _read_timed_out(self) -> None:
        self._read_deadline = None
        if self.transport.is_closing():
            return
        if self._head_bytes is not None and self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False  # a pipelined request is late: finish the current response, then close
            return
        if self._received_any and (self.cycle is None or not self.cycle.response_started):
            detail = f"the request did not arrive within {self.read_timeout_s:g} s; send the whole request at once"
            self.transport.write(_json_response(408, "Request Timeout", detail))
        self.transport.close()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm_read_deadline()  # the whole request is in; what follows is the next request's head
        self._head_bytes = 0

    # ---- the head size limit ----------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self._received_any = True
        if self._head_bytes is not None:
            if self._head_bytes == 0:
                self._arm_read_deadline()  # the first bytes of a keep-alive connection's next request
            window = self._head_tail + data
            end = window.find(b"\r\n\r\n")
            used = len(data) if end < 0 else end + 4 - len(self._head_tail)
            if self._head_bytes + used > self.max_header_bytes:
                detail = (f"the request head (request line and headers) is over {self.max_header_bytes // 1024} KB; "
                          "send fewer or shorter headers (cookies included)")  # fmt: skip
                self.transport.write(_json_response(431, "Request Header Fields Too Large", detail))
                self.transport.close()
                return
            self._head_bytes += used
            self._head_tail = window[-3:]
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._head_bytes = None
        self._head_tail = b""
        app = self.app
        cap = self.max_connections
        if cap is not None and (len(self.connections) > cap or len(self.tasks) >= cap):
            self.app = _busy(cap)
        try:
            super().on_headers_complete()
        finally:
            self.app = app


def _busy(cap: int) -> Any:
    async def busy(scope: Scope, receive: Receive, send: Send) -> None:
        body = json.dumps({"detail": f"the server is at its limit of {cap} open connections; try again in a few seconds"})
        headers = [(b"content-type", b"application/json"), (b"retry-after", b"5"), (b"connection", b"close")]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body.encode()})

    return busy


def run(app: Any, settings: Settings, workers: int = 1) -> None:
    """Serve app (an ASGI app, or an import string with workers > 1) on settings.host:settings.port."""
    config = server_config(app, settings, host=settings.host, port=settings.port, workers=workers,
                           factory=isinstance(app, str))  # fmt: skip
    if workers > 1:
        from uvicorn.supervisors import Multiprocess

        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        raise FaqbotError(f"could not serve on {settings.host}:{settings.port}; see the message above (is the port taken?)")


def is_loopback(host: str) -> bool:
    """Whether host names only this machine (127.0.0.0/8, ::1, localhost)."""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos)
