"""The server host's storage under faults (a locked or unwritable database),
and the per-socket send buffer cap. That a run's frames wait for its commit
is an engine guarantee, tested on every host in tests/sockets/test_atomic_runs.py."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import pytest

from durable_effect.sockets.host import AlarmChange
from durable_effect.sockets.server import MemoryStorage
from durable_effect.sockets.server import host as server_host
from durable_effect.sockets.server.host import Close, ServerInstanceHost, ServerSocket
from durable_effect.sockets.server.storage import SQLiteStorage, StorageBusyError, StorageError


def make_host() -> tuple[ServerInstanceHost, list[int]]:
    alarm_changes: list[int] = []
    host = ServerInstanceHost("r", "1", MemoryStorage(), lambda: alarm_changes.append(1))
    return host, alarm_changes


def add_socket(host: ServerInstanceHost, max_buffered: int = 1 << 20) -> ServerSocket:
    socket = ServerSocket(["t"], max_buffered)
    host.socket_list.append(socket)
    return socket


def lock_database(path: Path) -> sqlite3.Connection:
    """Another process's view: a connection that holds the write lock."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    return other


async def ticks_during(work: Callable[[], Awaitable[object]]) -> tuple[int, BaseException | None]:
    """How often another task ran while `work` ran (0: the loop was blocked)."""
    ticks = 0
    error: BaseException | None = None
    done = anyio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            await anyio.sleep(0.005)
            ticks += 1

    async def run() -> None:
        nonlocal error
        try:
            await work()
        except Exception as exc:
            error = exc
        finally:
            done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        tg.start_soon(run)
    return ticks, error


@pytest.mark.anyio
async def test_a_locked_database_delays_a_commit_without_blocking_the_loop(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "rooms.db")
    host = ServerInstanceHost("r", "1", storage, lambda: None)
    other = lock_database(tmp_path / "rooms.db")

    async def release_soon() -> None:
        await anyio.sleep(0.2)
        other.execute("ROLLBACK")

    async def commit() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(release_soon)
            await host.commit({"state": "1"}, [], AlarmChange(5.0))

    ticks, error = await ticks_during(commit)
    assert error is None
    assert ticks >= 10, "the event loop was blocked while the database was locked"
    assert storage.load("r", "1", "state") == "1"
    alarm = storage.get_alarm("r", "1")
    assert alarm is not None and alarm.at_ms == 5.0
    other.close()
    storage.close()


@pytest.mark.anyio
async def test_a_database_locked_for_too_long_fails_the_commit_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server_host, "BUSY_RETRY_SECONDS", 0.3)
    storage = SQLiteStorage(tmp_path / "rooms.db")
    host = ServerInstanceHost("r", "1", storage, lambda: None)
    other = lock_database(tmp_path / "rooms.db")
    ticks, error = await ticks_during(lambda: host.commit({"state": "1"}, [], AlarmChange(5.0)))
    assert isinstance(error, StorageBusyError)
    assert ticks >= 10
    other.execute("ROLLBACK")
    assert storage.load("r", "1", "state") is None
    assert storage.get_alarm("r", "1") is None
    other.close()
    storage.close()


def test_an_unwritable_database_fails_at_start_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "rooms.db"
    SQLiteStorage(path).close()
    path.chmod(0o444)
    if os.access(path, os.W_OK):  # root ignores file modes: lock the database instead
        path.chmod(0o644)
        other = lock_database(path)
        with pytest.raises(StorageError, match=str(path)):
            SQLiteStorage(path)
        other.close()
        return
    with pytest.raises(StorageError, match=str(path)):
        SQLiteStorage(path)


def test_a_missing_directory_fails_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "no" / "such" / "dir" / "rooms.db"
    with pytest.raises(StorageError, match=str(path)):
        SQLiteStorage(path)


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
