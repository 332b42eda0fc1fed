"""The self-hosted server host: rooms over real WebSockets on one machine,
with SQLite storage, persisted alarms and hibernation by eviction.

    from durable_effect.sockets.server import make_socket_server, SQLiteStorage
    app = make_socket_server(config, storage=SQLiteStorage("rooms.db"))
    app.run(port=8787)    # the native transport; or mount `app` as an ASGI app
    # durable-effect serve module:config --db rooms.db
"""

from durable_effect.sockets.server.app import HttpRoute, SocketServer, Transport, UpgradeRequest, make_socket_server
from durable_effect.sockets.server.auth import API_TOKEN_ENV, Allow, ApiRequest, AuthorizeHook, Refuse, is_loopback
from durable_effect.sockets.server.native import NativeServer, run_native, serve_native
from durable_effect.sockets.server.storage import MemoryStorage, ServerStorage, SQLiteStorage, StorageError

__all__ = [
    "API_TOKEN_ENV",
    "Allow",
    "ApiRequest",
    "AuthorizeHook",
    "HttpRoute",
    "MemoryStorage",
    "NativeServer",
    "Refuse",
    "SQLiteStorage",
    "ServerStorage",
    "SocketServer",
    "StorageError",
    "Transport",
    "UpgradeRequest",
    "is_loopback",
    "make_socket_server",
    "run_native",
    "serve_native",
]
