"""Effect-native WebSocket rooms: declarations, registry, the engine, and the
in-memory runtime."""

from durable_effect.sockets.api import (
    ConnectionInit,
    RoomHandle,
    SocketClient,
    SocketClientService,
    UpgradeOpts,
)
from durable_effect.sockets.connection import Connection, ConnectionInfo, Connections
from durable_effect.sockets.ctx import RoomCtx
from durable_effect.sockets.engine import EngineOptions
from durable_effect.sockets.errors import (
    AttachmentTooLargeError,
    BroadcastError,
    PurgeSignal,
    RoomError,
    RoomExecutionError,
    RoomNotFoundError,
    RoomValidationError,
    SendError,
    SystemFailure,
    UpgradeError,
)
from durable_effect.sockets.memory import InMemorySocketRuntime, make_in_memory_socket_runtime
from durable_effect.sockets.registry import Handler, RoomHandlers, SocketConfig, SocketRegistry, with_services
from durable_effect.sockets.room import WebSocketRoom
from durable_effect.sockets.schema import Schema, TaggedStruct, UnionSchema

__all__ = [
    "AttachmentTooLargeError",
    "BroadcastError",
    "Connection",
    "ConnectionInfo",
    "ConnectionInit",
    "Connections",
    "EngineOptions",
    "Handler",
    "InMemorySocketRuntime",
    "PurgeSignal",
    "RoomCtx",
    "RoomError",
    "RoomExecutionError",
    "RoomHandle",
    "RoomHandlers",
    "RoomNotFoundError",
    "RoomValidationError",
    "Schema",
    "SendError",
    "SocketClient",
    "SocketClientService",
    "SocketConfig",
    "SocketRegistry",
    "SystemFailure",
    "TaggedStruct",
    "UnionSchema",
    "UpgradeError",
    "UpgradeOpts",
    "WebSocketRoom",
    "make_in_memory_socket_runtime",
    "with_services",
]
