"""A small room for the server suite, importable by `durable-effect serve tests.server.server_rooms:make_server`.

`notes` keeps a count and the last text; `Add(arm=True)` also schedules an alarm
in one second, and the alarm writes a marker into the state. Two texts steer
the crash tests: after `Add("hang-alarm")` the first run of on_alarm never
ends (a retry completes); under `make_hanging_server`, the commit of
`Add("hang-commit")` never ends. Bad frames are
answered with `BadFrame` so the client can see them. The upgrade hook reads
`name`, `id`, `ntags` (extra tags) and `dup` (the on_duplicate policy) from the
query string.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from typing import Literal

import anyio
from pydantic import BaseModel

from durable_effect.effect import EffectGen, gen, promise
from durable_effect.sockets import (
    ConnectionInit,
    EngineOptions,
    RoomCtx,
    Schema,
    SocketRegistry,
    TaggedStruct,
    UpgradeOpts,
    WebSocketRoom,
)
from durable_effect.sockets.host import AlarmChange
from durable_effect.sockets.server import (
    MemoryStorage,
    Refuse,
    ServerStorage,
    SocketServer,
    SQLiteStorage,
    UpgradeRequest,
    make_socket_server,
)


class NotesState(BaseModel):
    count: int = 0
    last: str = ""
    marker: str = ""
    alarms: int = 0


class NoteConn(BaseModel):
    name: str


class Add(TaggedStruct, tag="Add"):
    text: str
    arm: bool = False


class Who(TaggedStruct, tag="Who"):
    pass


class Added(TaggedStruct, tag="Added"):
    text: str
    by: str
    count: int


class Echo(TaggedStruct, tag="Echo"):
    id: str
    name: str


class BadFrame(TaggedStruct, tag="BadFrame"):
    error: str


Notes = WebSocketRoom.make(
    "notes",
    state=NotesState,
    connection=NoteConn,
    event=Schema.union(Add, Who),
    broadcast=Schema.union(Added, Echo, BadFrame),
)

registry = SocketRegistry.make(Notes)
Ctx = RoomCtx[NotesState, NoteConn, Add | Who, Added | Echo | BadFrame]
c = registry.for_(Notes)


@c.on_event
@gen
def on_event(ctx: Ctx, event: Add | Who) -> EffectGen[None, object]:
    conn = ctx.connection
    match event:
        case Add(text=text, arm=arm):
            state = (yield from ctx.recall()) or NotesState()
            count = state.count + 1
            yield from ctx.save(state.model_copy(update={"count": count, "last": text}))
            if arm:
                yield from ctx.schedule_in("1 second")
            yield from ctx.broadcast(Added(text=text, by=conn.id if conn else "api", count=count))
        case Who():
            if conn is not None:
                yield from conn.send(Echo(id=conn.id, name=conn.state.name))


@c.on_alarm
@gen
def on_alarm(ctx: Ctx) -> EffectGen[None, object]:
    state = (yield from ctx.recall()) or NotesState()
    retry = ctx.system_failure.retry_count if ctx.system_failure is not None else 0
    if state.last == "hang-alarm" and retry == 0:
        yield from promise(lambda: anyio.sleep(3_600))  # killed in here
    marker = "alarm fired" if retry == 0 else f"alarm fired on retry {retry}"
    yield from ctx.save(state.model_copy(update={"marker": marker, "alarms": state.alarms + 1}))


@c.on_decode_error
@gen
def on_decode_error(ctx: Ctx, raw: str, error: Exception) -> EffectGen[None, object]:
    if ctx.connection is not None:
        yield from ctx.connection.send(BadFrame(error=type(error).__name__))


config = registry.build(
    {"notes": registry.handler(Notes, on_event=on_event, on_alarm=on_alarm, on_decode_error=on_decode_error)}
)

Policy = Literal["allow", "replace", "reject"]


def upgrade_options(request: UpgradeRequest) -> UpgradeOpts[NoteConn] | Refuse:
    name = request.query.get("name", "anon")
    if name == "forbidden":
        return Refuse(403, "not you")
    if name == "explode":
        raise RuntimeError("a bug in the hook")
    extra = [f"t{i}" for i in range(int(request.query.get("ntags", "0")))]
    dup = request.query.get("dup", "allow")
    policy: Policy = "reject" if dup == "reject" else "replace" if dup == "replace" else "allow"
    init = ConnectionInit(NoteConn(name=name), id=request.query.get("id"), tags=[f"name:{name}", *extra])
    return UpgradeOpts(init, on_duplicate=policy)


def build(
    storage: ServerStorage | None = None,
    *,
    options: EngineOptions | None = None,
    hibernate_after: float = 60.0,
) -> SocketServer:
    return make_socket_server(
        config,
        storage=storage if storage is not None else MemoryStorage(),
        upgrade_options=upgrade_options,
        options=options,
        hibernate_after=hibernate_after,
    )


def make_server(storage: ServerStorage) -> SocketServer:
    """The `durable-effect serve` entry point."""
    return build(storage)


class _HangingStorage(SQLiteStorage):
    """SQLite storage whose commit of the text "hang-commit" never ends."""

    def commit(
        self, room: str, id: str, puts: Mapping[str, str], deletes: Collection[str], alarm: AlarmChange | None = None
    ) -> None:
        if '"last":"hang-commit"' in puts.get("state", ""):
            time.sleep(3_600)  # killed in here, with the run's alarm change in hand
        super().commit(room, id, puts, deletes, alarm)


def make_hanging_server(storage: ServerStorage) -> SocketServer:
    """`make_server` over storage whose commit can hang (see the module doc)."""
    assert isinstance(storage, SQLiteStorage)
    storage.close()
    return build(_HangingStorage(storage.path))


class FailingStorage(MemoryStorage):
    """A disk that went away: every commit fails, and so does every load of instance `broken`."""

    def commit(
        self, room: str, id: str, puts: Mapping[str, str], deletes: Collection[str], alarm: AlarmChange | None = None
    ) -> None:
        raise OSError("disk is gone")

    def load(self, room: str, id: str, key: str) -> str | None:
        if id == "broken":
            raise OSError("disk is gone")
        return super().load(room, id, key)


def make_failing_server(storage: ServerStorage) -> SocketServer:
    """The `durable-effect serve` entry point over a `FailingStorage`."""
    return build(FailingStorage())
