"""The room shown in the README (kept identical by tests/examples/test_readme.py)."""

from pydantic import BaseModel
from durable_effect.effect import EffectGen, gen
from durable_effect.sockets import (BroadcastError, RoomCtx, RoomError, Schema,
    SocketRegistry, TaggedStruct, WebSocketRoom)

class Count(BaseModel):
    n: int

class Member(BaseModel):
    name: str

class Add(TaggedStruct, tag="Add"):
    by: int

class Total(TaggedStruct, tag="Total"):
    n: int

Counter = WebSocketRoom.make("counter", state=Count, connection=Member,
                             event=Schema.union(Add), broadcast=Schema.union(Total))
registry = SocketRegistry.make(Counter)

@registry.for_(Counter).on_event
@gen
def on_event(ctx: RoomCtx[Count, Member, Add, Total], event: Add) -> EffectGen[None, RoomError | BroadcastError]:
    state = (yield from ctx.recall()) or Count(n=0)
    yield from ctx.save(Count(n=state.n + event.by))
    yield from ctx.broadcast(Total(n=state.n + event.by))

config = registry.build({"counter": registry.handler(Counter, on_event=on_event)})
