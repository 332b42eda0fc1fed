"""The rooms client over a Durable Object namespace: one Durable Object per
`idFromName(f"{room}:{id}")`, reached through its stub's `fetch` (see `protocol`)."""

from __future__ import annotations

import json
from collections.abc import Callable

from pydantic import BaseModel

from durable_effect.effect import TaggedError
from durable_effect.sockets.api import UpgradeOpts
from durable_effect.sockets.cloudflare import _ffi
from durable_effect.sockets.cloudflare.protocol import (
    UPGRADE_HEADER,
    decode_error,
    encode_upgrade_opts,
    op_url,
)
from durable_effect.sockets.cloudflare.types import DurableObjectNamespace, DurableObjectStub, StubResponse
from durable_effect.sockets.connection import ConnectionInfo
from durable_effect.sockets.engine import _validate_member
from durable_effect.sockets.errors import RoomError, UpgradeError
from durable_effect.sockets.registry import SocketConfig

__all__ = ["NamespaceBackend", "call_op", "instance_name"]

SWITCHING_PROTOCOLS = 101


def instance_name(room: str, id: str) -> str:
    """The Durable Object name of instance `id` of `room`."""
    return f"{room}:{id}"


async def call_op(
    stub: DurableObjectStub,
    url: str,
    args: dict[str, object] | None,
    failed: Callable[[Exception], TaggedError],
    decode: Callable[[int, str], TaggedError],
) -> object:
    """POST `args` to a Durable Object's `url`; the `ok` of its answer, or its error
    raised typed by `decode`. When the platform throws, `failed(what it threw)`."""
    body = json.dumps(args or {}, separators=(",", ":"))
    try:
        response = await stub.fetch(url, method="POST", body=body)
        status = int(response.status)
        text = await response.text()
    except Exception as exc:  # the platform threw (overloaded, reset, a missing binding)
        raise failed(exc) from exc
    if status != 200:
        raise decode(status, text)
    try:
        return json.loads(text)["ok"]
    except (ValueError, KeyError, TypeError):
        raise decode(status, text) from None


class NamespaceBackend:
    """A `RoomBackend` that reaches each instance's Durable Object through `namespace`."""

    def __init__(self, config: SocketConfig, namespace: DurableObjectNamespace) -> None:
        self.config = config
        self.namespace = namespace

    def stub(self, room: str, id: str) -> DurableObjectStub:
        return self.namespace.get(self.namespace.idFromName(instance_name(room, id)))

    async def call(self, room: str, id: str, op: str, args: dict[str, object] | None = None) -> object:
        """Run `op` on the instance's Durable Object; its result, or its error raised typed."""
        name = instance_name(room, id)
        failed = lambda exc: RoomError(f"the Durable Object of {name} failed: {exc}")  # noqa: E731
        return await call_op(self.stub(room, id), op_url(room, id, op), args, failed, decode_error)

    async def send(self, room: str, id: str, event: object) -> None:
        msg = _validate_member(self.config.room(room).event, event)
        await self.call(room, id, "send", {"value": msg.to_dict()})

    async def get_state(self, room: str, id: str) -> BaseModel | None:
        value = await self.call(room, id, "get_state")
        return None if value is None else self.config.room(room).state.model_validate(value)

    async def get_connections(self, room: str, id: str, tag: str | None) -> list[ConnectionInfo[BaseModel]]:
        model = self.config.room(room).connection
        rows = await self.call(room, id, "get_connections", {"tag": tag})
        assert isinstance(rows, list)
        return [ConnectionInfo(str(r["id"]), tuple(r["tags"]), model.model_validate(r["state"])) for r in rows]

    async def broadcast(self, room: str, id: str, msg: object) -> None:
        value = _validate_member(self.config.room(room).broadcast, msg)
        await self.call(room, id, "broadcast", {"value": value.to_dict()})

    async def fire_alarm(self, room: str, id: str) -> None:
        await self.call(room, id, "fire_alarm")

    async def upgrade(self, room: str, id: str, request: object, opts: UpgradeOpts[BaseModel]) -> object:
        """Forward the client's upgrade request to the instance's Durable Object; its 101
        response (with the client end of the WebSocket) is what the Worker returns."""
        self.config.room(room)
        headers = {UPGRADE_HEADER: encode_upgrade_opts(opts)}
        forwarded = _ffi.upgrade_request(op_url(room, id, "upgrade"), request, headers)
        try:
            response: StubResponse = await self.stub(room, id).fetch(forwarded)
            status = int(response.status)
            if status == SWITCHING_PROTOCOLS:
                return response
            text = await response.text()
        except Exception as exc:  # the platform threw
            raise UpgradeError(f"the Durable Object of {instance_name(room, id)} failed: {exc}", 502) from exc
        raise decode_error(status, text)
