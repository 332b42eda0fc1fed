"""A client that floods the server: the native transport stops reading while the
connection's unhandled messages are over the bound, so what waits stays bounded,
and every message is still handled, in order."""

from __future__ import annotations

import json

import anyio
import pytest
from websockets.frames import Frame, Opcode

from durable_effect.sockets.server import MemoryStorage, make_socket_server
from durable_effect.sockets.server.native import READ_SIZE, NativeSocket, serve_native
from tests.server.server_rooms import config, upgrade_options

from .raw_client import RawClient

MESSAGES = 6_000
TEXT = "y" * 200


def socket_named(app_hosts: object, name: str) -> NativeSocket:
    assert isinstance(app_hosts, dict)
    for host in app_hosts.values():
        for sock in host.socket_list:
            if isinstance(sock, NativeSocket) and sock.tags[0] == name:
                return sock
    raise AssertionError(f"no socket {name}")


@pytest.mark.anyio
@pytest.mark.parametrize(("max_messages", "max_bytes"), [(64, 1 << 20), (100_000, 32 << 10)])
async def test_a_flood_is_read_only_as_fast_as_it_is_handled(max_messages: int, max_bytes: int) -> None:
    app = make_socket_server(config, storage=MemoryStorage(), upgrade_options=upgrade_options)
    async with serve_native(app, max_inbound_messages=max_messages, max_inbound_bytes=max_bytes) as native:
        client = await RawClient.connect(f"127.0.0.1:{native.port}", "/ws/notes/flood?name=f&id=f")
        frames = [
            Frame(Opcode.TEXT, json.dumps({"_tag": "Add", "text": f"{i}:{TEXT}"}).encode()).serialize(mask=True)
            for i in range(MESSAGES)
        ]
        client.writer.write(b"".join(frames))  # all at once: far faster than the handlers run
        with anyio.fail_after(60):
            for i in range(MESSAGES):
                msg = await client.next_text()
                assert (msg["count"], msg["text"]) == (i + 1, f"{i}:{TEXT}")
        sock = socket_named(app._hosts, "f")
        frame_size = len(frames[0]) - 4  # unmasked, as the server reads them
        one_read = READ_SIZE // frame_size + 1  # a read already taken is parsed whole
        bound = min(max_messages, max_bytes // frame_size + 1) + one_read
        assert 0 < sock.inbound_peak <= bound
        client.close()
