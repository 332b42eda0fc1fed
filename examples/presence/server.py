"""Serve the presence list: `durable-effect serve examples.presence.server:make_server`,
then open http://127.0.0.1:8787 in two windows.

`GET /ws/presence/{id}?userId=ID&name=NAME` upgrades; one connection per user id.
"""

from __future__ import annotations

from pathlib import Path

from durable_effect.sockets import ConnectionInit, UpgradeOpts
from durable_effect.sockets.server import Refuse, ServerStorage, SocketServer, UpgradeRequest, make_socket_server

from .room import Present, config

STATIC = Path(__file__).parent / "static"


def upgrade_options(request: UpgradeRequest) -> UpgradeOpts[Present] | Refuse:
    user_id = request.query.get("userId", "").strip()
    if not user_id or len(user_id) > 64:
        return Refuse(400, "userId is 1 to 64 characters")
    name = request.query.get("name", "").strip()[:40] or user_id
    return UpgradeOpts(ConnectionInit(Present(user_id=user_id, display_name=name), id=user_id))


def make_server(storage: ServerStorage) -> SocketServer:
    return make_socket_server(config, storage=storage, upgrade_options=upgrade_options, static_dir=STATIC)
