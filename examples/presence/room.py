"""Who is here, and who is typing: a presence list on one room.

Each connection's state is its presence (`Present`); the room only relays
changes, so a page shows everyone online and a typing indicator without any
polling. Wire names are camelCase (`userId`, `displayName`, `isTyping`)
through pydantic aliases, as a JavaScript front end expects; Python code
keeps snake_case.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from durable_effect.effect import EffectGen, gen
from durable_effect.sockets import (
    AttachmentTooLargeError,
    BroadcastError,
    RoomCtx,
    RoomError,
    RoomValidationError,
    Schema,
    SendError,
    SocketRegistry,
    TaggedStruct,
    WebSocketRoom,
)

CAMEL = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class Lobby(BaseModel):
    model_config = CAMEL

    peak_online: int


class Present(BaseModel):
    model_config = CAMEL

    user_id: str
    display_name: str
    is_typing: bool = False


# -- events (page -> room) ---------------------------------------------------------------


class SetTyping(TaggedStruct, tag="SetTyping"):
    model_config = CAMEL

    is_typing: bool


class Rename(TaggedStruct, tag="Rename"):
    model_config = CAMEL

    display_name: str


# -- broadcasts (room -> pages) ----------------------------------------------------------


class Roster(TaggedStruct, tag="Roster"):
    """Sent to the one who joins: everyone online, them included."""

    model_config = CAMEL

    members: list[Present]
    peak_online: int


class Joined(TaggedStruct, tag="Joined"):
    member: Present


class Changed(TaggedStruct, tag="Changed"):
    """Someone started or stopped typing, or took another name."""

    member: Present


class Left(TaggedStruct, tag="Left"):
    model_config = CAMEL

    user_id: str


Presence = WebSocketRoom.make(
    "presence",
    state=Lobby,
    connection=Present,
    event=Schema.union(SetTyping, Rename),
    broadcast=Schema.union(Roster, Joined, Changed, Left),
)
registry = SocketRegistry.make(Presence)

Ctx = RoomCtx[Lobby, Present, SetTyping | Rename, Roster | Joined | Changed | Left]
p = registry.for_(Presence)


@p.on_connect
@gen
def on_connect(ctx: Ctx) -> EffectGen[None, RoomError | BroadcastError | SendError]:
    conn = ctx.connection
    if conn is None:
        return
    online = ctx.connections.all()
    before = yield from ctx.recall()
    peak = max(len(online), before.peak_online if before else 0)
    yield from ctx.save(Lobby(peak_online=peak))
    yield from conn.send(Roster(members=[c.state for c in online], peak_online=peak))
    yield from ctx.broadcast(Joined(member=conn.state), except_=conn)


@p.on_event
@gen
def on_event(
    ctx: Ctx, event: SetTyping | Rename
) -> EffectGen[None, BroadcastError | AttachmentTooLargeError | RoomValidationError]:
    conn = ctx.connection
    if conn is None:
        return
    match event:
        case SetTyping(is_typing=typing):
            now = conn.state.model_copy(update={"is_typing": typing})
        case Rename(display_name=name):
            now = conn.state.model_copy(update={"display_name": name.strip()[:40] or conn.state.user_id})
    if now == conn.state:
        return
    yield from conn.set_state(now)
    yield from ctx.broadcast(Changed(member=now), except_=conn)


@p.on_close
@gen
def on_close(ctx: Ctx) -> EffectGen[None, BroadcastError]:
    conn = ctx.connection
    if conn is not None:
        yield from ctx.broadcast(Left(user_id=conn.state.user_id), except_=conn)


presence_handler = registry.handler(Presence, on_connect=on_connect, on_event=on_event, on_close=on_close)
config = registry.build({"presence": presence_handler})
