"""Shared declarations of the wiring checks (checked WITH the plugin).

Two rooms (Chat, Feed) and a third that no registry here holds (Other),
two services the handlers need (Quota, Analytics).
"""

from __future__ import annotations

from pydantic import BaseModel

from durable_effect.effect import Effect, EffectGen, Service, gen, succeed, sync
from durable_effect.sockets import (
    BroadcastError,
    RoomCtx,
    RoomError,
    Schema,
    SocketRegistry,
    TaggedStruct,
    WebSocketRoom,
)


class ChatState(BaseModel):
    messages: int


class ChatConn(BaseModel):
    user_id: str


class Say(TaggedStruct, tag="Say"):
    text: str


class Typing(TaggedStruct, tag="Typing"):
    pass


class Message(TaggedStruct, tag="Message"):
    text: str


class FeedState(BaseModel):
    posts: list[str]


class Reader(BaseModel):
    name: str


class Post(TaggedStruct, tag="Post"):
    body: str


class Posted(TaggedStruct, tag="Posted"):
    body: str


Chat = WebSocketRoom.make(
    "chat", state=ChatState, connection=ChatConn, event=Schema.union(Say, Typing), broadcast=Schema.union(Message)
)
Feed = WebSocketRoom.make("feed", state=FeedState, connection=Reader, event=Schema.union(Post), broadcast=Schema.union(Posted))
Other = WebSocketRoom.make("other", state=FeedState, connection=Reader, event=Schema.union(Post), broadcast=Schema.union(Posted))

registry = SocketRegistry.make(Chat, Feed)


class Quota(Service):
    def take(self, user: str) -> Effect[None]:
        raise NotImplementedError


class Analytics(Service):
    def track(self, event: str) -> Effect[None]:
        raise NotImplementedError


class LiveQuota(Quota):
    def take(self, user: str) -> Effect[None]:
        return succeed(None)


class LiveAnalytics(Analytics):
    def __init__(self) -> None:
        self.events: list[str] = []

    def track(self, event: str) -> Effect[None]:
        return sync(lambda: self.events.append(event))


ChatCtx = RoomCtx[ChatState, ChatConn, Say | Typing, Message]
FeedCtx = RoomCtx[FeedState, Reader, Post, Posted]


@gen
def on_say(ctx: ChatCtx, event: Say | Typing) -> EffectGen[None, BroadcastError, Quota]:
    quota = yield from Quota
    if isinstance(event, Say) and ctx.connection is not None:
        yield from quota.take(ctx.connection.state.user_id)
        yield from ctx.broadcast(Message(text=event.text))


@gen
def on_join(ctx: ChatCtx) -> EffectGen[None, RoomError, Analytics]:
    analytics = yield from Analytics
    yield from analytics.track("joined")


@gen
def on_post(ctx: FeedCtx, event: Post) -> EffectGen[None, BroadcastError]:
    yield from ctx.broadcast(Posted(body=event.body))
