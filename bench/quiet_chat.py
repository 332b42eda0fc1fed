"""The chat room of examples/chat without its join and leave broadcasts: the
room the 10,000-socket phase of bench/server.py serves.

The chat example tells every member when a user joins or leaves, so connecting
N sockets sends about N²/2 frames (50 million for 10,000); the peers' servers
in the benchmark send none. This room keeps everything else: the same room
declaration, the same `Say` → `Message` handler (`examples.chat.handlers.on_event`),
an `on_connect` that creates the room's state on the first connection, and the
same signed-token upgrade hook (`examples.chat.server.authenticated`).
"""

from __future__ import annotations

from durable_effect.effect import EffectGen, current_time_millis, gen
from durable_effect.sockets import RoomError
from durable_effect.sockets.server import ServerStorage, SocketServer, make_socket_server
from examples.chat import identity
from examples.chat.handlers import Ctx, on_event
from examples.chat.registry import ChatState, registry
from examples.chat.server import authenticated


@gen
def on_connect(ctx: Ctx) -> EffectGen[None, RoomError]:
    if (yield from ctx.recall()) is None:
        now = yield from current_time_millis()
        yield from ctx.save(ChatState(created_at=now, message_count=0))


config = registry.build({"chat": registry.handler("chat", on_connect=on_connect, on_event=on_event)})


def make_server(storage: ServerStorage, *, secret: bytes = identity.SECRET) -> SocketServer:
    return make_socket_server(config, storage=storage, upgrade_options=authenticated(secret))
