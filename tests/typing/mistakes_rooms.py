"""Bullet 3: the registry knows its rooms, by declaration and by name, WITH the plugin."""

from __future__ import annotations

from typing import Literal

from wiring_rooms import (
    Chat,
    ChatConn,
    ChatState,
    FeedState,
    Message,
    Other,
    Post,
    Posted,
    Reader,
    Say,
    Typing,
    on_post,
    registry,
)

from durable_effect.effect import EffectGen, gen
from durable_effect.sockets import ConnectionInit, RoomCtx, UpgradeOpts, WebSocketRoom, make_in_memory_socket_runtime

registry.for_(Other)  # E[unknown-room]: Room "other" is not registered (the rooms: "chat", "feed")
registry.for_("other")  # E[unknown-room]: No room named "other" is registered (the rooms: "chat", "feed")
registry.handler(Other, on_event=on_post)  # E[unknown-room]: Room "other" is not registered (the rooms: "chat", "feed")
registry.handler("chats")  # E[unknown-room]: No room named "chats" is registered (the rooms: "chat", "feed")
chat = registry.handler(Chat)
feed = registry.handler("feed")
registry.build({"chat": chat})  # E[unknown-room]: No handlers are given for the room(s) "feed"
registry.build({"chat": chat, "feed": feed, "other": feed})  # E[unknown-room]: No room named "other" is registered (the rooms: "chat", "feed")
registry.build({"chat": feed, "feed": chat})  # E[unknown-room]: The handlers of room "feed" are given under the name "chat"  # E[unknown-room]: The handlers of room "chat" are given under the name "feed"
rt = make_in_memory_socket_runtime(registry.build({"chat": chat, "feed": feed}))
rt.room(Other)  # E[unknown-room]: Room "other" is not registered (the rooms: "chat", "feed")
rt.room("other").send("r1", Post(body="x"))  # E[unknown-room]: No room named "other" is registered (the rooms: "chat", "feed")
rt.client.room("other")  # E[unknown-room]: No room named "other" is registered (the rooms: "chat", "feed")
rt.testing_connect(Other, "r1", UpgradeOpts(ConnectionInit(Reader(name="a"))))  # E[unknown-room]: Room "other" is not registered (the rooms: "chat", "feed")
c = registry.for_(Chat)
c.on_event(lambda ctx, event: ctx.room(Other).send("r1", Post(body="x")))  # E[unknown-room]: Room "other" is not registered (the rooms: "chat", "feed")
c.on_event(lambda ctx, event: ctx.room("feeds").send("r1", Post(body="x")))  # E[unknown-room]: No room named "feeds" is registered (the rooms: "chat", "feed")
c.on_event(lambda ctx, event: ctx.room("feed").send("r1", Say(text="x")))  # E[arg-type]: Argument 2 to "send" of "RoomHandle" has incompatible type "Say"; expected "Post"


ChatRooms = WebSocketRoom[ChatState, ChatConn, Say | Typing, Message, Literal["chat"]]
FeedRooms = WebSocketRoom[FeedState, Reader, Post, Posted, Literal["feed"]]


@c.on_event
@gen
def relays(ctx: RoomCtx[ChatState, ChatConn, Say | Typing, Message, ChatRooms | FeedRooms], event: Say | Typing) -> EffectGen[None, object]:
    yield from ctx.room("other").send("r1", Post(body="x"))  # E[unknown-room]: No room named "other" is registered (the rooms: "chat", "feed")
