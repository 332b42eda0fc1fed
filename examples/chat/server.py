"""3. Serve the chat on this machine: `make demo`, then open http://127.0.0.1:8787.

`GET /ws/chat/{id}?userId=NAME` upgrades, as in the seed's fetch entry:
the connection's id is NAME, tagged `user:NAME`. The page (static/index.html)
talks to the room through the browser client every server ships at
`/_durable_effect/client.js`. Only the page's own origin may upgrade: a page
of another site that opens a socket here is refused with 403 (add its origin
to `allowed_origins` to let it in).
"""

from __future__ import annotations

import time
from pathlib import Path

from durable_effect.sockets import ConnectionInit, UpgradeOpts
from durable_effect.sockets.server import (
    Refuse,
    ServerStorage,
    SocketServer,
    UpgradeRequest,
    make_socket_server,
)

from .handlers import config
from .registry import ChatConnection

STATIC = Path(__file__).parent / "static"
ALLOWED_ORIGINS = ("http://127.0.0.1:8787", "http://localhost:8787")
"""The demo's own page, however it is reached (a same-origin page is always allowed)."""


def upgrade_options(request: UpgradeRequest) -> UpgradeOpts[ChatConnection] | Refuse:
    user_id = request.query.get("userId", "anon").strip() or "anon"
    if len(user_id) > 64:
        return Refuse(400, "userId is at most 64 characters")
    return UpgradeOpts(
        ConnectionInit(
            id=user_id,
            tags=[f"user:{user_id}"],
            initial_state=ChatConnection(user_id=user_id, joined_at=time.time() * 1000),
        )
    )


def make_server(storage: ServerStorage) -> SocketServer:
    return make_socket_server(
        config,
        storage=storage,
        upgrade_options=upgrade_options,
        static_dir=STATIC,
        allowed_origins=ALLOWED_ORIGINS,
    )
