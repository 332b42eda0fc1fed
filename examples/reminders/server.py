"""Serve the reminders, rooms and tasks in one process and one SQLite file:
`durable-effect serve examples.reminders.server:make_server --db reminders.db`.

`GET /ws/reminders/{id}?name=NAME` joins a room; `POST /task/reminder/{id}/alarm`
fires a task's alarm by hand.
"""

from __future__ import annotations

from durable_effect.effect import Clock
from durable_effect.sockets import ConnectionInit, UpgradeOpts
from durable_effect.sockets.server import Refuse, ServerStorage, SocketServer, UpgradeRequest

from .app import Member, room_config, task_config


def upgrade_options(request: UpgradeRequest) -> UpgradeOpts[Member] | Refuse:
    name = request.query.get("name", "").strip()
    if not 1 <= len(name) <= 64:
        return Refuse(400, "name must be 1..64 characters")
    return UpgradeOpts(ConnectionInit(Member(name=name), id=name))


def make_server(storage: ServerStorage, clock: Clock | None = None) -> SocketServer:
    return SocketServer(room_config, storage=storage, upgrade_options=upgrade_options, tasks=task_config, clock=clock)
