"""The rooms of this Worker: the chat room of examples/chat (`chat/` here is
that package), on Durable Objects bound as `CHAT_DO` in wrangler.jsonc.

Who connects: with a `CHAT_SECRET` secret (`npx wrangler secret put
CHAT_SECRET`), the user comes from a signed token (`?token=`, from `POST
/login`, or from any backend that shares the secret: `chat/identity.py`), as
on the self-hosted server. Without one, from `?userId=` as the client claims
it, as the seed's example does: fine for `pywrangler dev`, not for users.
"""

from __future__ import annotations

import hmac
import re
import time
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from workers import Request, Response

from chat import identity
from chat.handlers import config
from chat.registry import ChatConnection
from durable_effect.effect import run_promise
from durable_effect.sockets import ConnectionInit, UpgradeError, UpgradeOpts
from durable_effect.sockets.cloudflare import make_socket_group_do

socket_group = make_socket_group_do(config, class_name="ChatDO", binding="CHAT_DO")

WS_ROUTE = re.compile(r"^/ws/chat/([^/]+)$")


API_TOKEN_REQUIRED = "Authorization: Bearer <API_TOKEN> is required"


def api_allowed(env: Any, authorization: str | None) -> bool:
    """With an `API_TOKEN` secret, whether the request's `Authorization` header carries it
    as a bearer token (compared in constant time); without one, every request is."""
    token = getattr(env, "API_TOKEN", None)
    if not token:
        return True
    return hmac.compare_digest((authorization or "").encode(), f"Bearer {token}".encode())


def secret(env: Any) -> bytes | None:
    """The Worker's `CHAT_SECRET`, if it has one."""
    value = getattr(env, "CHAT_SECRET", None)
    return str(value).encode() if value else None


async def upgrade_chat(request: Request, env: Any) -> object | None:
    """Route `GET /ws/chat/{id}?token=…` (or `?userId=…` without a secret; a WebSocket
    upgrade) to the chat room's Durable Object, whose 101 response carries the
    WebSocket. None for other requests."""
    url = urlsplit(request.url)
    route = WS_ROUTE.match(url.path)
    if route is None or str(request.headers.get("upgrade") or "").lower() != "websocket":
        return None
    query = parse_qs(url.query)
    key = secret(env)
    if key is None:
        user_id = query.get("userId", ["anon"])[0]
    else:
        verified = identity.verify(query.get("token", [""])[0], secret=key)
        if isinstance(verified, identity.Invalid):
            return Response(verified.reason, status=verified.status)
        user_id = verified
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
