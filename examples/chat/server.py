"""3. Serve the chat on this machine: `make demo`, then open http://127.0.0.1:8787.

Who is who is decided by the server, not claimed by the client: the page
posts a name to `POST /login` and gets a signed, expiring token
(identity.py); `GET /ws/chat/{id}?token=...` upgrades only with a valid one,
and the connection's id is the name the token carries, tagged `user:NAME`
(401 without a token or with an expired one, 403 with a forged one). This
demo gives a token for any free-form name; a real application checks a
password or a session there. One user may have several tabs open: each is a
socket with the same id, and the room counts the user once (handlers.py).

The page (static/index.html) talks to the room through the browser client
every server ships at `/_durable_effect/client.js`. Only the page's own
origin may upgrade: a page of another site that opens a socket here is
refused with 403 (add its origin to `allowed_origins` to let it in).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from durable_effect.sockets import ConnectionInit, UpgradeOpts
from durable_effect.sockets.server import (
    HttpRoute,
    Refuse,
    ServerStorage,
    SocketServer,
    UpgradeRequest,
    make_socket_server,
)
from durable_effect.sockets.server.app import Receive, Scope, Send

from . import identity
from .handlers import config
from .registry import ChatConnection

STATIC = Path(__file__).parent / "static"
ALLOWED_ORIGINS = ("http://127.0.0.1:8787", "http://localhost:8787")
"""The demo's own page, however it is reached (a same-origin page is always allowed)."""


def authenticated(secret: bytes = identity.SECRET) -> Callable[[UpgradeRequest], UpgradeOpts[ChatConnection] | Refuse]:
    """The upgrade hook: the connection is the user the token names."""

    def upgrade_options(request: UpgradeRequest) -> UpgradeOpts[ChatConnection] | Refuse:
        user_id = identity.verify(request.query.get("token"), secret=secret)
        if isinstance(user_id, identity.Invalid):
            return Refuse(user_id.status, user_id.reason)
        return UpgradeOpts(
            ConnectionInit(
                id=user_id,
                tags=[f"user:{user_id}"],
                initial_state=ChatConnection(user_id=user_id, joined_at=time.time() * 1000),
            )
        )

    return upgrade_options


def login(secret: bytes = identity.SECRET) -> HttpRoute:
    """`POST /login` with `{"name": "ann"}`: `{"userId": "ann", "token": "..."}`."""

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        more = True
        while more and len(body) <= 4096:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if scope["method"] != "POST":
            status, answer = 405, {"error": "use POST"}
        else:
            try:
                sent = json.loads(body)
            except ValueError:
                sent = None
            name = identity.check_name(sent.get("name") if isinstance(sent, dict) else None)
            if isinstance(name, identity.Invalid):
                status, answer = name.status, {"error": name.reason}
            else:
                status, answer = 200, {"userId": name, "token": identity.sign(name, secret=secret)}
        data = json.dumps(answer).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(data)).encode()),
            (b"cache-control", b"no-store"),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    return route


def make_server(storage: ServerStorage, *, secret: bytes = identity.SECRET) -> SocketServer:
    return make_socket_server(
        config,
        storage=storage,
        upgrade_options=authenticated(secret),
        routes={"/login": login(secret)},
        static_dir=STATIC,
        allowed_origins=ALLOWED_ORIGINS,
    )
