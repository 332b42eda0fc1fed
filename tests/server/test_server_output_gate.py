"""The output gate of the server host: frames sent during a run wait for its commit."""

from __future__ import annotations

from collections.abc import Collection, Mapping

import anyio
import pytest

from durable_effect.sockets.server import MemoryStorage
from durable_effect.sockets.server.host import Close, ServerInstanceHost, ServerSocket


def make_host() -> tuple[ServerInstanceHost, list[int]]:
    alarm_changes: list[int] = []
    host = ServerInstanceHost("r", "1", MemoryStorage(), lambda: alarm_changes.append(1))
    return host, alarm_changes


def add_socket(host: ServerInstanceHost, max_buffered: int = 1 << 20) -> ServerSocket:
    socket = ServerSocket(["t"], host.gate_open, max_buffered)
    host.socket_list.append(socket)
    return socket


@pytest.mark.anyio
async def test_frames_wait_for_commit() -> None:
    host, _ = make_host()
    socket = add_socket(host)
    host.begin()
    assert not host.gate_open()
    socket.send("a")
    socket.send("b")
    with anyio.move_on_after(0.1) as scope:
        await socket.next_batch()
    assert scope.cancel_called, "frames escaped before the commit"
    assert list(socket.outbox) == ["a", "b"]

    await host.commit({"state": "1"}, [])
    assert host.gate_open()
    with anyio.fail_after(1):
        assert await socket.next_batch() == ["a", "b"]
    assert host.storage.load("r", "1", "state") == "1"


@pytest.mark.anyio
async def test_waiting_writer_is_woken_by_commit() -> None:
    host, _ = make_host()
    first, second = add_socket(host), add_socket(host)
    got: list[list[str | Close]] = []

    async def writer(socket: ServerSocket) -> None:
        got.append(await socket.next_batch())

    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(writer, first)
            tg.start_soon(writer, second)
            await anyio.sleep(0.01)
            host.begin()
            first.send("x")
            second.send("y")
            first.close(1000, "bye")
            await anyio.sleep(0.05)
            assert got == []
            await host.commit({}, [])
    assert sorted(got, key=str) == sorted([["x", Close(1000, "bye")], ["y"]], key=str)


@pytest.mark.anyio
async def test_gate_reopens_when_commit_fails() -> None:
    class Failing(MemoryStorage):
        def commit(self, room: str, id: str, puts: Mapping[str, str], deletes: Collection[str]) -> None:
            raise OSError("disk full")

    host = ServerInstanceHost("r", "1", Failing(), lambda: None)
    socket = add_socket(host)
    host.begin()
    socket.send("z")
    with pytest.raises(OSError):
        await host.commit({"k": "v"}, [])
    assert host.gate_open()
    with anyio.fail_after(1):
        assert await socket.next_batch() == ["z"]


@pytest.mark.anyio
async def test_frames_outside_a_run_flow_at_once_and_buffer_is_capped() -> None:
    host, _ = make_host()
    socket = add_socket(host, max_buffered=10)
    socket.send("12345")
    with anyio.fail_after(1):
        assert await socket.next_batch() == ["12345"]
    socket.send("67890")  # buffered counts until the writer subtracts: 10 is the cap
    socket.send("!")  # over the cap: the socket is closed (the sender's broadcast is not failed)
    assert not socket.is_open()
    assert socket.close_code == 1008
    # what it had not taken is dropped: the close goes out next
    assert list(socket.outbox) == [Close(1008, "client too slow")]
    with pytest.raises(ConnectionError):
        socket.send("after close")
    assert host.sockets() == []
