"""The rooms of this Worker: the chat room of examples/chat (`chat/` here is
that package), on Durable Objects bound as `CHAT_DO` in wrangler.jsonc."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from workers import Request, Response

from chat.handlers import config
from chat.registry import ChatConnection
from durable_effect.effect import run_promise
from durable_effect.sockets import ConnectionInit, UpgradeError, UpgradeOpts
from durable_effect.sockets.cloudflare import make_socket_group_do

socket_group = make_socket_group_do(config, class_name="ChatDO", binding="CHAT_DO")

WS_ROUTE = re.compile(r"^/ws/chat/([^/]+)$")


async def upgrade_chat(request: Request, env: Any) -> object | None:
    """Route `GET /ws/chat/{id}?userId=…` (a WebSocket upgrade) to the chat room's
    Durable Object, whose 101 response carries the WebSocket. None for other requests."""
    url = urlsplit(request.url)
    route = WS_ROUTE.match(url.path)
    if route is None or str(request.headers.get("upgrade") or "").lower() != "websocket":
        return None
    user_id = parse_qs(url.query).get("userId", ["anon"])[0]
    opts = UpgradeOpts(
        ConnectionInit(
            ChatConnection(user_id=user_id, joined_at=time.time() * 1_000.0),
            id=user_id,
            tags=[f"user:{user_id}"],
        )
    )
    rooms = socket_group.client(env.CHAT_DO)
    try:
        return await run_promise(rooms.room("chat").upgrade(unquote(route.group(1)), request, opts))
    except UpgradeError as err:
        return Response(err.message, status=err.status)
