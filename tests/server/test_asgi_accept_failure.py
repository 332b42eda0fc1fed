"""A client that leaves while `on_connect` runs, under any ASGI server: the
accept cannot be sent, and the room must not keep a connection nobody reads."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import pytest

from durable_effect.effect import run_promise
from durable_effect.sockets.server import MemoryStorage
from examples.chat.registry import Chat

from .trusting_chat import make_server

pytestmark = pytest.mark.anyio


class ClientGone(OSError):
    """What an ASGI server raises for a send on a connection already closed."""


async def test_a_client_gone_before_the_accept_leaves_no_connection() -> None:
    server = make_server(MemoryStorage())
    scope: dict[str, Any] = {
        "type": "websocket",
        "path": "/ws/chat/r1",
        "raw_path": b"/ws/chat/r1",
        "query_string": b"userId=alice",
        "headers": [(b"host", b"localhost")],
        "client": ("127.0.0.1", 50000),
        "subprotocols": [],
    }
    inbound: list[MutableMapping[str, Any]] = [
        {"type": "websocket.connect"},
        {"type": "websocket.disconnect", "code": 1006},
    ]
    sent: list[str] = []

    async def receive() -> MutableMapping[str, Any]:
        return inbound.pop(0) if inbound else {"type": "websocket.disconnect", "code": 1006}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message["type"])
        if message["type"] == "websocket.accept":
            raise ClientGone("the client closed the connection")

    await server(scope, receive, send)  # the app does not fail: the client's leaving is normal
    assert sent[:1] == ["websocket.accept"]
    conns = await run_promise(server.room(Chat).get_connections("r1"))
    assert conns == []
