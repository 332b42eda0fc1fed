"""Room handlers that mypy must reject: each marked line is one mistake."""

from __future__ import annotations

from pydantic import BaseModel

from durable_effect.effect import EffectGen, gen, succeed
from durable_effect.sockets import (
    BroadcastError,
    ConnectionInit,
    RoomCtx,
    Schema,
    SocketRegistry,
    TaggedStruct,
    UpgradeOpts,
    WebSocketRoom,
    make_in_memory_socket_runtime,
)


class State(BaseModel):
    count: int


class Conn(BaseModel):
    user_id: str


class Say(TaggedStruct, tag="Say"):
    text: str


class Message(TaggedStruct, tag="Message"):
    text: str


class Other(TaggedStruct, tag="Other"):
    pass


Chat = WebSocketRoom.make("chat", state=State, connection=Conn, event=Schema.union(Say), broadcast=Schema.union(Message))
registry = SocketRegistry.make(Chat)
c = registry.for_(Chat)
Ctx = RoomCtx[State, Conn, Say, Message]


@gen
def broadcasts_a_non_broadcast(ctx: Ctx, event: Say) -> EffectGen[None, BroadcastError]:
    yield from ctx.broadcast(Say(text=event.text))  # E: arg-type


@gen
def reads_a_missing_field(ctx: Ctx, event: Say) -> EffectGen[None, BroadcastError]:
    if ctx.connection is not None:
        yield from ctx.broadcast(Message(text=ctx.connection.state.name))  # E: attr-defined


def handles_a_non_event(ctx: Ctx, event: Other) -> EffectGen[None]:
    return (yield from succeed(None))


def saves_wrong_state(ctx: Ctx) -> None:
    ctx.save(Conn(user_id="x"))  # E: arg-type


c.on_event(gen(handles_a_non_event))  # E: arg-type
registry.handler(Chat, on_event=gen(handles_a_non_event))  # E: arg-type
rt = make_in_memory_socket_runtime(registry.build({"chat": registry.handler(Chat)}))
rt.testing_connect(Chat, "r1", UpgradeOpts(ConnectionInit(State(count=1))))  # E: misc
rt.room(Chat).send("r1", Message(text="not an event"))  # E: arg-type
