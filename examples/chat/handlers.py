"""2. Implement the handlers."""

from __future__ import annotations

from durable_effect.effect import EffectGen, current_time_millis, gen
from durable_effect.sockets import BroadcastError, Connection, RoomCtx, RoomError

from .registry import (
    ChatConnection,
    ChatState,
    Message,
    Say,
    Typing,
    TypingBroadcast,
    UserJoined,
    UserLeft,
    registry,
)

ChatBroadcast = Message | UserJoined | UserLeft | TypingBroadcast
Ctx = RoomCtx[ChatState, ChatConnection, Say | Typing, ChatBroadcast]
c = registry.for_("chat")


def tabs_of(ctx: Ctx, user_id: str) -> list[Connection[ChatConnection, ChatBroadcast]]:
    """The user's open sockets (a socket that is closing is no longer among them)."""
    return ctx.connections.filter(lambda other: other.state.user_id == user_id)


@c.on_connect
@gen
def on_connect(ctx: Ctx) -> EffectGen[None, RoomError | BroadcastError]:
    # Initialize room state on first connection
    if (yield from ctx.recall()) is None:
        now = yield from current_time_millis()
        yield from ctx.save(ChatState(created_at=now, message_count=0))
    conn = ctx.connection
    if conn is None:
        return
    # One user may have several tabs open: they join with the first
    if len(tabs_of(ctx, conn.state.user_id)) == 1:
        yield from ctx.broadcast(UserJoined(user_id=conn.state.user_id), except_=conn)


@c.on_event
@gen
def on_event(ctx: Ctx, event: Say | Typing) -> EffectGen[None, RoomError | BroadcastError]:
    match event:
        case Say(text=text):
            yield from ctx.update(lambda s: s.model_copy(update={"message_count": s.message_count + 1}))
            user_id = ctx.connection.state.user_id if ctx.connection else "system"
            now = yield from current_time_millis()
            yield from ctx.broadcast(Message(text=text, user_id=user_id, ts=now))
        case Typing():
            if ctx.connection is not None:
                yield from ctx.broadcast(
                    TypingBroadcast(user_id=ctx.connection.state.user_id), except_=ctx.connection
                )


@c.on_close
@gen
def on_close(ctx: Ctx) -> EffectGen[None, BroadcastError]:
    conn = ctx.connection
    # ... and leave with the last
    if conn is not None and not tabs_of(ctx, conn.state.user_id):
        yield from ctx.broadcast(UserLeft(user_id=conn.state.user_id), except_=conn)


chat_handler = registry.handler("chat", on_connect=on_connect, on_event=on_event, on_close=on_close)
config = registry.build({"chat": chat_handler})
