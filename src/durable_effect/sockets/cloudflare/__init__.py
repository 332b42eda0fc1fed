"""The Cloudflare host: rooms as Durable Objects on Python Workers.

    from durable_effect.sockets.cloudflare import make_socket_group_do

    socket_group = make_socket_group_do(config, class_name="ChatDO", binding="CHAT_DO")
    ChatDO = socket_group.DO                       # exported under its own name, ChatDO
    rooms = socket_group.client(self.env.CHAT_DO)  # in the Worker's fetch

Each instance `(room, id)` is one Durable Object, named `f"{room}:{id}"`,
using the WebSocket Hibernation API. Nothing here imports the Pyodide-side
modules (`js`, `workers`, `pyodide`) at import time: `socket_group.DO` is
built on first use, inside a Worker.
"""

from durable_effect.platform import CloudflareEnv
from durable_effect.sockets.api import SocketClientService
from durable_effect.sockets.cloudflare.do import AlarmFailed, SocketGroup, make_socket_group_do
from durable_effect.sockets.cloudflare.types import DurableObjectNamespace

__all__ = [
    "AlarmFailed",
    "CloudflareEnv",
    "DurableObjectNamespace",
    "SocketClientService",
    "SocketGroup",
    "make_socket_group_do",
]
