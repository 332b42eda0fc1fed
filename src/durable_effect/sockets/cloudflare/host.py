"""The Durable Object's side of the host port: JavaScript WebSockets and `ctx.storage`.

Thin on purpose: it moves frames and stores strings; every room semantic is
the engine's. Frames go straight to `ws.send`: the platform's output gate
holds them until the storage writes of the same event are confirmed, so
`begin`/`commit` only write storage.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Collection, Coroutine, Mapping, Sequence

from durable_effect.sockets.cloudflare import _ffi
from durable_effect.sockets.cloudflare.types import READY_STATE_OPEN, DurableObjectState, JsWebSocket
from durable_effect.sockets.engine import CLOSE_NORMAL, _may_echo
from durable_effect.sockets.host import AlarmChange, HostSocket, send_each

__all__ = ["CloudflareSocket", "DurableObjectHost"]

log = logging.getLogger("durable_effect.cloudflare")

MAX_CLOSE_REASON_BYTES = 123
CLOSED_ATTACHMENT = "closed"
"""The attachment of a socket this side closed (the engine's attachments are JSON objects)."""


class CloudflareSocket:
    """A hibernatable WebSocket (the server end) as the engine sees it."""

    __slots__ = ("_attachment", "_loaded", "conn_id", "ws")

    def __init__(self, ws: JsWebSocket, conn_id: str) -> None:
        self.ws = ws
        self.conn_id = conn_id  # the first tag, to find the wrapper of a socket again
        self._attachment: str | None = None
        self._loaded = False

    def is_open(self) -> bool:
        # getWebSockets() also gives sockets that are closing: only OPEN takes frames.
        return bool(self.ws.readyState == READY_STATE_OPEN)

    def send(self, frame: str) -> None:
        self.ws.send(frame)

    def close(self, code: int, reason: str) -> None:
        """Close from this side (the engine runs on_close for the socket right away)."""
        self._close(code, reason)
        self.mark_closed()

    def answer_close(self, code: int, reason: str) -> None:
        """Complete the close handshake the peer started (1005/1006/1015 are not sendable)."""
        self._close(code if _may_echo(code) else CLOSE_NORMAL, reason)

    def mark_closed(self) -> None:
        """on_close has run for this socket. The platform may still report it (the
        peer's answer to a close, an error) to another instance of this Durable
        Object, after hibernation: marked as closed, the socket gives no
        connection there, so on_close never runs twice."""
        self._attachment, self._loaded = None, True
        try:
            self.ws.serializeAttachment(CLOSED_ATTACHMENT)
        except Exception as exc:
            log.debug("marking a closed socket failed: %s", exc)

    def _close(self, code: int, reason: str) -> None:
        try:
            self.ws.close(code, _clip_reason(reason))
        except Exception as exc:  # already closed, or a code JavaScript refuses
            log.debug("close(%s) of a socket failed: %s", code, exc)

    def attachment(self) -> str | None:
        if not self._loaded:
            raw = self.ws.deserializeAttachment()
            self._attachment = raw if isinstance(raw, str) and raw != CLOSED_ATTACHMENT else None
            self._loaded = True
        return self._attachment

    def set_attachment(self, data: str) -> None:
        self.ws.serializeAttachment(data)
        self._attachment = data
        self._loaded = True


class DurableObjectHost:
    """Storage, alarm and sockets of the one instance a Durable Object holds."""

    def __init__(self, ctx: DurableObjectState) -> None:
        self.ctx = ctx
        self.storage = ctx.storage
        self._by_id: dict[str, list[CloudflareSocket]] = {}

    # -- sockets ------------------------------------------------------------------------

    def adopt(self, ws: JsWebSocket, tags: Sequence[str]) -> CloudflareSocket:
        """The wrapper of a socket just accepted with `tags` (the id first)."""
        socket = CloudflareSocket(ws, tags[0] if tags else "")
        self._by_id.setdefault(socket.conn_id, []).append(socket)
        return socket

    def wrap(self, ws: JsWebSocket) -> CloudflareSocket:
        """The one wrapper of a JavaScript socket (the engine knows sockets by identity)."""
        tags = list(self.ctx.getTags(ws))
        conn_id = tags[0] if tags else ""
        for socket in self._by_id.get(conn_id, ()):
            if socket.ws == ws:
                return socket
        return self.adopt(ws, tags)

    def forget(self, socket: CloudflareSocket) -> None:
        """Drop the wrapper of a socket the platform has reported closed."""
        wrappers = self._by_id.get(socket.conn_id)
        if wrappers is not None and socket in wrappers:
            wrappers.remove(socket)
            if not wrappers:
                del self._by_id[socket.conn_id]

    def sockets(self) -> Sequence[HostSocket]:
        result: list[HostSocket] = []
        for ws in self.ctx.getWebSockets():
            socket = self.wrap(ws)
            if socket.is_open():
                result.append(socket)
        self._forget_closed()
        return result

    def _forget_closed(self) -> None:
        for conn_id, sockets in list(self._by_id.items()):
            alive = [s for s in sockets if s.ws.readyState <= READY_STATE_OPEN]
            if alive:
                self._by_id[conn_id] = alive
            else:
                del self._by_id[conn_id]

    def send_all(self, sockets: Sequence[HostSocket], frame: str) -> tuple[int, list[tuple[int, Exception]]]:
        return send_each(sockets, lambda socket: socket.send(frame))

    # -- storage ------------------------------------------------------------------------

    async def load(self, key: str) -> str | None:
        value = await self.storage.get(key)
        return value if isinstance(value, str) else None

    async def commit(self, puts: Mapping[str, str], deletes: Collection[str], alarm: AlarmChange | None) -> None:
        # Issued back to back, with no await between them, the writes (the
        # alarm's included) coalesce into one atomic write; awaiting them
        # confirms it. The run's frames wait in the engine until this returns.
        pending: list[Awaitable[object]] = []
        if len(puts) == 1:
            ((key, value),) = puts.items()
            pending.append(self.storage.put(key, value))
        elif puts:
            pending.append(self.storage.put(_ffi.js_object(puts)))
        if deletes:
            pending.append(self.storage.delete(_ffi.js_array(list(deletes))))
        if alarm is not None:
            pending.append(self.storage.deleteAlarm() if alarm.at_ms is None else self.storage.setAlarm(alarm.at_ms))
        try:
            for write in pending:
                await write
        finally:
            for write in pending:  # after a failed write, the rest are never started
                if isinstance(write, Coroutine):
                    write.close()

    async def delete_all(self) -> None:
        await self.storage.deleteAll()

    async def get_alarm(self) -> float | None:
        value = await self.storage.getAlarm()
        return float(value) if isinstance(value, int | float) else None

    def now_ms(self) -> float:
        return _ffi.now_ms()


def _clip_reason(reason: str) -> str:
    """A close reason is at most 123 bytes of UTF-8."""
    data = reason.encode()
    if len(data) <= MAX_CLOSE_REASON_BYTES:
        return reason
    return data[:MAX_CLOSE_REASON_BYTES].decode(errors="ignore")
