"""The chat example's rooms behind a hook that takes `?userId=` on trust.

For tests of the transports and clients, which connect many users by name;
the example itself authenticates (examples/chat/server.py, tested in
test_chat_identity.py)."""

from __future__ import annotations

import time

from durable_effect.sockets import ConnectionInit, UpgradeOpts
from durable_effect.sockets.server import Refuse, ServerStorage, SocketServer, UpgradeRequest, make_socket_server
from examples.chat.handlers import config
from examples.chat.registry import ChatConnection
from examples.chat.server import ALLOWED_ORIGINS, STATIC


def upgrade_options(request: UpgradeRequest) -> UpgradeOpts[ChatConnection] | Refuse:
    user_id = request.query.get("userId", "anon").strip() or "anon"
    if len(user_id) > 64:
        return Refuse(400, "userId is at most 64 characters")
    init = ConnectionInit(
        id=user_id,
        tags=[f"user:{user_id}"],
        initial_state=ChatConnection(user_id=user_id, joined_at=time.time() * 1000),
    )
    return UpgradeOpts(init)


def make_server(storage: ServerStorage) -> SocketServer:
    return make_socket_server(
        config, storage=storage, upgrade_options=upgrade_options, static_dir=STATIC, allowed_origins=ALLOWED_ORIGINS
    )
