"""A typed WebSocket client for rooms served by the self-hosted server.

    async with connect("ws://127.0.0.1:8787/ws/chat/lobby", Chat, headers={"Authorization": "Bearer …"}) as conn:
        await conn.send(Say(text="hi"))
        async for msg in conn:          # decoded with Chat's broadcast schema
            print(msg)

The client reconnects after a dropped connection (exponential backoff with
jitter), buffers sends while disconnected (bounded), and stops for good on a
close it should not fight: 1000 (normal), 1008 (policy), 1012 (replaced by
another connection with the same id), or an HTTP refusal of the upgrade
(4xx; a 5xx such as a shutting-down server's 503 is retried).
`conn = await connect(...)` gives the connection without a block (close it
with `await conn.close()`); `async with await connect(...)` works too.
From Effect code use `connect_effect`, `conn.send_effect` and `conn.next_effect`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections import deque
from collections.abc import AsyncIterator, Generator, Mapping
from types import TracebackType
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from durable_effect.effect import Effect, TaggedError, try_promise
from durable_effect.sockets.room import WebSocketRoom
from durable_effect.sockets.schema import TaggedStruct

__all__ = [
    "ClientClosedError",
    "ConnectError",
    "Connecting",
    "RoomConnection",
    "SendBufferFullError",
    "connect",
    "connect_effect",
]

log = logging.getLogger("durable_effect.client")

Ev = TypeVar("Ev", bound=TaggedStruct)
B = TypeVar("B", bound=TaggedStruct)
S = TypeVar("S", bound=BaseModel)
C = TypeVar("C", bound=BaseModel)

FINAL_CLOSE_CODES = frozenset({1000, 1008, 1012})


class ClientClosedError(TaggedError):
    """The connection is closed for good (by `close()` or a final close code)."""

    code: int | None
    reason: str = ""


class SendBufferFullError(TaggedError):
    """Too many sends are waiting for a reconnect."""

    limit: int


class ConnectError(TaggedError):
    """The first connection could not be made. `status` is the HTTP status of a
    refused upgrade (None when no answer came) and `reason` the server's reason
    (the `message` of its JSON error body, e.g. "on_connect failed: ...")."""

    message: str
    status: int | None = None
    reason: str = ""


class _Closed:
    """Inbox marker: the connection closed for good."""


_CLOSED = _Closed()


class RoomConnection(Generic[Ev, B]):
    """One client's connection to a room instance."""

    def __init__(
        self,
        url: str,
        room: WebSocketRoom[Any, Any, Ev, B],
        *,
        reconnect: bool,
        min_backoff: float,
        max_backoff: float,
        max_buffered: int,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.url = url
        self.headers = dict(headers or {})
        """Sent with every upgrade, reconnects included (e.g. `Authorization`)."""
        self.room = room
        self.reconnect = reconnect
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.max_buffered = max_buffered
        self.state: Literal["connecting", "open", "closed"] = "connecting"
        self.close_code: int | None = None
        self.close_reason = ""
        self.reconnects = 0
        self._ws: Any = None
        self._pending: deque[str] = deque()
        self._inbox: asyncio.Queue[B | _Closed] = asyncio.Queue()
        self._opened = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle -----------------------------------------------------------------

    async def _start(self) -> None:
        from websockets.asyncio.client import connect as ws_connect

        self._ws = await ws_connect(self.url, additional_headers=self.headers)
        self.state = "open"
        self._opened.set()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        from websockets.asyncio.client import connect as ws_connect
        from websockets.exceptions import ConnectionClosed, InvalidStatus

        delay = self.min_backoff
        while True:
            ws = self._ws
            try:
                await self._flush()
                async for frame in ws:
                    delay = self.min_backoff
                    self._deliver(frame)
            except ConnectionClosed:
                pass
            except OSError:
                pass
            code = ws.close_code
            self.close_code = code
            self.close_reason = ws.close_reason or ""
            if self.state == "closed" or not self.reconnect or code in FINAL_CLOSE_CODES:
                break
            self.state = "connecting"
            while not self.is_closed():
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, self.max_backoff)
                try:
                    self._ws = await ws_connect(self.url, additional_headers=self.headers)
                except InvalidStatus as exc:
                    self.close_code = exc.response.status_code
                    if self.close_code >= 500:  # e.g. 503 from a server shutting down: try again
                        continue
                    self.state = "closed"
                    break
                except OSError:
                    continue
                self.reconnects += 1
                self.state = "open"
                break
            if self.is_closed():
                break
        self.state = "closed"
        self._inbox.put_nowait(_CLOSED)

    def _deliver(self, frame: str | bytes) -> None:
        try:
            self._inbox.put_nowait(self.room.broadcast.validate_json(frame))
        except ValidationError as exc:
            log.warning("dropping a message that is not in %r: %s", self.room.broadcast, exc)

    async def _flush(self) -> None:
        while self._pending and self.state == "open":
            frame = self._pending[0]
            await self._ws.send(frame)
            self._pending.popleft()

    def is_closed(self) -> bool:
        """True once closed for good (`close()` may be called from another task)."""
        return self.state == "closed"

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close for good; pending sends are dropped."""
        if self.state == "closed":
            return
        self.state = "closed"
        self._pending.clear()
        if self._ws is not None:
            await self._ws.close(code, reason)
        if self._task is not None:
            await self._task

    async def __aenter__(self) -> RoomConnection[Ev, B]:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # -- messages --------------------------------------------------------------------

    async def send(self, event: Ev) -> None:
        """Send a typed event; while reconnecting it waits in a bounded buffer."""
        if not self.room.event.is_member(event):
            raise TypeError(f"{event!r} is not an event of room {self.room.name!r}")
        if self.state == "closed":
            raise ClientClosedError(self.close_code, self.close_reason)
        frame = event.to_json()
        if self.state == "open" and not self._pending:
            try:
                await self._ws.send(frame)
                return
            except Exception:  # the reader notices the drop and reconnects
                pass
        if len(self._pending) >= self.max_buffered:
            raise SendBufferFullError(self.max_buffered)
        self._pending.append(frame)

    async def recv(self) -> B:
        """The next broadcast; raises `ClientClosedError` once closed for good."""
        item = await self._inbox.get()
        if isinstance(item, _Closed):
            self._inbox.put_nowait(item)
            raise ClientClosedError(self.close_code, self.close_reason)
        return item

    def __aiter__(self) -> AsyncIterator[B]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[B]:
        while True:
            try:
                yield await self.recv()
            except ClientClosedError:
                return

    def send_effect(self, event: Ev) -> Effect[None, ClientClosedError | SendBufferFullError]:
        """`send` as an Effect."""
        return try_promise(lambda: self.send(event), _as_client_error)

    def next_effect(self) -> Effect[B, ClientClosedError]:
        """`recv` as an Effect."""
        return try_promise(self.recv, _as_closed)


def _as_client_error(exc: Exception) -> ClientClosedError | SendBufferFullError:
    if isinstance(exc, ClientClosedError | SendBufferFullError):
        return exc
    raise exc


def _as_closed(exc: Exception) -> ClientClosedError:
    if isinstance(exc, ClientClosedError):
        return exc
    raise exc


class Connecting(Generic[Ev, B]):
    """What `connect` gives: await it for the connection, or use it in
    `async with` (the connection closes when the block ends)."""

    def __init__(self, conn: RoomConnection[Ev, B]) -> None:
        self._conn = conn

    def __await__(self) -> Generator[Any, None, RoomConnection[Ev, B]]:
        return self._open().__await__()

    async def _open(self) -> RoomConnection[Ev, B]:
        from websockets.exceptions import InvalidHandshake, InvalidStatus

        conn, url = self._conn, self._conn.url
        try:
            await conn._start()
        except InvalidStatus as exc:
            status, reason = exc.response.status_code, _refusal_reason(exc.response.body)
            raise ConnectError(f"{url} refused the upgrade with {status}: {reason}", status, reason) from None
        except (OSError, InvalidHandshake) as exc:
            raise ConnectError(f"could not connect to {url}: {exc}") from None
        return conn

    async def __aenter__(self) -> RoomConnection[Ev, B]:
        return await self._open()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._conn.close()


def connect(
    url: str,
    room: WebSocketRoom[S, C, Ev, B],
    *,
    headers: Mapping[str, str] | None = None,
    reconnect: bool = True,
    min_backoff: float = 0.1,
    max_backoff: float = 10.0,
    max_buffered: int = 1_000,
) -> Connecting[Ev, B]:
    """Open a connection to `url` (a server's `/ws/{room}/{id}` route):
    `async with connect(url, Room) as conn:` or `conn = await connect(url, Room)`.

    `headers` go with every upgrade (e.g. `{"Authorization": "Bearer …"}`).
    Raises `ConnectError` when the first connection cannot be made (refused
    upgrades included, with the server's status and reason); later drops are
    retried when `reconnect` is on.
    """
    conn: RoomConnection[Ev, B] = RoomConnection(
        url,
        room,
        reconnect=reconnect,
        min_backoff=min_backoff,
        max_backoff=max_backoff,
        max_buffered=max_buffered,
        headers=headers,
    )
    return Connecting(conn)


def _refusal_reason(body: bytes | bytearray) -> str:
    """The message of the server's JSON error body, or the body's text."""
    text = bytes(body).decode(errors="replace").strip()
    try:
        error = json.loads(text)["error"]
        message = error["message"] if isinstance(error, dict) else None
    except (ValueError, KeyError, TypeError):
        return text[:500]
    return str(message) if message is not None else text[:500]


def connect_effect(
    url: str,
    room: WebSocketRoom[S, C, Ev, B],
    *,
    headers: Mapping[str, str] | None = None,
    reconnect: bool = True,
    min_backoff: float = 0.1,
    max_backoff: float = 10.0,
    max_buffered: int = 1_000,
) -> Effect[RoomConnection[Ev, B], ConnectError]:
    """`connect` as an Effect."""

    def as_connect_error(exc: Exception) -> ConnectError:
        if isinstance(exc, ConnectError):
            return exc
        raise exc

    return try_promise(
        lambda: connect(
            url,
            room,
            headers=headers,
            reconnect=reconnect,
            min_backoff=min_backoff,
            max_backoff=max_backoff,
            max_buffered=max_buffered,
        ),
        as_connect_error,
    )
