"""What a connection costs the server, on both transports (the ASGI one as `run`
serves it, with `uvicorn_config`): the frames a socket gets in one loop turn go
out in one write, and an idle connection holds at most one task."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import anyio
import pytest
from pydantic import BaseModel
from websockets.asyncio.client import connect

from durable_effect.effect import EffectGen, gen
from durable_effect.sockets import ConnectionInit, RoomCtx, Schema, SocketRegistry, TaggedStruct, WebSocketRoom
from durable_effect.sockets.api import UpgradeOpts
from durable_effect.sockets.server import MemoryStorage, SocketServer, make_socket_server
from durable_effect.sockets.server.native import NativeSocket
from durable_effect.sockets.server.uvicorn_ws import BoundedWebSocketProtocol
from tests.native.raw_client import RawClient

from . import server_helpers
from .server_helpers import recv, serve
from .test_server_slow_consumer import slow_client


class Lines(BaseModel):
    said: int = 0


class Member(BaseModel):
    name: str = "anon"


class Burst(TaggedStruct, tag="Burst"):
    lines: int
    pad: str = ""


class Leave(TaggedStruct, tag="Leave"):
    code: int
    reason: str


class Line(TaggedStruct, tag="Line"):
    n: int
    pad: str = ""


Room = WebSocketRoom.make(
    "lines", state=Lines, connection=Member, event=Schema.union(Burst, Leave), broadcast=Schema.union(Line)
)
registry = SocketRegistry.make(Room)
Ctx = RoomCtx[Lines, Member, Burst | Leave, Line]


@registry.for_(Room).on_event
@gen
def on_event(ctx: Ctx, event: Burst | Leave) -> EffectGen[None, object]:
    match event:
        case Burst(lines=lines, pad=pad):
            for n in range(lines):  # one run: the frames are released together, after its commit
                yield from ctx.broadcast(Line(n=n, pad=pad))
        case Leave(code=code, reason=reason):
            if ctx.connection is not None:
                yield from ctx.broadcast(Line(n=0))
                yield from ctx.connection.close(code, reason)


config = registry.build({"lines": registry.handler(Room, on_event=on_event)})


def app(max_buffered_bytes: int = 4 << 20) -> SocketServer:
    return make_socket_server(
        config,
        storage=MemoryStorage(),
        upgrade_options=lambda request: UpgradeOpts(ConnectionInit(Member())),
        max_buffered_bytes=max_buffered_bytes,
    )


def server_transports(server: SocketServer) -> list[asyncio.Transport]:
    """The server's side of every open WebSocket."""
    if server_helpers.transport == "native":
        sockets = [s for host in server._hosts.values() for s in host.socket_list if isinstance(s, NativeSocket)]
        return [s.transport for s in sockets if s.transport is not None]
    assert server_helpers.current_uvicorn is not None
    connections = server_helpers.current_uvicorn.server_state.connections
    return [c.transport for c in connections if isinstance(c, BoundedWebSocketProtocol)]


def count_writes(transport: asyncio.Transport) -> list[bytes]:
    """Every `write` on `transport` from now on."""
    writes: list[bytes] = []
    write: Callable[[bytes], None] = transport.write

    def counted(data: bytes) -> None:
        writes.append(bytes(data))
        write(data)

    setattr(transport, "write", counted)  # noqa: B010  # an instance attribute shadows the method
    return writes


@pytest.mark.anyio
async def test_a_runs_frames_reach_each_socket_in_one_write() -> None:
    server = app()
    async with serve(server) as addr:
        url = f"ws://{addr}/ws/lines/one"
        # permessage-deflate for one, not for the other: frames built per socket, and once for all
        async with connect(url) as sender, connect(url, compression=None) as other:
            transports = server_transports(server)
            assert len(transports) == 2
            writes = [count_writes(t) for t in transports]
            await sender.send(json.dumps({"_tag": "Burst", "lines": 5}))
            for ws in (sender, other):
                assert [(await recv(ws))["n"] for _ in range(5)] == [0, 1, 2, 3, 4]
            assert [len(w) for w in writes] == [1, 1]  # the five frames in one write


@pytest.mark.anyio
async def test_an_idle_connection_holds_at_most_one_task() -> None:
    server = app()
    async with serve(server) as addr:
        first = await RawClient.connect(addr, "/ws/lines/idle")
        await anyio.sleep(0)
        before = len(asyncio.all_tasks())
        clients = [await RawClient.connect(addr, "/ws/lines/idle") for _ in range(20)]
        # Every upgrade has been handled: a run sent after them is answered to the last client.
        first.proto.send_text(json.dumps({"_tag": "Burst", "lines": 1}).encode())
        first.flush()
        assert (await clients[-1].next_text())["_tag"] == "Line"
        assert len(asyncio.all_tasks()) - before <= 20
        for client in [first, *clients]:
            client.close()


@pytest.mark.parametrize(
    ("code", "reason", "received"),
    [
        (4000, "bye", (4000, "bye")),
        (4000, "é" * 100, (4000, "é" * 61)),  # 123 bytes of UTF-8 at most, whole characters
        (999, "not a code a server may send", (1000, "not a code a server may send")),
    ],
)
@pytest.mark.anyio
async def test_a_close_from_the_room_reaches_the_client_after_its_frames(
    code: int, reason: str, received: tuple[int, str]
) -> None:
    server = app()
    async with serve(server) as addr:
        client = await RawClient.connect(addr, "/ws/lines/leave")
        client.proto.send_text(json.dumps({"_tag": "Leave", "code": code, "reason": reason}).encode())
        client.flush()
        assert await client.next_text() == {"_tag": "Line", "n": 0, "pad": ""}
        assert await client.closed_with() == received[0]
        assert client.proto.close_rcvd is not None and client.proto.close_rcvd.reason == received[1]
        client.close()


@pytest.mark.anyio
async def test_frames_held_while_a_client_does_not_read_all_arrive_in_order_when_it_reads_again() -> None:
    server = app(max_buffered_bytes=64 << 20)
    runs, lines, pad = 80, 10, "p" * 10_000  # 8 MB: past the kernel's and the transport's buffers
    async with serve(server) as addr, slow_client(addr, "/ws/lines/held") as reader:
        async with connect(f"ws://{addr}/ws/lines/held", compression=None) as sender:
            for _ in range(runs):
                await sender.send(json.dumps({"_tag": "Burst", "lines": lines, "pad": pad}))
            for _ in range(runs * lines):  # the sender reads its own: every run has been handled
                await recv(sender)
        received: list[int] = []
        with anyio.fail_after(30):
            while len(received) < runs * lines:
                received += [json.loads(bytes(e.data))["n"] for e in await reader.frames()]
        assert received == list(range(lines)) * runs
