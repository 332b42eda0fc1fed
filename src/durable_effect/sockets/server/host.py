"""The server's side of the host port: sockets with outboxes, instance hosts over storage."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar, cast

import anyio
from websockets.exceptions import ProtocolError
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol as WebSocketProtocol

from durable_effect.sockets.host import AlarmChange, HostSocket, send_each
from durable_effect.sockets.server.storage import ServerStorage, StorageBusyError

__all__ = [
    "FRAMES_EXTENSION",
    "AttachedSocket",
    "Close",
    "DirectSocket",
    "FanOut",
    "ServedSocket",
    "ServerInstanceHost",
    "ServerSocket",
    "SharedFrame",
    "evict_idle",
    "register_fan_out",
    "retry_busy",
    "send_close",
    "text_frame",
]

CLOSE_POLICY_VIOLATION = 1008
TOO_SLOW_REASON = "client too slow"
"""The reason of the 1008 close a socket gets when its unsent frames pass `max_buffered_bytes`."""


BUSY_RETRY_SECONDS = 2.0
"""How long a write waits, in total, for a database locked by another process."""

T = TypeVar("T")


async def retry_busy(op: Callable[[], T], budget: float | None = None) -> T:
    """Run a storage call; while another process holds the database's lock,
    retry it with growing pauses that leave the event loop free (other rooms
    go on), for up to `budget` seconds (`BUSY_RETRY_SECONDS`), then raise
    `StorageBusyError`."""
    pause = 0.001
    deadline = time.monotonic() + (BUSY_RETRY_SECONDS if budget is None else budget)
    while True:
        try:
            return op()
        except StorageBusyError:
            if time.monotonic() + pause > deadline:
                raise
        await anyio.sleep(pause)
        pause = min(pause * 2, 0.05)


def evict_idle(
    last_used: dict[tuple[str, str], float],
    cutoff: float,
    hibernate: Callable[[str, str], bool],
    is_loaded: Callable[[str, str], bool],
) -> None:
    """Drop from memory every instance last used at or before `cutoff`
    (`time.monotonic()`) that is idle, and forget the use of those gone; rooms
    and tasks are evicted alike."""
    for key, used in list(last_used.items()):
        if used <= cutoff and (hibernate(*key) or not is_loaded(*key)):
            del last_used[key]


def text_frame(text: str) -> bytes:
    """One unmasked, unfragmented text frame: what the server sends every socket."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


def send_close(conn: WebSocketProtocol, code: int, reason: str) -> None:
    """A room's `conn.close(code, reason)` on a sans-I/O connection, as both
    transports send it: a code a server may not send becomes 1000, and the
    reason is cut to the 123 bytes of UTF-8 a close frame holds."""
    data = reason.encode()
    if len(data) > 123:
        reason = data[:123].decode(errors="ignore")
    try:
        conn.send_close(code, reason)
    except ProtocolError:  # not a code a server may send
        conn.send_close(1000, reason)


class SharedFrame:
    """A broadcast's frame: the text, and its wire bytes built once, on first use."""

    __slots__ = ("_wire", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._wire: bytes | None = None

    def wire(self) -> bytes:
        if self._wire is None:
            self._wire = text_frame(self.text)
        return self._wire


class ServedSocket(HostSocket, Protocol):
    """A socket of either transport, as the server's instance host drives it."""

    tags: list[str]
    close_code: int | None

    def send_shared(self, frame: SharedFrame) -> None:
        """Send a broadcast's frame (raise if the socket cannot take it)."""
        ...


FRAMES_EXTENSION = "durable_effect.websocket.frames"
"""The ASGI scope extension through which a server's WebSocket protocol takes the
app's frames itself, instead of one `websocket.send` each: its value is
`{"socket": make}`, `make(tags, max_buffered_bytes)` giving a `DirectSocket`.
`uvicorn_config`'s protocol offers it; without it the app uses `send`."""


class DirectSocket(ServedSocket, Protocol):
    """A socket that writes to its connection itself (see `FRAMES_EXTENSION`)."""

    def accepted(self) -> None:
        """The app sent `websocket.accept`: write the frames (and close) held until now."""
        ...

    def mark_closed(self) -> None:
        """The app received `websocket.disconnect`: no more sends."""
        ...


FanOut = Callable[[Sequence["ServedSocket"], SharedFrame], tuple[int, list[tuple[int, Exception]]]]
"""A transport's `send_all` loop for its own socket class (same result as `send_each`)."""

_FAN_OUTS: dict[type, FanOut] = {}


def register_fan_out(socket_class: type, fan_out: FanOut) -> None:
    """Let `ServerInstanceHost.send_all` hand a broadcast whose first socket is
    exactly of `socket_class` to `fan_out` (which must take sockets of any class)."""
    _FAN_OUTS[socket_class] = fan_out


@dataclass(frozen=True, slots=True)
class Close:
    """An outbox entry: send a close frame, then stop writing."""

    code: int
    reason: str


class AttachedSocket:
    """What every socket of the ASGI app keeps: its tags, whether it is open, its attachment."""

    __slots__ = ("_attachment", "_open", "close_code", "tags")

    def __init__(self, tags: list[str]) -> None:
        self.tags = tags
        self.close_code: int | None = None
        self._open = True
        self._attachment: str | None = None

    def is_open(self) -> bool:
        return self._open

    def mark_closed(self) -> None:
        """The peer is gone: no more sends."""
        self._open = False

    def attachment(self) -> str | None:
        return self._attachment

    def set_attachment(self, data: str) -> None:
        self._attachment = data


class ServerSocket(AttachedSocket):
    """A WebSocket served by the ASGI app: frames go to an outbox that the
    connection's writer drains (a run's frames arrive only after its commit)."""

    __slots__ = ("_wake", "buffered", "max_buffered", "outbox", "sending")

    def __init__(self, tags: list[str], max_buffered: int) -> None:
        super().__init__(tags)
        self.outbox: deque[str | Close] = deque()
        self._wake = anyio.Event()
        self.buffered = 0
        self.max_buffered = max_buffered
        self.sending: anyio.CancelScope | None = None
        """The writer's send in progress: cancelled when the socket is closed as too slow."""

    def send(self, frame: str) -> None:
        if not self._open:
            raise ConnectionError("socket is not open")
        self.buffered += len(frame)
        if self.buffered > self.max_buffered:
            # A client that does not read is closed, never allowed to grow memory;
            # the sender's run goes on (one slow client never fails a broadcast).
            # Its unsent frames are dropped and the send stuck behind them is
            # cancelled, so that the close goes out now.
            self.outbox.clear()
            self.buffered = 0
            self.close(CLOSE_POLICY_VIOLATION, TOO_SLOW_REASON)
            if self.sending is not None:
                self.sending.cancel()
            return
        self.outbox.append(frame)
        self.wake()

    def send_shared(self, frame: SharedFrame) -> None:
        self.send(frame.text)

    def close(self, code: int, reason: str) -> None:
        if self._open:
            self._open = False
            self.close_code = code
            self.outbox.append(Close(code, reason))
            self.wake()

    def wake(self) -> None:
        self._wake.set()

    async def next_batch(self) -> list[str | Close]:
        """Wait for frames; return them all at once."""
        while not self.outbox:
            await self._wake.wait()
            self._wake = anyio.Event()
        batch = list(self.outbox)
        self.outbox.clear()
        return batch


class ServerInstanceHost:
    """Storage, alarm and sockets of one instance on the server."""

    def __init__(
        self,
        room: str,
        id: str,
        storage: ServerStorage,
        on_alarm_change: Callable[[], None],
        now_ms: Callable[[], float] = lambda: time.time() * 1_000.0,
    ) -> None:
        self.room = room
        self.id = id
        self.storage = storage
        self.socket_list: list[ServedSocket] = []
        self._on_alarm_change = on_alarm_change
        self.now_ms = now_ms

    async def load(self, key: str) -> str | None:
        return await retry_busy(lambda: self.storage.load(self.room, self.id, key))

    async def commit(self, puts: Mapping[str, str], deletes: Collection[str], alarm: AlarmChange | None) -> None:
        try:  # the common case, without the retry loop's coroutine
            self.storage.commit(self.room, self.id, puts, deletes, alarm)
        except StorageBusyError:
            await retry_busy(lambda: self.storage.commit(self.room, self.id, puts, deletes, alarm))
        if alarm is not None:
            self._on_alarm_change()

    async def delete_all(self) -> None:
        await retry_busy(lambda: self.storage.delete_all(self.room, self.id))

    async def get_alarm(self) -> float | None:
        alarm = await retry_busy(lambda: self.storage.get_alarm(self.room, self.id))
        return None if alarm is None else alarm.at_ms

    def send_all(self, sockets: Sequence[HostSocket], frame: str) -> tuple[int, list[tuple[int, Exception]]]:
        shared = SharedFrame(frame)  # serialized once, for every socket that wants the wire bytes
        served = cast("Sequence[ServedSocket]", sockets)  # this host only ever accepts ServedSockets
        fan_out = _FAN_OUTS.get(type(served[0])) if served else None
        if fan_out is not None:
            return fan_out(served, shared)
        return send_each(served, lambda socket: socket.send_shared(shared))

    def sockets(self) -> Sequence[ServedSocket]:
        self.socket_list = [s for s in self.socket_list if s.is_open()]
        return self.socket_list
