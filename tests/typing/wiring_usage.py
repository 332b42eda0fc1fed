"""Wiring rooms, services and errors, checked WITH the `durable_effect.mypy` plugin.

Must type-check; each `# N:` is the type mypy reveals, word for word.
"""

from __future__ import annotations

from typing import Literal, reveal_type

from wiring_rooms import (
    Analytics,
    Chat,
    ChatConn,
    ChatCtx,
    ChatState,
    Feed,
    FeedCtx,
    FeedState,
    LiveAnalytics,
    LiveQuota,
    Message,
    Post,
    Posted,
    Quota,
    Reader,
    Say,
    Typing,
    on_join,
    on_post,
    on_say,
    registry,
)

from durable_effect.effect import EffectGen, Layer, catch_tag, gen, log_error, run_promise, succeed
from durable_effect.sockets import (
    BroadcastError,
    ConnectionInit,
    Handler,
    RoomCtx,
    RoomError,
    UpgradeOpts,
    WebSocketRoom,
    make_in_memory_socket_runtime,
    with_services,
)
from durable_effect.sockets.cloudflare import DurableObjectNamespace, make_socket_group_do
from durable_effect.sockets.server import make_socket_server

reveal_type(Chat)  # N: Revealed type is "durable_effect.sockets.room.WebSocketRoom[wiring_rooms.ChatState, wiring_rooms.ChatConn, wiring_rooms.Say | wiring_rooms.Typing, wiring_rooms.Message, Literal['chat']]"
reveal_type(registry)  # N: Revealed type is "durable_effect.sockets.registry.SocketRegistry[durable_effect.sockets.room.WebSocketRoom[wiring_rooms.ChatState, wiring_rooms.ChatConn, wiring_rooms.Say | wiring_rooms.Typing, wiring_rooms.Message, Literal['chat']] | durable_effect.sockets.room.WebSocketRoom[wiring_rooms.FeedState, wiring_rooms.Reader, wiring_rooms.Post, wiring_rooms.Posted, Literal['feed']]]"

# -- R: what the handlers need survives handler, Handler, with_services and build --

chat = registry.handler("chat", on_event=on_say, on_connect=on_join)
reveal_type(chat)  # N: Revealed type is "durable_effect.sockets.registry.RoomHandlers[wiring_rooms.ChatState, wiring_rooms.ChatConn, wiring_rooms.Say | wiring_rooms.Typing, wiring_rooms.Message, wiring_rooms.Analytics | wiring_rooms.Quota, Literal['chat']]"
with_quota = with_services(chat, Layer.succeed(Quota, LiveQuota()))
reveal_type(with_quota)  # N: Revealed type is "durable_effect.sockets.registry.RoomHandlers[wiring_rooms.ChatState, wiring_rooms.ChatConn, wiring_rooms.Say | wiring_rooms.Typing, wiring_rooms.Message, wiring_rooms.Analytics, Literal['chat']]"
feed = registry.handler(Feed, on_event=on_post)
config = registry.build({"chat": with_quota, "feed": feed})
reveal_type(config)  # N: Revealed type is "durable_effect.sockets.registry.SocketConfig[durable_effect.sockets.room.WebSocketRoom[wiring_rooms.ChatState, wiring_rooms.ChatConn, wiring_rooms.Say | wiring_rooms.Typing, wiring_rooms.Message, Literal['chat']] | durable_effect.sockets.room.WebSocketRoom[wiring_rooms.FeedState, wiring_rooms.Reader, wiring_rooms.Post, wiring_rooms.Posted, Literal['feed']], wiring_rooms.Analytics]"
rt = make_in_memory_socket_runtime(config, services=Layer.succeed(Analytics, LiveAnalytics()))
everything = with_services(chat, Layer.merge(Layer.succeed(Quota, LiveQuota()), Layer.succeed(Analytics, LiveAnalytics())))
reveal_type(registry.build({"chat": everything, "feed": feed}))  # N: Revealed type is "durable_effect.sockets.registry.SocketConfig[durable_effect.sockets.room.WebSocketRoom[wiring_rooms.ChatState, wiring_rooms.ChatConn, wiring_rooms.Say | wiring_rooms.Typing, wiring_rooms.Message, Literal['chat']] | durable_effect.sockets.room.WebSocketRoom[wiring_rooms.FeedState, wiring_rooms.Reader, wiring_rooms.Post, wiring_rooms.Posted, Literal['feed']], Never]"
no_services_needed = make_in_memory_socket_runtime(registry.build({"chat": everything, "feed": feed}))

# -- E: on_error receives the handler's error ------------------------------------

guarded = Handler(on_say, on_error=lambda ctx, err: log_error(reveal_type(err)))  # N: Revealed type is "durable_effect.sockets.errors.BroadcastError"
reveal_type(registry.handler(Chat, on_event=guarded))  # N: Revealed type is "durable_effect.sockets.registry.RoomHandlers[wiring_rooms.ChatState, wiring_rooms.ChatConn, wiring_rooms.Say | wiring_rooms.Typing, wiring_rooms.Message, wiring_rooms.Quota, Literal['chat']]"

# -- catch_tag: what can occur, exactly removed --------------------------------------


def recover(ctx: FeedCtx) -> None:
    sent = ctx.broadcast(Posted(body="x"))
    reveal_type(sent.catch_tag(BroadcastError, lambda e: succeed(e.delivered)))  # N: Revealed type is "durable_effect.effect._core.Effect[None | int, Never, Never]"
    reveal_type(catch_tag(ctx.recall(), RoomError, lambda e: succeed(None)))  # N: Revealed type is "durable_effect.effect._core.Effect[wiring_rooms.FeedState | None, Never, Never]"


# -- rooms by name: typed as precisely as the declaration -----------------------------

reveal_type(registry.for_("feed"))  # N: Revealed type is "durable_effect.sockets.registry.RoomBuilder[wiring_rooms.FeedState, wiring_rooms.Reader, wiring_rooms.Post, wiring_rooms.Posted, durable_effect.sockets.room.WebSocketRoom[wiring_rooms.ChatState, wiring_rooms.ChatConn, wiring_rooms.Say | wiring_rooms.Typing, wiring_rooms.Message, Literal['chat']] | durable_effect.sockets.room.WebSocketRoom[wiring_rooms.FeedState, wiring_rooms.Reader, wiring_rooms.Post, wiring_rooms.Posted, Literal['feed']]]"
reveal_type(rt.room("feed"))  # N: Revealed type is "durable_effect.sockets.api.RoomHandle[wiring_rooms.FeedState, wiring_rooms.Reader, wiring_rooms.Post, wiring_rooms.Posted]"
reveal_type(rt.client.room("chat"))  # N: Revealed type is "durable_effect.sockets.api.RoomHandle[wiring_rooms.ChatState, wiring_rooms.ChatConn, wiring_rooms.Say | wiring_rooms.Typing, wiring_rooms.Message]"
c = registry.for_("chat")
relay = c.on_event(lambda ctx, event: reveal_type(ctx.room("feed")).send("front", Post(body="relayed")))  # N: Revealed type is "durable_effect.sockets.api.RoomHandle[wiring_rooms.FeedState, wiring_rooms.Reader, wiring_rooms.Post, wiring_rooms.Posted]"


async def connect() -> None:
    alice = await run_promise(rt.testing_connect(Chat, "r1", UpgradeOpts(ConnectionInit(ChatConn(user_id="alice")))))
    reveal_type(alice)  # N: Revealed type is "durable_effect.sockets.memory.TestConnection[wiring_rooms.ChatConn, wiring_rooms.Say | wiring_rooms.Typing, wiring_rooms.Message]"
    reader = await run_promise(rt.testing_connect("feed", "front", UpgradeOpts(ConnectionInit(Reader(name="bo")))))
    reveal_type(reader)  # N: Revealed type is "durable_effect.sockets.memory.TestConnection[wiring_rooms.Reader, wiring_rooms.Post, wiring_rooms.Posted]"
    reveal_type(alice.received)  # N: Revealed type is "list[wiring_rooms.Message]"
    state = await run_promise(rt.room(Chat).get_state("r1"))
    reveal_type(state)  # N: Revealed type is "wiring_rooms.ChatState | None"
    await run_promise(alice.receive(Say(text="hi")))



# -- inside a handler: no Any ----------------------------------------------------------


@c.on_event
@gen
def inside(ctx: ChatCtx, event: Say | Typing) -> EffectGen[None, RoomError | BroadcastError]:
    reveal_type(ctx.recall())  # N: Revealed type is "durable_effect.effect._core.Effect[wiring_rooms.ChatState | None, durable_effect.sockets.errors.RoomError, Never]"
    match event:
        case Say(text=text):
            reveal_type(event)  # N: Revealed type is "wiring_rooms.Say"
        case Typing():
            reveal_type(event)  # N: Revealed type is "wiring_rooms.Typing"
    if ctx.connection is not None:
        reveal_type(ctx.connection.state)  # N: Revealed type is "wiring_rooms.ChatConn"
    yield from ctx.broadcast(Message(text="x"))


async def client_results() -> None:
    infos = await run_promise(rt.room("chat").get_connections("r1"))
    reveal_type(infos)  # N: Revealed type is "list[durable_effect.sockets.connection.ConnectionInfo[wiring_rooms.ChatConn]]"
    sent = await run_promise(rt.room("feed").send("front", Post(body="b")).either())
    reveal_type(sent)  # N: Revealed type is "returns.result.Result[None, durable_effect.sockets.errors.RoomError | durable_effect.sockets.errors.RoomValidationError | durable_effect.sockets.errors.RoomExecutionError | durable_effect.sockets.errors.RoomNotFoundError]"


def other_hosts(ns: DurableObjectNamespace) -> None:
    server = make_socket_server(config, services=Layer.succeed(Analytics, LiveAnalytics()))
    reveal_type(server.room("chat"))  # N: Revealed type is "durable_effect.sockets.api.RoomHandle[wiring_rooms.ChatState, wiring_rooms.ChatConn, wiring_rooms.Say | wiring_rooms.Typing, wiring_rooms.Message]"
    group = make_socket_group_do(config, class_name="ChatDO", services=Layer.succeed(Analytics, LiveAnalytics()))
    reveal_type(group.client(ns).room("feed"))  # N: Revealed type is "durable_effect.sockets.api.RoomHandle[wiring_rooms.FeedState, wiring_rooms.Reader, wiring_rooms.Post, wiring_rooms.Posted]"


# -- a context that carries the registry's rooms: ctx.room is checked in a @gen handler too --

ChatRooms = WebSocketRoom[ChatState, ChatConn, Say | Typing, Message, Literal["chat"]]
FeedRooms = WebSocketRoom[FeedState, Reader, Post, Posted, Literal["feed"]]
RegisteredCtx = RoomCtx[ChatState, ChatConn, Say | Typing, Message, ChatRooms | FeedRooms]


@c.on_event
@gen
def relays(ctx: RegisteredCtx, event: Say | Typing) -> EffectGen[None, object]:
    feed_handle = ctx.room("feed")
    reveal_type(feed_handle)  # N: Revealed type is "durable_effect.sockets.api.RoomHandle[wiring_rooms.FeedState, wiring_rooms.Reader, wiring_rooms.Post, wiring_rooms.Posted]"
    yield from feed_handle.send("front", Post(body="relayed"))
