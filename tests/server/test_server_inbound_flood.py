"""A client that floods the server: reading stops while the connection's unhandled
messages are over the bound, so what waits stays bounded, and every message is
still handled, in order (native: 256 messages or 1 MiB, or as given to
`serve_native`; uvicorn: it stops reading while any message waits for the app)."""

from __future__ import annotations

import json

import anyio
import pytest
from websockets.frames import Frame, Opcode

from durable_effect.sockets.server import MemoryStorage, SocketServer, make_socket_server
from durable_effect.sockets.server.native import (
    MAX_INBOUND_BYTES,
    MAX_INBOUND_MESSAGES,
    READ_SIZE,
    NativeSocket,
)
from durable_effect.sockets.server.uvicorn_ws import BoundedWebSocketProtocol
from tests.native.raw_client import RawClient

from . import server_helpers
from .server_helpers import serve
from .server_rooms import config, upgrade_options

MESSAGES = 6_000
TEXT = "y" * 200


def inbound_peak(app: SocketServer, name: str) -> int:
    """The most messages of socket `name` that waited at once to be handled."""
    if server_helpers.transport == "native":
        for host in app._hosts.values():
            for sock in host.socket_list:
                if isinstance(sock, NativeSocket) and sock.tags[0] == name:
                    return sock.inbound_peak
        raise AssertionError(f"no socket {name}")
    assert server_helpers.current_uvicorn is not None
    (proto,) = [
        c for c in server_helpers.current_uvicorn.server_state.connections if isinstance(c, BoundedWebSocketProtocol)
    ]
    return proto.inbound_peak


async def flood(addr: str) -> int:
    """Send MESSAGES frames at once, far faster than the handlers run; check each
    comes back in order; the size of one frame as the server reads it."""
    client = await RawClient.connect(addr, "/ws/notes/flood?name=f&id=f")
    frames = [
        Frame(Opcode.TEXT, json.dumps({"_tag": "Add", "text": f"{i}:{TEXT}"}).encode()).serialize(mask=True)
        for i in range(MESSAGES)
    ]
    client.writer.write(b"".join(frames))
    with anyio.fail_after(60):
        for i in range(MESSAGES):
            msg = await client.next_text()
            assert (msg["count"], msg["text"]) == (i + 1, f"{i}:{TEXT}")
    client.close()
    return len(frames[0])


@pytest.mark.anyio
async def test_a_flood_is_read_only_as_fast_as_it_is_handled() -> None:
    app = make_socket_server(config, storage=MemoryStorage(), upgrade_options=upgrade_options)
    async with serve(app) as addr:
        frame_size = await flood(addr)
        one_read = READ_SIZE // frame_size + 1  # a read already taken is parsed whole
        if server_helpers.transport == "native":
            bound = min(MAX_INBOUND_MESSAGES, MAX_INBOUND_BYTES // frame_size + 1) + one_read
        else:
            bound = one_read
        assert 0 < inbound_peak(app, "f") <= bound
