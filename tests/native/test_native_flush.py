"""How the native transport writes a broadcast: one loop over the room's sockets
queues the frame's bytes (`_fan_out`), and the writes go out `FLUSH_CHUNK`
sockets per loop turn, the loop reading between the chunks (and the ASGI
transport's `Flusher`, which writes a loop turn's sockets in one callback)."""

from __future__ import annotations

import asyncio
import json
from typing import cast

import pytest
from websockets.asyncio.client import connect

from durable_effect.sockets.server import native
from durable_effect.sockets.server.native import NativeServer, NativeSocket
from durable_effect.sockets.server.uvicorn_ws import Flusher, UvicornSocket
from tests.server.server_helpers import recv, serve
from tests.server.test_server_writes import app


class Recorder:
    """Stands in for a socket in `mark_dirty`: what the server's pass needs of one."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.dirty = False
        self.log = log

    def mark(self, server: NativeServer) -> None:
        if not self.dirty:
            self.dirty = True
            server.mark_dirty(cast(NativeSocket, self))

    def flush(self) -> None:
        self.dirty = False
        self.log.append(self.name)


def dirty_server(count: int, log: list[str]) -> tuple[NativeServer, list[Recorder]]:
    """A native server with `count` sockets that each have a frame to write."""
    server = NativeServer(app())
    sockets = [Recorder(f"s{i}", log) for i in range(count)]
    for socket in sockets:
        socket.mark(server)
    return server, sockets


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


@pytest.mark.anyio
async def test_a_large_pass_is_written_in_chunks_and_the_loop_runs_between_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(native, "FLUSH_CHUNK", 2)
    log: list[str] = []
    server, sockets = dirty_server(5, log)

    def meanwhile() -> None:
        # A frame for a socket already written (s0) and for one not reached yet (s3).
        log.append("loop")
        sockets[0].mark(server)
        sockets[3].mark(server)

    asyncio.get_running_loop().call_soon(meanwhile)
    await settle()
    # s3 is written once, with both frames; s0 again, in the next pass.
    assert log == ["s0", "s1", "loop", "s2", "s3", "s4", "s0"]
    assert not any(s.dirty for s in sockets)


@pytest.mark.anyio
async def test_a_pass_within_one_chunk_is_one_loop_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(native, "FLUSH_CHUNK", 8)
    log: list[str] = []
    dirty_server(8, log)
    asyncio.get_running_loop().call_soon(lambda: log.append("loop"))
    await settle()
    assert log == [f"s{i}" for i in range(8)] + ["loop"]


@pytest.mark.anyio
async def test_every_client_gets_every_frame_in_order_when_passes_take_several_turns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(native, "FLUSH_CHUNK", 2)
    server = app()
    async with serve(server, on="native") as addr:
        url = f"ws://{addr}/ws/lines/many"
        clients = [await connect(url, compression=None) for _ in range(6)]
        clients.append(await connect(url))  # compressed: frames its own messages
        try:
            for burst in range(3):
                await clients[burst].send(json.dumps({"_tag": "Burst", "lines": 4}))
            for ws in clients:
                assert [(await recv(ws))["n"] for _ in range(12)] == [0, 1, 2, 3] * 3
        finally:
            for ws in clients:
                await ws.close()


@pytest.mark.anyio
async def test_a_broadcast_skips_a_closed_socket_and_reaches_the_rest() -> None:
    server = app()
    async with serve(server, on="native") as addr:
        url = f"ws://{addr}/ws/lines/closing"
        sender, leaver, other = [await connect(url, compression=None) for _ in range(3)]
        await leaver.send(json.dumps({"_tag": "Leave", "code": 4000, "reason": "bye"}))
        assert (await recv(leaver))["n"] == 0
        await leaver.wait_closed()
        await sender.send(json.dumps({"_tag": "Burst", "lines": 2}))
        for ws in (sender, other):
            frames = [await recv(ws) for _ in range(3)]  # the Leave's Line, then the Burst's two
            assert [f["n"] for f in frames] == [0, 0, 1]
        await sender.close()
        await other.close()


@pytest.mark.anyio
async def test_a_socket_whose_write_fails_does_not_stop_the_others(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(native, "FLUSH_CHUNK", 2)
    log: list[str] = []
    server, sockets = dirty_server(4, log)

    def broken() -> None:
        sockets[1].dirty = False
        raise OSError("the transport is gone")

    monkeypatch.setattr(sockets[1], "flush", broken)
    await settle()
    assert log == ["s0", "s2", "s3"]
    assert "writing to a connection failed" in caplog.text
    for socket in sockets:  # the next pass still happens
        socket.mark(server)
    await settle()
    assert log == ["s0", "s2", "s3", "s0", "s2", "s3"]


def test_the_uvicorn_flusher_goes_on_past_a_socket_whose_write_fails(caplog: pytest.LogCaptureFixture) -> None:
    # The ASGI transport's twin of the pass above: one callback per loop turn.
    log: list[str] = []
    sockets = [Recorder(f"s{i}", log) for i in range(3)]
    flusher = Flusher()

    def broken() -> None:
        raise OSError("the transport is gone")

    setattr(sockets[1], "flush", broken)  # noqa: B010  # an instance attribute shadows the method
    flusher.dirty.extend(cast("list[UvicornSocket]", sockets))
    flusher.flush()
    assert log == ["s0", "s2"]
    assert "writing to a connection failed" in caplog.text
    assert flusher.dirty == []
