"""The native transport: asyncio protocols, frames built once, one write per socket per loop turn.

One `asyncio.Protocol` object per TCP connection, and no task per connection:

- HTTP requests (`/api/...`, static files) are parsed with `h11` and handed to
  the `SocketServer`'s ASGI routes.
- A WebSocket upgrade is parsed, answered and then framed by the `websockets`
  package's sans-I/O `ServerProtocol` (handshake, masking, fragments, ping and
  pong, the close handshake, size limits). Text messages are checked to be
  UTF-8 (1007 otherwise).
- Outgoing frames: a broadcast's frame is serialized once (server frames are
  not masked, so every socket gets the same bytes) and appended to each
  socket's pending list; all frames of one event-loop iteration go out in one
  `write` per socket. A handler run's frames reach a socket only after its
  storage commit (the engine holds them until then).
- Backpressure: while the kernel and transport buffers of a socket are over
  the high-water mark, its frames wait in the pending list; a socket whose
  pending bytes pass `max_buffered_bytes` is closed with 1008.
- Inbound messages of one connection run through the engine in order; a task
  lives only while a connection has messages waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import signal
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Final
from urllib.parse import parse_qsl, unquote

import anyio
import h11
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import Protocol, State
from websockets.server import ServerProtocol

from durable_effect.sockets.server.app import MAX_HEAD_BYTES, Message, Refuse, Scope, SocketServer
from durable_effect.sockets.server.host import (
    CLOSE_POLICY_VIOLATION,
    TOO_SLOW_REASON,
    ServedSocket,
    ServerInstanceHost,
    SharedFrame,
    register_fan_out,
    send_close,
    text_frame,
)

__all__ = ["NativeServer", "NativeSocket", "quiet_accept_errors", "run_native", "serve_native"]

log = logging.getLogger("durable_effect.server")


class _NoInfo(logging.Filter):
    """The sans-I/O protocol's INFO lines ("connection open") say less than
    the access log's, which carry the path and close code: keep the rest."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno != logging.INFO


protocol_log = logging.getLogger("durable_effect.server.protocol")
protocol_log.addFilter(_NoInfo())

CLOSE_TIMEOUT: Final = 5.0
SHUTDOWN_TIMEOUT: Final = 3.0
HEAD_TIMEOUT: Final = 10.0  # seconds a client has to send its request head
FLUSH_DEFERRALS: Final = 2
FLUSH_CHUNK: Final = 512
"""Sockets written per loop turn (a pass over 10,000 sockets takes 20 turns, so
that a message arriving meanwhile is read and sent within the same pass)."""
FAIR_SHARE: Final = 32  # messages of one connection handled before it yields to the loop
MAX_INBOUND_MESSAGES: Final = 256
MAX_INBOUND_BYTES: Final = 1 << 20
READ_SIZE: Final = 256 << 10
"""The most bytes one read of the event loop takes: what arrives past the inbound bound before reading stops."""
_INVALID_DATA: Final = 1007
_EOF: Final = b""  # what the sans-I/O protocol asks for when the TCP stream should end
_PEER_CLOSE: Final = object()
_STATUS_CODES = frozenset(s.value for s in HTTPStatus)


class NativeSocket(asyncio.Protocol):
    """One TCP connection: an HTTP exchange, or a WebSocket and the engine's socket for it."""

    __slots__ = (
        "_abort_timer",
        "_attachment",
        "_deferred_close",
        "_draining",
        "_early",
        "_eof",
        "_head",
        "_http",
        "_http_wake",
        "_inbox",
        "_inbox_bytes",
        "_open",
        "_parts",
        "_paused",
        "_pending",
        "_pending_bytes",
        "_phase",
        "_reading_paused",
        "_text",
        "close_code",
        "dirty",
        "host",
        "inbound_peak",
        "native",
        "proto",
        "tags",
        "transport",
    )

    def __init__(self, native: NativeServer) -> None:
        self.native = native
        self.transport: asyncio.Transport | None = None
        self.proto: ServerProtocol | None = None
        self.host: ServerInstanceHost | None = None
        self.tags: list[str] = []
        self.close_code: int | None = None
        self.dirty = False
        self._phase = "head"  # head -> http | handshake -> open -> closed
        self._head = bytearray()
        self._http: h11.Connection | None = None
        self._http_wake: asyncio.Event | None = None
        self._attachment: str | None = None
        self._open = False
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._paused = False
        self._eof = False
        self._inbox: deque[tuple[object, str | bytes]] | None = None  # only while messages wait
        self._inbox_bytes = 0
        self._reading_paused = False
        self.inbound_peak = 0
        """The most messages that ever waited at once to be handled (bounded by the inbound limits)."""
        self._draining = False
        self._parts: list[bytes] = []
        self._text = False
        self._abort_timer: asyncio.TimerHandle | None = None
        self._deferred_close: tuple[int, str] | None = None
        self._early = False

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.native.connections.add(self)
        # A client that never finishes its request head is dropped (the timer goes with the head).
        self._abort_timer = asyncio.get_running_loop().call_later(self.native.head_timeout, self._head_timeout)

    def _head_timeout(self) -> None:
        if self._phase == "head" and self.transport is not None:
            self._abort_timer = None
            self._reply_plain(408, "request timeout")

    def data_received(self, data: bytes) -> None:
        if self._phase == "open" or self._phase == "handshake":
            self._ws_data(data)
        elif self._phase == "http":
            assert self._http is not None and self._http_wake is not None
            self._http.receive_data(data)
            self._http_wake.set()
        elif self._phase == "head":
            self._head_data(data)

    def eof_received(self) -> bool | None:
        if self.proto is not None:
            self.proto.receive_eof()
            self._after_receive()
        elif self._http is not None and self._http_wake is not None:
            self._http.receive_data(b"")
            self._http_wake.set()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.native.connections.discard(self)
        if self._abort_timer is not None:
            self._abort_timer.cancel()
        if self._http_wake is not None:
            self._http_wake.set()
        was_ws = self._phase in ("open", "handshake")
        self._phase = "closed"
        self._open = False
        self._pending.clear()
        if was_ws and self.host is not None:
            proto = self.proto
            rcvd = proto.close_rcvd if proto is not None else None
            code = rcvd.code if rcvd is not None else self.close_code or 1006
            self._enqueue(_PEER_CLOSE, f"{code}:{rcvd.reason if rcvd is not None else ''}")

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._schedule()

    # -- the engine's socket (HostSocket) ------------------------------------------------

    def is_open(self) -> bool:
        return self._open

    def send(self, frame: str) -> None:
        proto = self.proto
        if proto is not None and proto.extensions:
            if not self._open:
                raise ConnectionError("socket is not open")
            proto.send_text(frame.encode())
            self._pump()
        else:
            self._push(text_frame(frame))

    def send_shared(self, frame: SharedFrame) -> None:
        proto = self.proto
        if proto is not None and proto.extensions:  # compressed sockets frame their own messages
            self.send(frame.text)
        else:
            self._push(frame.wire())

    def _push(self, wire: bytes) -> None:
        """Queue a frame's bytes for this loop turn's write."""
        if not self._open:
            raise ConnectionError("socket is not open")
        self._pending.append(wire)
        self._pending_bytes += len(wire)
        if self._pending_bytes > self.native.max_buffered_bytes and self._paused:
            self._overflow()
        else:
            self._schedule()

    def close(self, code: int, reason: str) -> None:
        if not self._open:
            return
        self._open = False
        self.close_code = code
        proto = self.proto
        if proto is not None and proto.state is State.CONNECTING:
            self._deferred_close = (code, reason)  # closed by on_connect: close right after the 101
            return
        if proto is None or proto.state is not State.OPEN:
            return
        self._send_close(code, reason)

    def _send_close(self, code: int, reason: str) -> None:
        proto = self.proto
        assert proto is not None
        send_close(proto, code, reason)
        self._pump()
        loop = asyncio.get_running_loop()
        self._abort_timer = loop.call_later(CLOSE_TIMEOUT, self._abort)

    def attachment(self) -> str | None:
        return self._attachment

    def set_attachment(self, data: str) -> None:
        self._attachment = data

    # -- output ----------------------------------------------------------------------------

    def _schedule(self) -> None:
        if not self.dirty:
            self.dirty = True
            self.native.mark_dirty(self)

    def flush(self) -> None:
        """Write every pending frame in one call (the native server calls this once per loop turn)."""
        self.dirty = False
        transport = self.transport
        if transport is None or self._phase == "closed":
            return
        if self._phase == "handshake" or self._paused:
            if self._eof and self._phase != "handshake" and not self._pending:
                transport.close()
            return
        pending = self._pending
        if pending:
            transport.write(pending[0] if len(pending) == 1 else b"".join(pending))
            self._pending = []
            self._pending_bytes = 0
        if self._eof:
            transport.close()

    def _pump(self) -> None:
        """Move what the sans-I/O protocol wants sent into the pending writes, in order.
        The protocol's own output (pongs, closes) counts against `max_buffered_bytes` too."""
        proto = self.proto
        assert proto is not None
        for data in proto.data_to_send():
            if data == _EOF:
                self._eof = True
            else:
                self._pending.append(data)
                self._pending_bytes += len(data)
        if self._pending_bytes > self.native.max_buffered_bytes and self._paused:
            self._overflow()
        elif self._pending or self._eof:
            self._schedule()

    def _overflow(self) -> None:
        """A client that does not read: close it (1008), never buffer without bound.

        What is pending is dropped (whole frames); the close frame goes into the
        transport's buffer behind the frames already there, so a client that reads
        again gets them and then the 1008. One that still does not read is
        dropped after `CLOSE_TIMEOUT` seconds."""
        self._pending.clear()
        self._pending_bytes = 0
        self._open = False
        self.close_code = CLOSE_POLICY_VIOLATION
        transport = self.transport
        proto = self.proto
        if transport is None or proto is None or self._abort_timer is not None:
            return
        if proto.state is State.OPEN:
            proto.send_close(CLOSE_POLICY_VIOLATION, TOO_SLOW_REASON)
        for data in proto.data_to_send():
            if data != _EOF:
                transport.write(data)
        self._abort_timer = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, self._abort)

    def _abort(self) -> None:
        if self.transport is not None and self._phase != "closed":
            self.transport.abort()

    # -- WebSocket input -------------------------------------------------------------------

    def _head_data(self, data: bytes) -> None:
        head = self._head
        head += data
        end = head.find(b"\r\n\r\n")
        if (len(head) if end < 0 else end + 4) > MAX_HEAD_BYTES:  # in one chunk or many
            self._reply_plain(431, "request head too large")
            return
        if end < 0:
            return
        first = bytes(head[: end + 4])
        self._head = bytearray()
        if self._abort_timer is not None:
            self._abort_timer.cancel()
            self._abort_timer = None
        if _is_upgrade(first):
            self._phase = "handshake"
            self.proto = ServerProtocol(
                logger=protocol_log,
                max_size=self.native.max_message_bytes,
                extensions=[ServerPerMessageDeflateFactory()] if self.native.deflate else None,
            )
            self._early = len(head) > end + 4  # frame bytes came with the request
            self.proto.receive_data(bytes(head))
            events = self.proto.events_received()
            request = next((e for e in events if isinstance(e, Request)), None)
            # Frames that came with the request wait in the protocol until the upgrade completes.
            self.proto.events[:0] = [e for e in events if not isinstance(e, Request)]
            if request is None:  # not a valid request: the protocol's reply and EOF go out
                self._phase = "refused"
                self._pump()
                return
            self.native.spawn(self._handshake(request))
        else:
            self._phase = "http"
            self._http = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
            self._http_wake = asyncio.Event()
            self._http.receive_data(bytes(head))
            self.native.spawn(self._serve_http())

    async def _handshake(self, request: Request) -> None:
        try:
            await self._upgrade(request)
        except Exception:  # a bug: refuse the upgrade, never leave it hanging
            log.exception("WebSocket upgrade failed")
            if self._phase == "handshake":
                self._refuse_ws(500, "internal server error")

    async def _upgrade(self, request: Request) -> None:
        proto = self.proto
        assert proto is not None
        path, _, query = request.path.partition("?")
        parts = [unquote(p) for p in path.strip("/").split("/")]
        response = proto.accept(request)
        if response.status_code != 101:
            self._refuse_ws(response.status_code, response.body.decode(errors="replace").strip() or "bad handshake")
            return
        if len(parts) != 3 or parts[0] != "ws":
            self._refuse_ws(404, f"no WebSocket route for {path}")
            return
        headers = {k.lower(): v for k, v in request.headers.raw_items()}
        peer = self._peer()
        admitted = await self.native.app.admit(
            parts[1], parts[2], dict(parse_qsl(query)), headers, self._accepted, peer=peer[0] if peer else None
        )
        if isinstance(admitted, Refuse):
            self._refuse_ws(admitted.status, admitted.reason)
            return
        if self._phase != "handshake":  # the client went away during on_connect
            return
        held = self._pending
        self._pending = []
        self._pending_bytes = 0
        proto.send_response(response)
        if self._early is False:
            # The handshake's parser generator keeps the parsed request (and its headers)
            # alive for as long as the connection lasts; nothing of a frame has been read
            # yet, so start a fresh frame parser instead.
            proto.parser = Protocol.parse(proto)
            next(proto.parser)
        self._phase = "open"
        self._pump()
        for frame in held:
            self._pending.append(frame)
            self._pending_bytes += len(frame)
        if self._deferred_close is not None:
            self._send_close(*self._deferred_close)
        self._after_receive()

    def _accepted(self, host: ServerInstanceHost, tags: list[str]) -> NativeSocket:
        self.host = host
        self.tags = tags
        self._open = True
        return self

    def _refuse_ws(self, status: int, reason: str) -> None:
        proto = self.proto
        assert proto is not None
        body = json.dumps({"error": {"_tag": "UpgradeError", "message": reason, "status": status}})
        response = proto.reject(status, body)
        response.headers["Content-Type"] = "application/json"
        proto.send_response(response)
        self._open = False
        self._phase = "refused"
        self._pending = []
        self._pump()

    def _ws_data(self, data: bytes) -> None:
        proto = self.proto
        assert proto is not None
        if self._phase == "handshake":
            self._early = True  # frame bytes before the 101: the handshake's parser holds them
        proto.receive_data(data)
        if self._phase == "open":
            self._after_receive()

    def _after_receive(self) -> None:
        proto = self.proto
        assert proto is not None
        if self._phase == "handshake":
            return  # frames wait in the protocol until the upgrade completes
        for event in proto.events_received():
            if isinstance(event, Frame):
                self._frame(event)
        self._pump()

    def _frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            if frame.fin:
                self._message(opcode is Opcode.TEXT, frame.data)
            else:
                self._text = opcode is Opcode.TEXT
                self._parts = [bytes(frame.data)]
        elif opcode is Opcode.CONT:
            self._parts.append(bytes(frame.data))
            if frame.fin:
                data = b"".join(self._parts)
                self._parts = []
                self._message(self._text, data)
        elif opcode is Opcode.CLOSE:
            self._open = False

    def _message(self, text: bool, data: bytes | bytearray | memoryview) -> None:
        if not self._open or self.host is None:
            return
        if text:
            try:
                decoded = bytes(data).decode()
            except UnicodeDecodeError:
                proto = self.proto
                assert proto is not None
                self._open = False
                self.close_code = _INVALID_DATA
                proto.fail(_INVALID_DATA, "invalid UTF-8")
                return
            self._enqueue(None, decoded)
        else:
            self._enqueue(None, bytes(data))

    # -- the engine, in order ----------------------------------------------------------------

    def _enqueue(self, kind: object, data: str | bytes) -> None:
        inbox = self._inbox
        if inbox is None:
            inbox = self._inbox = deque()
        inbox.append((kind, data))
        self._inbox_bytes += len(data)
        waiting = len(inbox)
        if waiting > self.inbound_peak:
            self.inbound_peak = waiting
        native = self.native
        if (
            not self._reading_paused
            and (waiting >= native.max_inbound_messages or self._inbox_bytes >= native.max_inbound_bytes)
            and self.transport is not None
        ):
            # Backpressure: the peer's bytes wait in its own socket buffers, not in our memory.
            self._reading_paused = True
            self.transport.pause_reading()
        if not self._draining:
            self._draining = True
            self.native.handling += 1
            self.native.spawn(self._drain())

    async def _drain(self) -> None:
        host = self.host
        assert host is not None
        native = self.native
        app = native.app
        inbox = self._inbox
        assert inbox is not None
        handled = 0
        try:
            while inbox:
                handled += 1
                if handled % FAIR_SHARE == 0:
                    await asyncio.sleep(0)  # a busy connection lets the others' messages in
                kind, data = inbox.popleft()
                self._inbox_bytes -= len(data)
                if self._reading_paused and self._below_resume():
                    self._resume_reading()
                instance = app.instance(host.room, host.id)
                if kind is _PEER_CLOSE:
                    assert isinstance(data, str)
                    code, _, reason = data.partition(":")
                    peer = self._peer()
                    app.note_closed(peer[0] if peer else None, host.room, host.id, int(code))
                    await instance.closed(self, int(code), reason)
                else:
                    await instance.message(self, data)
        finally:
            native.handling -= 1
            self._draining = False
            self._inbox = None
            self._inbox_bytes = 0
            if self._reading_paused:
                self._resume_reading()

    def _below_resume(self) -> bool:
        """Under half of both inbound limits: time to read again."""
        inbox = self._inbox
        native = self.native
        waiting = len(inbox) if inbox is not None else 0
        return waiting <= native.max_inbound_messages // 2 and self._inbox_bytes <= native.max_inbound_bytes // 2

    def _resume_reading(self) -> None:
        self._reading_paused = False
        if self.transport is not None:
            self.transport.resume_reading()

    # -- plain HTTP ----------------------------------------------------------------------------

    async def _serve_http(self) -> None:
        conn = self._http
        wake = self._http_wake
        assert conn is not None and wake is not None
        try:
            while self._phase == "http":
                event = await self._http_event(conn, wake)
                if isinstance(event, h11.Request):
                    await self._http_request(conn, wake, event)
                    if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
                        conn.start_next_cycle()
                        continue
                break
        except h11.RemoteProtocolError as exc:
            if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                status = exc.error_status_hint
                self._reply_plain(status, "request head too large" if status == 431 else "bad request")
                return
        except Exception:  # a bug or a failing storage: answer, and close, never hang
            log.exception("HTTP request failed")
            if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                self._reply_plain(500, "internal server error")
                return
        if self.transport is not None:
            self.transport.close()

    async def _http_event(self, conn: h11.Connection, wake: asyncio.Event) -> object:
        while True:
            event = conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            if self._phase != "http":
                return h11.ConnectionClosed()
            wake.clear()
            if conn.their_state is h11.IDLE:  # between requests: an idle keep-alive connection ends
                try:
                    await asyncio.wait_for(wake.wait(), self.native.head_timeout)
                except TimeoutError:
                    return h11.ConnectionClosed()
            else:
                await wake.wait()

    async def _http_request(self, conn: h11.Connection, wake: asyncio.Event, request: h11.Request) -> None:
        target = request.target.decode("latin-1")
        path, _, query = target.partition("?")
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": request.http_version.decode(),
            "method": request.method.decode(),
            "path": unquote(path),
            "raw_path": path.encode("latin-1"),
            "query_string": query.encode("latin-1"),
            "root_path": "",
            "headers": [(k.lower(), v) for k, v in request.headers],
            "client": self._peer(),
        }

        async def receive() -> Message:
            event = await self._http_event(conn, wake)
            if isinstance(event, h11.Data):
                return {"type": "http.request", "body": bytes(event.data), "more_body": True}
            if isinstance(event, h11.EndOfMessage):
                return {"type": "http.request", "body": b"", "more_body": False}
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                status = int(message["status"])
                reason = HTTPStatus(status).phrase if status in _STATUS_CODES else ""
                self._http_write(conn, h11.Response(status_code=status, headers=headers, reason=reason))
            elif message["type"] == "http.response.body":
                body = message.get("body", b"")
                if body:
                    self._http_write(conn, h11.Data(data=body))
                if not message.get("more_body", False):
                    self._http_write(conn, h11.EndOfMessage())

        await self.native.app(scope, receive, send)
        with anyio.move_on_after(self.native.app.body_timeout):
            while conn.their_state is h11.SEND_BODY:  # a body the route did not read
                if isinstance(await self._http_event(conn, wake), h11.ConnectionClosed):
                    break
        if conn.their_state is h11.SEND_BODY:  # it never came: no next request on this connection
            self._phase = "closed"

    def _peer(self) -> tuple[str, int] | None:
        peer = self.transport.get_extra_info("peername") if self.transport is not None else None
        return (str(peer[0]), int(peer[1])) if isinstance(peer, tuple) and len(peer) >= 2 else None

    def _http_write(self, conn: h11.Connection, event: h11.Response | h11.Data | h11.EndOfMessage) -> None:
        data = conn.send(event)
        if data and self.transport is not None:
            self.transport.write(data)

    def _reply_plain(self, status: int, text: str) -> None:
        transport = self.transport
        if transport is None:
            return
        body = text.encode()
        head = f"HTTP/1.1 {status} {text}\r\ncontent-type: text/plain\r\ncontent-length: {len(body)}\r\n"
        transport.write(head.encode() + b"connection: close\r\n\r\n" + body)
        transport.close()
        self._phase = "closed"


def _fan_out(sockets: Sequence[ServedSocket], frame: SharedFrame) -> tuple[int, list[tuple[int, Exception]]]:
    """`send_all` for native sockets: what `send_shared` and `_push` do for each
    socket, in one loop (a broadcast to 10,000 sockets calls no method per
    socket). A socket of another class, or a compressed one (it frames each
    message itself), takes its own `send_shared`."""
    wire = frame.wire()
    size = len(wire)
    delivered = 0
    failed: list[tuple[int, Exception]] = []
    for i, socket in enumerate(sockets):
        if type(socket) is not NativeSocket or (socket.proto is not None and socket.proto.extensions):
            if socket.is_open():
                try:
                    socket.send_shared(frame)
                    delivered += 1
                except Exception as exc:
                    failed.append((i, exc))
            continue
        if not socket._open:
            continue
        socket._pending.append(wire)
        socket._pending_bytes += size
        delivered += 1
        if socket._paused and socket._pending_bytes > socket.native.max_buffered_bytes:
            socket._overflow()
        elif not socket.dirty:
            socket.dirty = True
            socket.native.mark_dirty(socket)
    return delivered, failed


register_fan_out(NativeSocket, _fan_out)


class NativeServer:
    """Serves a `SocketServer` on asyncio with `NativeSocket` connections."""

    socket_class: type[NativeSocket] = NativeSocket

    def __init__(
        self,
        app: SocketServer,
        *,
        deflate: bool = False,
        max_message_bytes: int | None = None,
        head_timeout: float = HEAD_TIMEOUT,
        max_inbound_messages: int = MAX_INBOUND_MESSAGES,
        max_inbound_bytes: int = MAX_INBOUND_BYTES,
    ) -> None:
        self.app = app
        self.max_inbound_messages = max_inbound_messages
        self.max_inbound_bytes = max_inbound_bytes
        self.deflate = deflate
        self.head_timeout = head_timeout
        self.max_message_bytes = (
            max_message_bytes if max_message_bytes is not None else app.engine.options.max_frame_bytes
        )
        self.max_buffered_bytes = app.max_buffered_bytes
        self.connections: set[NativeSocket] = set()
        self._dirty: list[NativeSocket] = []
        self._writing: list[NativeSocket] = []  # the pass being written, from `_cursor` on
        self._cursor = 0
        self._deferred = 0
        self.handling = 0
        """Connections with inbound messages waiting or being handled."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    def mark_dirty(self, socket: NativeSocket) -> None:
        if not self._dirty and not self._writing:
            asyncio.get_running_loop().call_soon(self._flush)
        self._dirty.append(socket)

    def _flush(self) -> None:
        """Write every dirty socket once, `FLUSH_CHUNK` of them per loop turn. While
        inbound messages are still being handled, wait a loop turn or two so that
        their frames join the same write. Between the chunks of a large pass the
        loop reads: a frame queued meanwhile for a socket the pass has not reached
        goes out in the same write; the others are written in the next pass."""
        loop = asyncio.get_running_loop()
        if not self._writing:
            if self.handling and self._deferred < FLUSH_DEFERRALS:
                self._deferred += 1
                loop.call_soon(self._flush)
                return
            self._deferred = 0
            self._writing = self._dirty
            self._dirty = []
            self._cursor = 0
        writing = self._writing
        start = self._cursor
        end = start + FLUSH_CHUNK
        for socket in writing[start:end]:
            try:
                socket.flush()
            except Exception:  # one socket's failure must not stop the others' writes
                log.exception("writing to a connection failed")
        if end < len(writing):
            self._cursor = end
            loop.call_soon(self._flush)
            return
        self._writing = []
        if self._dirty:
            loop.call_soon(self._flush)

    def spawn(self, coro: Coroutine[object, object, None]) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("connection task failed", exc_info=task.exception())

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: self.socket_class(self), host, port, reuse_address=True)

    async def close(self) -> None:
        """Close every WebSocket with 1001, let the closes go out, stop listening."""
        if self._server is not None:
            self._server.close()
        self.app.shutdown()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SHUTDOWN_TIMEOUT
        while any(c.proto is not None for c in self.connections) and loop.time() < deadline:
            await asyncio.sleep(0.02)
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()
        while self._tasks and loop.time() < deadline:
            await asyncio.sleep(0.01)
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)


@asynccontextmanager
async def serve_native(
    app: SocketServer,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    deflate: bool = False,
    head_timeout: float = HEAD_TIMEOUT,
    max_inbound_messages: int = MAX_INBOUND_MESSAGES,
    max_inbound_bytes: int = MAX_INBOUND_BYTES,
) -> AsyncIterator[NativeServer]:
    """Serve `app` on the native transport while the block runs (alarms and
    eviction included); on exit close the sockets with 1001 and the storage.
    `head_timeout`: seconds a client has to send a request head (also how long
    an HTTP keep-alive connection may stay idle). A connection stops being read
    while `max_inbound_messages` of its messages, or `max_inbound_bytes` of
    them, wait to be handled; it is read again once both are under half."""
    native = NativeServer(
        app,
        deflate=deflate,
        head_timeout=head_timeout,
        max_inbound_messages=max_inbound_messages,
        max_inbound_bytes=max_inbound_bytes,
    )
    async with app.running():
        await native.start(host, port)
        try:
            yield native
        finally:
            await native.close()
    app.storage.close()


def run_native(app: SocketServer, host: str = "127.0.0.1", port: int = 8787, *, deflate: bool = False) -> None:
    """Serve until SIGINT or SIGTERM (uvloop's event loop when it is installed)."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        quiet_accept_errors(loop)
        async with serve_native(app, host, port, deflate=deflate) as native:
            log.info("%s", app.startup_line(f"http://{host}:{native.port}", "native"))
            await stop.wait()

    # Serve outside the `except ImportError`: inside it, every exception the server
    # logs would carry the missing uvloop as its chained context.
    runner: Callable[[Coroutine[object, object, None]], None] = asyncio.run
    try:
        import uvloop  # type: ignore[import-not-found, unused-ignore]  # optional; untyped when present
    except ImportError:
        pass
    else:
        runner = uvloop.run
    runner(main())


ACCEPT_ERROR_INTERVAL: Final = 10.0
_ACCEPT_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def quiet_accept_errors(loop: asyncio.AbstractEventLoop, interval: float = ACCEPT_ERROR_INTERVAL) -> None:
    """Log running out of descriptors (or memory) for `accept()` once per `interval` seconds.

    asyncio already stops accepting for a second when `accept()` fails so, but it
    reports every failed attempt (up to the backlog's length per loop turn, each with
    a traceback) and, if the server closes meanwhile, every retry that finds the
    socket gone: megabytes of log a second. Other exceptions go to the handler
    that was there before."""
    previous = loop.get_exception_handler()
    last = -interval
    missed = 0

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
        nonlocal last, missed
        exc = context.get("exception")
        message = str(context.get("message", ""))
        if isinstance(exc, OSError) and exc.errno in _ACCEPT_ERRNOS and message.startswith("socket.accept()"):
            now = loop.time()
            if now - last < interval:
                missed += 1
                return
            log.error(
                "out of file descriptors (or memory): accept() failed with %s; new connections wait"
                " (%d more failures since the last report, reported once per %g s)",
                errno.errorcode.get(exc.errno or 0, exc.errno),
                missed,
                interval,
            )
            last, missed = now, 0
            return
        if isinstance(exc, ValueError | OSError) and "._start_serving(" in message:
            return  # an accept retry that found the listening socket closed: nothing to serve
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handle)


def _is_upgrade(head: bytes) -> bool:
    lower = head.lower()
    return lower.startswith(b"get ") and b"\r\nupgrade:" in lower and b"websocket" in lower
