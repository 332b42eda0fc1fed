"""Targets `durable-effect serve` must refuse with one clear line."""

from __future__ import annotations

from durable_effect.sockets.server import ServerStorage, SocketServer
from tests.server.server_rooms import make_server


def two_args(storage: ServerStorage, extra: int) -> SocketServer:
    return make_server(storage)


NOT_A_SERVER = 3
