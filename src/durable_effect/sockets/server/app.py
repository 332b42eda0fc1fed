"""The self-hosted server: the same rooms over real WebSockets, as an ASGI app.

Routes (paths are relative to where the app is mounted):

| route                                   | what it does                                    |
|-----------------------------------------|-------------------------------------------------|
| `GET /ws/{room}/{id}` (WebSocket)       | upgrade; options from the `upgrade_options` hook |
| `POST /api/{room}/{id}/send`            | a direct-API event (JSON), runs `on_event`       |
| `GET /api/{room}/{id}/state`            | the state as JSON, or `null`                     |
| `GET /api/{room}/{id}/connections?tag=` | `[{"id", "tags", "state"}, ...]`                 |
| `POST /api/{room}/{id}/broadcast`       | a broadcast message (JSON)                       |
| `POST /api/{room}/{id}/alarm`           | run `on_alarm` now                               |
| `GET /_durable_effect/client.js`        | the browser client (an ES module)                |
| a path of `routes`                      | that ASGI app (e.g. a login endpoint)            |

Alarms are persisted and fired by a scheduler task; idle instances are
evicted after `hibernate_after` seconds and rehydrate from their sockets'
attachments on the next frame, exactly like a hibernated Durable Object.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import mimetypes
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeAlias, cast, overload
from urllib.parse import parse_qsl, unquote

import anyio
from pydantic import BaseModel, ValidationError
from typing_extensions import TypeVar

from durable_effect.effect import Layer
from durable_effect.effect.clock import Clock, LiveClock
from durable_effect.sockets.api import ConnectionInit, RoomHandle, SocketClientService, UpgradeOpts
from durable_effect.sockets.engine import (
    ALARM_MAX_RETRIES,
    Engine,
    EngineOptions,
    Instance,
    InstanceBackend,
    alarm_backoff_ms,
)
from durable_effect.sockets.errors import (
    BroadcastError,
    RoomError,
    RoomExecutionError,
    RoomNotFoundError,
    RoomValidationError,
    UpgradeError,
)
from durable_effect.sockets.registry import SocketConfig
from durable_effect.sockets.room import WebSocketRoom
from durable_effect.sockets.schema import TaggedStruct
from durable_effect.sockets.server.access import LoggedSend, access_log, log_closed, log_upgrade, peer_of
from durable_effect.sockets.server.auth import ApiGuard, ApiRequest, AuthorizeHook, Refuse, cross_origin, is_loopback
from durable_effect.sockets.server.host import (
    FRAMES_EXTENSION,
    Close,
    DirectSocket,
    ServedSocket,
    ServerInstanceHost,
    ServerSocket,
    evict_idle,
    retry_busy,
)
from durable_effect.sockets.server.metrics import ServerMetrics
from durable_effect.sockets.server.storage import DueAlarm, MemoryStorage, ServerStorage, StorageError

if TYPE_CHECKING:
    from socket import socket as RawSocket

    from durable_effect.task.registry import TaskConfig
    from durable_effect.task.server import ServerTasks

__all__ = ["Refuse", "SocketServer", "UpgradeRequest", "make_socket_server"]

log = logging.getLogger("durable_effect.server")

S = TypeVar("S", bound="ServedSocket")
RS = TypeVar("RS", bound=BaseModel)
RC = TypeVar("RC", bound=BaseModel)
REv = TypeVar("REv", bound=TaggedStruct)
RB = TypeVar("RB", bound=TaggedStruct)
RN = TypeVar("RN", bound=str)
Rooms_co = TypeVar("Rooms_co", covariant=True, default=object)
Scope: TypeAlias = MutableMapping[str, Any]
Message: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]

Transport: TypeAlias = Literal["native", "asgi"]
"""How `run` (and `durable-effect serve`) serves the app: the native asyncio
transport (frames built once, batched writes), or uvicorn over ASGI."""

CLOSE_GOING_AWAY = 1001
SHUTDOWN_GRACE = 2.0  # seconds the ASGI writers get to send their 1001 closes
ALARM_READ_RETRY = 1.0  # seconds the alarm scheduler waits after a storage error
DEFAULT_MAX_BUFFERED = 4 << 20
DEFAULT_BODY_TIMEOUT = 10.0
MAX_HEAD_BYTES = 64 << 10
"""The most bytes a request's head (request line and headers) may take: 431 past it."""
MAX_BODY_BYTES = 1 << 20
MAX_JSON_DEPTH = 64
"""The deepest nesting of arrays and objects an API body may have: 400 past it."""
_JSON_NESTING = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')
BROWSER_PREFIX = "/_durable_effect/"
BROWSER_DIR = (Path(__file__).parent.parent / "browser").resolve()
"""The browser client (`client.js`, `client.d.ts`), served under `BROWSER_PREFIX`."""


@dataclass(frozen=True, slots=True)
class UpgradeRequest:
    """What the `upgrade_options` hook sees of a WebSocket upgrade."""

    room: str
    id: str
    query: Mapping[str, str]
    headers: Mapping[str, str]


UpgradeDecision: TypeAlias = "UpgradeOpts[BaseModel] | Refuse"
UpgradeHook: TypeAlias = Callable[[UpgradeRequest], "UpgradeDecision | Awaitable[UpgradeDecision]"]
"""Decides an upgrade from its request: `UpgradeOpts` to accept, `Refuse` to refuse.
May be a plain or an async function."""
HttpRoute: TypeAlias = Callable[[Scope, Receive, Send], Awaitable[None]]
"""An ASGI app answering the HTTP requests of one path of `routes` (any method)."""


class SocketServer(InstanceBackend, Generic[Rooms_co]):
    """Rooms served over ASGI. Call it as an ASGI app; use `client()` in-process.

    `Rooms` are the config's rooms (see `SocketRegistry`)."""

    def __init__(
        self,
        config: SocketConfig[Rooms_co, object],
        *,
        storage: ServerStorage | None = None,
        upgrade_options: UpgradeHook | None = None,
        services: Layer[object, object, object] | None = None,
        options: EngineOptions | None = None,
        hibernate_after: float = 60.0,
        static_dir: str | Path | None = None,
        max_buffered_bytes: int = DEFAULT_MAX_BUFFERED,
        body_timeout: float = DEFAULT_BODY_TIMEOUT,
        debug: bool = False,
        clock: Clock | None = None,
        transport: Transport = "native",
        tasks: TaskConfig | None = None,
        authorize: AuthorizeHook | None = None,
        api_token: str | None = None,
        trusted_peer: Callable[[str | None], bool] = is_loopback,
        allowed_origins: Collection[str] = (),
        metrics: bool = False,
        routes: Mapping[str, HttpRoute] | None = None,
        cors_origins: Collection[str] = (),
    ) -> None:
        self.config = config
        self.routes: Mapping[str, HttpRoute] = dict(routes or {})
        """Extra HTTP endpoints by exact path (`{"/login": app}`), answered on both transports."""
        self.guard = ApiGuard(authorize, api_token, trusted_peer)
        """Decides direct-API requests: the token, the `authorize` hook, else loopback peers only."""
        self.allowed_origins = frozenset(allowed_origins)
        """Origins (`"https://app.example"`, or `"*"`) whose pages may upgrade besides the server's own."""
        self.cors_origins = frozenset(cors_origins)
        """Origins (or `"*"`) whose pages may call `/api` and `/task` (CORS); none by default."""
        self.transport: Transport = transport
        self.clock: Clock = clock if clock is not None else LiveClock()
        self.storage: ServerStorage = storage if storage is not None else MemoryStorage()
        self.upgrade_options = upgrade_options
        self.hibernate_after = hibernate_after
        self.static_dir = Path(static_dir).resolve() if static_dir is not None else None
        self.max_buffered_bytes = max_buffered_bytes
        self.body_timeout = body_timeout
        self.debug = debug
        """Tell clients the message of an unexpected failure, not only its class (never in production)."""
        self._client: SocketClientService[Rooms_co] = SocketClientService(config, self)
        base: dict[type, object] = {Clock: self.clock, SocketClientService: self._client}
        self.tasks = None if tasks is None else _serve_tasks(tasks, self, base)  # stored under `task:<name>`
        self.engine = Engine(config, client=lambda: self._client, services=base, options=options, layer=services)
        self._hosts: dict[tuple[str, str], ServerInstanceHost] = {}
        self._instances: dict[tuple[str, str], Instance] = {}
        self._last_used: dict[tuple[str, str], float] = {}
        self._alarm_wake: anyio.Event | None = None
        self._running = False
        self._shutting_down = False
        self.metrics = ServerMetrics(self) if metrics else None
        """Prometheus metrics, served at `GET /metrics` (`metrics=True`; needs prometheus-client)."""

    # -- instances -----------------------------------------------------------------

    def host(self, room: str, id: str) -> ServerInstanceHost:
        key = (room, id)
        host = self._hosts.get(key)
        if host is None:
            self.config.room(room)
            host = self._hosts[key] = ServerInstanceHost(room, id, self.storage, self._alarm_changed, self.clock.now_ms)
        return host

    def instance(self, room: str, id: str) -> Instance:
        key = (room, id)
        inst = self._instances.get(key)
        if inst is None:
            inst = self._instances[key] = self.engine.instance(room, id, self.host(room, id))
        self._last_used[key] = time.monotonic()  # only for a room that exists
        return inst

    def hibernate(self, room: str, id: str) -> bool:
        """Evict an instance now (if idle): its sockets and storage stay."""
        key = (room, id)
        inst = self._instances.get(key)
        if inst is None or inst.lock.locked():
            return False
        del self._instances[key]
        host = self._hosts.get(key)
        if host is not None and not host.sockets():
            del self._hosts[key]
        return True

    def is_loaded(self, room: str, id: str) -> bool:
        return (room, id) in self._instances

    # -- client API ------------------------------------------------------------------

    def client(self) -> SocketClientService[Rooms_co]:
        """The direct API in-process: `server.client().room(Chat).send(id, event)`."""
        return self._client

    @overload
    def room(self, room: WebSocketRoom[RS, RC, REv, RB, RN]) -> RoomHandle[RS, RC, REv, RB]: ...
    @overload
    def room(self, room: str) -> RoomHandle[BaseModel, BaseModel, TaggedStruct, TaggedStruct]: ...
    def room(
        self, room: WebSocketRoom[RS, RC, REv, RB, RN] | str
    ) -> RoomHandle[RS, RC, REv, RB] | RoomHandle[BaseModel, BaseModel, TaggedStruct, TaggedStruct]:
        return self._client.room(room)

    def layer(self) -> Layer[SocketClientService, object, object]:
        """Provides `SocketClientService` backed by this server."""
        return Layer.succeed(SocketClientService, self._client)

    async def fire_alarm(self, room: str, id: str) -> None:
        await self.instance(room, id).fire_alarm(direct=True, consume=True)

    async def upgrade(self, room: str, id: str, request: object, opts: UpgradeOpts[BaseModel]) -> object:
        raise UpgradeError("WebSocket upgrades arrive through the server's /ws route", 400)

    def run(
        self,
        host: str = "127.0.0.1",
        port: int = 8787,
        *,
        transport: Transport | None = None,
        log_level: str = "info",
    ) -> None:
        """Serve until SIGINT/SIGTERM on `transport` (default: the one given to
        the constructor); sockets are closed with 1001 and storage is closed."""
        from durable_effect.sockets.server.native import quiet_accept_errors, run_native
        from durable_effect.sockets.server.uvicorn_ws import uvicorn_config

        if (transport or self.transport) == "native":
            run_native(self, host, port)
            return
        import uvicorn

        app = self

        class Server(uvicorn.Server):
            async def startup(self, sockets: list[RawSocket] | None = None) -> None:
                quiet_accept_errors(asyncio.get_running_loop())
                await super().startup(sockets)
                if self.started:
                    bound = self.servers[0].sockets[0].getsockname()[1] if self.servers else port
                    log.info("%s", app.startup_line(f"http://{host}:{bound}", "asgi"))

            async def shutdown(self, sockets: list[RawSocket] | None = None) -> None:
                # Close the sockets with 1001 (going away) and let the closes go
                # out first: uvicorn's own shutdown would close them with 1012.
                # Storage is closed by the lifespan (every run is committed).
                app.shutdown()
                await app.closes_sent(SHUTDOWN_GRACE)
                await super().shutdown(sockets)

        Server(uvicorn_config(self, host, port, log_level=log_level)).run()

    def startup_line(self, url: str, transport: Transport) -> str:
        """The start-up log line: the rooms (and tasks), the URL, the transport and where state lives."""
        served = "rooms " + ", ".join(sorted(self.config.rooms))
        if self.tasks is not None:
            served += " and tasks " + ", ".join(sorted(self.tasks.config.tasks))
        path = getattr(self.storage, "path", None)
        where = f"state in {path}" if path else "state in memory (lost on exit)"
        return f"serving {served} on {url} ({transport} transport, {where})"

    # -- background work ---------------------------------------------------------------

    @asynccontextmanager
    async def running(self) -> AsyncIterator[SocketServer]:
        """Run the alarm scheduler and the evictor; on exit close every socket
        with 1001, release the services layer's `Layer.scoped` resources and
        close the storage. The ASGI lifespan does this for you; use it yourself
        when the app is mounted inside another one."""
        log.info("%s", self.guard.describe())
        async with anyio.create_task_group() as tg:
            self._running = True
            self._shutting_down = False
            self._alarm_wake = anyio.Event()
            tg.start_soon(self._alarm_loop)
            tg.start_soon(self._evict_loop)
            try:
                yield self
            finally:
                self.shutdown()
                tg.cancel_scope.cancel()
                self._running = False
                await self.engine.aclose()  # shielded inside

    def shutdown(self) -> None:
        """Close every socket with 1001 and refuse new upgrades (503): a client
        let in now would be closed again by the ASGI server's own shutdown."""
        self._shutting_down = True
        for host in self._hosts.values():
            for socket in host.sockets():
                socket.close(CLOSE_GOING_AWAY, "server shutting down")

    async def closes_sent(self, timeout: float) -> None:
        """Wait (at most `timeout` seconds) until the ASGI writers have sent
        every queued frame, the closes of `shutdown` included."""
        with anyio.move_on_after(timeout):
            while any(
                isinstance(socket, ServerSocket) and socket.outbox
                for host in self._hosts.values()
                for socket in host.socket_list
            ):
                await anyio.sleep(0.01)

    def _alarm_changed(self) -> None:
        if self._alarm_wake is not None:
            self._alarm_wake.set()

    async def _alarm_loop(self) -> None:
        while True:
            assert self._alarm_wake is not None
            self._alarm_wake = anyio.Event()
            try:
                nxt = await retry_busy(self.storage.next_alarm)
            except StorageError as exc:
                log.error("alarm scheduler: cannot read alarms, trying again in %.0f s: %s", ALARM_READ_RETRY, exc)
                await anyio.sleep(ALARM_READ_RETRY)
                continue
            now = self.clock.now_ms()
            if nxt is None or nxt.at_ms > now:
                wait = 3_600.0 if nxt is None else (nxt.at_ms - now) / 1_000.0
                with anyio.move_on_after(wait):
                    await self._alarm_wake.wait()
                continue
            await self.fire_stored_alarm(nxt)

    async def fire_stored_alarm(self, alarm: DueAlarm) -> None:
        """Run a stored alarm that came due (the scheduler calls this).

        The alarm stays stored until its run commits, which removes it (or
        replaces it with the alarm the run schedules): at-least-once. A failed
        run is retried with backoff (2 s, 4 s, … up to 6 retries); a run that
        a crash interrupted fires again after the restart, as a retry."""
        room, id = alarm.room, alarm.id
        retries = alarm.retries + 1 if alarm.started else alarm.retries
        if self.metrics is not None:
            self.metrics.alarm_lag.observe(max(0.0, self.clock.now_ms() - alarm.at_ms) / 1000)
        try:
            instance = (self.tasks and self.tasks.alarm_target(room, id)) or self.instance(room, id)
        except RoomNotFoundError:
            log.warning("alarm for unknown room %r dropped", room)
            await retry_busy(lambda: self.storage.delete_alarm(room, id))
            return
        try:
            await retry_busy(lambda: self.storage.start_alarm(room, id, retries))
            ok = await instance.fire_alarm(retries, consume=True)
        except Exception as exc:
            log.error("room %s/%s: on_alarm could not run: %r", room, id, exc)
            ok = False
        if ok:
            return
        try:
            if retries < ALARM_MAX_RETRIES:
                at = self.clock.now_ms() + alarm_backoff_ms(retries + 1)
                await retry_busy(lambda: self.storage.set_alarm(room, id, at, retries + 1))
            else:
                log.error("room %s/%s: on_alarm failed %d times; the alarm is dropped", room, id, retries + 1)
                await retry_busy(lambda: self.storage.delete_alarm(room, id))
        except StorageError as exc:
            # The alarm row is still stored: the scheduler runs it again.
            log.error("room %s/%s: cannot reschedule the failed alarm: %s", room, id, exc)
            await anyio.sleep(ALARM_READ_RETRY)

    async def _evict_loop(self) -> None:
        period = max(self.hibernate_after / 2, 0.05)
        while True:
            await anyio.sleep(period)
            cutoff = time.monotonic() - self.hibernate_after
            evict_idle(self._last_used, cutoff, self.hibernate, self.is_loaded)
            if self.tasks is not None:
                self.tasks.evict_idle(cutoff)

    # -- ASGI ----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        path = _route_path(scope)
        parts = [unquote(p) for p in path.strip("/").split("/")]
        head_bytes = len(path) + len(scope.get("query_string", b"")) + sum(
            len(k) + len(v) + 4 for k, v in scope.get("headers", [])
        )
        if head_bytes > MAX_HEAD_BYTES:  # however the transport read it: one chunk or many
            if kind == "websocket":
                await _deny(scope, send, 431, "request head too large")
            elif kind == "http":
                await _json(send, 431, {"error": {"_tag": "BadRequest", "message": "request head too large"}})
            return
        if kind == "websocket":
            if len(parts) == 3 and parts[0] == "ws":
                await self._websocket(scope, receive, send, parts[1], parts[2])
            else:
                await send({"type": "websocket.close", "code": 1008})
            return
        if kind != "http":
            return
        if self.metrics is not None:
            send = LoggedSend(scope, path, send, self._count_request)
        elif access_log.isEnabledFor(logging.INFO):
            send = LoggedSend(scope, path, send)
        if any("\0" in p for p in parts):
            await _json(send, 400, {"error": {"_tag": "BadRequest", "message": "NUL in the path"}})
        elif path in ("/healthz", "/readyz"):
            await self._health(scope, send, path)
        elif path == "/metrics" and self.metrics is not None:
            await self._metrics(scope, send, self.metrics)
        elif path in self.routes:
            await self.routes[path](scope, receive, send)
        elif len(parts) == 4 and (parts[0] == "api" or (parts[0] == "task" and self.tasks is not None)):
            origin = self._cors_origin(scope)
            if origin is not None:
                if scope["method"] == "OPTIONS":
                    await _preflight(send, origin, API_METHODS.get(parts[3], "GET, POST"))
                    return
                send = _with_cors(send, origin)
            refused = await self._authorize(scope, parts)
            if refused is not None:
                await _json(send, refused.status, {"error": {"_tag": "Unauthorized", "message": refused.reason}})
            elif parts[0] == "api":
                await self._api(scope, receive, send, parts[1], parts[2], parts[3])
            elif self.tasks is not None:
                await self.tasks.api(scope, receive, send, parts[1], parts[2], parts[3])
        elif scope["method"] in ("GET", "HEAD") and path.startswith(BROWSER_PREFIX):
            await self._static(send, path, BROWSER_DIR, path.removeprefix(BROWSER_PREFIX))
        elif scope["method"] in ("GET", "HEAD") and self.static_dir is not None:
            await self._static(send, path, self.static_dir, path.lstrip("/") or "index.html")
        else:
            await _json(send, 404, {"error": {"_tag": "NotFound", "message": f"no route for {path}"}})

    def _cors_origin(self, scope: Scope) -> str | None:
        """The request's `Origin` when `cors_origins` lets its page call the direct API."""
        if not self.cors_origins:
            return None
        origin = _headers(scope).get("origin")
        if origin is None or not ("*" in self.cors_origins or origin in self.cors_origins):
            return None
        return origin

    async def _health(self, scope: Scope, send: Send, path: str) -> None:
        """`/healthz`: the process answers. `/readyz`: it can read its storage and is not shutting down."""
        if scope["method"] not in ("GET", "HEAD"):
            await wrong_method(send, scope["method"], "GET")
            return
        if path == "/healthz":
            await _json(send, 200, {"status": "ok"})
            return
        if self._shutting_down:
            await _json(send, 503, {"status": "shutting down"})
            return
        try:
            await retry_busy(self.storage.next_alarm)
        except Exception as exc:
            log.error("readiness check: the storage cannot be read: %r", exc)
            await _json(send, 503, {"status": "storage unavailable", "error": type(exc).__name__})
            return
        await _json(send, 200, {"status": "ok"})

    def _count_request(self, status: int) -> None:
        if self.metrics is not None:
            self.metrics.http_requests.labels(str(status)).inc()

    async def _metrics(self, scope: Scope, send: Send, metrics: ServerMetrics) -> None:
        """`/metrics`: the Prometheus text format, behind the direct API's access check."""
        if scope["method"] not in ("GET", "HEAD"):
            await wrong_method(send, scope["method"], "GET")
            return
        refused = await self._authorize(scope, ["metrics", "", "", "metrics"])
        if refused is not None:
            await _json(send, refused.status, {"error": {"_tag": "Unauthorized", "message": refused.reason}})
            return
        body = metrics.render()
        kind = b"text/plain; version=0.0.4; charset=utf-8"
        headers = [(b"content-type", kind), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def note_closed(self, peer: str | None, room: str, id: str, code: int) -> None:
        """A socket was closed by its client: the access log's line, and the metric. Every transport calls this."""
        log_closed(peer, room, id, code)
        if self.metrics is not None:
            self.metrics.closes.labels(str(code)).inc()

    async def _authorize(self, scope: Scope, parts: list[str]) -> Refuse | None:
        route: Literal["api", "task", "metrics"] = (
            "api" if parts[0] == "api" else "task" if parts[0] == "task" else "metrics"
        )
        request = ApiRequest(route, scope["method"], parts[1], parts[2], parts[3], _headers(scope), peer_of(scope))
        try:
            return await self.guard.check(request)
        except Exception as exc:  # a bug in the hook: refuse, never let it through
            log.exception("authorize failed for %s %s", request.method, _route_path(scope))
            return Refuse(500, _internal_error(exc, self.debug)["error"]["message"])

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "lifespan.startup":
            return
        async with self.running():
            await send({"type": "lifespan.startup.complete"})
            message = await receive()
        self.storage.close()
        await send({"type": "lifespan.shutdown.complete"})

    async def _api(self, scope: Scope, receive: Receive, send: Send, room: str, id: str, action: str) -> None:
        method = scope["method"]
        try:
            self.config.room(room)
        except RoomNotFoundError:
            await _json(send, 404, _error_body(RoomNotFoundError(room)))
            return
        run: Callable[[], Awaitable[object]] | None = None
        if (method, action) in (("POST", "send"), ("POST", "broadcast")):
            try:
                body = await _read_json(receive, self.body_timeout)
            except _BadBody as exc:
                await _json(send, exc.status, {"error": {"_tag": "BadRequest", "message": str(exc)}})
                return
            deliver = self.send if action == "send" else self.broadcast
            run = lambda: deliver(room, id, body)  # noqa: E731
        elif (method, action) == ("POST", "alarm"):
            run = lambda: self.fire_alarm(room, id)  # noqa: E731
        elif (method, action) == ("GET", "state"):
            run = lambda: self.get_state(room, id)  # noqa: E731
        elif (method, action) == ("GET", "connections"):
            tag = dict(parse_qsl(scope.get("query_string", b"").decode())).get("tag") or None
            run = lambda: self.get_connections(room, id, tag)  # noqa: E731
        if run is None and action in API_METHODS:
            await wrong_method(send, method, API_METHODS[action])
            return
        if run is None:
            await _json(send, 404, {"error": {"_tag": "NotFound", "message": f"no route {method} .../{action}"}})
            return
        try:
            result = await run()
        except RoomValidationError as exc:
            await _json(send, 422, _error_body(exc))
            return
        except (RoomError, RoomExecutionError, BroadcastError) as exc:
            await _json(send, 500, _error_body(exc))
            return
        except RoomNotFoundError as exc:
            await _json(send, 404, _error_body(exc))
            return
        except Exception as exc:  # storage or engine failure: an answer, never silence
            log.exception("%s /api/%s/%s/%s failed", method, room, id, action)
            await _json(send, 500, _internal_error(exc, self.debug))
            return
        if action == "state":
            await _json(send, 200, None if result is None else _model_json(result))
        elif action == "connections":
            assert isinstance(result, list)
            await _json(send, 200, [info.to_dict() for info in result])
        else:
            await _json(send, 200, {"status": "ok"})

    async def _websocket(self, scope: Scope, receive: Receive, send: Send, room: str, id: str) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        query = dict(parse_qsl(scope.get("query_string", b"").decode()))
        peer = peer_of(scope)
        frames = (scope.get("extensions") or {}).get(FRAMES_EXTENSION)
        make_socket: Callable[[ServerInstanceHost, list[str]], ServedSocket] = self._new_socket
        if frames is not None:  # the server writes our frames itself: no writer task, no send per frame
            make_direct = cast("Callable[[list[str], int], DirectSocket]", frames["socket"])
            make_socket = lambda _host, tags: make_direct(tags, self.max_buffered_bytes)  # noqa: E731
        socket = await self.admit(room, id, query, _headers(scope), make_socket, peer=peer)
        if isinstance(socket, Refuse):
            await _deny(scope, send, socket.status, socket.reason)
            return
        try:
            await send({"type": "websocket.accept"})
        except OSError:
            # The client left while on_connect ran: it is closed in the room
            # (on_close runs) instead of staying there with nobody reading it.
            cast("ServerSocket | DirectSocket", socket).mark_closed()
            self.note_closed(peer, room, id, 1006)
            await self.instance(room, id).closed(socket, 1006, "")
            return
        if not isinstance(socket, ServerSocket):
            direct = cast("DirectSocket", socket)
            direct.accepted()
            await self._reader(direct, receive, room, id, peer)
            direct.mark_closed()
            return
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._writer, socket, send, tg.cancel_scope)
            await self._reader(socket, receive, room, id, peer)
            socket.mark_closed()
            socket.wake()

    async def admit(
        self,
        room: str,
        id: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        make_socket: Callable[[ServerInstanceHost, list[str]], S],
        *,
        peer: str | None = None,
    ) -> S | Refuse:
        """Decide and run a WebSocket upgrade (the hook, then on_connect); give
        the accepted socket, or how to refuse it. Every transport calls this,
        with the client's address for the access log."""
        decided = await self._admit(UpgradeRequest(room, id, query, headers), make_socket)
        status = decided.status if isinstance(decided, Refuse) else 101
        log_upgrade(peer, room, id, status, decided.reason if isinstance(decided, Refuse) else "")
        if self.metrics is not None:
            self.metrics.upgrades.labels(str(status)).inc()
        return decided

    async def _admit(
        self, request: UpgradeRequest, make_socket: Callable[[ServerInstanceHost, list[str]], S],
    ) -> S | Refuse:
        room, id = request.room, request.id
        if self._shutting_down:
            return Refuse(503, "server shutting down")
        origin = cross_origin(request.headers, self.allowed_origins)
        if origin is not None:
            return Refuse(403, f"cross-origin upgrade from {origin} is not allowed (see allowed_origins)")
        try:
            self.config.room(room)
        except RoomNotFoundError:
            return Refuse(404, f"no room named {room!r}")
        try:
            decided = await self._upgrade_options(request)
        except Exception as exc:  # a bug in the hook: refuse, never hang
            log.exception("upgrade_options failed for /ws/%s/%s", room, id)
            return Refuse(500, _internal_error(exc, self.debug)["error"]["message"])
        if isinstance(decided, Refuse):
            return decided
        host = self.host(room, id)
        holder: list[S] = []

        def accept(tags: list[str]) -> S:
            socket = make_socket(host, tags)
            holder.append(socket)
            host.socket_list.append(socket)
            return socket

        try:
            await self.instance(room, id).upgrade(decided, accept)
        except UpgradeError as exc:
            return Refuse(exc.status, exc.message)
        except Exception as exc:  # storage or engine failure: refuse the upgrade, never hang it
            log.exception("upgrade of /ws/%s/%s failed", room, id)
            return Refuse(500, _internal_error(exc, self.debug)["error"]["message"])
        return holder[0]

    def _new_socket(self, host: ServerInstanceHost, tags: list[str]) -> ServerSocket:
        return ServerSocket(tags, self.max_buffered_bytes)

    async def _reader(self, socket: ServedSocket, receive: Receive, room: str, id: str, peer: str | None) -> None:
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.receive":
                data = message.get("text")
                if data is None:
                    data = message.get("bytes") or b""
                await self.instance(room, id).message(socket, data)
            elif kind == "websocket.disconnect":
                code = int(message.get("code", 1005))
                self.note_closed(peer, room, id, code)
                await self.instance(room, id).closed(socket, code, str(message.get("reason") or ""))
                return

    async def _writer(self, socket: ServerSocket, send: Send, scope: anyio.CancelScope) -> None:
        try:
            with anyio.CancelScope() as socket.sending:
                await _write(socket, send)
            if socket.sending.cancel_called:
                # Closed as too slow: the send waiting for the client was cancelled and
                # its unsent frames dropped; what is left is the close.
                socket.sending = None
                await _write(socket, send)
        except OSError:
            socket.mark_closed()

    async def _upgrade_options(self, request: UpgradeRequest) -> UpgradeOpts[BaseModel] | Refuse:
        hook = self.upgrade_options
        if hook is None:
            return self._default_options(request)
        result = hook(request)
        if inspect.isawaitable(result):
            result = await result
        if not isinstance(result, UpgradeOpts | Refuse):
            raise TypeError(f"upgrade_options must return UpgradeOpts or Refuse, got {result!r}")
        return result

    def _default_options(self, request: UpgradeRequest) -> UpgradeOpts[BaseModel] | Refuse:
        """Without a hook: the connection state is read from the query string."""
        model = self.config.room(request.room).connection
        try:
            state = model.model_validate(dict(request.query))
        except ValidationError as exc:
            return Refuse(400, f"query does not give a valid {model.__name__}: {exc.error_count()} error(s)")
        return UpgradeOpts(ConnectionInit(state, id=request.query.get("id")))

    async def _static(self, send: Send, path: str, root: Path, relative: str) -> None:
        try:
            target = (root / relative).resolve()
            found = root in target.parents and target.is_file()
        except (OSError, ValueError):  # not a name a file can have (too long, ...)
            found = False
        if not found:
            await _json(send, 404, {"error": {"_tag": "NotFound", "message": f"no file {path}"}})
            return
        body = target.read_bytes()
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", kind.encode()), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


make_socket_server = SocketServer
"""`make_socket_server(config, *, storage=..., upgrade_options=..., ...)`: an
ASGI app serving `config`'s rooms (in-memory storage unless given)."""


def _serve_tasks(config: TaskConfig, server: SocketServer, services: dict[type, object]) -> ServerTasks:
    """The server's tasks; their client joins the services every handler gets."""
    from durable_effect.task.client import TaskClientService
    from durable_effect.task.server import ServerTasks

    tasks = ServerTasks(config, server)
    services[TaskClientService] = tasks.client
    return tasks


# -- HTTP helpers --------------------------------------------------------------------------


class _BadBody(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


async def _write(socket: ServerSocket, send: Send) -> None:
    """Send the socket's frames as they come, up to and including its close."""
    while True:
        for item in await socket.next_batch():
            if isinstance(item, Close):
                await send({"type": "websocket.close", "code": item.code, "reason": item.reason})
                return
            socket.buffered -= len(item)
            await send({"type": "websocket.send", "text": item})


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _route_path(scope: Scope) -> str:
    path = str(scope.get("path", "/"))
    root = str(scope.get("root_path", ""))
    if root and path.startswith(root):
        path = path[len(root) :]
    return path or "/"


async def _read_json(receive: Receive, timeout: float) -> object:
    """The request body as JSON: 408 when it does not arrive within `timeout`
    seconds, 413 past 1 MiB, 400 when it is not JSON or nested too deeply."""
    chunks: list[bytes] = []
    size = 0
    with anyio.move_on_after(timeout) as scope:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _BadBody("the client went away")
            body = message.get("body", b"")
            size += len(body)
            if size > MAX_BODY_BYTES:
                raise _BadBody("request body over 1 MiB", 413)
            chunks.append(body)
            if not message.get("more_body", False):
                break
    if scope.cancelled_caught:
        raise _BadBody(f"request body not received within {timeout:g} s", 408)
    data = b"".join(chunks) or b"null"
    if _too_deep(data):
        raise _BadBody(f"JSON nested more than {MAX_JSON_DEPTH} deep")
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise _BadBody(f"body is not JSON: {exc}") from None


def _too_deep(data: bytes) -> bool:
    if data.count(b"[") + data.count(b"{") <= MAX_JSON_DEPTH:  # the usual case: nothing to scan
        return False
    depth = 0
    for match in _JSON_NESTING.finditer(data):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return True
        elif token in (b"]", b"}"):
            depth -= 1
    return False


def _internal_error(exc: Exception, debug: bool) -> dict[str, dict[str, str]]:
    """What a client learns of an unexpected failure: its class, and its message only in debug mode."""
    detail = f"{type(exc).__name__}: {exc}" if debug else type(exc).__name__
    return {"error": {"_tag": "InternalError", "message": f"the server failed ({detail})"}}


API_METHODS: Mapping[str, str] = {
    "send": "POST",
    "broadcast": "POST",
    "alarm": "POST",
    "state": "GET",
    "connections": "GET",
}
"""The method each `/api/{room}/{id}/{action}` answers; another method is a 405."""


async def wrong_method(send: Send, method: str, allowed: str) -> None:
    """A 405 naming the method the route answers."""
    message = f"{method} is not allowed here; use {allowed}"
    await _json(send, 405, {"error": {"_tag": "MethodNotAllowed", "message": message}}, [(b"allow", allowed.encode())])


CORS_HEADERS = "authorization, content-type"
"""The request headers a cross-origin page may send to the direct API."""


def _cors(origin: str) -> list[tuple[bytes, bytes]]:
    return [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin")]


async def _preflight(send: Send, origin: str, methods: str) -> None:
    """Answer a CORS preflight: the origin, the route's methods and the headers a page may send."""
    headers = [
        *_cors(origin),
        (b"access-control-allow-methods", methods.encode()),
        (b"access-control-allow-headers", CORS_HEADERS.encode()),
        (b"access-control-max-age", b"600"),
        (b"content-length", b"0"),
    ]
    await send({"type": "http.response.start", "status": 204, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


def _with_cors(send: Send, origin: str) -> Send:
    """`send` with the CORS headers added to the response's head."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *_cors(origin)]}
        await send(message)

    return sending


_CLOSING_STATUSES = frozenset({400, 408, 413, 431})
"""Bad requests: the connection closes after the answer (what follows on it cannot be trusted)."""


async def _json(send: Send, status: int, payload: object, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += extra or []
    if status in _CLOSING_STATUSES:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _deny(scope: Scope, send: Send, status: int, reason: str) -> None:
    """Refuse an upgrade with an HTTP status when the server supports it."""
    if "websocket.http.response" in scope.get("extensions", {}):
        body = json.dumps({"error": {"_tag": "UpgradeError", "message": reason, "status": status}}).encode()
        await send(
            {
                "type": "websocket.http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008, "reason": reason[:120]})


def _error_body(err: Exception) -> dict[str, object]:
    tag = getattr(err, "_tag", type(err).__name__)
    return {"error": {"_tag": tag, "message": str(getattr(err, "message", err))}}


def _model_json(model: object) -> object:
    if isinstance(model, BaseModel):
        return model.model_dump(mode="json", by_alias=True)
    if isinstance(model, TaggedStruct):
        return model.to_dict()
    return model
