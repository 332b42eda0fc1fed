"""The rooms contract suite over real WebSockets: the self-hosted server on each transport
(the native one, and the ASGI app under uvicorn).

`ServerTestRuntime` gives the contract suite the same test API as the
in-memory runtime (`testing_connect`, `room`, `advance`, `hibernate`, `clock`),
but every test connection is a `websockets` client talking to a
`SocketServer` on 127.0.0.1, with SQLite storage in a temporary file.

A step of a test (a frame sent, a direct call, a close) returns only once the
server is quiet: every frame a client sent was handled, every frame the
server sent reached its client, every close handshake finished. That makes
the suite's assertions exact over real sockets without sleeping.
"""

from __future__ import annotations

import asyncio
import json
import random
import tempfile
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Never, TypeVar, cast
from urllib.parse import parse_qsl

import anyio
import uvicorn
from pydantic import BaseModel
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from durable_effect.effect import Duration, DurationInput, Effect, Layer, TestClock
from durable_effect.sockets import ConnectionInfo, EngineOptions, SocketConfig, UpgradeError, UpgradeOpts
from durable_effect.sockets.api import RoomHandle, SocketClientService, _call
from durable_effect.sockets.host import AlarmChange
from durable_effect.sockets.memory import START_MS
from durable_effect.sockets.room import WebSocketRoom
from durable_effect.sockets.server import Refuse, SocketServer, UpgradeRequest
from durable_effect.sockets.server.app import Transport
from durable_effect.sockets.server.host import ServerInstanceHost, ServerSocket, SharedFrame
from durable_effect.sockets.server.native import NativeServer, NativeSocket
from durable_effect.sockets.server.storage import SQLiteStorage, StorageError

T = TypeVar("T")
SETTLE_TIMEOUT = 10.0


class FaultySocket(ServerSocket):
    """A server socket whose sends can be made to fail, like `TestConnection.fail_sends`."""

    failing = False

    def send(self, frame: str) -> None:
        if self.failing:
            raise ConnectionError("simulated send failure")
        super().send(frame)


class WatchedSocket(NativeSocket):
    """A native-transport socket that keeps its test link's counters and can fail its sends."""

    __slots__ = ("failing", "link", "runtime")

    def __init__(self, native: NativeServer) -> None:
        super().__init__(native)
        assert isinstance(native, _WatchedNative)
        self.runtime = native.runtime
        self.link = _Link()
        self.failing = False

    def _accepted(self, host: ServerInstanceHost, tags: list[str]) -> NativeSocket:
        self.link = self.runtime.admitting
        self.link.server_waiting = True  # nothing received yet: waiting for the first frame
        self.runtime.server.last_socket = self
        return super()._accepted(host, tags)

    def send(self, frame: str) -> None:
        if self.failing:
            raise ConnectionError("simulated send failure")
        super().send(frame)

    def send_shared(self, frame: SharedFrame) -> None:
        if self.failing:
            raise ConnectionError("simulated send failure")
        super().send_shared(frame)

    def _push(self, wire: bytes) -> None:
        super()._push(wire)
        self.link.server_out += 1
        self.runtime.poke()

    def close(self, code: int, reason: str) -> None:
        if self.is_open():
            self.link.server_closing = True
        super().close(code, reason)
        self.runtime.poke()

    def _enqueue(self, kind: object, data: str | bytes) -> None:
        if kind is None:
            self.link.server_in += 1
        self.link.server_waiting = False
        super()._enqueue(kind, data)
        self.runtime.poke()

    async def _drain(self) -> None:
        try:
            await super()._drain()
        finally:
            self.link.server_waiting = True
            if self.transport is None or self.transport.is_closing():
                self.link.server_done = True
            self.runtime.poke()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self._inbox is None and not self._draining:
            self.link.server_done = True
        self.runtime.poke()


class _WatchedNative(NativeServer):
    socket_class = WatchedSocket

    def __init__(self, app: SocketServer, runtime: ServerTestRuntime) -> None:
        super().__init__(app)
        self.runtime = runtime


class _TestServer(SocketServer):
    """Makes `FaultySocket`s and remembers the last one it accepted."""

    last_socket: FaultySocket | WatchedSocket | None = None

    def _new_socket(self, host: ServerInstanceHost, tags: list[str]) -> ServerSocket:
        self.last_socket = FaultySocket(tags, self.max_buffered_bytes)
        return self.last_socket


@dataclass
class _Link:
    """What the test sees of one connection, on both ends."""

    instance: tuple[str, str] = ("", "")
    frames_sent: int = 0
    frames: list[str] = field(default_factory=list, repr=False)
    server_in: int = 0
    server_out: int = 0
    server_waiting: bool = False
    server_closing: bool = False
    server_done: bool = False
    client_done: bool = False


class ServerTestConnection:
    """The client end of a real WebSocket, with the in-memory `TestConnection`'s API."""

    __test__ = False

    def __init__(self, runtime: ServerTestRuntime, room: WebSocketRoom[Any, Any, Any, Any], link: _Link) -> None:
        self._runtime = runtime
        self._room = room
        self._link = link
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._decoded: list[Any] = []
        self._socket: FaultySocket | WatchedSocket | None = None
        self.id = ""
        self.tags: tuple[str, ...] = ()

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for frame in self._ws:
                self._link.frames.append(frame if isinstance(frame, str) else frame.decode())
                self._runtime.poke()
        except ConnectionClosed:
            pass
        finally:
            self._link.client_done = True
            self._runtime.poke()

    @property
    def received(self) -> list[Any]:
        for frame in self._link.frames[len(self._decoded) :]:
            self._decoded.append(self._room.broadcast.validate_json(frame))
        return list(self._decoded)

    @property
    def raw_received(self) -> list[str]:
        return list(self._link.frames)

    @property
    def close_code(self) -> int | None:
        return None if self._ws is None or not self._link.client_done else self._ws.close_code

    @property
    def close_reason(self) -> str:
        return "" if self._ws is None or not self._link.client_done else (self._ws.close_reason or "")

    def is_open(self) -> bool:
        return not self._link.client_done

    def fail_sends(self, on: bool = True) -> None:
        assert self._socket is not None
        self._socket.failing = on

    def receive(self, event: Any) -> Effect[None]:
        return self.receive_raw(event.to_json())

    def receive_raw(self, frame: object) -> Effect[None]:
        data: str | bytes = frame if isinstance(frame, str | bytes) else json.dumps(frame)

        async def run() -> None:
            if self._ws is None or self._link.client_done:
                return
            try:
                await self._ws.send(data)
            except ConnectionClosed:
                return
            self._link.frames_sent += 1
            await self._runtime.settle(self._link.instance)

        return cast(Effect[None], _call(run))

    def close(self, code: int = 1000, reason: str = "") -> Effect[None]:
        async def run() -> None:
            if self._ws is None or self._link.client_done:
                return
            await self._ws.close(code, reason)
            await self._runtime.settle(self._link.instance)

        return cast(Effect[None], _call(run))


class _SettlingBackend:
    """The server's direct API, waiting for quiet after each call."""

    def __init__(self, runtime: ServerTestRuntime) -> None:
        self._rt = runtime

    async def _then_settle(self, room: str, id: str, call: Awaitable[T]) -> T:
        try:
            return await call
        finally:
            await self._rt.settle((room, id))

    async def send(self, room: str, id: str, event: object) -> None:
        await self._then_settle(room, id, self._rt.server.send(room, id, event))

    async def get_state(self, room: str, id: str) -> BaseModel | None:
        return await self._then_settle(room, id, self._rt.server.get_state(room, id))

    async def get_connections(self, room: str, id: str, tag: str | None) -> list[ConnectionInfo[BaseModel]]:
        return await self._then_settle(room, id, self._rt.server.get_connections(room, id, tag))

    async def broadcast(self, room: str, id: str, msg: object) -> None:
        await self._then_settle(room, id, self._rt.server.broadcast(room, id, msg))

    async def fire_alarm(self, room: str, id: str) -> None:
        await self._then_settle(room, id, self._rt.server.fire_alarm(room, id))

    async def upgrade(self, room: str, id: str, request: object, opts: UpgradeOpts[BaseModel]) -> object:
        return await self._rt._connect(room, id, opts)


class _FailingStorage(SQLiteStorage):
    """SQLite storage whose commits fail for the instances in `failing`."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.failing: set[tuple[str, str]] = set()

    def commit(
        self, room: str, id: str, puts: Mapping[str, str], deletes: Collection[str], alarm: AlarmChange | None = None
    ) -> None:
        if (room, id) in self.failing:
            raise StorageError("disk I/O error (simulated)")
        super().commit(room, id, puts, deletes, alarm)


class ServerTestRuntime:
    """A `SocketServer` under uvicorn on 127.0.0.1, driven like the in-memory runtime."""

    def __init__(
        self,
        config: SocketConfig,
        *,
        services: Layer[Any, Any, Any] | None = None,
        options: EngineOptions | None = None,
        transport: Transport = "asgi",
    ) -> None:
        self.config = config
        self.transport = transport
        self.clock = TestClock(START_MS)
        self._dir = tempfile.TemporaryDirectory()
        self.storage = _FailingStorage(Path(self._dir.name) / "rooms.db")
        self.server = _TestServer(
            config,
            storage=self.storage,
            upgrade_options=self._options,
            services=services,
            options=options,
            clock=self.clock,
            hibernate_after=3_600.0,
        )
        self.client = SocketClientService(config, _SettlingBackend(self))
        self._links: list[_Link] = []
        self._pending: dict[str, tuple[UpgradeOpts[BaseModel], _Link]] = {}
        self._connections: list[ServerTestConnection] = []
        self._uvicorn: uvicorn.Server | None = None
        self._native: _WatchedNative | None = None
        self.admitting = _Link()
        self._serving: asyncio.Task[None] | None = None
        self._address = ""
        self._connect_lock = anyio.Lock()
        self._changed = asyncio.Event()

    # -- the server ------------------------------------------------------------------

    async def _app(self, scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: Any) -> None:
        """The server's ASGI app, watched: counts frames in and out per connection."""
        if scope["type"] != "websocket":
            await self.server(scope, receive, send)
            return
        token = dict(parse_qsl(scope.get("query_string", b"").decode())).get("t", "")
        pending = self._pending.get(token)
        link = pending[1] if pending is not None else _Link()

        async def rx() -> Any:
            link.server_waiting = True
            self.poke()
            message = await receive()
            link.server_waiting = False
            if message["type"] == "websocket.receive":
                link.server_in += 1
            self.poke()
            return message

        async def tx(message: Any) -> None:
            if message["type"] == "websocket.send":
                link.server_out += 1
            elif message["type"] == "websocket.close":
                link.server_closing = True
            await send(message)
            self.poke()

        try:
            await self.server(scope, rx, tx)
        finally:
            link.server_done = True
            self.poke()

    async def _start(self) -> None:
        if self._uvicorn is not None or self._native is not None:
            return
        if self.transport == "native":
            self._native = _WatchedNative(self.server, self)
            await self._native.start()
            self._address = f"127.0.0.1:{self._native.port}"
            return
        config = uvicorn.Config(
            self._app,
            host="127.0.0.1",
            port=0,
            ws="websockets-sansio",
            lifespan="off",
            log_level="warning",
            interface="asgi3",
        )
        self._uvicorn = uvicorn.Server(config)
        self._serving = asyncio.create_task(self._uvicorn.serve())
        with anyio.fail_after(SETTLE_TIMEOUT):
            while not self._uvicorn.started:
                if self._serving.done():
                    self._serving.result()
                    raise RuntimeError("uvicorn exited before starting")
                await asyncio.sleep(0.005)
        port = self._uvicorn.servers[0].sockets[0].getsockname()[1]
        self._address = f"127.0.0.1:{port}"

    async def aclose(self) -> None:
        for conn in self._connections:
            if conn._ws is not None:
                await conn._ws.close()
            if conn._reader is not None:
                await conn._reader
        if self._uvicorn is not None and self._serving is not None:
            self._uvicorn.should_exit = True
            with anyio.fail_after(SETTLE_TIMEOUT):
                await self._serving
        if self._native is not None:
            await self._native.close()
        self.storage.close()
        self._dir.cleanup()

    def _quiet(self, scope: tuple[str, str] | None) -> bool:
        """Quiet: every frame sent so far delivered, every close finished, and the
        instance in `scope` (every instance when None) idle with its frames handled."""
        for link in self._links:
            if len(link.frames) != link.server_out and not link.client_done:
                return False
            if link.server_closing and not link.client_done:
                return False
            if link.server_done or scope not in (None, link.instance):
                continue
            if not link.server_waiting or link.server_in != link.frames_sent:
                return False
        for host in self.server._hosts.values():
            sockets = (s for s in host.socket_list if s.is_open())
            if any(isinstance(socket, ServerSocket) and socket.outbox for socket in sockets):
                return False
        return not any(inst.lock.locked() for key, inst in self.server._instances.items() if scope in (None, key))

    def poke(self) -> None:
        """Something changed: wake every `settle` and `wait_received` to look again."""
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _until(self, done: Callable[[], bool], scope: tuple[str, str] | None) -> None:
        """Wait for `done()`, looking again on every change (and every 20-80 ms, for
        changes nothing pokes: a lock released, an outbox drained). Waiting on an
        event, not polling, keeps `anyio.wait_all_tasks_blocked` meaningful; the
        fallback's period is random so that it can never stay in step with
        `wait_all_tasks_blocked`'s own 100 ms polls (which would then always find
        this task awake and never return)."""
        try:
            with anyio.fail_after(SETTLE_TIMEOUT):
                while True:
                    changed = self._changed
                    await asyncio.sleep(0)
                    if done():
                        return
                    with anyio.move_on_after(random.uniform(0.02, 0.08)):
                        await changed.wait()
        except TimeoutError:
            raise AssertionError(f"server not quiet after {SETTLE_TIMEOUT} s: {self._state(scope)}") from None

    async def settle(self, scope: tuple[str, str] | None = None) -> None:
        """Wait until the server is quiet (see `_quiet` and the module doc)."""
        await self._until(lambda: self._quiet(scope), scope)

    def _state(self, scope: tuple[str, str] | None) -> str:
        links = "; ".join(repr(link) for link in self._links if scope in (None, link.instance))
        locked = [key for key, inst in self.server._instances.items() if inst.lock.locked()]
        return f"scope={scope} locked={locked} links: {links}"

    async def wait_received(self) -> None:
        """Wait until the server has read every frame the clients sent (handled or
        queued behind its instance's lock), then until every task is blocked."""
        await anyio.wait_all_tasks_blocked()
        await self._until(
            lambda: all(link.server_done or link.server_in >= link.frames_sent for link in self._links), None
        )
        await anyio.wait_all_tasks_blocked()

    # -- connections --------------------------------------------------------------------

    def _options(self, request: UpgradeRequest) -> UpgradeOpts[BaseModel] | Refuse:
        pending = self._pending.pop(request.query.get("t", ""), None)
        if pending is None:
            return Refuse(400, "unknown test connection")
        self.admitting = pending[1]
        return pending[0]

    async def _connect(self, name: str, id: str, opts: UpgradeOpts[Any]) -> ServerTestConnection:
        room = self.config.room(name)
        await self._start()
        async with self._connect_lock:
            link = _Link((name, id))
            token = str(len(self._links))
            self._pending[token] = (opts, link)
            self._links.append(link)
            conn = ServerTestConnection(self, room, link)
            self.server.last_socket = None
            url = f"ws://{self._address}/ws/{name}/{id}?t={token}"
            try:
                conn._ws = await connect(url, max_size=None, compression=None)
            except InvalidStatus as exc:
                link.server_done = link.client_done = True
                body = json.loads(exc.response.body or b"{}").get("error", {})
                raise UpgradeError(str(body.get("message", "upgrade refused")), exc.response.status_code) from None
            self._connections.append(conn)
            conn._reader = asyncio.create_task(conn._read())
            socket = conn._socket = self.server.last_socket
            assert socket is not None
            identity = json.loads(socket.attachment() or "{}")
            conn.id = str(identity["id"])
            conn.tags = tuple(identity["tags"])
        await self.settle((name, id))
        return conn

    def testing_connect(
        self, room: WebSocketRoom[Any, Any, Any, Any] | str, id: str, opts: UpgradeOpts[Any]
    ) -> Effect[Any, Any]:
        name = room if isinstance(room, str) else room.name

        async def run() -> ServerTestConnection:
            return await self._connect(name, id, opts)

        return _call(run)

    # -- the rest of the test API ---------------------------------------------------------

    def room(self, room: WebSocketRoom[Any, Any, Any, Any] | str) -> RoomHandle[Any, Any, Any, Any]:
        return self.client.room(room)

    def layer(self) -> Layer[SocketClientService, Never, Never]:
        return Layer.succeed(SocketClientService, self.server.client())

    def advance(self, duration: DurationInput) -> Effect[int]:
        """Move the test clock, firing stored alarms as they come due."""
        millis = Duration.decode(duration).millis

        async def run() -> int:
            target = self.clock.now_ms() + millis
            fired = 0
            while (due := self.storage.next_alarm()) is not None and due.at_ms <= target:
                # A sleeper first (no settle after: a sleeping handler holds its instance).
                if await self.clock.wake_next(due.at_ms):
                    continue
                self.clock.set_time(max(due.at_ms, self.clock.now_ms()))
                await self.server.fire_stored_alarm(due)
                await self.settle()
                fired += 1
            await self.clock.wake_until(target)
            return fired

        return cast(Effect[int], _call(run))

    def fail_commits(self, room: WebSocketRoom[Any, Any, Any, Any] | str, id: str, on: bool = True) -> None:
        """Make the instance's commits fail (as when its storage is unavailable)."""
        key = (room if isinstance(room, str) else room.name, id)
        if on:
            self.storage.failing.add(key)
        else:
            self.storage.failing.discard(key)

    def hibernate(self, room: WebSocketRoom[Any, Any, Any, Any] | str, id: str) -> Effect[None]:
        name = room if isinstance(room, str) else room.name

        async def run() -> None:
            await self.settle((name, id))
            self.server.hibernate(name, id)

        return cast(Effect[None], _call(run))
