"""The room engine: every room semantic, written once, for every host.

An `Instance` is one (room, id). Its entry points (`upgrade`, `message`,
`closed`, `send_event`, `fire_alarm`, …) run one at a time in arrival order
under a lock (Durable Object input-gate semantics). Handler runs write
storage as one transaction, committed when the handler completes; a run that
fails leaves the stored state exactly as it was.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import TYPE_CHECKING, Any, Never

import anyio
from pydantic import BaseModel, ValidationError

from durable_effect.effect import (
    Cause,
    Die,
    Duration,
    DurationInput,
    Effect,
    Fail,
    Failure,
    Layer,
    Success,
    TaggedError,
    suspend,
)
from durable_effect.effect._core import _Async, _Fail, _Succeed, _Sync
from durable_effect.effect._runtime import DEFAULT_SERVICES, run_loop
from durable_effect.effect.random import current as random_current
from durable_effect.effect.scope import Scope
from durable_effect.platform import Alarm, Storage
from durable_effect.sockets.connection import Connection, ConnectionInfo
from durable_effect.sockets.ctx import RoomCtx
from durable_effect.sockets.errors import (
    AttachmentTooLargeError,
    BroadcastError,
    PurgeSignal,
    RoomError,
    RoomExecutionError,
    RoomValidationError,
    SendError,
    SystemFailure,
    UpgradeError,
)
from durable_effect.sockets.host import AlarmChange, HostSocket, InstanceHost
from durable_effect.sockets.limits import structured_clone_size
from durable_effect.sockets.registry import Handler, HandlerResult, RoomHandlers, SocketConfig
from durable_effect.sockets.room import WebSocketRoom
from durable_effect.sockets.schema import TaggedStruct
from durable_effect.sockets.services import InstanceAlarm, InstanceStorage

if TYPE_CHECKING:
    from durable_effect.sockets.api import SocketClient, UpgradeOpts

__all__ = [
    "ALARM_MAX_RETRIES",
    "DEFAULT_ATTACHMENT_CAP",
    "DEFAULT_MAX_FRAME_BYTES",
    "MAX_ATTACHMENT_CAP",
    "MAX_TAG_LENGTH",
    "MAX_TAGS",
    "Engine",
    "EngineOptions",
    "Instance",
    "InstanceBackend",
    "alarm_backoff_ms",
]

log = logging.getLogger("durable_effect.sockets")

# One source of truth for every limit and storage key, used by every host.
DEFAULT_ATTACHMENT_CAP = 2_048
MAX_ATTACHMENT_CAP = 16_384
MAX_TAGS = 10
MAX_TAG_LENGTH = 256
DEFAULT_MAX_FRAME_BYTES = 1 << 20
ALARM_MAX_RETRIES = 6
STATE_KEY = "state"
IDENTITY_KEY = "__identity__"

CLOSE_NORMAL = 1000
CLOSE_MESSAGE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011
CLOSE_SERVICE_RESTART = 1012


def alarm_backoff_ms(retry: int) -> float:
    """Delay before alarm retry number `retry` (1-based): 2 s, 4 s, 8 s, …"""
    return 2_000.0 * float(2 ** max(retry - 1, 0))


class EngineOptions(BaseModel):
    """Limits an engine enforces; hosts may lower or raise them within the platform's."""

    attachment_cap: int = DEFAULT_ATTACHMENT_CAP
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES

    def model_post_init(self, __context: object) -> None:
        if not 1 <= self.attachment_cap <= MAX_ATTACHMENT_CAP:
            raise ValueError(f"attachment_cap must be in 1..{MAX_ATTACHMENT_CAP}")
        if self.max_frame_bytes < 1:
            raise ValueError("max_frame_bytes must be positive")


class Engine:
    """The rooms of one config, with the services handlers run with."""

    def __init__(
        self,
        config: SocketConfig,
        *,
        client: Callable[[], SocketClient],
        services: Mapping[type, object] | None = None,
        options: EngineOptions | None = None,
        layer: Layer[object, object, object] | None = None,
    ) -> None:
        self.config = config
        self.options = options or EngineOptions()
        self.services: Mapping[type, object] = {**DEFAULT_SERVICES, **(services or {})}
        self._client = client
        self._layer = layer
        self._scope: Scope | None = None

    async def handler_services(self) -> Success[Mapping[type, object]] | Failure[object]:
        """The services handlers run with; the runtime layer is built once, on
        first use, its `Layer.scoped` resources in a scope `aclose` closes."""
        if self._layer is not None:
            services = self.services
            if self._layer._scoped:
                self._scope = Scope()
                services = {**services, Scope: self._scope}
            built = await run_loop(self._layer.build({}), services)
            if isinstance(built, Failure):
                return built
            self.services = {**self.services, **built.value}
            self._layer = None
        return Success(self.services)

    async def new_connection_id(self) -> str:
        """A random connection id (a UUID4) from the `Random` in the handlers'
        services, so a seeded `Random` in the runtime layer makes ids reproducible."""
        built = await self.handler_services()
        return str(random_current(built.value if isinstance(built, Success) else self.services).make_uuid4())

    async def aclose(self) -> None:
        """Release the runtime layer's scoped resources (`Layer.scoped`), last
        acquired first; hosts call it when they stop. Idempotent."""
        scope, self._scope = self._scope, None
        if scope is not None:
            with anyio.CancelScope(shield=True):
                await run_loop(scope.close(Success(None)), self.services)

    def client(self) -> SocketClient:
        return self._client()

    def instance(self, room_name: str, id: str, host: InstanceHost) -> Instance:
        """A fresh in-memory instance over `host` (connections rehydrate lazily)."""
        room = self.config.room(room_name)
        return Instance(self, room, self.config.handlers[room_name], id, host)


_RUNNING: ContextVar[frozenset[int]] = ContextVar("durable_effect_running_instances", default=frozenset())
"""The instances whose handler runs are on the current call chain (siblings included)."""


class _Unknown:
    """Not read from storage yet."""


_UNKNOWN = _Unknown()


class _Close:
    """A `conn.close()` of a run: sent with the run's frames, in order."""

    __slots__ = ("code", "conn", "reason")

    def __init__(self, conn: Connection[Any, Any], code: int, reason: str) -> None:
        self.conn = conn
        self.code = code
        self.reason = reason


class _Run:
    """One handler run's pending effects, committed together or not at all:
    storage writes, the alarm change, connection states (restored if the run
    fails), and its output (frames and closes, held until the commit)."""

    __slots__ = ("alarm", "alarm_changed", "consumes_alarm", "deletes", "out", "puts", "states")

    def __init__(self, consumes_alarm: bool = False) -> None:
        self.puts: dict[str, str] = {}
        self.deletes: set[str] = set()
        self.consumes_alarm = consumes_alarm
        # An alarm run removes the alarm that fired, unless it schedules another.
        self.alarm_changed = consumes_alarm
        self.alarm: float | None = None  # when changed: the new time, or None (cancelled)
        self.states: dict[int, tuple[Connection[Any, Any], BaseModel, str | None]] = {}
        self.out: list[tuple[Sequence[HostSocket], str] | _Close] = []

    def alarm_change(self) -> AlarmChange | None:
        return AlarmChange(self.alarm) if self.alarm_changed else None

    def discard(self) -> None:
        """Forget every change and all output: the run failed (or on_error replaces it)."""
        self.discard_writes()
        self.out.clear()

    def discard_writes(self) -> None:
        """Forget the storage writes, the alarm change and connection states."""
        self.puts.clear()
        self.deletes.clear()
        self.alarm_changed = self.consumes_alarm
        self.alarm = None
        for conn, state, attachment in self.states.values():
            conn.state = state
            if attachment is not None and conn.socket.is_open():
                conn.socket.set_attachment(attachment)
        self.states.clear()


AnyConnection = Connection[BaseModel, TaggedStruct]


class Instance:
    """One (room, id): its live connections and serialized handler runs."""

    def __init__(
        self,
        engine: Engine,
        room: WebSocketRoom[BaseModel, BaseModel, TaggedStruct, TaggedStruct],
        handlers: RoomHandlers[BaseModel, BaseModel, TaggedStruct, TaggedStruct],
        id: str,
        host: InstanceHost,
    ) -> None:
        self.engine = engine
        self.room = room
        self.handlers = handlers
        self.id = id
        self.host = host
        self.lock = anyio.Lock(fast_acquire=True)  # no extra turn of the loop when uncontended
        self._connections: dict[int, AnyConnection] = {}
        self._by_id: dict[str, list[AnyConnection]] = {}  # connections by id (duplicates are allowed)
        self._hydrated = False
        self._identity_stored = False
        self._run: _Run | None = None
        # The stored state's JSON as last read or committed: a live instance
        # is the only writer of its storage, so it reads it at most once.
        self._stored_state: str | _Unknown | None = _UNKNOWN
        self._closed_sockets: set[int] = set()
        self._pending_closes: list[AnyConnection] = []
        self._services: Mapping[type, object] | None = None
        # Every connection and its socket, as broadcast walks them; rebuilt
        # after the connection map changes.
        self._fanout: tuple[list[AnyConnection], list[HostSocket]] | None = None

    # -- connections ---------------------------------------------------------------

    def live_connections(self) -> list[AnyConnection]:
        return self._fanout_lists()[0]

    def _fanout_lists(self) -> tuple[list[AnyConnection], list[HostSocket]]:
        """Every connection and its socket, cached until the map changes."""
        fanout = self._fanout
        if fanout is None:
            conns = list(self._connections.values())
            fanout = self._fanout = (conns, [c.socket for c in conns])
        return fanout

    def _add_connection(self, socket: HostSocket, conn: AnyConnection) -> None:
        self._connections[id(socket)] = conn
        self._by_id.setdefault(conn.id, []).append(conn)
        fanout = self._fanout
        if fanout is not None:
            # Grow the cached lists rather than rebuild them: connecting N sockets
            # stays O(N). No run holds them now (connections are added between runs).
            fanout[0].append(conn)
            fanout[1].append(socket)

    def _drop_connection(self, socket: HostSocket) -> bool:
        """Forget the socket's connection; False if it had none."""
        conn = self._connections.pop(id(socket), None)
        if conn is None:
            return False
        same_id = self._by_id.get(conn.id, [])
        if conn in same_id:
            same_id.remove(conn)
        if not same_id:
            self._by_id.pop(conn.id, None)
        self._fanout = None
        return True

    def hydrate(self) -> None:
        """Rebuild connections now; a host whose instance just woke may call this
        before any handler runs (every entry point does it anyway)."""
        self._hydrate()

    def _hydrate(self) -> None:
        """Rebuild connections from the host's sockets and their attachments."""
        if self._hydrated:
            return
        self._hydrated = True
        for socket in self.host.sockets():
            if id(socket) in self._connections:
                continue
            conn = self._from_attachment(socket)
            if conn is not None:
                self._add_connection(socket, conn)

    def _from_attachment(self, socket: HostSocket) -> AnyConnection | None:
        raw = socket.attachment()
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            state = self.room.connection.model_validate(data["state"])
            return Connection(str(data["id"]), tuple(data["tags"]), state, socket, self)
        except (ValueError, KeyError, TypeError) as exc:
            log.error("room %s/%s: unreadable attachment, closing socket: %s", self.room.name, self.id, exc)
            socket.close(CLOSE_INTERNAL_ERROR, "unreadable attachment")
            return None

    def connection_for(self, socket: HostSocket) -> AnyConnection | None:
        self._hydrate()
        conn = self._connections.get(id(socket))
        if conn is None and id(socket) not in self._closed_sockets:
            conn = self._from_attachment(socket)
            if conn is not None:
                self._add_connection(socket, conn)
        return conn

    def _encode_attachment(self, conn_id: str, tags: tuple[str, ...], state: BaseModel) -> str:
        payload = {"id": conn_id, "tags": list(tags), "state": state.model_dump(mode="json", by_alias=True)}
        data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        size = structured_clone_size(data)  # what the Workers runtime counts, on every host
        if size > self.engine.options.attachment_cap:
            raise AttachmentTooLargeError(size, self.engine.options.attachment_cap)
        return data

    # -- entry points (called by hosts) --------------------------------------------------

    async def upgrade(self, opts: UpgradeOpts[BaseModel], accept: Callable[[list[str]], HostSocket]) -> AnyConnection:
        """Validate, accept the socket, run on_connect. Raises `UpgradeError`."""
        init = opts.connection
        conn_id = init.id if init.id is not None else await self.engine.new_connection_id()
        tags = _check_tags(conn_id, init.tags)
        state = _validate_model(self.room.connection, init.initial_state, UpgradeError, "initial_state")
        try:
            attachment = self._encode_attachment(conn_id, tags, state)
        except AttachmentTooLargeError as exc:
            raise UpgradeError(f"connection state is {exc.size} bytes; the cap is {exc.limit}", 400) from None
        async with self.lock:
            self._hydrate()
            await self._store_identity()
            existing = [c for c in self._by_id.get(conn_id, ()) if c.socket.is_open()]
            if existing and opts.on_duplicate == "reject":
                raise UpgradeError(f"connection id {conn_id!r} is already connected", 409)
            if existing and opts.on_duplicate == "replace":
                for old in existing:
                    old.socket.close(CLOSE_SERVICE_RESTART, "replaced by a new connection")
                    await self._finish_close(old)
            socket = accept([conn_id, *tags])  # the platform tag list: id first, as it is counted
            socket.set_attachment(attachment)
            conn: AnyConnection = Connection(conn_id, tags, state, socket, self, meta=dict(init.meta or {}))
            self._add_connection(socket, conn)
            handler = self.handlers.on_connect
            if handler is not None:
                outcome = await self._execute(handler, (RoomCtx(self, conn),))
                if isinstance(outcome, Failure):
                    self._report("on_connect", outcome)
                    self._drop_connection(socket)
                    self._closed_sockets.add(id(socket))
                    socket.close(CLOSE_INTERNAL_ERROR, "on_connect failed")
                    raise UpgradeError(f"on_connect failed: {_error_class(outcome.cause)}", 500)
            conn.meta = None
            await self._flush_closes()
            return conn

    async def message(self, socket: HostSocket, data: str | bytes) -> None:
        """An inbound frame. Never raises: bad frames go to on_decode_error or the log."""
        limit = self.engine.options.max_frame_bytes
        # A str of n code points is at most 4n bytes of UTF-8: encode only near the limit.
        size = len(data) if isinstance(data, bytes) or len(data) * 4 <= limit else len(data.encode())
        async with self.lock:
            conn = self.connection_for(socket)
            if conn is None:
                return
            if size > limit:
                socket.close(CLOSE_MESSAGE_TOO_BIG, "frame too large")
                await self._finish_close(conn)
                return
            text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
            try:
                event = self.room.event.validate_json(data)
            except (ValidationError, ValueError) as exc:
                await self._decode_error(conn, text, exc)
                await self._flush_closes()
                return
            handler = self.handlers.on_event
            if handler is not None:
                self._report("on_event", await self._execute(handler, (RoomCtx(self, conn), event)))
            await self._flush_closes()

    async def closed(self, socket: HostSocket, code: int, reason: str) -> None:
        """The peer closed (or the socket errored): run on_close once."""
        async with self.lock:
            conn = self.connection_for(socket)
            if conn is None:
                return
            if socket.is_open():
                socket.close(code if _may_echo(code) else CLOSE_NORMAL, reason)
            await self._finish_close(conn)
            await self._flush_closes()

    async def send_event(self, value: object) -> None:
        """Direct-API event: validate, run on_event with no connection; raise its failure."""
        event = _validate_member(self.room.event, value)
        async with self._direct():
            self._hydrate()
            await self._store_identity()
            handler = self.handlers.on_event
            if handler is None:
                return
            outcome = await self._execute(handler, (RoomCtx(self, None), event))
            await self._flush_closes()
            _raise_outcome(outcome)

    async def get_state(self) -> BaseModel | None:
        async with self._direct():
            try:
                return await self._load_state()
            except (ValidationError, ValueError) as exc:
                raise RoomError(f"stored state does not match the state schema: {exc}") from None

    async def get_connections(self, tag: str | None) -> list[ConnectionInfo[BaseModel]]:
        async with self._direct():
            self._hydrate()
            return [c.info() for c in self._connections.values() if c.is_open() and (tag is None or tag in c.tags)]

    async def broadcast_direct(self, value: object) -> None:
        msg = _validate_member(self.room.broadcast, value)
        async with self._direct():
            self._hydrate()
            err = self._broadcast_now(msg, None, None, None)
        if err is not None:
            raise err

    async def fire_alarm(self, retry_count: int = 0, *, direct: bool = False, consume: bool = False) -> bool:
        """Run on_alarm. Returns True on success; a direct call raises the failure.

        With `consume`, the stored alarm is removed by the run's own commit
        (unless the run schedules another), so an alarm whose run fails or
        never finishes stays stored and fires again: at-least-once."""
        async with self._direct() if direct else self.lock:
            self._hydrate()
            await self._store_identity()
            handler = self.handlers.on_alarm
            if handler is None:
                if consume:
                    await self.host.commit({}, (), AlarmChange(None))
                return True
            failure = (
                SystemFailure(f"alarm retry {retry_count} after a failure", retry_count) if retry_count > 0 else None
            )
            outcome = await self._execute(handler, (RoomCtx(self, None, failure),), consumes_alarm=consume)
            await self._flush_closes()
            if direct:
                _raise_outcome(outcome)
            if isinstance(outcome, Failure):
                self._report("on_alarm", outcome)
                return False
            return True

    @asynccontextmanager
    async def _direct(self) -> AsyncIterator[None]:
        """Hold the instance for a direct-API call. A call from one of this
        instance's own handler runs (directly or through siblings) would wait
        for itself forever: it fails at once with a RoomError instead."""
        if id(self) in _RUNNING.get():
            raise RoomError(
                f"room {self.room.name}/{self.id} called itself through the client while one of its handlers "
                "runs; use ctx (recall, save, broadcast, connections) inside a handler instead"
            )
        async with self.lock:
            yield

    # -- running handlers ------------------------------------------------------------------

    async def _execute(
        self, channel: Handler[Any], args: tuple[Any, ...], *, consumes_alarm: bool = False
    ) -> Success[object] | Failure[object]:
        """Run a handler (and its on_error) as one atomic run: its storage
        writes, alarm change and connection states are committed together,
        and only then are its frames and closes released. A run that fails,
        or whose commit fails, leaves no trace: nothing stored, nothing sent."""
        run = _Run(consumes_alarm)
        self._run = run
        running = _RUNNING.set(_RUNNING.get() | {id(self)})
        try:
            outcome = await self._run_handler(channel.handler, args)
            if isinstance(outcome, Failure) and not _is_purge(outcome.cause):
                if channel.on_error is not None:
                    # The failed handler's writes and output are dropped: on_error
                    # starts from the stored state, and only its own run commits.
                    run.discard()
                    err = _error_of(outcome.cause)
                    outcome = await self._run_handler(channel.on_error, (args[0], err))
            if isinstance(outcome, Failure) and _is_purge(outcome.cause):
                # Purge deletes everything; what the run sent before it still goes out.
                run.discard_writes()
                await self._do_purge()
                outcome = Success(None)
            elif isinstance(outcome, Success):
                try:
                    await self.host.commit(run.puts, run.deletes, run.alarm_change())
                    if STATE_KEY in run.puts:
                        self._stored_state = run.puts[STATE_KEY]
                    elif STATE_KEY in run.deletes:
                        self._stored_state = None
                except Exception as exc:
                    outcome = Failure(Fail(RoomExecutionError(f"the run's writes could not be committed: {exc}", exc)))
            if isinstance(outcome, Failure):
                run.discard()
        finally:
            _RUNNING.reset(running)
            self._run = None
        self._release(run.out)
        return outcome

    def _release(self, out: list[tuple[Sequence[HostSocket], str] | _Close]) -> None:
        """Send a committed run's frames and closes, in the order the run made them.
        A send that fails now (the run is over) closes that connection (1011)."""
        for item in out:
            if isinstance(item, _Close):
                conn = item.conn
                if conn.socket.is_open():
                    conn.socket.close(item.code, item.reason)
                self._pending_closes.append(conn)
                continue
            sockets, frame = item
            _, failed = self.host.send_all(sockets, frame)
            for i, exc in failed:
                socket = sockets[i]
                target = self._connections.get(id(socket))
                log.warning(
                    "room %s/%s: send to %s failed, closing it: %r",
                    self.room.name,
                    self.id,
                    target.id if target is not None else "a closed connection",
                    exc,
                )
                if socket.is_open():
                    socket.close(CLOSE_INTERNAL_ERROR, "send failed")
                if target is not None:
                    self._pending_closes.append(target)

    def _report(self, channel: str, outcome: Success[object] | Failure[object]) -> None:
        """Log a failed run: room, id, channel, the error's type and message, and the whole cause."""
        if isinstance(outcome, Failure):
            log.error(
                "room %s/%s: %s failed: %s\n%s",
                self.room.name,
                self.id,
                channel,
                _summary(outcome.cause),
                outcome.cause.pretty(),
            )

    async def _run_handler(
        self, fn: Callable[..., HandlerResult], args: tuple[Any, ...]
    ) -> Success[object] | Failure[object]:
        try:
            eff = self.handlers.wrap(fn(*args))
        except Exception as exc:
            return Failure(Die(exc))
        if not isinstance(eff, Effect):
            return Failure(Die(TypeError(f"a handler must return an Effect, got {type(eff).__name__}")))
        services = self._services
        if services is None:
            built = await self.engine.handler_services()
            if isinstance(built, Failure):
                return built
            services = self._services = {
                **built.value,
                Storage: InstanceStorage(self),
                Alarm: InstanceAlarm(self),
            }
        result: Success[object] | Failure[object] = await run_loop(eff, services)
        return result

    async def _decode_error(self, conn: AnyConnection, raw: str, exc: Exception) -> None:
        fn = self.handlers.on_decode_error
        if fn is None:
            log.warning("room %s/%s: undecodable frame from %s: %s", self.room.name, self.id, conn.id, exc)
            return
        error = RoomValidationError(str(exc), raw)  # the seed's error for a frame that fails the schema
        error.__cause__ = exc
        self._report("on_decode_error", await self._execute(Handler(fn), (RoomCtx(self, conn), raw, error)))

    async def _finish_close(self, conn: AnyConnection) -> None:
        """Forget the connection and run on_close once."""
        if not self._drop_connection(conn.socket):
            return
        self._closed_sockets.add(id(conn.socket))
        handler = self.handlers.on_close
        if handler is not None:
            self._report("on_close", await self._execute(handler, (RoomCtx(self, conn),)))

    async def _flush_closes(self) -> None:
        while self._pending_closes:
            pending, self._pending_closes = self._pending_closes, []
            for conn in pending:
                await self._finish_close(conn)

    async def _store_identity(self) -> None:
        if self._identity_stored:
            return
        self._identity_stored = True
        if await self.host.load(IDENTITY_KEY) is None:
            identity = json.dumps({"room": self.room.name, "id": self.id})
            await self.host.commit({IDENTITY_KEY: identity}, (), None)

    async def _load_state(self) -> BaseModel | None:
        run = self._run
        if run is not None:
            if STATE_KEY in run.puts:
                return self.room.state.model_validate_json(run.puts[STATE_KEY])
            if STATE_KEY in run.deletes:
                return None
        raw = self._stored_state
        if isinstance(raw, _Unknown):
            raw = self._stored_state = await self.host.load(STATE_KEY)
        return None if raw is None else self.room.state.model_validate_json(raw)

    async def _do_purge(self) -> None:
        self._stored_state = _UNKNOWN
        await self.host.delete_all()
        await self.host.commit({}, (), AlarmChange(None))
        self._identity_stored = False

    # -- ctx operations (as effects) --------------------------------------------------------

    def recall(self) -> Effect[Any, RoomError]:
        async def run(_: Mapping[type, object]) -> Success[Any] | Failure[RoomError]:
            try:
                return Success(await self._load_state())
            except (ValidationError, ValueError) as exc:
                return Failure(Fail(RoomError(f"stored state does not match the state schema: {exc}")))

        return _Async(run)

    def save(self, state: BaseModel) -> Effect[None, RoomError]:
        def run() -> Effect[None, RoomError]:
            try:
                model = _validate_model(self.room.state, state, RoomError, "state")
            except RoomError as exc:
                return _Fail(Fail(exc))
            self._write(STATE_KEY, model.model_dump_json(by_alias=True))
            return _Succeed(None)

        return suspend(run)

    def update(self, f: Callable[[Any], Any]) -> Effect[None, RoomError]:
        return self.recall().flat_map(lambda s: _Succeed(None) if s is None else self.save(f(s)))

    def load_key(self, key: str) -> Effect[str | None]:
        """A stored value as this run sees it (its own writes included)."""

        async def run(_: Mapping[type, object]) -> Success[str | None]:
            pending = self._run
            if pending is not None:
                if key in pending.puts:
                    return Success(pending.puts[key])
                if key in pending.deletes:
                    return Success(None)
            return Success(await self.host.load(key))

        return _Async(run)

    def write_key(self, key: str, value: str | None) -> Effect[None]:
        """Write (or, with None, delete) a key in this run's transaction."""

        def run() -> None:
            pending = self._run
            if pending is None:
                raise RuntimeError("room storage can only be written while a handler runs")
            if value is None:
                pending.puts.pop(key, None)
                pending.deletes.add(key)
            else:
                self._write(key, value)

        return _Sync(run)

    def _write(self, key: str, value: str) -> None:
        run = self._run
        if run is None:
            raise RuntimeError("room storage can only be written while a handler runs")
        run.puts[key] = value
        run.deletes.discard(key)

    def send_to(self, conn: Connection[Any, Any], msg: TaggedStruct) -> Effect[None, SendError]:
        def run() -> Effect[None, SendError]:
            _check_member(self.room.broadcast, msg)
            run = self._run
            if run is None:
                err = _send(conn, msg.to_json())
            elif conn.socket.is_open():
                run.out.append(((conn.socket,), msg.to_json()))
                err = None
            else:
                err = SendError(conn.id, "the socket is not open")
            return _Succeed(None) if err is None else _Fail(Fail(err))

        return suspend(run)

    def set_connection_state(
        self, conn: Connection[Any, Any], state: BaseModel
    ) -> Effect[None, AttachmentTooLargeError | RoomValidationError]:
        def run() -> Effect[None, AttachmentTooLargeError | RoomValidationError]:
            try:
                model = _validate_model(self.room.connection, state, RoomValidationError, "connection state")
                data = self._encode_attachment(conn.id, conn.tags, model)
            except (AttachmentTooLargeError, RoomValidationError) as exc:
                return _Fail(Fail(exc))
            run = self._run
            if run is not None and id(conn) not in run.states:
                run.states[id(conn)] = (conn, conn.state, conn.socket.attachment())
            conn.socket.set_attachment(data)
            conn.state = model
            return _Succeed(None)

        return suspend(run)

    def close_connection(self, conn: Connection[Any, Any], code: int, reason: str) -> Effect[None]:
        def run() -> None:
            if self._run is not None:
                self._run.out.append(_Close(conn, code, reason))
                return
            if conn.socket.is_open():
                conn.socket.close(code, reason)
            self._pending_closes.append(conn)

        return _Sync(run)

    def broadcast(
        self,
        msg: TaggedStruct,
        *,
        except_: Connection[Any, Any] | Sequence[Connection[Any, Any]] | None,
        tag: str | None,
        to: Sequence[Connection[Any, Any]] | None,
    ) -> Effect[None, BroadcastError]:
        def run() -> Effect[None, BroadcastError]:
            _check_member(self.room.broadcast, msg)
            err = self._broadcast_now(msg, except_, tag, to)
            return _Succeed(None) if err is None else _Fail(Fail(err))

        return suspend(run)

    def _broadcast_now(
        self,
        msg: TaggedStruct,
        except_: Connection[Any, Any] | Sequence[Connection[Any, Any]] | None,
        tag: str | None,
        to: Sequence[Connection[Any, Any]] | None,
    ) -> BroadcastError | None:
        frame = msg.to_json()
        if except_ is None:
            excluded: Sequence[Connection[Any, Any]] = ()
        elif isinstance(except_, Connection):
            excluded = (except_,)
        else:
            excluded = except_
        if to is None and not excluded and tag is None:
            targets, sockets = self._fanout_lists()
        elif to is None and tag is None and len(excluded) == 1:
            # Everyone but one (a join, a typing indicator): one pass over the cached list.
            every = self._fanout_lists()[1]
            one = excluded[0].socket
            sockets = [s for s in every if s is not one]
            targets = None  # built only if a send fails
        else:
            # Filter once, up front: the host's send loop is the per-recipient cost.
            skip = {id(c.socket) for c in excluded}
            targets = [
                c
                for c in (to if to is not None else self._connections.values())
                if id(c.socket) not in skip and (tag is None or tag in c.tags)
            ]
            sockets = [c.socket for c in targets]
        run = self._run
        if run is not None:
            run.out.append((sockets, frame))  # sent when the run commits
            return None
        delivered, failed = self.host.send_all(sockets, frame)
        if not failed:
            return None
        if targets is None:
            by_socket = {id(c.socket): c for c in self._connections.values()}
            targets = [by_socket[id(s)] for s in sockets]
        return BroadcastError([SendError(targets[i].id, f"send failed: {exc}") for i, exc in failed], delivered)

    def schedule_in(self, duration: DurationInput) -> Effect[None, RoomError]:
        try:
            millis = Duration.decode(duration).millis
        except ValueError as exc:
            return _Fail(Fail(RoomError(str(exc))))
        return self._alarm_op(lambda: self._set_alarm(self.host.now_ms() + millis))

    def schedule_at(self, when: datetime | float) -> Effect[None, RoomError]:
        at = when.timestamp() * 1_000.0 if isinstance(when, datetime) else float(when)
        return self._alarm_op(lambda: self._set_alarm(at))

    def cancel_schedule(self) -> Effect[None, RoomError]:
        return self._alarm_op(lambda: self._set_alarm(None))

    def next_alarm(self) -> Effect[float | None, RoomError]:
        return self._alarm_op(self._get_alarm)

    async def _set_alarm(self, at: float | None) -> None:
        """Inside a run the alarm is part of its transaction; outside, immediate."""
        run = self._run
        if run is not None:
            run.alarm, run.alarm_changed = at, True
        else:
            await self.host.commit({}, (), AlarmChange(at))

    async def _get_alarm(self) -> float | None:
        run = self._run
        if run is not None and run.alarm_changed:
            return run.alarm
        return await self.host.get_alarm()

    def _alarm_op(self, op: Callable[[], Awaitable[Any]]) -> Effect[Any, RoomError]:
        async def run(_: Mapping[type, object]) -> Success[Any] | Failure[RoomError]:
            try:
                return Success(await op())
            except Exception as exc:
                return Failure(Fail(RoomError(f"alarm operation failed: {exc}")))

        return _Async(run)

    def purge(self) -> Effect[Never, PurgeSignal]:
        return _Fail(Fail(PurgeSignal()))


class InstanceBackend(ABC):
    """The direct API for a host whose instances run in this process; the
    host adds `fire_alarm` (it owns the alarm) and `upgrade`."""

    @abstractmethod
    def instance(self, room: str, id: str) -> Instance: ...

    async def send(self, room: str, id: str, event: object) -> None:
        await self.instance(room, id).send_event(event)

    async def get_state(self, room: str, id: str) -> BaseModel | None:
        return await self.instance(room, id).get_state()

    async def get_connections(self, room: str, id: str, tag: str | None) -> list[ConnectionInfo[BaseModel]]:
        return await self.instance(room, id).get_connections(tag)

    async def broadcast(self, room: str, id: str, msg: object) -> None:
        await self.instance(room, id).broadcast_direct(msg)


# -- helpers --------------------------------------------------------------------------------


def _send(conn: Connection[Any, Any], frame: str) -> SendError | None:
    if not conn.socket.is_open():
        return SendError(conn.id, "the socket is not open")
    try:
        conn.socket.send(frame)
    except Exception as exc:
        return SendError(conn.id, f"send failed: {exc}")
    return None


def _check_tags(conn_id: str, tags: Sequence[str]) -> tuple[str, ...]:
    if isinstance(tags, str):
        raise UpgradeError("tags must be a list of strings, not one string", 400)
    all_tags = (conn_id, *tags)
    if len(all_tags) > MAX_TAGS:
        raise UpgradeError(f"at most {MAX_TAGS} tags per connection (the id counts as one), got {len(all_tags)}", 400)
    for t in all_tags:
        if not isinstance(t, str) or not 1 <= len(t) <= MAX_TAG_LENGTH:
            raise UpgradeError(f"each tag (and the id) must be 1..{MAX_TAG_LENGTH} characters: {t!r}", 400)
    return tuple(tags)


def _validate_model(model: type[BaseModel], value: object, error: type[TaggedError], label: str) -> BaseModel:
    if type(value) is model:
        assert isinstance(value, BaseModel)
        return value
    try:
        data = value.model_dump() if isinstance(value, BaseModel) else value
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(f"{label} does not match {model.__name__}: {exc}") from None


def _validate_member(schema: Any, value: object) -> TaggedStruct:
    try:
        result: TaggedStruct = schema.validate(value)
        return result
    except ValidationError as exc:
        raise RoomValidationError(f"not a valid message for {schema!r}: {exc}", repr(value)[:200]) from None


def _check_member(schema: Any, msg: object) -> None:
    if not schema.is_member(msg):
        raise TypeError(f"{msg!r} is not a member of {schema!r}")


def _may_echo(code: int) -> bool:
    return code not in (1005, 1006, 1015) and 1000 <= code <= 4999


def _is_purge(cause: Cause[object]) -> bool:
    return isinstance(cause, Fail) and isinstance(cause.error, PurgeSignal)


def _error_of(cause: Cause[object]) -> object:
    failures = cause.failures()
    if failures:
        return failures[0]
    return cause.squash()


def _summary(cause: Cause[object]) -> str:
    """`Type: message` of the cause's first error (or defect), or `interrupted`."""
    failures = cause.failures()
    if failures:
        err = failures[0]
        return f"{type(err).__name__}: {err}"
    defects = cause.defects()
    if defects:
        return f"{type(defects[0]).__name__}: {defects[0]}"
    return "interrupted"


def _error_class(cause: Cause[object]) -> str:
    """The class name of the cause's first error or defect: what a client may be told."""
    return _summary(cause).partition(":")[0]


def _raise_outcome(outcome: Success[object] | Failure[object]) -> None:
    if isinstance(outcome, Success):
        return
    cause = outcome.cause
    failures = cause.failures()
    if failures:
        err = failures[0]
        if isinstance(err, RoomError | RoomValidationError | RoomExecutionError):
            raise err
        raise RoomExecutionError(f"handler failed with {err!r}", err if isinstance(err, BaseException) else None)
    if cause.is_interrupted_only():
        raise RoomExecutionError("handler was interrupted")
    defect = cause.squash()
    raise RoomExecutionError(f"handler raised {defect!r}", defect)
