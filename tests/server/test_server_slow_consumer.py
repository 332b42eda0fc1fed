"""A client that stops reading gets a real 1008 close frame (behind what was already
buffered for it) when it reads again, on both transports; a client that pings and
never reads is closed the same way instead of growing the server's memory."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest
from websockets.asyncio.client import connect
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

from durable_effect.sockets.server import MemoryStorage, SocketServer, make_socket_server

from .server_helpers import recv, serve
from .server_rooms import config, upgrade_options

BOUND = 256 << 10
TEXT = "x" * 10_000
MAX_MESSAGES = 800  # 8 MB to every socket: far more than the slow client's buffers and the bound


class SlowClient:
    """A WebSocket client on a raw socket with a small receive buffer, read only when told."""

    def __init__(self, sock: socket.socket, proto: ClientProtocol) -> None:
        self.sock = sock
        self.proto = proto

    async def send_raw(self, data: bytes) -> None:
        await asyncio.get_running_loop().sock_sendall(self.sock, data)

    async def frames(self) -> list[Frame]:
        """The text frames of the next read (none when it brought only part of one)."""
        data = await asyncio.get_running_loop().sock_recv(self.sock, 1 << 16)
        if not data:
            raise ConnectionError("the server ended the stream")
        self.proto.receive_data(data)
        return [e for e in self.proto.events_received() if isinstance(e, Frame) and e.opcode is Opcode.TEXT]

    async def read_until_closed(self, timeout: float = 5.0) -> int | None:
        """Read everything the server sends until it ends the stream; the close code received."""
        loop = asyncio.get_running_loop()
        with anyio.move_on_after(timeout):
            while self.proto.close_rcvd is None:
                try:
                    data = await loop.sock_recv(self.sock, 1 << 16)
                except ConnectionResetError:
                    break
                if not data:
                    break
                self.proto.receive_data(data)
                self.proto.events_received()
        return None if self.proto.close_rcvd is None else self.proto.close_rcvd.code


@asynccontextmanager
async def slow_client(addr: str, path: str) -> AsyncIterator[SlowClient]:
    host, _, port = addr.partition(":")
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, (host, int(port)))
        proto = ClientProtocol(parse_uri(f"ws://{addr}{path}"), max_size=None)
        proto.send_request(proto.connect())
        for data in proto.data_to_send():
            await loop.sock_sendall(sock, data)
        with anyio.fail_after(5):
            while not any(isinstance(e, Response) for e in proto.events_received()):
                proto.receive_data(await loop.sock_recv(sock, 1024))
        assert proto.handshake_exc is None
        yield SlowClient(sock, proto)
    finally:
        sock.close()


def close_code_of(app: SocketServer, name: str) -> int | None:
    for host in app._hosts.values():
        for sock in host.socket_list:
            if sock.tags[0] == name:
                return sock.close_code
    raise AssertionError(f"no socket {name}")


@pytest.mark.anyio
async def test_a_client_that_stops_reading_receives_1008() -> None:
    app = make_socket_server(config, storage=MemoryStorage(), upgrade_options=upgrade_options, max_buffered_bytes=BOUND)
    async with serve(app) as addr, slow_client(addr, "/ws/notes/slow?name=slow&id=slow") as slow:
        url = f"ws://{addr}/ws/notes/slow"
        async with connect(f"{url}?name=fast&id=fast", max_size=None) as fast:
            with anyio.fail_after(60):
                for i in range(MAX_MESSAGES):
                    await fast.send(json.dumps({"_tag": "Add", "text": f"{i}:{TEXT}"}))
                    assert int((await recv(fast, timeout=10))["count"]) == i + 1
                    if close_code_of(app, "slow") is not None:
                        break
            assert close_code_of(app, "slow") == 1008
            # The slow client reads again: the frames that were on their way, then a 1008 close.
            assert await slow.read_until_closed() == 1008
            assert slow.proto.close_rcvd is not None and slow.proto.close_rcvd.reason == "client too slow"
            # The others go on.
            await fast.send(json.dumps({"_tag": "Add", "text": "after"}))
            assert (await recv(fast))["text"] == "after"


@pytest.mark.anyio
async def test_a_client_that_pings_and_never_reads_is_closed_1008() -> None:
    app = make_socket_server(config, storage=MemoryStorage(), upgrade_options=upgrade_options, max_buffered_bytes=BOUND)
    async with serve(app) as addr, slow_client(addr, "/ws/notes/pings?name=pinger&id=pinger") as pinger:
        ping = Frame(Opcode.PING, b"p" * 125).serialize(mask=True)
        batch = ping * 500  # 65 KB of pings: 64 KB of pongs owed
        sent = 0
        with anyio.fail_after(30):
            # 64 MB of pongs would be owed by the end: far past the bound, if the server kept them.
            while sent < 1_000 and close_code_of(app, "pinger") is None:
                try:
                    await asyncio.wait_for(pinger.send_raw(batch), 1.0)
                except (TimeoutError, ConnectionError):
                    break  # the server stopped reading us (or dropped us): it did not buffer without bound
                sent += 1
        assert close_code_of(app, "pinger") == 1008
        assert await pinger.read_until_closed() == 1008
