"""Bullet 4: a wrong connection model is an error in every form the docs show, WITH the plugin."""

from __future__ import annotations

from wiring_rooms import Chat, ChatConn, ChatCtx, FeedState, Reader, registry

from durable_effect.sockets import ConnectionInit, UpgradeOpts, make_in_memory_socket_runtime

rt = make_in_memory_socket_runtime(registry.build({"chat": registry.handler(Chat), "feed": registry.handler("feed")}))
rt.testing_connect(Chat, "r1", UpgradeOpts(ConnectionInit(Reader(name="x"))))  # E[arg-type]: Argument 1 to "ConnectionInit" has incompatible type "Reader"; expected "ChatConn"
rt.testing_connect(Chat, "r1", UpgradeOpts(connection=ConnectionInit(initial_state=Reader(name="x"))))  # E[arg-type]: Argument "initial_state" to "ConnectionInit" has incompatible type "Reader"; expected "ChatConn"
rt.testing_connect("feed", "r1", UpgradeOpts(ConnectionInit(ChatConn(user_id="x"))))  # E[arg-type]: Argument 1 to "ConnectionInit" has incompatible type "ChatConn"; expected "Reader"
opts = UpgradeOpts(ConnectionInit(Reader(name="x")))
rt.testing_connect(Chat, "r1", opts)  # E[arg-type]: Argument 3 to "testing_connect" of "InMemorySocketRuntime" has incompatible type "UpgradeOpts[Reader]"; expected "UpgradeOpts[ChatConn]"
rt.room("chat").upgrade("r1", None, opts)  # E[arg-type]: Argument 3 to "upgrade" of "RoomHandle" has incompatible type "UpgradeOpts[Reader]"; expected "UpgradeOpts[ChatConn]"


def saves_another_rooms_state(ctx: ChatCtx) -> None:
    ctx.save(FeedState(posts=[]))  # E[arg-type]: Argument 1 to "save" of "RoomCtx" has incompatible type "FeedState"; expected "ChatState"
