"""Bullet 1: services (R) carried from the handlers to the host, WITH the plugin.

Each mark `E[code]: message` (a comment) is the error mypy must print on its line.
"""

from __future__ import annotations

from wiring_rooms import Analytics, Feed, LiveAnalytics, LiveQuota, Quota, on_join, on_post, on_say, registry

from durable_effect.effect import Layer, log_error
from durable_effect.sockets import Handler, make_in_memory_socket_runtime, with_services
from durable_effect.sockets.cloudflare import make_socket_group_do
from durable_effect.sockets.cloudflare.testing import CloudflareTestRuntime
from durable_effect.sockets.server import SocketServer, make_socket_server
from durable_effect.sockets.testing import RuntimeFactory

feed = registry.handler(Feed, on_event=on_post)
chat = registry.handler("chat", on_event=on_say, on_connect=on_join)
config = registry.build({"chat": chat, "feed": feed})
quota = Layer.succeed(Quota, LiveQuota())
analytics = Layer.succeed(Analytics, LiveAnalytics())

make_in_memory_socket_runtime(config)  # E[missing-service]: The handlers need services nobody provides: "Analytics", "Quota"; pass services=<a layer that provides them>
make_in_memory_socket_runtime(config, services=quota)  # E[missing-service]: The services layer does not provide "Analytics", which the handlers need
make_in_memory_socket_runtime(registry.build({"chat": with_services(chat, quota), "feed": feed}))  # E[missing-service]: The handlers need services nobody provides: "Analytics"; pass services=<a layer that provides them>
SocketServer(config, services=analytics)  # E[missing-service]: The services layer does not provide "Quota", which the handlers need
make_socket_server(config)  # E[missing-service]: The handlers need services nobody provides: "Analytics", "Quota"; pass services=<a layer that provides them>
CloudflareTestRuntime(config, quota)  # E[missing-service]: The services layer does not provide "Analytics", which the handlers need
make_socket_group_do(config, class_name="ChatDO")  # E[missing-service]: The handlers need services nobody provides: "Analytics", "Quota"; pass services=<a layer that provides them>


def in_a_test(socket_runtime: RuntimeFactory) -> None:
    socket_runtime(config, analytics)  # E[missing-service]: The services layer does not provide "Quota", which the handlers need


guarded = Handler(on_say, on_error=lambda ctx, err: log_error(err.reason))  # E[attr-defined]: "BroadcastError" has no attribute "reason"
