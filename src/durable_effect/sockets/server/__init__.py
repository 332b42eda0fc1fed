"""The self-hosted server host: rooms over real WebSockets on one machine,
with SQLite storage, persisted alarms and hibernation by eviction.

    from durable_effect.sockets.server import make_socket_server, SQLiteStorage
    app = make_socket_server(config, storage=SQLiteStorage("rooms.db"))
    # uvicorn module:app   or   durable-effect serve module:config --db rooms.db
"""

from durable_effect.sockets.server.app import Refuse, SocketServer, UpgradeRequest, make_socket_server
from durable_effect.sockets.server.storage import MemoryStorage, ServerStorage, SQLiteStorage

__all__ = [
    "MemoryStorage",
    "Refuse",
    "SQLiteStorage",
    "ServerStorage",
    "SocketServer",
    "UpgradeRequest",
    "make_socket_server",
]
