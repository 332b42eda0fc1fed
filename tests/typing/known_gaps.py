"""Natural user code that plain mypy (no `durable_effect.mypy` plugin) gets wrong.

Checked by `test_types.py` like `planted_mistakes.py`: a line ending in
`# E: <code>` must get exactly those errors, every other line none. These pin
today's behaviour. When a fix makes a line here correct, the test fails on it:
move the line to `good_usage.py` (code that should pass) or to
`planted_mistakes.py` (a mistake that should be caught).
"""

from __future__ import annotations

from abc import abstractmethod

from pydantic import BaseModel

from durable_effect.effect import (
    Effect,
    EffectGen,
    Layer,
    Service,
    TaggedError,
    catch_all,
    catch_tag,
    fail,
    gen,
    provide,
    run_sync,
    service,
    succeed,
)
from durable_effect.sockets import (
    BroadcastError,
    RoomCtx,
    Schema,
    SendError,
    SocketRegistry,
    TaggedStruct,
    WebSocketRoom,
)


class NotFound(TaggedError):
    room: str


class Forbidden(TaggedError):
    user: str


class Rooms(Service):
    @abstractmethod
    def members(self, room: str) -> Effect[list[str], NotFound]: ...


class Analytics(Service):
    def track(self, event: str) -> Effect[None]:
        return succeed(None)


class LiveRooms(Rooms):
    def members(self, room: str) -> Effect[list[str], NotFound]:
        return succeed(["alice"]) if room == "lobby" else fail(NotFound(room))


@gen
def enter(user: str) -> EffectGen[int, NotFound | Forbidden, Rooms | Analytics]:
    rooms = yield from Rooms
    analytics = yield from Analytics
    members = yield from rooms.members("lobby")
    if user not in members:
        return (yield from Forbidden(user))
    yield from analytics.track(user)
    return len(members)


def on_forbidden(err: Forbidden) -> Effect[int]:
    return succeed(0)


def on_any(err: NotFound | Forbidden) -> Effect[int]:
    return succeed(-1)


rooms_layer = Layer.succeed(Rooms, LiveRooms())
rooms_access = service(Rooms)
analytics_layer = Layer.succeed(Analytics, Analytics())
app_layer = Layer.merge(rooms_layer, analytics_layer)

provided: Effect[int, NotFound | Forbidden] = enter("ann").pipe(provide(app_layer))

# A pipeable combinator written inline is inferred from the pipe's context:
# the handled class is widened to the errors' common base class.
forbidden_caught: Effect[int, NotFound] = provided.pipe(catch_tag(Forbidden, on_forbidden))  # E: arg-type
# A fully provided effect gets `R = Never`, which mypy refuses to infer.
fully_provided = enter("bob").pipe(provide(app_layer))  # E: var-annotated
# Two `provide` steps in one pipe.
by_steps: Effect[int, NotFound | Forbidden] = enter("cy").pipe(provide(rooms_layer), provide(analytics_layer))  # E: arg-type

# Should be an error and is not: `Analytics` is never provided, but the inline
# `provide(rooms_layer)` is typed as providing their common base `Service`.
missing_analytics = run_sync(enter("eve").pipe(provide(rooms_layer), catch_all(on_any)))


# -- rooms without the plugin ----------------------------------------------------------
# A room's name is typed `str`, so a string form cannot find its room: the
# builder of `for_("chat")` has the base models and refuses the chat's handler.


class ChatState(BaseModel):
    n: int


class Say(TaggedStruct, tag="Say"):
    text: str


Chat = WebSocketRoom.make("chat", state=ChatState, connection=ChatState, event=Schema.union(Say), broadcast=Schema.union(Say))
chat_registry = SocketRegistry.make(Chat)


def on_say(ctx: RoomCtx[ChatState, ChatState, Say, Say], event: Say) -> Effect[None, BroadcastError]:
    return ctx.broadcast(event).catch_tag(SendError, lambda e: succeed(None))  # should be an error: SendError never occurs


chat_registry.for_("chat").on_event(on_say)  # E: arg-type
chat_registry.for_(Chat).on_event(on_say)
