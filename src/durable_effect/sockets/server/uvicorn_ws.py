"""uvicorn's sans-I/O WebSocket protocol, with the rooms server's memory bounds.

`server.run(transport="asgi")` (and `durable-effect serve --transport asgi`)
serve with `uvicorn_config(server, ...)`, whose WebSocket protocol is
`bounded_protocol(max_buffered_bytes)`:

- a close frame goes out at once, behind what the transport already buffers,
  even while the peer is not reading (uvicorn's own `send` waits until the
  buffer drains, which for a peer that stopped reading is never); the
  connection is dropped `CLOSE_GRACE` seconds later if the close handshake
  has not ended;
- pongs count against `max_buffered_bytes`: a peer whose unread output passes
  the bound while it keeps pinging is closed with 1008 instead of growing the
  server's memory;
- the app's frames skip the ASGI `send`: the protocol offers the scope extension
  `FRAMES_EXTENSION`, through which the app's socket (`UvicornSocket`) writes to
  the connection itself, as the native transport does: a broadcast's frame is
  serialized once for every socket, all frames of one loop turn go out in one
  write per socket, and a connection holds no task besides the app's own. A
  socket whose unwritten frames pass `max_buffered_bytes` (the peer does not
  read) is closed with 1008.

Inbound, uvicorn already stops reading while a received message waits for
the app, so what one connection has queued is bounded by one read.
"""

from __future__ import annotations

import asyncio
import logging
from types import GeneratorType
from typing import TYPE_CHECKING, ClassVar, cast

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import Protocol, State
from websockets.streams import StreamReader

from durable_effect.sockets.server.host import (
    CLOSE_POLICY_VIOLATION,
    FRAMES_EXTENSION,
    TOO_SLOW_REASON,
    AttachedSocket,
    SharedFrame,
    send_close,
    text_frame,
)

if TYPE_CHECKING:
    import uvicorn
    from uvicorn._types import ASGISendEvent, WebSocketDisconnectEvent
    from websockets.http11 import Request

    from durable_effect.sockets.server.app import SocketServer

log = logging.getLogger("durable_effect.server")

__all__ = [
    "CLOSE_GRACE",
    "HEAD_TIMEOUT",
    "BoundedWebSocketProtocol",
    "UvicornSocket",
    "bounded_protocol",
    "head_timeout_protocol",
    "uvicorn_config",
]

HEAD_TIMEOUT = 10.0
"""Seconds a client has to send its first request head (as on the native transport)."""
CLOSE_GRACE = 5.0
"""Seconds a peer has to finish the close handshake once the server's close frame is sent."""


class Flusher:
    """The sockets with frames to write: one callback per loop turn writes them all."""

    __slots__ = ("dirty", "loop")

    def __init__(self) -> None:
        self.dirty: list[UvicornSocket] = []
        self.loop: asyncio.AbstractEventLoop | None = None

    def add(self, socket: UvicornSocket, loop: asyncio.AbstractEventLoop) -> None:
        if not self.dirty or loop is not self.loop:  # (a loop that ended with a callback due never runs it)
            self.loop = loop
            loop.call_soon(self.flush)
        self.dirty.append(socket)

    def flush(self) -> None:
        dirty, self.dirty = self.dirty, []
        for socket in dirty:
            try:
                socket.flush()
            except Exception:  # one socket's failure must not stop the others' writes
                log.exception("writing to a connection failed")


class BoundedWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's `websockets-sansio` protocol that closes slow peers with a real 1008
    and writes the app's frames itself (see the module's doc)."""

    max_buffered_bytes: ClassVar[int] = 4 << 20
    flusher: ClassVar[Flusher] = Flusher()
    """Writes the frames of the sockets that have some, once per loop turn (`bounded_protocol` gives each its own)."""
    _closed_by_us = False
    inbound_peak = 0
    """The most received messages that ever waited at once for the app."""
    socket: UvicornSocket | None = None
    """The app's socket on this connection, once it took one through `FRAMES_EXTENSION`."""

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        if not self.close_sent:  # accepted by the protocol: the app's task starts on the next loop turn
            extensions = self.scope.setdefault("extensions", {})
            extensions[FRAMES_EXTENSION] = {"socket": self._make_socket}

    def _make_socket(self, tags: list[str], max_buffered: int) -> UvicornSocket:
        self.socket = UvicornSocket(self, tags, max_buffered)
        return self.socket

    def resume_writing(self) -> None:
        super().resume_writing()
        if self.socket is not None:
            self.socket.schedule()

    def send_receive_event_to_app(self) -> None:
        super().send_receive_event_to_app()
        waiting = self.queue.qsize()
        if waiting > self.inbound_peak:
            self.inbound_peak = waiting

    async def send(self, message: ASGISendEvent) -> None:
        if self._closed_by_us:
            raise ClientDisconnected  # the protocol closed the socket itself (a peer that does not read)
        if (
            message["type"] == "websocket.close"
            and self.handshake_complete
            and self.initial_response is None
            and not self.close_sent
            and not self.disconnected
        ):
            # The close goes into the transport's buffer now, behind the frames already
            # there, instead of waiting for a peer that may never read again.
            self.writable.set()
            await super().send(message)
            self._drop_later()
            return
        try:
            await super().send(message)
        except RuntimeError:
            if self._closed_by_us:  # it was waiting for the buffer to drain when the protocol closed
                raise ClientDisconnected from None
            raise
        if message["type"] == "websocket.accept" and self.handshake_complete:
            self._forget_handshake()

    def _forget_handshake(self) -> None:
        """The connection is open: let go of the handshake's request and response (the
        scope has what the app reads of them), as the native transport does."""
        del self.request, self.response
        conn = self.conn
        # The handshake's parser keeps the parsed request alive for as long as the connection
        # lasts. When it waits for the first frame with nothing read of one, start a frame parser.
        waiting: object = conn.parser
        while isinstance(waiting, GeneratorType) and waiting.gi_yieldfrom is not None:
            waiting = waiting.gi_yieldfrom
        if isinstance(waiting, GeneratorType) and waiting.gi_code is StreamReader.at_eof.__code__:
            conn.parser = Protocol.parse(conn)
            next(conn.parser)

    def handle_ping(self) -> None:
        if self.close_sent:
            self.conn.data_to_send()  # closing: a late ping gets no pong
            return
        if self.transport.get_write_buffer_size() > self.max_buffered_bytes:
            self.conn.data_to_send()  # the pongs are dropped with the peer
            self.close_too_slow()
            return
        super().handle_ping()

    def close_too_slow(self) -> None:
        """Close with 1008 behind what is buffered; the app sees the disconnect."""
        self._closed_by_us = True
        self.close_now(CLOSE_POLICY_VIOLATION, TOO_SLOW_REASON)

    def close_now(self, code: int, reason: str) -> None:
        """Send a close frame behind what the transport buffers, without waiting for
        it to drain; the app sees the disconnect (`code` and `reason`)."""
        if self.close_sent or self.transport.is_closing():
            return
        if self.conn.state is State.OPEN:
            send_close(self.conn, code, reason)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        disconnect: WebSocketDisconnectEvent = {"type": "websocket.disconnect", "code": code, "reason": reason}
        self.queue.put_nowait(disconnect)
        self.writable.set()  # a send waiting for the buffer to drain fails now instead
        self._drop_later()

    def _drop_later(self) -> None:
        """Keep reading (a socket closed with unread input resets the connection,
        and the peer would lose the close frame) until the peer answers the close;
        drop it after `CLOSE_GRACE` seconds."""
        if self.close_timer is not None:
            self.close_timer.cancel()
        self.close_timer = self.loop.call_later(CLOSE_GRACE, self.transport.abort)
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()


class UvicornSocket(AttachedSocket):
    """The engine's socket on a `BoundedWebSocketProtocol` connection: frames wait in
    a list and go out in one write per loop turn (a broadcast's frame built once for
    every socket), in order, the close behind them."""

    __slots__ = (
        "_accepted",
        "_compressed",
        "_deferred_close",
        "_pending",
        "_pending_bytes",
        "dirty",
        "max_buffered",
        "protocol",
    )

    def __init__(self, protocol: BoundedWebSocketProtocol, tags: list[str], max_buffered: int) -> None:
        super().__init__(tags)
        self.protocol = protocol
        self.max_buffered = max_buffered
        self.dirty = False
        self._accepted = False
        self._compressed = bool(protocol.conn.extensions)  # negotiated with the handshake, before the app runs
        self._pending: list[bytes | str] = []  # wire bytes; texts on a compressed connection
        self._pending_bytes = 0
        self._deferred_close: tuple[int, str] | None = None

    def send(self, frame: str) -> None:
        self._push(frame if self._compressed else text_frame(frame))

    def send_shared(self, frame: SharedFrame) -> None:
        # Server frames are not masked: one broadcast, the same bytes for every socket
        # (a compressed connection frames the text itself).
        self._push(frame.text if self._compressed else frame.wire())

    def _push(self, data: bytes | str) -> None:
        if not self._open:
            raise ConnectionError("socket is not open")
        self._pending.append(data)
        self._pending_bytes += len(data)
        if self._pending_bytes > self.max_buffered:
            # A peer that does not read is closed, never allowed to grow memory (the
            # sender's run goes on). Its unwritten frames are dropped; the 1008 goes
            # out behind what the transport already buffers.
            self._pending.clear()
            self._pending_bytes = 0
            self._open = False
            self.close_code = CLOSE_POLICY_VIOLATION
            if self._accepted:
                self.protocol.close_too_slow()
            else:
                self._deferred_close = (CLOSE_POLICY_VIOLATION, TOO_SLOW_REASON)
            return
        self.schedule()

    def schedule(self) -> None:
        """Write at the end of this loop turn (once, however many frames come)."""
        if not self.dirty:
            self.dirty = True
            protocol = self.protocol
            protocol.flusher.add(self, protocol.loop)

    def flush(self, *, force: bool = False) -> None:
        """Write every pending frame in one call; while the transport is over its
        high-water mark they wait (`resume_writing` calls again), unless `force`."""
        self.dirty = False
        pending = self._pending
        if not pending or not self._accepted:
            return
        protocol = self.protocol
        if protocol.close_sent or protocol.transport.is_closing():  # gone, or closed: nothing more goes out
            pending.clear()
            self._pending_bytes = 0
            return
        if not force and not protocol.writable.is_set():
            return
        conn = protocol.conn
        if self._compressed:
            for text in cast("list[str]", pending):
                conn.send_text(text.encode())
            protocol.transport.write(b"".join(conn.data_to_send()))
        else:
            protocol.transport.write(b"".join(cast("list[bytes]", pending)))
        self._pending = []
        self._pending_bytes = 0

    def close(self, code: int, reason: str) -> None:
        if not self._open:
            return
        self._open = False
        self.close_code = code
        if not self._accepted:
            self._deferred_close = (code, reason)  # closed by on_connect: right after the accept
            return
        self.flush(force=True)  # the frames before the close, however full the buffer
        self.protocol.close_now(code, reason)

    def accepted(self) -> None:
        self._accepted = True
        if self._deferred_close is not None:
            self.flush(force=True)
            self.protocol.close_now(*self._deferred_close)
        elif self._pending:
            self.flush()


def bounded_protocol(max_buffered_bytes: int) -> type[BoundedWebSocketProtocol]:
    """The protocol class for uvicorn's `ws=` with this bound."""
    attributes = {"max_buffered_bytes": max_buffered_bytes, "flusher": Flusher()}
    return type("BoundedWebSocketProtocol", (BoundedWebSocketProtocol,), attributes)


def head_timeout_protocol(timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol (h11 or httptools, as uvicorn picks) that answers 408 and
    closes a connection whose first request head has not arrived within `timeout` seconds
    (uvicorn's own `timeout_keep_alive` only covers the wait between requests)."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    base = AutoHTTPProtocol

    def connection_made(self: asyncio.Protocol, transport: asyncio.BaseTransport) -> None:
        base.connection_made(self, transport)
        assert isinstance(transport, asyncio.Transport)
        asyncio.get_running_loop().call_later(timeout, _head_timed_out, self, transport)

    return type("HeadTimeoutHTTPProtocol", (base,), {"connection_made": connection_made})


def _head_timed_out(protocol: asyncio.Protocol, transport: asyncio.Transport) -> None:
    if transport.is_closing() or transport.get_protocol() is not protocol:
        return  # gone, or upgraded to a WebSocket
    if getattr(protocol, "cycle", None) is None:  # no request has started on this connection
        transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        transport.close()


def uvicorn_config(
    app: SocketServer, host: str, port: int, *, log_level: str = "info", head_timeout: float = HEAD_TIMEOUT
) -> uvicorn.Config:
    """uvicorn's `Config` for serving `app`: the bounded WebSocket protocol, a
    `head_timeout` for the first request head, the lifespan on, uvicorn's
    own access log off (the app's `durable_effect.access` lines replace it)."""
    import uvicorn

    ws = bounded_protocol(app.max_buffered_bytes)
    http = head_timeout_protocol(head_timeout)
    return uvicorn.Config(
        app, host=host, port=port, ws=ws, http=http, lifespan="on", log_level=log_level, access_log=False
    )  # the app writes the access log itself, in the same format on both transports
