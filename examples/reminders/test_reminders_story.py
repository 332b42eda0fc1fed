"""The reminders story: a room schedules reminders through a task, and the
task's alarm broadcasts them into the room. Told on the in-memory host, then
over the real server (WebSockets, HTTP, SQLite, the alarm scheduler), and
on the Cloudflare Durable Object adapter over the fake Workers runtime."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from websockets.asyncio.client import connect

from durable_effect.effect import Layer, TestClock, run_promise
from durable_effect.platform.memory import START_MS
from durable_effect.sockets import ConnectionInit, UpgradeOpts, make_in_memory_socket_runtime
from durable_effect.sockets.cloudflare.client import NamespaceBackend
from durable_effect.sockets.cloudflare.fake import (
    FakeCloudflare,
    FakeRequest,
    FakeResponse,
    FakeWebSocket,
    install_fake_modules,
    uninstall_fake_modules,
)
from durable_effect.sockets.server import SQLiteStorage
from durable_effect.sockets.server.native import serve_native
from durable_effect.task import TaskClientService, make_in_memory_task_runtime
from examples.reminders.app import (
    Member,
    Remind,
    Reminder,
    Reminders,
    ReminderTask,
    RoomState,
    Scheduled,
    room_config,
    task_config,
)
from examples.reminders.server import make_server
from examples.reminders.worker import make_groups

pytestmark = pytest.mark.anyio

ROOM = "kitchen"


async def test_reminders_in_memory() -> None:
    # The room runtime reaches the tasks through a lazy layer; the task runtime
    # gets the rooms client and shares the rooms' test clock.
    room_rt = make_in_memory_socket_runtime(room_config, services=Layer.sync(TaskClientService, lambda: task_rt.client))
    task_rt = make_in_memory_task_runtime(task_config, services=room_rt.layer(), clock=room_rt.clock)

    ann = await run_promise(room_rt.testing_connect(Reminders, ROOM, UpgradeOpts(ConnectionInit(Member(name="ann")))))
    bob = await run_promise(room_rt.testing_connect(Reminders, ROOM, UpgradeOpts(ConnectionInit(Member(name="bob")))))

    # Ann asks for two reminders: the room tells everyone, the task keeps them.
    await run_promise(ann.receive(Remind(text="tea", in_ms=60_000)))
    await run_promise(ann.receive(Remind(text="oven", in_ms=10_000)))
    assert bob.received == [
        Scheduled(text="tea", at_ms=START_MS + 60_000, by="ann"),
        Scheduled(text="oven", at_ms=START_MS + 10_000, by="ann"),
    ]
    assert await run_promise(room_rt.room(Reminders).get_state(ROOM)) == RoomState(scheduled=2)
    pending = await run_promise(task_rt.task(ReminderTask).get_state(ROOM))
    assert pending is not None and [i.text for i in pending.items] == ["oven", "tea"]

    # The task's alarm fires at the earliest reminder and broadcasts into the room.
    assert await run_promise(task_rt.advance("10 seconds")) == 1
    assert bob.received[-1] == Reminder(text="oven")
    assert ann.received[-1] == Reminder(text="oven")
    assert await run_promise(task_rt.advance("50 seconds")) == 1
    assert bob.received[-1] == Reminder(text="tea")

    # Nothing is left: the task purged itself.
    assert await run_promise(task_rt.task(ReminderTask).get_state(ROOM)) is None
    assert await run_promise(task_rt.advance("1 hour")) == 0


async def test_reminders_over_the_server(tmp_path: Path) -> None:
    clock = TestClock(START_MS)
    server = make_server(SQLiteStorage(tmp_path / "reminders.db"), clock)  # the scheduler reads this clock
    async with serve_native(server) as native:
        addr = f"127.0.0.1:{native.port}"
        async with connect(f"ws://{addr}/ws/reminders/{ROOM}?name=ann") as ann:
            await ann.send(json.dumps({"_tag": "Remind", "text": "tea", "in_ms": 5_000}))
            scheduled = json.loads(await ann.recv())
            assert scheduled == {"_tag": "Scheduled", "text": "tea", "at_ms": START_MS + 5_000, "by": "ann"}
            assert server.tasks is not None
            state = await run_promise(server.tasks.client.task(ReminderTask).get_state(ROOM))
            assert state is not None and [i.text for i in state.items] == ["tea"]

            clock.set_time(START_MS + 5_000)
            server._alarm_changed()  # the clock moved: wake the scheduler
            with anyio.fail_after(5):
                reminder = json.loads(await ann.recv())
            assert reminder == Reminder(text="tea").to_dict()


async def test_reminders_on_cloudflare() -> None:
    """Both Durable Object classes in one (fake) Worker: the room's event reaches
    the task's Durable Object, and the task's alarm broadcasts into the room's."""
    install_fake_modules()
    try:
        clock = TestClock(START_MS)
        world = FakeCloudflare(clock)
        rooms, tasks = make_groups(clock)
        assert tasks.DO.__name__ == "ReminderTaskDO"
        world.bind("ROOMS", rooms.DO)
        world.bind("TASKS", tasks.DO)

        backend = NamespaceBackend(room_config, world.env.ROOMS)
        request = FakeRequest(f"https://worker.test/ws/reminders/{ROOM}", "GET", {"Upgrade": "websocket"})
        response = await backend.upgrade("reminders", ROOM, request, UpgradeOpts(ConnectionInit(Member(name="ann"))))
        assert isinstance(response, FakeResponse) and isinstance(response.webSocket, FakeWebSocket)
        ann = response.webSocket
        assert ann.peer is not None
        await world.message_event(ann.peer, Remind(text="tea", in_ms=5_000).to_json())
        await world.settle()
        assert [json.loads(f) for f in ann.frames] == [
            {"_tag": "Scheduled", "text": "tea", "at_ms": START_MS + 5_000, "by": "ann"}
        ]
        pending = await run_promise(tasks.client(world.env.TASKS).task(ReminderTask).get_state(ROOM))
        assert pending is not None and [i.text for i in pending.items] == ["tea"]

        assert await world.advance(5_000) == 1  # the task's alarm
        assert json.loads(ann.frames[-1]) == Reminder(text="tea").to_dict()
        assert await run_promise(tasks.client(world.env.TASKS).task(ReminderTask).get_state(ROOM)) is None
    finally:
        uninstall_fake_modules()
