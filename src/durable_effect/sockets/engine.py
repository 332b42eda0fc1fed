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
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from durable_effect.effect import Cause, Effect, Fail, Failure, Layer, Success, TaggedError, suspend
from durable_effect.effect._core import _Fail, _Succeed, _Sync
from durable_effect.effect.random import current as random_current
from durable_effect.platform.instance import (
    ALARM_MAX_RETRIES,
    IDENTITY_KEY,
    STATE_KEY,
    InstanceCore,
    RuntimeServices,
    Tx,
    alarm_backoff_ms,
    summary,
    validate_model,
)
from durable_effect.sockets.connection import Connection, ConnectionInfo
from durable_effect.sockets.ctx import RoomCtx
from durable_effect.sockets.errors import (
    AttachmentTooLargeError,
    BroadcastError,
    RoomError,
    RoomExecutionError,
    RoomValidationError,
    SendError,
    UpgradeError,
)
from durable_effect.sockets.host import HostSocket, InstanceHost
from durable_effect.sockets.limits import structured_clone_size
from durable_effect.sockets.registry import Handler, HandlerResult, RoomHandlers, SocketConfig
from durable_effect.sockets.room import WebSocketRoom
from durable_effect.sockets.schema import TaggedStruct

if TYPE_CHECKING:
    from durable_effect.sockets.api import SocketClient, UpgradeOpts

__all__ = [
    "ALARM_MAX_RETRIES",
    "DEFAULT_ATTACHMENT_CAP",
    "DEFAULT_MAX_FRAME_BYTES",
    "MAX_ATTACHMENT_CAP",
    "MAX_TAG_LENGTH",
    "MAX_TAGS",
    "IDENTITY_KEY",
    "STATE_KEY",
    "Engine",
    "EngineOptions",
    "EngineStats",
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
CLOSE_NORMAL = 1000
CLOSE_MESSAGE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011
CLOSE_SERVICE_RESTART = 1012


class EngineOptions(BaseModel):
    """Limits an engine enforces; hosts may lower or raise them within the platform's."""

    attachment_cap: int = DEFAULT_ATTACHMENT_CAP
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES

    def model_post_init(self, __context: object) -> None:
        if not 1 <= self.attachment_cap <= MAX_ATTACHMENT_CAP:
            raise ValueError(f"attachment_cap must be in 1..{MAX_ATTACHMENT_CAP}")
        if self.max_frame_bytes < 1:
            raise ValueError("max_frame_bytes must be positive")


class EngineStats:
    """What the engine counts for a host's metrics, by room: frames in and
    out, failed runs (by channel), and commits with their total time."""

    __slots__ = ("commit_seconds", "commits", "failures", "frames_in", "frames_out")

    def __init__(self) -> None:
        self.frames_in: Counter[str] = Counter()
        self.frames_out: Counter[str] = Counter()
        self.failures: Counter[tuple[str, str]] = Counter()
        self.commits: Counter[str] = Counter()
        self.commit_seconds: defaultdict[str, float] = defaultdict(float)


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
        self._services = RuntimeServices(services, layer)
        self._client = client
        self.stats = EngineStats()

    @property
    def services(self) -> Mapping[type, object]:
        """The services handlers run with (the runtime layer's once it is built)."""
        return self._services.services

    async def handler_services(self) -> Success[Mapping[type, object]] | Failure[object]:
        """The services handlers run with; the runtime layer is built once, on
        first use, its `Layer.scoped` resources in a scope `aclose` closes."""
        return await self._services.get()

    async def new_connection_id(self) -> str:
        """A random connection id (a UUID4) from the `Random` in the handlers'
        services, so a seeded `Random` in the runtime layer makes ids reproducible."""
        built = await self.handler_services()
        return str(random_current(built.value if isinstance(built, Success) else self.services).make_uuid4())

    async def aclose(self) -> None:
        """Release the runtime layer's scoped resources (`Layer.scoped`), last
        acquired first; hosts call it when they stop. Idempotent."""
        await self._services.aclose()

    def client(self) -> SocketClient:
        return self._client()

    def instance(self, room_name: str, id: str, host: InstanceHost) -> Instance:
        """A fresh in-memory instance over `host` (connections rehydrate lazily)."""
        room = self.config.room(room_name)
        return Instance(self, room, self.config.handlers[room_name], id, host)


class _Close:
    """A `conn.close()` of a run: sent with the run's frames, in order."""

    __slots__ = ("code", "conn", "reason")

    def __init__(self, conn: Connection[Any, Any], code: int, reason: str) -> None:
        self.conn = conn
        self.code = code
        self.reason = reason


class _Run(Tx):
    """One handler run's pending effects, committed together or not at all:
    the storage writes and alarm change of every run, plus connection states
    (restored if the run fails) and its output (frames and closes, held
    until the commit)."""

    __slots__ = ("out", "states")

    def __init__(self, consumes_alarm: bool = False) -> None:
        super().__init__(consumes_alarm)
        self.states: dict[int, tuple[Connection[Any, Any], BaseModel, str | None]] = {}
        self.out: list[tuple[Sequence[HostSocket], str] | _Close] = []

    def discard(self) -> None:
        """Forget every change and all output: the run failed (or on_error replaces it)."""
        self.discard_writes()
        self.out.clear()

    def discard_writes(self) -> None:
        """Forget the storage writes, the alarm change and connection states."""
        super().discard_writes()
        for conn, state, attachment in self.states.values():
            conn.state = state
            if attachment is not None and conn.socket.is_open():
                conn.socket.set_attachment(attachment)
        self.states.clear()


AnyConnection = Connection[BaseModel, TaggedStruct]

_ATTACHMENT_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
"""What `json.dumps(..., separators=(",", ":"), ensure_ascii=False)` writes, without a new encoder per call."""


class Instance(InstanceCore[RoomError, _Run]):
    """One (room, id): its live connections and serialized handler runs."""

    kind = "room"
    log = log

    def __init__(
        self,
        engine: Engine,
        room: WebSocketRoom[BaseModel, BaseModel, TaggedStruct, TaggedStruct],
        handlers: RoomHandlers[BaseModel, BaseModel, TaggedStruct, TaggedStruct],
        id: str,
        host: InstanceHost,
    ) -> None:
        super().__init__(room.name, id, room.state, host)
        self.engine = engine
        self.room = room
        self.handlers = handlers
        self.host: InstanceHost = host
        self._connections: dict[int, AnyConnection] = {}
        self._by_id: dict[str, list[AnyConnection]] = {}  # connections by id (duplicates are allowed)
        self._hydrated = False
        self._closed_sockets: set[int] = set()
        self._pending_closes: list[AnyConnection] = []
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
        data = _ATTACHMENT_JSON.encode(payload)
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
            self.engine.stats.frames_in[self.room.name] += 1
            if size > limit:
                socket.close(CLOSE_MESSAGE_TOO_BIG, "frame too large")
                await self._finish_close(conn)
                return
            try:
                event = self.room.event.validate_json(data)
            except (ValidationError, ValueError) as exc:
                text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
                await self._decode_error(conn, text, exc)
                await self._flush_closes()
                return
            handler = self.handlers.on_event
            if handler is not None:
                outcome = await self._execute(handler, (RoomCtx(self, conn), event))
                if type(outcome) is not Success:
                    self._report("on_event", outcome)
            if self._pending_closes:
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
            self._raise_outcome(outcome)

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
        return await self._fire_alarm(
            self.handlers.on_alarm,
            lambda failure: RoomCtx(self, None, failure),
            retry_count,
            direct=direct,
            consume=consume,
        )

    # -- running handlers ------------------------------------------------------------------

    def _new_run(self, consumes_alarm: bool) -> _Run:
        return _Run(consumes_alarm)

    def _released(self, run: _Run) -> None:
        self._release(run.out)

    def _error(self, message: str) -> RoomError:
        return RoomError(message)

    def _execution_error(self, message: str, cause: BaseException | None) -> TaggedError:
        return RoomExecutionError(message, cause)

    def _passes_through(self, err: object) -> bool:
        return isinstance(err, RoomError | RoomValidationError | RoomExecutionError)

    def _wrap(self, eff: HandlerResult) -> HandlerResult:
        return self.handlers.wrap(eff)

    async def _base_services(self) -> Success[Mapping[type, object]] | Failure[object]:
        return await self.engine.handler_services()

    async def _prepare(self) -> None:
        self._hydrate()
        await self._store_identity()

    async def _settle(self) -> None:
        await self._flush_closes()

    def _self_call_hint(self) -> str:
        return "use ctx (recall, save, broadcast, connections) inside a handler instead"

    def _committed(self, seconds: float) -> None:
        stats = self.engine.stats
        stats.commits[self.room.name] += 1
        stats.commit_seconds[self.room.name] += seconds

    def _report(self, channel: str, outcome: Success[object] | Failure[object]) -> None:
        if isinstance(outcome, Failure):
            self.engine.stats.failures[(self.room.name, channel)] += 1
        super()._report(channel, outcome)

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
            delivered, failed = self.host.send_all(sockets, frame)
            self.engine.stats.frames_out[self.room.name] += delivered
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
    try:
        return validate_model(model, value)
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


def _error_class(cause: Cause[object]) -> str:
    """The class name of the cause's first error or defect: what a client may be told."""
    return summary(cause).partition(":")[0]
