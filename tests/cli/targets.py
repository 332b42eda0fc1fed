"""Targets `durable-effect serve` must refuse with one clear line."""

from __future__ import annotations

from durable_effect.sockets.server import ServerStorage, SocketServer
from tests.server.server_rooms import make_server


def two_args(storage: ServerStorage, extra: int) -> SocketServer:
    return make_server(storage)


NOT_A_SERVER = 3


def wrapped(storage: ServerStorage) -> object:
    """A server inside ASGI middleware: not something `serve` can run."""
    server = make_server(storage)

    async def middleware(scope: object, receive: object, send: object) -> None:
        await server(scope, receive, send)  # type: ignore[arg-type]  # any ASGI callables

    return middleware
