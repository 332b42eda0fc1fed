"""A client that stops reading: the others keep receiving, the server's memory for it
stays bounded, and it is closed with 1008 (policy) once its backlog passes the bound."""

from __future__ import annotations

import asyncio
import json
import socket

import anyio
import pytest
from websockets.asyncio.client import connect

from durable_effect.sockets.server import MemoryStorage, make_socket_server
from durable_effect.sockets.server.native import NativeSocket, serve_native
from tests.server.server_helpers import http, recv
from tests.server.server_rooms import config, upgrade_options

BOUND = 256 << 10
TEXT = "x" * 10_000
MESSAGES = 800  # 8 MB to every socket: far more than the slow client's kernel buffers hold


def slow_socket(app_hosts: object, name: str) -> NativeSocket | None:
    assert isinstance(app_hosts, dict)
    for host in app_hosts.values():
        for sock in host.socket_list:
            if isinstance(sock, NativeSocket) and sock.tags[0] == name:
                return sock
    return None


@pytest.mark.anyio
async def test_a_client_that_stops_reading_is_closed_and_bounded() -> None:
    app = make_socket_server(config, storage=MemoryStorage(), upgrade_options=upgrade_options, max_buffered_bytes=BOUND)
    async with serve_native(app) as native:
        addr = f"127.0.0.1:{native.port}"
        url = f"ws://{addr}/ws/notes/slow"
        # The slow client: a raw socket with a small receive buffer, upgraded by hand, never read again.
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.setblocking(False)
        await asyncio.get_running_loop().sock_connect(raw, ("127.0.0.1", native.port))
        key = "dGhlIHNhbXBsZSBub25jZQ=="
        request = (
            f"GET /ws/notes/slow?name=slow&id=slow HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        await asyncio.get_running_loop().sock_sendall(raw, request.encode())
        head = await asyncio.wait_for(asyncio.get_running_loop().sock_recv(raw, 1024), 5)
        assert head.startswith(b"HTTP/1.1 101")

        async with (
            connect(f"{url}?name=fast&id=fast", max_size=None) as fast,
            connect(f"{url}?name=watch&id=watch", max_size=None) as watch,
        ):
            sock = slow_socket(app._hosts, "slow")
            assert sock is not None and sock.is_open()
            peak = 0
            counts: list[int] = []
            watched: list[int] = []
            with anyio.fail_after(60):
                for i in range(MESSAGES):
                    await fast.send(json.dumps({"_tag": "Add", "text": f"{i}:{TEXT}"}))
                    counts.append(int((await recv(fast, timeout=10))["count"]))
                    watched.append(int((await recv(watch, timeout=10))["count"]))
                    if sock.transport is not None and not sock.transport.is_closing():
                        peak = max(peak, sock.transport.get_write_buffer_size() + sock._pending_bytes)
            assert counts == list(range(1, MESSAGES + 1))
            assert watched == counts
            assert sock.close_code == 1008
            assert not sock.is_open()
            # What the server held for the slow client never passed the bound (plus the
            # transport's high-water mark and one frame).
            assert peak <= BOUND + (64 << 10) + len(TEXT) + 100
            # on_close ran: the slow client is gone from the room; the others stay.
            with anyio.fail_after(5):
                while True:
                    _, conns = await http("GET", f"http://{addr}/api/notes/slow/connections")
                    if sorted(c["id"] for c in conns) == ["fast", "watch"]:
                        break
                    await asyncio.sleep(0.05)
            _, state = await http("GET", f"http://{addr}/api/notes/slow/state")
            assert state["count"] == MESSAGES
        raw.close()
