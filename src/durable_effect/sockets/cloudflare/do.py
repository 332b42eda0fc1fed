"""The Durable Object of a socket group: one room instance per object.

`DurableObjectCore` is the whole adapter in plain Python (no `workers`
import), so it runs against the real runtime and against the fake in
`testing` alike; `SocketGroup.DO` wraps it in a `workers.DurableObject`
subclass with the handler names the platform calls.
"""

from __future__ import annotations

import json
import keyword
import logging
from typing import TYPE_CHECKING, Any, Generic, Never, cast

from pydantic import BaseModel
from typing_extensions import TypeVar

from durable_effect.effect import Layer, TaggedError
from durable_effect.platform import CloudflareEnv
from durable_effect.sockets.api import RoomBackend, SocketClientService, UpgradeOpts
from durable_effect.sockets.cloudflare import _ffi
from durable_effect.sockets.cloudflare.client import NamespaceBackend, instance_name
from durable_effect.sockets.cloudflare.host import CloudflareSocket, DurableObjectHost
from durable_effect.sockets.cloudflare.protocol import (
    UPGRADE_HEADER,
    decode_upgrade_opts,
    encode_error,
    parse_op_url,
    status_for,
)
from durable_effect.sockets.cloudflare.types import (
    DurableObjectNamespace,
    DurableObjectState,
    JsWebSocket,
)
from durable_effect.sockets.connection import ConnectionInfo
from durable_effect.sockets.engine import IDENTITY_KEY, Engine, EngineOptions, Instance, InstanceBackend
from durable_effect.sockets.errors import RoomError, UpgradeError
from durable_effect.sockets.registry import SocketConfig

if TYPE_CHECKING:
    from workers import DurableObject

__all__ = ["AlarmFailed", "DurableObjectCore", "SocketGroup", "make_socket_group_do"]

log = logging.getLogger("durable_effect.cloudflare")

CLOSE_ABNORMAL = 1006


Rooms = TypeVar("Rooms")
Rooms_co = TypeVar("Rooms_co", covariant=True, default=object)


class AlarmFailed(Exception):
    """Raised from `alarm()` when `on_alarm` failed, so the platform retries it."""


class _OwnInstance(InstanceBackend):
    """The direct API of the Durable Object's own instance, in-process. A handler
    that calls its own instance gets the engine's RoomError at once; over `fetch`
    the call would wait for itself."""

    def __init__(self, instance: Instance) -> None:
        self._instance = instance

    def instance(self, room: str, id: str) -> Instance:
        return self._instance

    async def fire_alarm(self, room: str, id: str) -> None:
        await self._instance.fire_alarm(direct=True)

    async def upgrade(self, room: str, id: str, request: object, opts: UpgradeOpts[BaseModel]) -> object:
        raise UpgradeError("a room cannot upgrade a WebSocket to itself", 400)


class _DurableObjectClient:
    """The client handlers get inside a Durable Object: siblings through the env's
    namespace binding, the object's own instance in-process."""

    def __init__(self, core: DurableObjectCore) -> None:
        self._core = core

    def _backend(self, room: str, id: str) -> RoomBackend:
        core = self._core
        if core.instance is not None and core.key == (room, id):
            return _OwnInstance(core.instance)
        return NamespaceBackend(core.group.config, core.namespace())

    async def send(self, room: str, id: str, event: object) -> None:
        await self._backend(room, id).send(room, id, event)

    async def get_state(self, room: str, id: str) -> BaseModel | None:
        return await self._backend(room, id).get_state(room, id)

    async def get_connections(self, room: str, id: str, tag: str | None) -> list[ConnectionInfo[BaseModel]]:
        return await self._backend(room, id).get_connections(room, id, tag)

    async def broadcast(self, room: str, id: str, msg: object) -> None:
        await self._backend(room, id).broadcast(room, id, msg)

    async def fire_alarm(self, room: str, id: str) -> None:
        await self._backend(room, id).fire_alarm(room, id)

    async def upgrade(self, room: str, id: str, request: object, opts: UpgradeOpts[BaseModel]) -> object:
        return await self._backend(room, id).upgrade(room, id, request, opts)


class DurableObjectCore:
    """One Durable Object of the group: the engine instance it holds, and the
    platform's entry points (fetch, WebSocket events, alarm) mapped onto it."""

    def __init__(self, group: SocketGroup, ctx: DurableObjectState, env: object) -> None:
        self.group = group
        self.ctx = ctx
        self.env = env
        self.host = DurableObjectHost(ctx)
        self.client = SocketClientService(group.config, _DurableObjectClient(self))
        services: dict[type, object] = {CloudflareEnv: CloudflareEnv(env), SocketClientService: self.client}
        self.engine = Engine(
            group.config, client=lambda: self.client, services=services, options=group.options, layer=group.services
        )
        self.key: tuple[str, str] | None = None
        self.instance: Instance | None = None
        # After a wake, rebuild the connections from the sockets before any handler runs.
        key = self._key_from_id()
        if key is not None:
            self._bind(key).hydrate()

    # -- identity ----------------------------------------------------------------------

    def namespace(self) -> DurableObjectNamespace:
        binding: object = getattr(self.env, self.group.binding, None)
        if binding is None:
            raise RoomError(f"the Durable Object namespace binding {self.group.binding!r} is not in env")
        return cast(DurableObjectNamespace, binding)

    def _key_from_id(self) -> tuple[str, str] | None:
        """(room, id) from `ctx.id.name`, when the platform gives it."""
        name = getattr(self.ctx.id, "name", None)
        if not isinstance(name, str) or ":" not in name:
            return None
        room, _, id = name.partition(":")
        return (room, id) if room in self.group.config.rooms else None

    def _bind(self, key: tuple[str, str]) -> Instance:
        if self.instance is None:
            self.instance = self.engine.instance(key[0], key[1], self.host)
            self.key = key
        elif self.key != key:
            raise RoomError(f"this Durable Object holds {self.key}, not {key}")
        return self.instance

    async def _stored_instance(self) -> Instance | None:
        """The instance this object holds: known already, named by `ctx.id`, or, on a
        cold wake where the platform gives no name, the identity in storage."""
        if self.instance is not None:
            return self.instance
        key = self._key_from_id()
        if key is None:
            raw = await self.host.load(IDENTITY_KEY)
            if raw is None:
                return None
            data = json.loads(raw)
            key = (str(data["room"]), str(data["id"]))
        return self._bind(key)

    # -- fetch -------------------------------------------------------------------------

    async def fetch(self, request: Any) -> object:
        parsed = parse_op_url(str(request.url))
        if parsed is None:
            return _ffi.json_response(404, json.dumps({"error": {"_tag": "NotFound", "message": "no such route"}}))
        room, id, op = parsed
        try:
            self.group.config.room(room)
            instance = self._bind((room, id))
            if op == "upgrade":
                return await self._upgrade(instance, request)
            args = json.loads((await request.text()) or "{}")
            result = await self._direct(instance, op, args)
        except TaggedError as err:
            return _ffi.json_response(status_for(err), json.dumps({"error": encode_error(err)}))
        except Exception as exc:
            log.exception("room %s/%s: %s failed", room, id, op)
            return _ffi.json_response(500, json.dumps({"error": encode_error(exc)}))
        return _ffi.json_response(200, json.dumps({"ok": result}, separators=(",", ":")))

    async def _direct(self, instance: Instance, op: str, args: dict[str, Any]) -> object:
        if op == "send":
            await instance.send_event(args.get("value"))
            return None
        if op == "get_state":
            state = await instance.get_state()
            return None if state is None else state.model_dump(mode="json", by_alias=True)
        if op == "get_connections":
            tag = args.get("tag")
            return [info.to_dict() for info in await instance.get_connections(tag if isinstance(tag, str) else None)]
        if op == "broadcast":
            await instance.broadcast_direct(args.get("value"))
            return None
        # fire_alarm: run on_alarm now; a scheduled alarm is replaced by this run.
        await instance.fire_alarm(direct=True, consume=True)
        return None

    async def _upgrade(self, instance: Instance, request: Any) -> object:
        if str(request.headers.get("upgrade") or "").lower() != "websocket":
            raise UpgradeError("expected a WebSocket upgrade request", 426)
        opts = decode_upgrade_opts(request.headers.get(UPGRADE_HEADER))
        clients: list[object] = []

        def accept(tags: list[str]) -> CloudflareSocket:
            client, server = _ffi.websocket_pair()
            try:
                self.ctx.acceptWebSocket(server, _ffi.js_array(tags))
            except Exception as exc:  # e.g. the per-object socket limit: nothing is registered yet
                raise UpgradeError(f"the platform refused the WebSocket: {exc}", 503) from None
            clients.append(client)
            return self.host.adopt(server, tags)

        await instance.upgrade(opts, accept)
        return _ffi.websocket_response(clients[0])

    # -- WebSocket events and the alarm ----------------------------------------------------

    async def websocket_message(self, ws: JsWebSocket, message: object) -> None:
        instance = await self._stored_instance()
        socket = self.host.wrap(ws)
        if instance is None:
            socket.close(1011, "unknown room instance")
            return
        await instance.message(socket, message if isinstance(message, str) else _to_bytes(message))

    async def websocket_close(self, ws: JsWebSocket, code: int, reason: str) -> None:
        socket = self.host.wrap(ws)
        socket.answer_close(int(code), str(reason or ""))
        instance = await self._stored_instance()
        if instance is not None:
            await instance.closed(socket, int(code), str(reason or ""))
        socket.mark_closed()
        self.host.forget(socket)

    async def websocket_error(self, ws: JsWebSocket, error: object) -> None:
        socket = self.host.wrap(ws)
        instance = await self._stored_instance()
        if instance is not None:
            await instance.closed(socket, CLOSE_ABNORMAL, str(error)[:100])
        socket.mark_closed()
        self.host.forget(socket)

    async def alarm(self, alarm_info: object = None) -> None:
        instance = await self._stored_instance()
        if instance is None:
            log.warning("alarm of a Durable Object with no stored room identity: dropped")
            return
        retry = getattr(alarm_info, "retryCount", 0) if alarm_info is not None else 0
        ok = await instance.fire_alarm(int(retry or 0))
        if not ok:
            key = self.key or ("?", "?")
            raise AlarmFailed(f"on_alarm of {instance_name(*key)} failed; the platform retries it")


def _to_bytes(message: object) -> bytes:
    """A binary frame: a JavaScript ArrayBuffer (or already bytes)."""
    if isinstance(message, bytes | bytearray | memoryview):
        return bytes(message)
    to_bytes = getattr(message, "to_bytes", None)
    if callable(to_bytes):
        return bytes(to_bytes())
    return str(message).encode()


def _make_do_class(group: SocketGroup) -> type[DurableObject]:
    from workers import DurableObject

    class SocketGroupDO(DurableObject):
        """A room instance as a Durable Object (WebSocket Hibernation API)."""

        _socket_group = group

        def __init__(self, ctx: Any, env: Any) -> None:
            super().__init__(ctx, env)
            self._core = DurableObjectCore(group, ctx, env)

        async def fetch(self, request: Any) -> object:
            return await self._core.fetch(request)

        async def webSocketMessage(self, ws: Any, message: Any) -> None:
            await self._core.websocket_message(ws, message)

        async def webSocketClose(self, ws: Any, code: int, reason: str, was_clean: bool) -> None:
            await self._core.websocket_close(ws, code, reason)

        async def webSocketError(self, ws: Any, error: Any) -> None:
            await self._core.websocket_error(ws, error)

        async def alarm(self, alarm_info: Any = None) -> None:
            await self._core.alarm(alarm_info)

    # The runtime exports a Durable Object class under its own name, and finds it
    # again by that name in the main module: it must be wrangler's `class_name`.
    SocketGroupDO.__name__ = SocketGroupDO.__qualname__ = group.class_name
    return SocketGroupDO


def _check_class_name(class_name: str) -> str:
    """A name the runtime can export the class under and wrangler can bind."""
    if not isinstance(class_name, str) or not class_name.isidentifier() or keyword.iskeyword(class_name):
        raise ValueError(f"class_name must be a Python identifier (wrangler's class_name), got {class_name!r}")
    if class_name.startswith("_"):
        raise ValueError(
            f"class_name {class_name!r} starts with '_': the runtime does not export private names of the main module"
        )
    return class_name


class SocketGroup(Generic[Rooms_co]):
    """The rooms of one config on Cloudflare: the Durable Object class to export,
    and the client that reaches its instances through a namespace binding."""

    def __init__(
        self,
        config: SocketConfig[Rooms_co, object],
        *,
        class_name: str,
        services: Layer[object, object, object] | None = None,
        options: EngineOptions | None = None,
        binding: str = "ROOMS",
    ) -> None:
        self.config = config
        self.class_name = _check_class_name(class_name)
        self.services = services
        self.options = options
        self.binding = binding
        self._do_class: type[DurableObject] | None = None

    @property
    def DO(self) -> type[DurableObject]:
        """The Durable Object class named `class_name`, to export from the Worker's
        main module under that same name (`ChatDO = group.DO`). Built on first
        use: it needs the `workers` module of a Python Worker."""
        if self._do_class is None:
            self._do_class = _make_do_class(self)
        return self._do_class

    def client(self, namespace: DurableObjectNamespace) -> SocketClientService[Rooms_co]:
        """The direct API over `namespace` (e.g. `self.env.ROOMS` in a Worker)."""
        return SocketClientService(self.config, NamespaceBackend(self.config, namespace))

    def layer(self, namespace: DurableObjectNamespace) -> Layer[SocketClientService, Never, Never]:
        """Provides `SocketClientService` over `namespace`."""
        return Layer.succeed(SocketClientService, self.client(namespace))


def make_socket_group_do(
    config: SocketConfig[Rooms, object],
    *,
    class_name: str,
    services: Layer[object, object, object] | None = None,
    options: EngineOptions | None = None,
    binding: str = "ROOMS",
) -> SocketGroup[Rooms]:
    """The Cloudflare host of `config`: `group.DO` is the Durable Object class,
    named `class_name`; export it from the Worker's main module under that name
    (`ChatDO = group.DO`), which is wrangler's `class_name`. `binding` is the
    name of its Durable Object binding (sibling dispatch uses `env.<binding>`);
    `group.client(env.ROOMS)` / `group.layer(env.ROOMS)` reach its instances.
    `services` is a layer provided to every handler run (with the mypy plugin,
    it must provide what the config's handlers need). Raises `ValueError`
    when `class_name` is not a name the runtime can export."""
    return SocketGroup(config, class_name=class_name, services=services, options=options, binding=binding)
